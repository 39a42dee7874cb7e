-- Pre-call checks: what a patient's network did against Bedside's own
-- WebRTC peer before the visit, so the clinician can see it before admitting.

CREATE TABLE precall_checks (
    id            TEXT PRIMARY KEY,
    visit_id      TEXT NOT NULL REFERENCES visits (id),
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT NOT NULL,
    verdict       TEXT NOT NULL CHECK (verdict IN ('good', 'fair', 'poor', 'failed')),
    -- Candidate types the browser gathered, comma-separated (host, srflx, relay).
    gathered      TEXT NOT NULL,
    -- The type of the browser's side of the pair that carried the check.
    path          TEXT,
    rtt_ms        DOUBLE PRECISION,
    loss_percent  DOUBLE PRECISION,
    upload_kbps   BIGINT,
    advice        TEXT NOT NULL
);

CREATE INDEX precall_checks_visit ON precall_checks (visit_id, finished_at);
