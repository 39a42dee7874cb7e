//! SMART on FHIR (SMART App Launch 2.x; STANDARDS-2.md §1): Bedside as the
//! authorization server of its FHIR API.
//!
//! - [`apps`]: apps an admin registers, and how each authenticates at the
//!   token endpoint (public, client secret, or `private_key_jwt`).
//! - [`assertion`]: client assertions of backend services, checked against
//!   the app's registered JWKS (RS384 or ES384, `jti` seen once).
//! - [`authorize`]: the authorization request (PKCE S256 only, `aud` the
//!   FHIR base, exact redirect URIs), EHR launches and the user's consent.
//! - [`token`]: the token endpoint's grants, refresh rotation, revocation.
//! - [`caller`]: what a SMART access token stands for on a FHIR request.
//! - [`cds`]: CDS Hooks calls that lend a SMART token (`fhirAuthorization`).
//! - [`keys`]: the server's RS256 key for OpenID Connect `id_token`s.
//! - [`configuration`]: the SMART configuration document (`.well-known`).
//!
//! Every grant, token issued, refused and revoked is audited; tokens,
//! codes and launch ids are kept as SHA-256 hashes only.

pub mod apps;
pub mod assertion;
pub mod authorize;
pub mod caller;
pub mod cds;
pub mod configuration;
pub mod keys;
pub mod token;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::store::StoreError;

/// Where the authorization server and the FHIR API are served.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// `{public_url}/fhir`: the `aud` every request must name, and `iss`.
    pub fhir_base: String,
    pub authorize: String,
    pub token: String,
    pub revoke: String,
    pub jwks: String,
    pub introspect: String,
}

impl Endpoints {
    pub fn new(public_url: &str) -> Self {
        let root = public_url.trim_end_matches('/');
        Self {
            fhir_base: format!("{root}/fhir"),
            authorize: format!("{root}/oauth/authorize"),
            token: format!("{root}/oauth/token"),
            revoke: format!("{root}/oauth/revoke"),
            jwks: format!("{root}/oauth/jwks"),
            introspect: format!("{root}/oauth/introspect"),
        }
    }

    /// Whether `aud` names this FHIR base (a trailing `/` is forgiven).
    pub fn is_own_audience(&self, aud: &str) -> bool {
        aud.trim_end_matches('/') == self.fhir_base
    }
}

/// An OAuth 2.0 error (RFC 6749 §5.2), with a sentence for the developer.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    UnsupportedResponseType(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl OAuthError {
    /// The `error` code of the response.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::AccessDenied(_) => "access_denied",
            Self::Store(StoreError::Unavailable(_)) => "temporarily_unavailable",
            Self::Store(_) | Self::Internal(_) => "server_error",
        }
    }
}

/// A new opaque secret (token, code, launch id) with `prefix`: 256 random bits.
pub(crate) fn opaque(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a secret.
pub(crate) fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The S256 code challenge of a PKCE verifier (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A PKCE verifier or S256 challenge as RFC 7636 shapes them: 43 to 128
/// unreserved characters.
pub(crate) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifier_gives_its_challenge() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_pkce_value("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!is_pkce_value("short"));
        assert!(!is_pkce_value(&"a+".repeat(30)));
    }

    #[test]
    fn the_audience_is_the_fhir_base() {
        let endpoints = Endpoints::new("https://ehr.example.org");
        assert!(endpoints.is_own_audience("https://ehr.example.org/fhir"));
        assert!(endpoints.is_own_audience("https://ehr.example.org/fhir/"));
        assert!(!endpoints.is_own_audience("https://ehr.example.org"));
        assert!(!endpoints.is_own_audience("https://other.example.org/fhir"));
    }
}
