-- Claims made from closed consults (one per encounter, ever), the patient
-- account's postings, imported remittances, and the billing webhook's
-- delivery queue.

CREATE TABLE claims (
    id               TEXT PRIMARY KEY,
    number           TEXT NOT NULL,
    encounter_id     TEXT NOT NULL REFERENCES encounters (id),
    visit_id         TEXT NOT NULL REFERENCES visits (id),
    patient_id       TEXT NOT NULL REFERENCES patients (id),
    status           TEXT NOT NULL CHECK (status IN ('needs_review', 'ready', 'submitted', 'accepted', 'rejected', 'paid', 'denied')),
    review_reason    TEXT,
    status_reason    TEXT,
    payer_id         TEXT,
    payer_name       TEXT,
    member_id        TEXT,
    group_number     TEXT,
    place_of_service TEXT NOT NULL,
    new_patient      INTEGER NOT NULL,
    audio_only       INTEGER NOT NULL,
    total_minutes    INTEGER NOT NULL,
    service_date     TEXT NOT NULL,
    diagnoses        TEXT NOT NULL,
    lines            TEXT NOT NULL,
    total_cents      INTEGER NOT NULL,
    paid_cents       INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    submitted_at     INTEGER,
    CONSTRAINT claims_encounter_key UNIQUE (encounter_id),
    CONSTRAINT claims_number_key UNIQUE (number)
);
CREATE INDEX claims_patient_idx ON claims (patient_id);
CREATE INDEX claims_status_idx ON claims (status, created_at);

CREATE TABLE account_entries (
    id          TEXT PRIMARY KEY,
    patient_id  TEXT NOT NULL REFERENCES patients (id),
    claim_id    TEXT REFERENCES claims (id),
    kind        TEXT NOT NULL CHECK (kind IN ('charge', 'insurer_payment', 'adjustment', 'patient_payment')),
    amount_cents INTEGER NOT NULL,
    note        TEXT,
    remittance_id TEXT,
    created_by  TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX account_entries_patient_idx ON account_entries (patient_id, at);

CREATE TABLE remittances (
    id           TEXT PRIMARY KEY,
    trace_number TEXT NOT NULL,
    total_cents  INTEGER NOT NULL,
    imported_by  TEXT,
    imported_at  INTEGER NOT NULL,
    CONSTRAINT remittances_trace_key UNIQUE (trace_number)
);

CREATE TABLE billing_webhook_deliveries (
    id              TEXT PRIMARY KEY,
    claim_id        TEXT NOT NULL REFERENCES claims (id),
    payload         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_status     INTEGER,
    created_at      INTEGER NOT NULL,
    CONSTRAINT billing_webhook_claim_key UNIQUE (claim_id)
);
CREATE INDEX billing_webhook_due_idx ON billing_webhook_deliveries (delivered_at, next_attempt_at);

-- Claim numbers (CLM01) and interchange control numbers (ISA13/GS06): each handed out once.
INSERT INTO counters (name, value) VALUES ('claim_number', 0);
INSERT INTO counters (name, value) VALUES ('x12_interchange', 0);
