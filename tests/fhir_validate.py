"""Validates one FHIR R4 resource (JSON on stdin) with the fhir.resources
models: the R4B subpackage, whose element sets match R4 for what Bedside
serves (the package root is R5 and rejects R4 shapes). Also refuses what
the models let through but FHIR forbids: empty arrays, objects and strings.
Exits 0 when valid; otherwise prints the reason and exits 1 (2 when the
validator itself is missing)."""

import json
import sys

try:
    from fhir.resources.R4B import get_fhir_model_class
except ImportError as error:
    print(f"fhir.resources is not installed: {error}", file=sys.stderr)
    sys.exit(2)


def empties(value, path):
    if isinstance(value, dict):
        if not value:
            yield path
        for key, item in value.items():
            yield from empties(item, f"{path}.{key}")
    elif isinstance(value, list):
        if not value:
            yield path
        for index, item in enumerate(value):
            yield from empties(item, f"{path}[{index}]")
    elif value is None or value == "":
        yield path


def main():
    resource = json.load(sys.stdin)
    kind = resource.get("resourceType")
    bad = list(empties(resource, kind or "$"))
    if bad:
        print("empty or null values: " + ", ".join(bad), file=sys.stderr)
        return 1
    try:
        get_fhir_model_class(kind).model_validate(resource)
    except Exception as error:  # noqa: BLE001 - any failure is the answer
        print(f"{kind} is not valid FHIR R4: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
