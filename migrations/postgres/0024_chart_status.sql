-- Ending chart entries. An allergy gains its clinical status (or
-- entered-in-error, for one recorded by mistake); medications already have
-- theirs, problems their clinical_status. Each records who ended it, when
-- and why, so the chart can show what was ended apart from what is current.
ALTER TABLE allergies ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CONSTRAINT allergies_status_check
    CHECK (status IN ('active', 'inactive', 'resolved', 'entered-in-error'));
ALTER TABLE allergies ADD COLUMN ended_at BIGINT;
ALTER TABLE allergies ADD COLUMN ended_by TEXT REFERENCES users (id);
ALTER TABLE allergies ADD COLUMN end_reason TEXT;

ALTER TABLE medications ADD COLUMN ended_at BIGINT;
ALTER TABLE medications ADD COLUMN ended_by TEXT REFERENCES users (id);
ALTER TABLE medications ADD COLUMN end_reason TEXT;

ALTER TABLE conditions ADD COLUMN ended_at BIGINT;
ALTER TABLE conditions ADD COLUMN ended_by TEXT REFERENCES users (id);
ALTER TABLE conditions ADD COLUMN end_reason TEXT;
