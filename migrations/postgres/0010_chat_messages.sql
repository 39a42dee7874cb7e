-- The chat of a visit's call, one row per message, numbered per visit in
-- the order the room relayed them. The sender is kept as the room knew
-- them (role, id, display name), whether patient, staff or guest.

CREATE TABLE chat_messages (
    id             TEXT PRIMARY KEY,
    visit_id       TEXT NOT NULL REFERENCES visits (id),
    encounter_id   TEXT NOT NULL REFERENCES encounters (id),
    patient_id     TEXT NOT NULL REFERENCES patients (id),
    seq            BIGINT NOT NULL,
    sender_role    TEXT NOT NULL,
    sender_id      TEXT NOT NULL,
    sender_name    TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    body           TEXT NOT NULL,
    sent_at        BIGINT NOT NULL,
    CONSTRAINT chat_messages_visit_seq_key UNIQUE (visit_id, seq)
);

CREATE INDEX chat_messages_patient ON chat_messages (patient_id, sent_at);
CREATE INDEX chat_messages_encounter ON chat_messages (encounter_id, seq);
