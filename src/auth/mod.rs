//! Who is asking: staff accounts and roles, password hashing, revocable
//! session tokens, the patient's visit token (checked against its visit's
//! link) and the join link that carries it, the credentials sockets are
//! closed by, and the sign-in throttle.

pub mod admin;
mod credential;
mod hashing;
mod join_link;
pub mod mfa;
mod password;
mod sign_in;
mod throttle;
mod tokens;
pub mod totp;

pub use credential::{Credential, Grant, LinkSettings, link_live_until};
pub use hashing::{HashingBusy, HashingSettings, PasswordPool};
pub use join_link::{JoinLink, JoinLinks};
pub use password::{PasswordError, hash_password};
pub use sign_in::{
    CreateUserError, Gate, SessionSettings, SignInError, SignedIn, authenticate, check_password,
    create_user, grant, list_users, open_session, retry_seconds, sign_in, sign_out,
};
pub use throttle::{LoginThrottle, ThrottleSettings};
pub use tokens::{GuestToken, PatientToken, SessionToken, TokenKeys, VisitClaims};

pub use crate::model::auth::{Principal, Role, User};
