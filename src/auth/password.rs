//! Argon2id password hashes for new passwords (an admin's or the CLI's
//! work), computed on a blocking thread. Sign-in checks run on the bounded
//! pool in `hashing`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
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

// Argon2id of a random string nobody knows, with the default parameters.
pub(super) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$QYVAzlCfZv4mwgq/Z0V5zkHxyV7V3ba0eQyXNdQ0Ni4";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_is_argon2id() {
        let hash = hash_password(SecretString::from("correct horse"))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
    }

    #[tokio::test]
    async fn short_passwords_are_refused() {
        assert!(matches!(
            hash_password(SecretString::from("short")).await,
            Err(PasswordError::TooShort(8))
        ));
    }
}
