-- Invited guests (an interpreter, a family member): each invitation is for
-- one visit, expires, can be revoked, and lets its holder into the call only
-- once the visit's clinician admits them.

CREATE TABLE visit_guests (
    id           TEXT PRIMARY KEY,
    visit_id     TEXT NOT NULL REFERENCES visits (id),
    display_name TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('interpreter', 'family', 'other')),
    status       TEXT NOT NULL CHECK (status IN ('invited', 'admitted', 'revoked')),
    invited_by   TEXT NOT NULL REFERENCES users (id),
    invited_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    admitted_by  TEXT REFERENCES users (id),
    admitted_at  INTEGER,
    revoked_at   INTEGER
);

CREATE INDEX visit_guests_visit ON visit_guests (visit_id);
