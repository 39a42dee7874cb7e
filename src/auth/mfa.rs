//! Staff MFA: the step between a right password and a session, TOTP
//! enrolment and single-use recovery codes. A wrong code counts toward the
//! same sign-in throttle as a wrong password.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{Rng, RngCore};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::sign_in::{check_password, open_session};
use super::totp::{TotpSecret, qr_svg_data_url};
use super::{Gate, LoginThrottle, Principal, Role, SessionSettings, SignInError, SignedIn, User};
use crate::model::audit::{Actor, AuditEntry};
use crate::model::clock::Clock;
use crate::model::timestamp::Timestamp;
use crate::store::{self, Store, StoreError};

/// How long the code step after a right password stays open.
const CHALLENGE_LIFETIME: Duration = Duration::from_secs(5 * 60);
const CHALLENGE_PREFIX: &str = "bmc_";
pub const RECOVERY_CODES: usize = 10;
/// Unambiguous letters and digits for codes people type.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Which roles must use MFA (`BEDSIDE_MFA_REQUIRED_ROLES`).
#[derive(Debug, Clone, Default)]
pub struct MfaPolicy {
    pub required_roles: Vec<Role>,
    /// The issuer name authenticator apps show.
    pub issuer: String,
}

/// The token that carries a sign-in from its password to its code.
/// `Debug` never shows it.
#[derive(Clone)]
pub struct Challenge(String);

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Challenge(***)")
    }
}

impl Challenge {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!(
            "{CHALLENGE_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What a right password leads to.
#[derive(Debug)]
pub enum PasswordStep {
    SignedIn(SignedIn),
    /// Enrolled: send a code with this challenge.
    CodeRequired(Challenge),
    /// The role requires MFA and the user has none: enrol with this
    /// challenge, which then opens the session.
    EnrolmentRequired(Challenge),
}

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error(transparent)]
    SignIn(#[from] SignInError),
    #[error("the code is wrong or was already used")]
    BadCode,
    #[error("this sign-in step has expired or was already used; sign in again")]
    ChallengeInvalid,
    #[error("two-step sign-in is already set up for this account")]
    AlreadyEnrolled,
    #[error("start setting up two-step sign-in first")]
    NotStarted,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks the password, then says whether a code or enrolment comes next.
#[tracing::instrument(skip_all)]
#[allow(clippy::too_many_arguments)]
pub async fn sign_in_step(
    store: &Store,
    gate: Gate<'_>,
    username: &str,
    password: SecretString,
    ip: IpAddr,
    clock: &Clock,
    settings: &SessionSettings,
    policy: &MfaPolicy,
) -> Result<PasswordStep, SignInError> {
    let user = check_password(store, gate, username, password, ip, clock).await?;
    let mfa = {
        let mut tx = store.begin_read().await?;
        let mfa = store::get_mfa(&mut tx, &user.id).await?;
        store::commit(tx).await?;
        mfa
    };
    let purpose = match mfa {
        Some(m) if m.confirmed => "code",
        _ if policy.required_roles.contains(&user.role) => "enrol",
        _ => {
            return Ok(PasswordStep::SignedIn(
                open_session(store, user, clock, settings).await?,
            ));
        }
    };
    let challenge = Challenge::generate();
    let mut tx = store.begin().await?;
    store::insert_mfa_challenge(
        &mut tx,
        &sha256_hex(challenge.expose()),
        &user.id,
        purpose,
        clock.now() + CHALLENGE_LIFETIME,
    )
    .await?;
    store::commit(tx).await?;
    Ok(if purpose == "code" {
        PasswordStep::CodeRequired(challenge)
    } else {
        PasswordStep::EnrolmentRequired(challenge)
    })
}

/// The user a live challenge of this purpose belongs to.
async fn challenge_user(
    store: &Store,
    challenge: &str,
    purpose: &str,
    clock: &Clock,
) -> Result<User, MfaError> {
    let mut tx = store.begin_read().await?;
    let user =
        match store::find_mfa_challenge(&mut tx, &sha256_hex(challenge), purpose, clock.now())
            .await?
        {
            Some(id) => store::get_active_user(&mut tx, &id).await?,
            None => None,
        };
    store::commit(tx).await?;
    user.ok_or(MfaError::ChallengeInvalid)
}

/// The user whose enrolment challenge this is (sign-in sent them to enrol).
pub async fn enrolment_challenge_user(
    store: &Store,
    challenge: &str,
    clock: &Clock,
) -> Result<User, MfaError> {
    challenge_user(store, challenge, "enrol", clock).await
}

/// Ends a sign-in with a TOTP or recovery code.
#[tracing::instrument(skip_all)]
pub async fn complete_sign_in(
    store: &Store,
    throttle: &LoginThrottle,
    challenge: &str,
    code: &str,
    ip: IpAddr,
    clock: &Clock,
    settings: &SessionSettings,
) -> Result<SignedIn, MfaError> {
    let user = challenge_user(store, challenge, "code", clock).await?;
    throttle
        .check(&user.username, ip, clock.now())
        .map_err(|wait| MfaError::SignIn(SignInError::Throttled(wait)))?;
    let mut tx = store.begin().await?;
    let accepted = check_code(&mut tx, &user, code, clock.now()).await?
        && store::use_mfa_challenge(&mut tx, &sha256_hex(challenge), clock.now()).await?;
    if !accepted {
        drop(tx);
        throttle.record_failure(&user.username, ip, clock.now());
        audit_failure(store, &user, ip, clock).await?;
        return Err(MfaError::BadCode);
    }
    store::commit(tx).await?;
    throttle.record_success(&user.username, ip);
    Ok(open_session(store, user, clock, settings).await?)
}

/// A six-digit TOTP code not used before, or an unused recovery code;
/// spends it in `tx`.
async fn check_code(
    tx: &mut store::Tx,
    user: &User,
    code: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(mfa) = store::get_mfa(tx, &user.id).await?.filter(|m| m.confirmed) else {
        return Ok(false);
    };
    let code = code.trim();
    if code.len() == super::totp::DIGITS {
        let Some(secret) = TotpSecret::from_base32(&mfa.secret) else {
            return Err(StoreError::Corrupt("user_mfa.secret"));
        };
        return match secret.matching_step(code, unix_seconds(now)) {
            Some(step) => store::use_mfa_step(tx, &user.id, step).await,
            None => Ok(false),
        };
    }
    let normal = normalise_recovery(code);
    store::use_recovery_code(tx, &user.id, &sha256_hex(&normal), now).await
}

fn unix_seconds(now: Timestamp) -> u64 {
    u64::try_from(now.millis() / 1000).unwrap_or(0)
}

fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

async fn audit_failure(
    store: &Store,
    user: &User,
    ip: IpAddr,
    clock: &Clock,
) -> Result<(), StoreError> {
    let actor = Actor::from_principal(
        &Principal::Staff(user.clone()),
        Some(ip.to_string()),
        clock.now(),
    );
    let entry = AuditEntry::new(&actor, "auth.mfa", "User")
        .resource(&user.id)
        .outcome(crate::model::audit::Outcome::Denied);
    let mut tx = store.begin().await?;
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await
}

/// A new, unconfirmed secret to show once: as text and as a QR code.
#[derive(Debug)]
pub struct Enrolment {
    pub secret: TotpSecret,
    pub otpauth_url: SecretString,
    pub qr_data_url: SecretString,
}

/// Starts (or restarts) enrolment; refused once a secret is confirmed.
#[tracing::instrument(skip_all)]
pub async fn start_enrolment(
    store: &Store,
    user: &User,
    clock: &Clock,
    policy: &MfaPolicy,
) -> Result<Enrolment, MfaError> {
    let secret = TotpSecret::generate();
    let mut tx = store.begin().await?;
    if store::get_mfa(&mut tx, &user.id)
        .await?
        .is_some_and(|m| m.confirmed)
    {
        return Err(MfaError::AlreadyEnrolled);
    }
    store::put_pending_mfa(&mut tx, &user.id, secret.expose_base32(), clock.now()).await?;
    store::commit(tx).await?;
    let url = secret.otpauth_url(&policy.issuer, &user.username);
    let qr = qr_svg_data_url(&url).unwrap_or_default();
    Ok(Enrolment {
        secret,
        otpauth_url: SecretString::from(url),
        qr_data_url: SecretString::from(qr),
    })
}

/// Ten recovery codes, shown once. `Debug` never shows them.
pub struct RecoveryCodes(pub Vec<String>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} codes)", self.0.len())
    }
}

fn recovery_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let mut code: String = (0..10)
        .map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char)
        .collect();
    code.insert(5, '-');
    code
}

/// Confirms a pending enrolment with its first code: MFA takes effect and
/// the recovery codes are made. A wrong code counts toward the throttle.
#[tracing::instrument(skip_all)]
pub async fn confirm_enrolment(
    store: &Store,
    throttle: &LoginThrottle,
    user: &User,
    code: &str,
    ip: IpAddr,
    clock: &Clock,
) -> Result<RecoveryCodes, MfaError> {
    throttle
        .check(&user.username, ip, clock.now())
        .map_err(|wait| MfaError::SignIn(SignInError::Throttled(wait)))?;
    let now = clock.now();
    let mut tx = store.begin().await?;
    let mfa = match store::get_mfa(&mut tx, &user.id).await? {
        Some(m) if m.confirmed => return Err(MfaError::AlreadyEnrolled),
        Some(m) => m,
        None => return Err(MfaError::NotStarted),
    };
    let secret =
        TotpSecret::from_base32(&mfa.secret).ok_or(StoreError::Corrupt("user_mfa.secret"))?;
    let step = secret.matching_step(code, unix_seconds(now));
    let fresh = match step {
        Some(step) => store::use_mfa_step(&mut tx, &user.id, step).await?,
        None => false,
    };
    if !fresh {
        drop(tx);
        throttle.record_failure(&user.username, ip, now);
        return Err(MfaError::BadCode);
    }
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| sha256_hex(&normalise_recovery(c)))
        .collect();
    store::confirm_mfa(&mut tx, &user.id, &hashes, now).await?;
    let actor = Actor::from_principal(&Principal::Staff(user.clone()), Some(ip.to_string()), now);
    store::append_audit(
        &mut tx,
        &AuditEntry::new(&actor, "auth.mfa_enrol", "User").resource(&user.id),
    )
    .await?;
    store::commit(tx).await?;
    throttle.record_success(&user.username, ip);
    Ok(RecoveryCodes(codes))
}

/// Spends an enrolment challenge once its enrolment is confirmed, and
/// opens the session the sign-in was waiting for.
#[tracing::instrument(skip_all)]
pub async fn finish_enrolment_sign_in(
    store: &Store,
    challenge: &str,
    user: User,
    clock: &Clock,
    settings: &SessionSettings,
) -> Result<SignedIn, MfaError> {
    let mut tx = store.begin().await?;
    if !store::use_mfa_challenge(&mut tx, &sha256_hex(challenge), clock.now()).await? {
        return Err(MfaError::ChallengeInvalid);
    }
    store::commit(tx).await?;
    Ok(open_session(store, user, clock, settings).await?)
}

/// Whether a secret is a plausible recovery code (for input checks).
pub fn looks_like_code(code: &str) -> bool {
    let n = normalise_recovery(code).len();
    n == super::totp::DIGITS || n == 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_typed_loosely_and_differ() {
        let a = recovery_code();
        assert_eq!(a.len(), 11);
        assert_ne!(a, recovery_code());
        assert_eq!(normalise_recovery(" ABcde-fgh23 "), "abcdefgh23");
        assert!(looks_like_code("abcde-fghjk"));
        assert!(looks_like_code("123456"));
        assert!(!looks_like_code("12"));
    }

    #[test]
    fn challenges_and_codes_stay_out_of_debug() {
        let c = Challenge::generate();
        assert!(c.expose().starts_with(CHALLENGE_PREFIX));
        assert_eq!(format!("{c:?}"), "Challenge(***)");
        let codes = RecoveryCodes(vec!["abcde-fghjk".into()]);
        assert_eq!(format!("{codes:?}"), "RecoveryCodes(1 codes)");
    }
}
