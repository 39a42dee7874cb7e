//! Bearer tokens. Staff hold an opaque session token whose SHA-256 is kept
//! in the store (so it can be revoked, and a leaked table signs nobody in).
//! A patient, or a guest the clinic invited, holds a signed, expiring token
//! scoped to one visit.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::ids::{GuestId, PatientId, VisitId};

const SESSION_PREFIX: &str = "bss_";

/// An opaque staff session token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("{SESSION_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Recognises a bearer value shaped like a session token.
    pub fn from_bearer(value: &str) -> Option<Self> {
        value
            .starts_with(SESSION_PREFIX)
            .then(|| Self(value.to_owned()))
    }

    /// What the store keeps instead of the token.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(***)")
    }
}

/// What a patient's token says: which visit, which patient, until when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VisitClaims {
    /// The visit id.
    pub sub: String,
    /// The patient id.
    pub pid: String,
    /// Token kind, so a future token type can never pass for this one.
    pub kind: String,
    pub iat: i64,
    pub exp: i64,
    /// The visit's link version the token was issued under (patient
    /// tokens; tokens from before versions existed read as 0).
    #[serde(default)]
    pub ver: i64,
}

impl VisitClaims {
    pub fn visit_id(&self) -> Option<VisitId> {
        VisitId::parse(&self.sub)
    }

    pub fn patient_id(&self) -> Option<PatientId> {
        PatientId::parse(&self.pid)
    }

    /// In a guest token, `pid` names the guest.
    pub fn guest_id(&self) -> Option<GuestId> {
        GuestId::parse(&self.pid)
    }
}

/// A signed patient visit token. `Debug` never shows it.
#[derive(Clone)]
pub struct PatientToken(String);

impl PatientToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PatientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PatientToken(***)")
    }
}

/// A signed guest invitation token. `Debug` never shows it.
#[derive(Clone)]
pub struct GuestToken(String);

impl GuestToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GuestToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuestToken(***)")
    }
}

const PATIENT_KIND: &str = "patient_visit";
const GUEST_KIND: &str = "guest_visit";

const FORM_KIND: &str = "booking_form";

/// What a public booking form's token carries.
#[derive(Debug, Serialize, Deserialize)]
struct FormClaims {
    kind: String,
    issued_ms: i64,
    nonce: String,
}

/// The HMAC key that signs patient tokens; every node of one store shares it.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKeys(***)")
    }
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A fresh random secret, base64 text, for the store to keep.
    pub fn generate_secret() -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A patient's token for one visit, under the visit's link `version`.
    pub fn issue_patient(
        &self,
        visit_id: &VisitId,
        patient_id: &PatientId,
        version: i64,
        now: i64,
        ttl_seconds: i64,
    ) -> PatientToken {
        PatientToken(self.sign(
            PATIENT_KIND,
            visit_id,
            patient_id.as_str(),
            version,
            (now, now + ttl_seconds),
        ))
    }

    /// A guest's token for one visit, valid until `expires_at` (Unix seconds).
    pub fn issue_guest(
        &self,
        visit_id: &VisitId,
        guest_id: &GuestId,
        now: i64,
        expires_at: i64,
    ) -> GuestToken {
        GuestToken(self.sign(
            GUEST_KIND,
            visit_id,
            guest_id.as_str(),
            0,
            (now, expires_at),
        ))
    }

    /// The claims of a valid, unexpired patient token.
    pub fn verify_patient(&self, token: &str) -> Option<VisitClaims> {
        self.verify(PATIENT_KIND, token)
    }

    /// The claims of a valid, unexpired guest token; whether the invitation
    /// still stands is the store's to say.
    pub fn verify_guest(&self, token: &str) -> Option<VisitClaims> {
        self.verify(GUEST_KIND, token)
    }

    /// A public booking form's token: when it was handed out (Unix
    /// milliseconds by the app's clock) and a nonce that lets it be used once.
    pub fn issue_form(&self, now_millis: i64) -> String {
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let claims = FormClaims {
            kind: FORM_KIND.to_owned(),
            issued_ms: now_millis,
            nonce: URL_SAFE_NO_PAD.encode(nonce),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail")
    }

    /// The issue time and nonce of a booking form token this server signed;
    /// its age is the caller's to judge against the app's clock.
    pub fn verify_form(&self, token: &str) -> Option<(i64, String)> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<FormClaims>(token, &self.decoding, &validation).ok()?;
        (data.claims.kind == FORM_KIND).then_some((data.claims.issued_ms, data.claims.nonce))
    }

    fn sign(
        &self,
        kind: &str,
        visit_id: &VisitId,
        pid: &str,
        ver: i64,
        (iat, exp): (i64, i64),
    ) -> String {
        let claims = VisitClaims {
            sub: visit_id.to_string(),
            pid: pid.to_owned(),
            kind: kind.to_owned(),
            iat,
            exp,
            ver,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail")
    }

    fn verify(&self, kind: &str, token: &str) -> Option<VisitClaims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<VisitClaims>(token, &self.decoding, &validation).ok()?;
        (data.claims.kind == kind).then_some(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn a_patient_token_is_scoped_to_its_visit_and_expires() {
        let keys = TokenKeys::from_secret(b"test secret of enough length....");
        let (visit, patient) = (VisitId::new(), PatientId::new());
        let token = keys.issue_patient(&visit, &patient, 0, now(), 60);
        let claims = keys.verify_patient(token.expose()).unwrap();
        assert_eq!(claims.visit_id(), Some(visit.clone()));
        assert_eq!(claims.patient_id(), Some(patient.clone()));

        let expired = keys.issue_patient(&visit, &patient, 0, now() - 120, 60);
        assert!(keys.verify_patient(expired.expose()).is_none());

        let other = TokenKeys::from_secret(b"another secret of enough length.");
        assert!(other.verify_patient(token.expose()).is_none());
    }

    #[test]
    fn a_guest_token_never_passes_for_a_patients_and_back() {
        let keys = TokenKeys::from_secret(b"test secret of enough length....");
        let (visit, guest) = (VisitId::new(), GuestId::new());
        let token = keys.issue_guest(&visit, &guest, now(), now() + 60);
        let claims = keys.verify_guest(token.expose()).unwrap();
        assert_eq!(
            (claims.visit_id(), claims.guest_id()),
            (Some(visit.clone()), Some(guest))
        );
        assert!(keys.verify_patient(token.expose()).is_none());
        let patient = keys.issue_patient(&visit, &PatientId::new(), 0, now(), 60);
        assert!(keys.verify_guest(patient.expose()).is_none());
        assert_eq!(format!("{token:?}"), "GuestToken(***)");
    }

    #[test]
    fn session_tokens_are_random_and_hidden_from_debug() {
        let (a, b) = (SessionToken::generate(), SessionToken::generate());
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "SessionToken(***)");
        assert_eq!(a.hash().len(), 64);
        assert!(SessionToken::from_bearer(a.expose()).is_some());
        assert!(SessionToken::from_bearer("eyJhbGciOi").is_none());
    }
}
