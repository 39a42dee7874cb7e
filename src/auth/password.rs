//! Argon2id password hashes, computed on a blocking thread so sign-in never
//! stalls the runtime.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {0} characters")]
    TooShort(usize),
    #[error("a password has at most {0} characters")]
    TooLong(usize),
    #[error("password hashing failed")]
    Hashing,
}

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 256;

pub fn check_strength(password: &SecretString) -> Result<(), PasswordError> {
    let len = password.expose_secret().chars().count();
    if len < MIN_LEN {
        return Err(PasswordError::TooShort(MIN_LEN));
    }
    if len > MAX_LEN {
        return Err(PasswordError::TooLong(MAX_LEN));
    }
    Ok(())
}

/// Hashes a password with Argon2id and a random salt (PHC string).
#[tracing::instrument(skip_all)]
pub async fn hash_password(password: SecretString) -> Result<String, PasswordError> {
    check_strength(&password)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| PasswordError::Hashing)
    })
    .await
    .map_err(|_| PasswordError::Hashing)?
}

/// Whether `password` matches `hash`. With no hash (unknown user) a dummy
/// hash is checked, so the answer takes as long either way.
#[tracing::instrument(skip_all)]
pub async fn verify_password(password: SecretString, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

// Argon2id of a random string nobody knows, with the default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$QYVAzlCfZv4mwgq/Z0V5zkHxyV7V3ba0eQyXNdQ0Ni4";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash_password(SecretString::from("correct horse"))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(SecretString::from("correct horse"), Some(hash.clone())).await);
        assert!(!verify_password(SecretString::from("wrong horse"), Some(hash)).await);
        assert!(!verify_password(SecretString::from("anything"), None).await);
    }

    #[tokio::test]
    async fn short_passwords_are_refused() {
        assert!(matches!(
            hash_password(SecretString::from("short")).await,
            Err(PasswordError::TooShort(8))
        ));
    }
}
