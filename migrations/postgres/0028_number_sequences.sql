-- Medical record numbers and claim numbers come from sequences, which hold
-- no lock: a counter row was held by each taker until its commit, so every
-- registration, and every claim batch, waited for the one before it.
-- Numbers stay unique; one taken by a rolled-back transaction is skipped.
CREATE SEQUENCE mrn_seq;
CREATE SEQUENCE claim_number_seq;
SELECT setval('mrn_seq', value) FROM counters WHERE name = 'mrn' AND value > 0;
SELECT setval('claim_number_seq', value) FROM counters WHERE name = 'claim_number' AND value > 0;
DELETE FROM counters WHERE name IN ('mrn', 'claim_number');
