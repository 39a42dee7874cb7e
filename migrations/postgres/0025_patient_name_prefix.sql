-- FHIR `Patient?name=` matches the start of the family or the given name
-- (lower(...) LIKE 'prefix%'). Pattern-ops indexes let both halves of the OR
-- use an index under any collation, instead of scanning every patient.
CREATE INDEX patients_family_name_prefix_idx ON patients (lower(family_name) text_pattern_ops);
CREATE INDEX patients_given_name_prefix_idx ON patients (lower(given_name) text_pattern_ops);
