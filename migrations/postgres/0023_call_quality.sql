-- Call quality: each participant's getStats summaries (a bounded
-- timeline, oldest dropped first), the call's running measure (connected
-- and audio-only time, relay path, quality counts), and why a closed
-- visit billed as video or audio-only.

CREATE TABLE call_quality_samples (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    visit_id         TEXT NOT NULL REFERENCES visits (id),
    participant_id   TEXT NOT NULL,
    role             TEXT NOT NULL,
    at               BIGINT NOT NULL,
    rtt_ms           DOUBLE PRECISION,
    jitter_ms        DOUBLE PRECISION,
    loss_in_pct      DOUBLE PRECISION,
    loss_out_pct     DOUBLE PRECISION,
    kbps_in          DOUBLE PRECISION,
    kbps_out         DOUBLE PRECISION,
    sent_fps         DOUBLE PRECISION,
    sent_width       BIGINT,
    sent_height      BIGINT,
    received_fps     DOUBLE PRECISION,
    received_width   BIGINT,
    received_height  BIGINT,
    candidate        TEXT CHECK (candidate IN ('host', 'srflx', 'prflx', 'relay')),
    mode             TEXT NOT NULL CHECK (mode IN ('video', 'audio_only')),
    grade            TEXT NOT NULL CHECK (grade IN ('good', 'fair', 'poor'))
);

CREATE INDEX call_quality_samples_participant ON call_quality_samples (visit_id, participant_id, at);

CREATE TABLE call_measures (
    visit_id        TEXT PRIMARY KEY REFERENCES visits (id),
    started_at      BIGINT NOT NULL,
    last_at         BIGINT NOT NULL,
    connected_ms    BIGINT NOT NULL DEFAULT 0,
    audio_only_ms   BIGINT NOT NULL DEFAULT 0,
    -- 1 while any participant sends audio alone: the next interval counts so.
    audio_only_now  BIGINT NOT NULL DEFAULT 0,
    relayed         BIGINT NOT NULL DEFAULT 0,
    good_samples    BIGINT NOT NULL DEFAULT 0,
    fair_samples    BIGINT NOT NULL DEFAULT 0,
    poor_samples    BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX call_measures_started ON call_measures (started_at);

ALTER TABLE visits ADD COLUMN modality_reason TEXT;
ALTER TABLE claims ADD COLUMN modality_reason TEXT;
