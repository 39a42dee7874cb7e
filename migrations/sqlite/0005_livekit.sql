-- LiveKit calls: each webhook event once (LiveKit retries), and when each
-- participant's connection joined and left a visit's room, against the
-- visit's encounter, so the call's length can be measured.

CREATE TABLE livekit_events (
    id          TEXT PRIMARY KEY,
    event       TEXT NOT NULL,
    room        TEXT NOT NULL,
    received_at INTEGER NOT NULL
);

CREATE TABLE call_presence (
    encounter_id    TEXT NOT NULL REFERENCES encounters (id),
    participant_sid TEXT NOT NULL,
    identity        TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('patient', 'staff')),
    joined_at       INTEGER,
    left_at         INTEGER,
    CONSTRAINT call_presence_pkey PRIMARY KEY (encounter_id, participant_sid)
);
