//! Short-lived TURN credentials in the TURN REST scheme
//! (draft-uberti-behave-turn-rest-00; coturn's `use-auth-secret`): the
//! username is `<expiry>:<userid>` and the password is
//! base64(HMAC-SHA1(shared secret, username)). The relay recomputes the
//! HMAC and refuses an expired username, so nothing is stored here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;

use super::IceServer;

/// TURN servers and the secret their short-lived credentials are made with
/// (`BEDSIDE_TURN_URLS`, `BEDSIDE_TURN_SECRET`, `BEDSIDE_TURN_TTL_SECONDS`).
#[derive(Debug, Clone)]
pub struct TurnConfig {
    pub urls: Vec<String>,
    pub secret: SecretString,
    pub ttl_seconds: u64,
}

/// One participant's TURN username and password, valid until `expires_at`.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnCredential {
    pub username: String,
    pub password: String,
    /// Unix seconds after which the relay refuses it.
    pub expires_at: i64,
}

impl std::fmt::Debug for TurnCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnCredential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The credential for `user_id` that stops working at `expires_at` (Unix
/// seconds). `user_id` must not contain `:`, the scheme's separator.
pub fn credential(secret: &SecretString, user_id: &str, expires_at: i64) -> TurnCredential {
    let username = format!("{expires_at}:{user_id}");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(username.as_bytes());
    let password = STANDARD.encode(mac.finalize().into_bytes());
    TurnCredential {
        username,
        password,
        expires_at,
    }
}

/// The TURN entry of a participant's `iceServers`, valid for the configured
/// TTL from `now` (Unix seconds).
pub fn ice_server(config: &TurnConfig, user_id: &str, now: i64) -> IceServer {
    let ttl = i64::try_from(config.ttl_seconds).unwrap_or(i64::MAX);
    let credential = credential(&config.secret, user_id, now.saturating_add(ttl));
    IceServer {
        urls: config.urls.clone(),
        username: Some(credential.username),
        credential: Some(credential.password),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standards_vector_gives_the_known_password() {
        // STANDARDS.md §7, checked there with openssl.
        let secret = SecretString::from("s3cr3t".to_owned());
        let credential = credential(&secret, "user-42", 1_735_689_600);
        assert_eq!(credential.username, "1735689600:user-42");
        assert_eq!(credential.password, "oxaYB4gM9x0VcpgNFDshdZu2K7s=");
    }

    #[test]
    fn the_ice_server_expires_one_ttl_from_now() {
        let config = TurnConfig {
            urls: vec!["turn:turn.example.org:3478?transport=udp".to_owned()],
            secret: SecretString::from("s3cr3t".to_owned()),
            ttl_seconds: 600,
        };
        let server = ice_server(&config, "user-42", 1_735_689_000);
        assert_eq!(server.urls, config.urls);
        assert_eq!(server.username.as_deref(), Some("1735689600:user-42"));
        assert_eq!(
            server.credential.as_deref(),
            Some("oxaYB4gM9x0VcpgNFDshdZu2K7s=")
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let secret = SecretString::from("s3cr3t".to_owned());
        let shown = format!("{:?}", credential(&secret, "user-42", 1_735_689_600));
        assert!(!shown.contains("oxaYB4gM9x0VcpgNFDshdZu2K7s="));
    }
}
