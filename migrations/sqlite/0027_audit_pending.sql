-- Events wait here, written in the transaction of the change they record,
-- until the sealer links them into the hash chain (`audit_events`) in
-- batches: a request no longer holds the chain head until its commit.
CREATE TABLE audit_pending (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    actor_type    TEXT NOT NULL,
    actor_id      TEXT,
    actor_role    TEXT,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT,
    patient_id    TEXT,
    ip            TEXT,
    outcome       TEXT NOT NULL
);
