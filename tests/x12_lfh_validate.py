"""Parses one X12 interchange (the file named on the command line) with the
independent linuxforhealth-x12 parser, which builds a pydantic model of each
transaction set and refuses any that breaks its implementation guide's
structure, codes or lengths. Prints `OK <code> <code>…` (one ST01 per
transaction set parsed) and exits 0, or prints `FAILED` and the reason and
exits 1. Exit 2 when linuxforhealth-x12 is missing: it needs pydantic 1, so it
lives in its own virtual environment (tests/.venv-x12, made by .ci/run)."""

import sys

try:
    from linuxforhealth.x12.io import X12ModelReader
except ImportError as error:
    print(f"linuxforhealth-x12 is not installed: {error}", file=sys.stderr)
    sys.exit(2)


def main(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    codes = []
    try:
        with X12ModelReader(text) as reader:
            for model in reader.models():
                codes.append(model.header.st_segment.transaction_set_identifier_code)
    except Exception as error:  # the parser raises pydantic and its own errors alike
        print("FAILED")
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    if not codes:
        print("FAILED")
        print("no transaction set was parsed", file=sys.stderr)
        return 1
    print("OK " + " ".join(codes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
