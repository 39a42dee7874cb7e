//! Client assertions (`private_key_jwt`, SAL `client-confidential-asymmetric`):
//! a JWT the app signs with a key from its registered JWKS, RS384 or
//! ES384, naming itself as `iss` and `sub`, the token endpoint as `aud`,
//! living at most five minutes, with a `jti` the server refuses to see
//! twice.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::OAuthError;
use crate::model::timestamp::Timestamp;
use crate::store::{self, AppRecord, StoreError, Tx};

/// The longest an assertion may live, from now (SAL: `exp` ≤ 5 minutes).
const MAX_LIFETIME_SECONDS: i64 = 300;
/// Clock skew forgiven between the app and the server.
const SKEW_SECONDS: i64 = 30;

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
    jti: Option<String>,
}

fn refused(why: &str) -> OAuthError {
    OAuthError::InvalidClient(format!("the client assertion was refused: {why}"))
}

/// The `iss` an assertion claims, read before its signature is checked
/// (to find the key that checks it).
pub fn issuer(assertion: &str) -> Result<String, OAuthError> {
    let mut validation = Validation::new(Algorithm::RS384);
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<Claims>(assertion, &DecodingKey::from_secret(&[]), &validation)
            .map_err(|_| refused("it is not a JWT with iss, sub and exp"))?;
    Ok(data.claims.iss)
}

/// Checks `assertion` for `app`: its signature by a registered key, its
/// claims, and that its `jti` is new.
pub async fn verify(
    tx: &mut Tx,
    app: &AppRecord,
    assertion: &str,
    token_endpoint: &str,
    now: Timestamp,
) -> Result<(), OAuthError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| refused("no JWT header"))?;
    if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
        return Err(refused("alg must be RS384 or ES384"));
    }
    if header.jku.is_some() {
        return Err(refused("jku is not accepted: the key set is registered"));
    }
    let jwks: JwkSet = app
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or(OAuthError::Store(StoreError::Corrupt("smart_apps.jwks")))?;
    let key = match &header.kid {
        Some(kid) => jwks.find(kid),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or_else(|| refused("its kid names no registered key"))?;
    let key = DecodingKey::from_jwk(key).map_err(|_| refused("the registered key is unusable"))?;
    let mut validation = Validation::new(header.alg);
    // Times are checked against the server's clock below.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    validation.set_audience(&[token_endpoint]);
    validation.set_issuer(&[&app.client_id]);
    validation.sub = Some(app.client_id.clone());
    let claims = jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidAudience => refused("aud must be the token endpoint URL"),
                ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => {
                    refused("iss and sub must both be the client_id")
                }
                _ => refused("its signature does not verify with the registered keys"),
            }
        })?
        .claims;
    if claims.iss != claims.sub {
        return Err(refused("iss and sub must both be the client_id"));
    }
    let now_seconds = now.millis() / 1000;
    if claims.exp <= now_seconds - SKEW_SECONDS {
        return Err(refused("it has expired"));
    }
    if claims.exp > now_seconds + MAX_LIFETIME_SECONDS + SKEW_SECONDS {
        return Err(refused("exp must be at most five minutes from now"));
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 255)
        .ok_or_else(|| refused("jti is required"))?;
    let fresh = store::remember_smart_assertion(
        tx,
        &app.client_id,
        &jti,
        Timestamp((claims.exp + SKEW_SECONDS) * 1000),
        now,
    )
    .await?;
    if !fresh {
        return Err(refused("its jti was already used"));
    }
    Ok(())
}
