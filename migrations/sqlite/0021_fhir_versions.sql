-- FHIR writes: every version of a resource written over FHIR, exactly as it
-- was served, so vread and _history answer what a client saw. The highest
-- version_id of a resource is its current one.
CREATE TABLE fhir_versions (
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    version_id    INTEGER NOT NULL,
    last_updated  INTEGER NOT NULL,
    resource      TEXT NOT NULL,
    CONSTRAINT fhir_versions_pkey PRIMARY KEY (resource_type, resource_id, version_id)
);

-- The code system of an allergy's substance code (RxNorm or SNOMED CT):
-- a code without its system is unreadable to other systems.
ALTER TABLE allergies ADD COLUMN code_system TEXT;
