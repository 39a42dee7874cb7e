-- A summary may say its sender went audio-only some time ago (its own
-- summaries were held up on a starved uplink): the audio-only time up to
-- this moment is already counted, so a late summary adds only the rest.
ALTER TABLE call_measures ADD COLUMN audio_only_through INTEGER NOT NULL DEFAULT 0;
