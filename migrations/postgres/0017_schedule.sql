-- Clinicians' working hours and the slots booked from them.
-- A clinician's schedule: the clinic's time zone the hours are read in, how
-- long one visit lasts, which queue booked visits join, and whether
-- patients may book it themselves.
CREATE TABLE clinician_schedules (
    clinician_id  TEXT PRIMARY KEY REFERENCES users (id),
    time_zone     TEXT NOT NULL,
    visit_minutes BIGINT NOT NULL CHECK (visit_minutes BETWEEN 5 AND 240),
    queue_id      TEXT NOT NULL REFERENCES queues (id),
    self_booking  BIGINT NOT NULL DEFAULT 1,
    updated_at    BIGINT NOT NULL
);

-- Weekly hours: ISO weekday (1 = Monday), minutes after local midnight.
CREATE TABLE working_hours (
    clinician_id TEXT NOT NULL REFERENCES clinician_schedules (clinician_id),
    weekday      BIGINT NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute BIGINT NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   BIGINT NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    CHECK (start_minute < end_minute),
    PRIMARY KEY (clinician_id, weekday, start_minute)
);

-- One row per booked time: the unique key is what stops two visits from
-- taking one clinician's slot, however many bookings race for it.
CREATE TABLE slot_bookings (
    clinician_id TEXT NOT NULL REFERENCES users (id),
    slot_start   BIGINT NOT NULL,
    slot_end     BIGINT NOT NULL,
    visit_id     TEXT NOT NULL REFERENCES visits (id),
    created_at   BIGINT NOT NULL,
    CONSTRAINT slot_bookings_slot_key UNIQUE (clinician_id, slot_start),
    CONSTRAINT slot_bookings_visit_key UNIQUE (visit_id)
);
CREATE INDEX slot_bookings_time_idx ON slot_bookings (slot_start);
CREATE INDEX visits_scheduled_idx ON visits (scheduled_start);
