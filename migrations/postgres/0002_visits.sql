-- Queues, visits and their encounters, and the clinical record around them:
-- notes, observations, conditions, allergies, medications; the billing outbox.

CREATE TABLE queues (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT queues_name_key UNIQUE (name)
);

CREATE TABLE encounters (
    id              TEXT PRIMARY KEY,
    patient_id      TEXT NOT NULL REFERENCES patients (id),
    status          TEXT NOT NULL CHECK (status IN ('planned', 'arrived', 'in-progress', 'finished', 'cancelled')),
    reason          TEXT NOT NULL,
    practitioner_id TEXT REFERENCES users (id),
    period_start    BIGINT,
    period_end      BIGINT,
    length_minutes  BIGINT,
    patient_location TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX encounters_patient_idx ON encounters (patient_id, created_at);

CREATE TABLE encounter_status_history (
    encounter_id TEXT NOT NULL REFERENCES encounters (id),
    seq          BIGINT NOT NULL,
    status       TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end   BIGINT,
    PRIMARY KEY (encounter_id, seq)
);

CREATE TABLE visits (
    id              TEXT PRIMARY KEY,
    patient_id      TEXT NOT NULL REFERENCES patients (id),
    queue_id        TEXT NOT NULL REFERENCES queues (id),
    encounter_id    TEXT NOT NULL REFERENCES encounters (id),
    clinician_id    TEXT REFERENCES users (id),
    status          TEXT NOT NULL CHECK (status IN ('scheduled', 'waiting', 'in_consult', 'closed', 'cancelled', 'no_show')),
    priority        TEXT NOT NULL CHECK (priority IN ('routine', 'urgent', 'emergent')),
    reason          TEXT NOT NULL,
    scheduled_start BIGINT,
    sort_key        BIGINT NOT NULL,
    consent_at      BIGINT,
    consent_version TEXT,
    symptoms        TEXT,
    checked_in_at   BIGINT,
    admitted_at     BIGINT,
    admitted_by     TEXT REFERENCES users (id),
    closed_at       BIGINT,
    total_minutes   BIGINT,
    new_patient     BIGINT,
    audio_only      BIGINT NOT NULL DEFAULT 0,
    created_by      TEXT REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT visits_encounter_key UNIQUE (encounter_id)
);
CREATE INDEX visits_queue_idx ON visits (queue_id, status);
CREATE INDEX visits_patient_idx ON visits (patient_id);

CREATE TABLE notes (
    id           TEXT PRIMARY KEY,
    encounter_id TEXT NOT NULL REFERENCES encounters (id),
    patient_id   TEXT NOT NULL REFERENCES patients (id),
    author_id    TEXT NOT NULL REFERENCES users (id),
    subjective   TEXT NOT NULL,
    objective    TEXT NOT NULL,
    assessment   TEXT NOT NULL,
    plan         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX notes_encounter_idx ON notes (encounter_id);

CREATE TABLE observations (
    id           TEXT PRIMARY KEY,
    patient_id   TEXT NOT NULL REFERENCES patients (id),
    encounter_id TEXT REFERENCES encounters (id),
    category     TEXT NOT NULL,
    code         TEXT NOT NULL,
    display      TEXT NOT NULL,
    value        DOUBLE PRECISION,
    value_code   TEXT,
    unit         TEXT,
    ucum         TEXT,
    effective_at BIGINT NOT NULL
);
CREATE INDEX observations_patient_idx ON observations (patient_id, effective_at);

CREATE TABLE conditions (
    id           TEXT PRIMARY KEY,
    patient_id   TEXT NOT NULL REFERENCES patients (id),
    encounter_id TEXT REFERENCES encounters (id),
    code         TEXT NOT NULL,
    display      TEXT,
    rank         BIGINT,
    clinical_status TEXT NOT NULL,
    recorder_id  TEXT REFERENCES users (id),
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX conditions_patient_idx ON conditions (patient_id);
CREATE INDEX conditions_encounter_idx ON conditions (encounter_id);

CREATE TABLE allergies (
    id          TEXT PRIMARY KEY,
    patient_id  TEXT NOT NULL REFERENCES patients (id),
    substance   TEXT NOT NULL,
    code        TEXT,
    reaction    TEXT,
    severity    TEXT CHECK (severity IN ('mild', 'moderate', 'severe')),
    recorder_id TEXT REFERENCES users (id),
    recorded_at BIGINT NOT NULL
);
CREATE INDEX allergies_patient_idx ON allergies (patient_id);

CREATE TABLE medications (
    id          TEXT PRIMARY KEY,
    patient_id  TEXT NOT NULL REFERENCES patients (id),
    name        TEXT NOT NULL,
    code        TEXT,
    status      TEXT NOT NULL,
    recorder_id TEXT REFERENCES users (id),
    recorded_at BIGINT NOT NULL
);
CREATE INDEX medications_patient_idx ON medications (patient_id);

-- A closed consult waiting to become a claim: one row per visit, ever.
CREATE TABLE billing_outbox (
    id           TEXT PRIMARY KEY,
    visit_id     TEXT NOT NULL REFERENCES visits (id),
    encounter_id TEXT NOT NULL REFERENCES encounters (id),
    created_at   BIGINT NOT NULL,
    processed_at BIGINT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT billing_outbox_visit_key UNIQUE (visit_id)
);
