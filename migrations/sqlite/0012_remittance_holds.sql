-- What an 835 could not post: a claim it did not match, or a payment that
-- does not balance or does not fit the claim. Held for a biller's review,
-- never posted to the patient's account.

CREATE TABLE remittance_holds (
    id            TEXT PRIMARY KEY,
    remittance_id TEXT NOT NULL REFERENCES remittances (id),
    claim_number  TEXT NOT NULL,
    claim_id      TEXT REFERENCES claims (id),
    reason        TEXT NOT NULL,
    charge_cents  INTEGER NOT NULL,
    paid_cents    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    resolved_at   INTEGER
);

CREATE INDEX remittance_holds_open ON remittance_holds (resolved_at, created_at);
