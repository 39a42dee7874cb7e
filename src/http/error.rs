//! One error type for every route, answered as `application/problem+json`
//! (RFC 9457). A 500 says nothing about what went wrong inside; the cause
//! is logged once, here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::SignInError;
use crate::ehr::EhrError;
use crate::model::validation::FieldError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Malformed(String),
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("this role may not do that")]
    Forbidden,
    /// 403 for a reason other than the caller's role.
    #[error("{0}")]
    Refused(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// 410: it existed and is no longer offered.
    #[error("{0}")]
    Gone(String),
    #[error(transparent)]
    Invalid(FieldError),
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    #[error("{0}")]
    PreconditionFailed(String),
    /// 429 with `Retry-After`: this caller must wait `retry_after` seconds.
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: u64 },
    /// 413: the body is over the size the API reads.
    #[error("the body is larger than the {0} bytes this server reads")]
    PayloadTooLarge(usize),
    /// 503 with `Retry-After`: the server is at a limit, not broken.
    #[error("{0}")]
    Unavailable(&'static str),
    /// The password was right and a second step comes first: 401 with
    /// code `mfa_required`, or 403 with `mfa_enrolment_required`.
    #[error("{}", .0.detail())]
    SecondStep(SecondStep),
    /// 502: a party Bedside asked on the caller's behalf (the
    /// clearinghouse) failed or answered what cannot be read.
    #[error("{0}")]
    BadGateway(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The second sign-in step a right password leads to, with its challenge.
#[derive(Debug)]
pub enum SecondStep {
    Code(String),
    Enrol(String),
}

impl SecondStep {
    fn detail(&self) -> &'static str {
        match self {
            Self::Code(_) => "enter the code from your authenticator app, or a recovery code",
            Self::Enrol(_) => "your role requires two-step sign-in; set it up to continue",
        }
    }
}

/// The problem+json body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request field at fault, for 400 and 422.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A machine-readable reason, where a client must act on it
    /// (`mfa_required`, `mfa_enrolment_required`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// With `code`: the short-lived token the next sign-in step sends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

impl ApiError {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Refused(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::SecondStep(SecondStep::Code(_)) => StatusCode::UNAUTHORIZED,
            Self::SecondStep(SecondStep::Enrol(_)) => StatusCode::FORBIDDEN,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let (detail, field) = match self {
            Self::Invalid(e) => (e.to_string(), Some(e.field.clone())),
            Self::Internal(_) => (
                "The server could not complete the request.".to_owned(),
                None,
            ),
            other => (other.to_string(), None),
        };
        let (code, challenge) = match self {
            Self::SecondStep(SecondStep::Code(c)) => (Some("mfa_required"), Some(c.clone())),
            Self::SecondStep(SecondStep::Enrol(c)) => {
                (Some("mfa_enrolment_required"), Some(c.clone()))
            }
            _ => (None, None),
        };
        Problem {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            field,
            code,
            challenge,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(error) = &self {
            // The chain names the failing layer; none of it reaches the client.
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
        let problem = self.problem();
        let mut response = (self.status(), axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(
            self,
            Self::Unauthorized | Self::Unauthenticated(_) | Self::SecondStep(SecondStep::Code(_))
        ) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        match &self {
            Self::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::TooManyRequests { retry_after, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate(what) => {
                Self::Conflict(format!("a record with the same {what} already exists"))
            }
            StoreError::Unavailable(cause) => {
                // Logged once here, without the request: the operator needs
                // to know, the client only that retrying will help.
                tracing::warn!(error = %cause, "the store is unavailable");
                Self::Unavailable(
                    "the service cannot reach its records right now; try again in a few seconds",
                )
            }
            other => Self::internal(other),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        Self::Invalid(error)
    }
}

impl From<SignInError> for ApiError {
    fn from(error: SignInError) -> Self {
        match error {
            SignInError::Throttled(wait) => Self::TooManyRequests {
                detail: error.to_string(),
                retry_after: crate::auth::retry_seconds(wait),
            },
            SignInError::Busy(_) => {
                Self::Unavailable("too many sign-ins are being checked; try again shortly")
            }
            SignInError::BadCredentials => Self::Unauthenticated("invalid username or password"),
            SignInError::Store(e) => e.into(),
        }
    }
}

impl From<EhrError> for ApiError {
    fn from(error: EhrError) -> Self {
        match error {
            EhrError::Invalid(e) => Self::Invalid(e),
            EhrError::NotFound(what) => Self::NotFound(what),
            EhrError::Store(e) => e.into(),
        }
    }
}

impl From<crate::chart::ChartError> for ApiError {
    fn from(error: crate::chart::ChartError) -> Self {
        use crate::chart::ChartError;
        use crate::fhir::{FhirError, write::WriteError};
        match error {
            ChartError::Invalid(e) => Self::Invalid(e),
            ChartError::NotFound(what) => Self::NotFound(what),
            ChartError::AlreadyEnded(detail) => Self::Conflict(detail),
            ChartError::Store(e)
            | ChartError::Write(WriteError::Store(e))
            | ChartError::Write(WriteError::Fhir(FhirError::Store(e))) => e.into(),
            // Two ends at once: the other made the next version first.
            ChartError::Write(WriteError::Stale { .. }) => Self::Conflict(
                "this entry changed while it was being ended; read the chart again".to_owned(),
            ),
            ChartError::Write(other) => Self::Internal(other.into()),
        }
    }
}

impl From<crate::billing::BillingError> for ApiError {
    fn from(error: crate::billing::BillingError) -> Self {
        use crate::billing::BillingError;
        match error {
            BillingError::NotFound(what) => Self::NotFound(what),
            BillingError::WrongState(detail) => Self::Conflict(detail),
            BillingError::Invalid(e) => Self::Invalid(e),
            BillingError::Remittance(e) => Self::Invalid(FieldError::new("body", e.to_string())),
            BillingError::Clearinghouse(e) => match e {
                crate::billing::clearinghouse::ClearinghouseError::NotConfigured => {
                    Self::Conflict(e.to_string())
                }
                other => Self::BadGateway(other.to_string()),
            },
            BillingError::Acknowledgement(e) => {
                Self::Invalid(FieldError::new("body", e.to_string()))
            }
            BillingError::Store(e) => e.into(),
        }
    }
}

impl From<crate::visits::VisitError> for ApiError {
    fn from(error: crate::visits::VisitError) -> Self {
        use crate::visits::VisitError;
        match error {
            VisitError::NotFound(what) => Self::NotFound(what),
            VisitError::WrongState(detail) => Self::Conflict(detail),
            VisitError::Gone(detail) => Self::Gone(detail),
            VisitError::Forbidden => Self::Forbidden,
            VisitError::Invalid(e) => Self::Invalid(e),
            VisitError::Store(e) => e.into(),
        }
    }
}

impl From<crate::outbox::OutboxError> for ApiError {
    fn from(error: crate::outbox::OutboxError) -> Self {
        use crate::outbox::OutboxError;
        match error {
            OutboxError::NotFound(what) => Self::NotFound(what),
            OutboxError::Invalid(e) => Self::Invalid(e),
            OutboxError::Store(e) => e.into(),
        }
    }
}

impl From<crate::cdss::CdsError> for ApiError {
    fn from(error: crate::cdss::CdsError) -> Self {
        use crate::cdss::CdsError;
        match error {
            CdsError::UnknownService => Self::NotFound("CDS service"),
            CdsError::Malformed(detail) => Self::Malformed(detail),
            CdsError::PreconditionFailed(detail) => Self::PreconditionFailed(detail),
            CdsError::NotFound(what) => Self::NotFound(what),
            CdsError::Store(e) => e.into(),
        }
    }
}

impl From<crate::auth::mfa::MfaError> for ApiError {
    fn from(error: crate::auth::mfa::MfaError) -> Self {
        use crate::auth::mfa::MfaError;
        match error {
            MfaError::SignIn(e) => e.into(),
            MfaError::BadCode => Self::Unauthenticated("the code is wrong or was already used"),
            MfaError::ChallengeInvalid => Self::Unauthenticated(
                "this sign-in step has expired or was already used; sign in again",
            ),
            e @ (MfaError::AlreadyEnrolled | MfaError::NotStarted) => Self::Conflict(e.to_string()),
            MfaError::Store(e) => e.into(),
        }
    }
}

impl From<crate::auth::admin::AdminError> for ApiError {
    fn from(error: crate::auth::admin::AdminError) -> Self {
        use crate::auth::PasswordError;
        use crate::auth::admin::AdminError;
        match error {
            AdminError::NotFound => Self::NotFound("user"),
            AdminError::Refused(why) => Self::Conflict(why.to_owned()),
            AdminError::NpiRequired => {
                Self::Invalid(FieldError::new("npi", "is required for a clinician"))
            }
            AdminError::Password(e @ (PasswordError::TooShort(_) | PasswordError::TooLong(_))) => {
                Self::Invalid(FieldError::new("password", e.to_string()))
            }
            AdminError::Password(e) => Self::internal(e),
            AdminError::Store(e) => e.into(),
        }
    }
}
