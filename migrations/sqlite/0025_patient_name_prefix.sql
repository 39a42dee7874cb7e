-- FHIR `Patient?name=` matches the start of the family or the given name.
-- SQLite cannot use an index for LIKE on an expression, so the search adds
-- the same prefix as a range on lower(...), which these indexes serve
-- (lower(family_name) is indexed since 0001).
CREATE INDEX patients_given_name_idx ON patients (lower(given_name));
