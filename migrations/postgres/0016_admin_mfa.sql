-- Staff MFA (TOTP), last sign-in, and clinic settings an admin edits.

ALTER TABLE users ADD COLUMN last_sign_in_at BIGINT;

-- One TOTP secret per user; confirmed_at is NULL until a first code proves
-- the authenticator has it. last_step refuses a code used once again.
CREATE TABLE user_mfa (
    user_id      TEXT PRIMARY KEY REFERENCES users (id),
    secret       TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

-- Single-use recovery codes, kept as SHA-256 hashes.
CREATE TABLE mfa_recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- The short-lived step between a right password and a session: 'code'
-- (send a TOTP or recovery code) or 'enrol' (set up TOTP first).
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('code', 'enrol')),
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);

-- What patients see of the clinic; NULL falls back to the configuration.
CREATE TABLE clinic_settings (
    id            BIGINT PRIMARY KEY CHECK (id = 1),
    name          TEXT,
    contact_phone TEXT,
    contact_email TEXT,
    region        TEXT,
    updated_at    BIGINT NOT NULL
);
