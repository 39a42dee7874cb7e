//! The server's RSA key that signs OpenID Connect `id_token`s (RS256, as
//! SMART requires of an EHR), published at `/oauth/jwks`. The first node
//! that needs one generates it and stores it; every node then uses the
//! oldest stored key.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::model::timestamp::Timestamp;
use crate::store::{self, Store};

/// A loaded signing key.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    public: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn from_der(kid: String, der_base64: &str) -> anyhow::Result<Self> {
        let der = STANDARD.decode(der_base64)?;
        let key = RsaPrivateKey::from_pkcs1_der(&der)?;
        let public = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        });
        Ok(Self {
            encoding: EncodingKey::from_rsa_der(&der),
            kid,
            public,
        })
    }

    /// Signs `claims` as an RS256 JWT naming this key.
    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// The JWKS that verifies this key's signatures.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public] })
    }
}

/// The key, loaded once per node.
#[derive(Debug, Clone, Default)]
pub struct Keys(Arc<OnceCell<SigningKey>>);

impl Keys {
    pub async fn get(&self, store: &Store, now: Timestamp) -> anyhow::Result<&SigningKey> {
        self.0.get_or_try_init(|| load_or_create(store, now)).await
    }
}

async fn load_or_create(store: &Store, now: Timestamp) -> anyhow::Result<SigningKey> {
    let mut tx = store.begin_read().await?;
    let stored = store::smart_signing_key(&mut tx, None, now).await?;
    store::commit(tx).await?;
    if let Some((kid, der)) = stored {
        return SigningKey::from_der(kid, &der);
    }
    // Generating a 2048-bit key takes a moment: off the async threads.
    let der = tokio::task::spawn_blocking(|| -> anyhow::Result<String> {
        let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?;
        Ok(STANDARD.encode(key.to_pkcs1_der()?.as_bytes()))
    })
    .await??;
    let kid = super::opaque("").chars().take(16).collect::<String>();
    let mut tx = store.begin().await?;
    let (kid, der) = store::smart_signing_key(&mut tx, Some((&kid, &der)), now)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the signing key was not stored"))?;
    store::commit(tx).await?;
    SigningKey::from_der(kid, &der)
}
