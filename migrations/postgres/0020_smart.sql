-- SMART on FHIR: the apps an admin registers, the launches the console
-- opens, the grants users give (or backend services get), the short-lived
-- authorization codes, the tokens (kept as SHA-256 hashes only), the
-- client-assertion ids already seen, and the server's signing key.

CREATE TABLE smart_apps (
    client_id     TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    launch_url    TEXT,
    -- JSON array of exact redirect URIs.
    redirect_uris TEXT NOT NULL,
    client_type   TEXT NOT NULL CHECK (client_type IN ('public', 'confidential-symmetric', 'confidential-asymmetric')),
    secret_hash   TEXT,
    -- JSON Web Key Set for private_key_jwt.
    jwks          TEXT,
    -- Space-separated scopes the app may be granted.
    scopes        TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

CREATE TABLE smart_launches (
    id_hash      TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES smart_apps (client_id),
    user_id      TEXT NOT NULL REFERENCES users (id),
    patient_id   TEXT NOT NULL,
    encounter_id TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);

-- Whose permissions an app borrows: a staff user, a visit's patient, or
-- none (a backend service); the scopes granted and the context.
CREATE TABLE smart_grants (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES smart_apps (client_id),
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('user', 'patient', 'system')),
    user_id      TEXT,
    visit_id     TEXT,
    patient_id   TEXT,
    encounter_id TEXT,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX smart_grants_client_idx ON smart_grants (client_id);

CREATE TABLE smart_codes (
    code_hash      TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES smart_grants (id),
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);

CREATE TABLE smart_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES smart_grants (id),
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Set when revoked, or (refresh tokens) when rotated.
    revoked_at BIGINT
);
CREATE INDEX smart_tokens_grant_idx ON smart_tokens (grant_id);

CREATE TABLE smart_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT smart_assertions_once PRIMARY KEY (client_id, jti)
);

CREATE TABLE smart_keys (
    kid         TEXT PRIMARY KEY,
    -- PKCS#1 DER of the RSA private key, base64.
    private_der TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
