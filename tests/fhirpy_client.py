"""A second FHIR client: fhirpy (PyPI), as Python integrations use it.

Usage: fhirpy_client.py BASE TOKEN FAMILY

Against Bedside's FHIR base, with a staff bearer token: creates a patient
named FAMILY, finds it by name, records five heart rates, pages through
them two at a time (following the server's `next` links), updates the
patient's phone and reads its history. Prints what it saw as JSON; exits 2
when fhirpy is missing.
"""

import json
import sys

try:
    from fhirpy import SyncFHIRClient
except ImportError:
    print("fhirpy is missing: pip install -r tests/requirements.txt", file=sys.stderr)
    sys.exit(2)

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VITALS = "http://terminology.hl7.org/CodeSystem/observation-category"


def main(base, token, family):
    client = SyncFHIRClient(base, authorization=f"Bearer {token}")
    patient = client.resource(
        "Patient",
        name=[{"use": "official", "family": family, "given": ["Mary"]}],
        gender="female",
        birthDate="1971-03-04",
        telecom=[{"system": "phone", "value": "+1 217 555 0100"}],
    )
    patient.save()

    found = client.resources("Patient").search(name=family).fetch_all()
    for minute in range(5):
        client.resource(
            "Observation",
            status="final",
            category=[{"coding": [{"system": VITALS, "code": "vital-signs"}]}],
            code={"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
            subject=patient.to_reference(),
            effectiveDateTime=f"2026-03-01T09:0{minute}:00Z",
            valueQuantity={"value": 70 + minute, "unit": "beats/minute", "system": UCUM, "code": "/min"},
        ).save()
    paged = (
        client.resources("Observation")
        .search(patient=patient.id, category="vital-signs")
        .limit(2)
        .fetch_all()
    )

    patient["telecom"] = [{"system": "phone", "value": "+1 217 555 0199"}]
    patient.save()
    read = client.reference("Patient", patient.id).to_resource()
    history = client.execute(f"Patient/{patient.id}/_history", method="get")

    print(json.dumps({
        "patient_id": patient.id,
        "found": [p.id for p in found],
        "paged_values": sorted(o["valueQuantity"]["value"] for o in paged),
        "phone": read["telecom"][0]["value"],
        "version": read["meta"]["versionId"],
        "history_versions": sorted(e["resource"]["meta"]["versionId"] for e in history["entry"]),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:4])
