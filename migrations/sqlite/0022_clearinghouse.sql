-- The clearinghouse: each eligibility check (X12 270 sent, 271 read into
-- an answer) kept against its visit; the 999 acknowledgements received,
-- tied to the 837P batch whose GS06 they name; and the batch's verdict.

CREATE TABLE eligibility_checks (
    id             TEXT PRIMARY KEY,
    visit_id       TEXT NOT NULL REFERENCES visits (id),
    patient_id     TEXT NOT NULL REFERENCES patients (id),
    trace          TEXT NOT NULL,
    coverage       TEXT NOT NULL,
    answer         TEXT NOT NULL,
    response       TEXT NOT NULL,
    checked_by     TEXT,
    checked_at     INTEGER NOT NULL
);
CREATE INDEX eligibility_checks_visit_idx ON eligibility_checks (visit_id, checked_at);

CREATE TABLE x12_acknowledgements (
    id                   TEXT PRIMARY KEY,
    batch_id             TEXT REFERENCES claim_batches (id),
    functional_id        TEXT NOT NULL,
    group_control_number INTEGER NOT NULL,
    verdict              TEXT NOT NULL,
    body                 TEXT NOT NULL,
    received_by          TEXT,
    received_at          INTEGER NOT NULL
);
CREATE INDEX x12_acknowledgements_batch_idx ON x12_acknowledgements (batch_id);

ALTER TABLE claim_batches ADD COLUMN ack_verdict TEXT;
ALTER TABLE claim_batches ADD COLUMN ack_at INTEGER;
