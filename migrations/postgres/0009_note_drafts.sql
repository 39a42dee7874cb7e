-- The clinician's note as it is typed, one draft per visit, kept until the
-- visit closes (JSON of the form's fields, as typed).

CREATE TABLE note_drafts (
    visit_id   TEXT PRIMARY KEY REFERENCES visits (id),
    author_id  TEXT NOT NULL REFERENCES users (id),
    body       TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
