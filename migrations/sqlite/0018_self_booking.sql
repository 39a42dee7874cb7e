-- Public self-booking: patients the front desk should review (registered
-- from the booking page with no exact match), and booking forms used once.

CREATE TABLE patient_reviews (
    patient_id  TEXT PRIMARY KEY REFERENCES patients (id),
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    resolved_by TEXT REFERENCES users (id)
);
CREATE INDEX patient_reviews_open_idx ON patient_reviews (resolved_at, created_at);

-- Each signed booking form is good for one booking: its nonce is the key.
CREATE TABLE booking_form_uses (
    nonce   TEXT PRIMARY KEY,
    used_at INTEGER NOT NULL
);
