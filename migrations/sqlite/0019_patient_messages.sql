-- Messages to patients (join links, reminders, running late, cancellation
-- notices), written in the same transaction as the change that causes them
-- and sent by the message worker. The body is not stored: it is written at
-- send time from the visit, so no join token rests in this table.
CREATE TABLE patient_messages (
    id              TEXT PRIMARY KEY,
    visit_id        TEXT NOT NULL REFERENCES visits (id),
    patient_id      TEXT NOT NULL REFERENCES patients (id),
    kind            TEXT NOT NULL CHECK (kind IN ('link', 'reminder', 'running_late', 'cancellation')),
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    address         TEXT NOT NULL,
    -- What makes this message one of a kind: the link version, the
    -- reminder's offset in minutes, or the moment a delay was announced.
    dedupe          TEXT NOT NULL,
    link_version    INTEGER,
    late_minutes    INTEGER,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_token     TEXT,
    lease_until     INTEGER,
    failure         TEXT,
    provider_id     TEXT,
    sent_at         INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CONSTRAINT patient_messages_once_key UNIQUE (visit_id, kind, channel, dedupe)
);
CREATE INDEX patient_messages_due_idx ON patient_messages (state, next_attempt_at);
CREATE INDEX patient_messages_visit_idx ON patient_messages (visit_id, created_at);

-- A patient who asked for no text messages (at the front desk, or by
-- replying STOP); e-mail still goes.
ALTER TABLE patients ADD COLUMN sms_opt_out INTEGER NOT NULL DEFAULT 0;
