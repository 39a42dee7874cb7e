-- The billing console: each claim's history of status changes (who, when,
-- why), the 837P batches sent (kept so a batch can be downloaded again),
-- and what a corrected or void claim needs: its frequency code (CLM05-3)
-- and the payer's claim control number from an 835 (CLP07, sent as REF*F8).

CREATE TABLE claim_events (
    id          TEXT PRIMARY KEY,
    claim_id    TEXT NOT NULL REFERENCES claims (id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    note        TEXT,
    actor_id    TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX claim_events_claim_idx ON claim_events (claim_id, at);

CREATE TABLE claim_batches (
    id             TEXT PRIMARY KEY,
    control_number BIGINT NOT NULL,
    claim_count    BIGINT NOT NULL,
    body           TEXT NOT NULL,
    created_by     TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX claim_batches_created_idx ON claim_batches (created_at);

ALTER TABLE claims ADD COLUMN frequency TEXT NOT NULL DEFAULT '1';
ALTER TABLE claims ADD COLUMN payer_claim_number TEXT;
