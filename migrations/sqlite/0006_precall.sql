-- Pre-call checks: what a patient's network did against Bedside's own
-- WebRTC peer before the visit, so the clinician can see it before admitting.

CREATE TABLE precall_checks (
    id            TEXT PRIMARY KEY,
    visit_id      TEXT NOT NULL REFERENCES visits (id),
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    verdict       TEXT NOT NULL CHECK (verdict IN ('good', 'fair', 'poor', 'failed')),
    -- Candidate types the browser gathered, comma-separated (host, srflx, relay).
    gathered      TEXT NOT NULL,
    -- The type of the browser's side of the pair that carried the check.
    path          TEXT,
    rtt_ms        REAL,
    loss_percent  REAL,
    upload_kbps   INTEGER,
    advice        TEXT NOT NULL
);

CREATE INDEX precall_checks_visit ON precall_checks (visit_id, finished_at);
