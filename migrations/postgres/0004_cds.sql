-- Triage at check-in, kept on the visit; feedback on CDS Hooks cards.

ALTER TABLE visits ADD COLUMN news2_score BIGINT;
ALTER TABLE visits ADD COLUMN news2_risk TEXT;
ALTER TABLE visits ADD COLUMN red_flags TEXT;

CREATE TABLE cds_feedback (
    id             TEXT PRIMARY KEY,
    service_id     TEXT NOT NULL,
    card_uuid      TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
    override_reason TEXT,
    user_id        TEXT,
    recorded_at    BIGINT NOT NULL
);
CREATE INDEX cds_feedback_card_idx ON cds_feedback (card_uuid);
