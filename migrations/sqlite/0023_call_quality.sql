-- Call quality: each participant's getStats summaries (a bounded
-- timeline, oldest dropped first), the call's running measure (connected
-- and audio-only time, relay path, quality counts), and why a closed
-- visit billed as video or audio-only.

CREATE TABLE call_quality_samples (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    visit_id         TEXT NOT NULL REFERENCES visits (id),
    participant_id   TEXT NOT NULL,
    role             TEXT NOT NULL,
    at               INTEGER NOT NULL,
    rtt_ms           REAL,
    jitter_ms        REAL,
    loss_in_pct      REAL,
    loss_out_pct     REAL,
    kbps_in          REAL,
    kbps_out         REAL,
    sent_fps         REAL,
    sent_width       INTEGER,
    sent_height      INTEGER,
    received_fps     REAL,
    received_width   INTEGER,
    received_height  INTEGER,
    candidate        TEXT CHECK (candidate IN ('host', 'srflx', 'prflx', 'relay')),
    mode             TEXT NOT NULL CHECK (mode IN ('video', 'audio_only')),
    grade            TEXT NOT NULL CHECK (grade IN ('good', 'fair', 'poor'))
);

CREATE INDEX call_quality_samples_participant ON call_quality_samples (visit_id, participant_id, at);

CREATE TABLE call_measures (
    visit_id        TEXT PRIMARY KEY REFERENCES visits (id),
    started_at      INTEGER NOT NULL,
    last_at         INTEGER NOT NULL,
    connected_ms    INTEGER NOT NULL DEFAULT 0,
    audio_only_ms   INTEGER NOT NULL DEFAULT 0,
    -- 1 while any participant sends audio alone: the next interval counts so.
    audio_only_now  INTEGER NOT NULL DEFAULT 0,
    relayed         INTEGER NOT NULL DEFAULT 0,
    good_samples    INTEGER NOT NULL DEFAULT 0,
    fair_samples    INTEGER NOT NULL DEFAULT 0,
    poor_samples    INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX call_measures_started ON call_measures (started_at);

ALTER TABLE visits ADD COLUMN modality_reason TEXT;
ALTER TABLE claims ADD COLUMN modality_reason TEXT;
