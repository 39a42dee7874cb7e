-- The emergency advice check-in gave the patient (JSON: number, findings,
-- advice lines) and when the patient confirmed reading it.

ALTER TABLE visits ADD COLUMN emergency TEXT;
ALTER TABLE visits ADD COLUMN emergency_acknowledged_at BIGINT;
