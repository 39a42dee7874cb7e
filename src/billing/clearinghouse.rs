//! The clearinghouse adapter: where Bedside sends an X12 inquiry (270,
//! 276) and from whom it gets the X12 answer (271, 277, perhaps with a
//! 999). [`Clearinghouse`] is the seam; [`HttpClearinghouse`] is the
//! first implementation:
//!
//! ```text
//! POST {BEDSIDE_CLEARINGHOUSE_URL}
//! Content-Type: application/edi-x12
//! Accept: application/edi-x12
//! X12-Transaction: 270            (or 276: the ST01 inside)
//! Authorization: Basic …  |  Bearer …
//!
//! <one X12 interchange>
//! ```
//!
//! A 2xx answer's body is read as X12 (at most 1 MiB); anything else is a
//! [`ClearinghouseError`].

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Most bytes of an answer Bedside reads.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// How Bedside proves itself to the clearinghouse.
#[derive(Debug, Clone)]
pub enum ClearinghouseAuth {
    /// `BEDSIDE_CLEARINGHOUSE_USERNAME` and `BEDSIDE_CLEARINGHOUSE_PASSWORD`.
    Basic {
        username: String,
        password: SecretString,
    },
    /// `BEDSIDE_CLEARINGHOUSE_TOKEN`.
    Bearer(SecretString),
}

/// `BEDSIDE_CLEARINGHOUSE_*`.
#[derive(Debug, Clone)]
pub struct ClearinghouseSettings {
    /// `BEDSIDE_CLEARINGHOUSE_URL`: where interchanges are POSTed.
    pub url: String,
    pub auth: Option<ClearinghouseAuth>,
    /// `BEDSIDE_CLEARINGHOUSE_TIMEOUT_SECONDS` (default 30).
    pub timeout: Duration,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClearinghouseError {
    #[error("no clearinghouse is configured (BEDSIDE_CLEARINGHOUSE_URL)")]
    NotConfigured,
    #[error("the clearinghouse could not be reached")]
    Unreachable,
    #[error("the clearinghouse answered HTTP {0}")]
    Refused(u16),
    #[error("the clearinghouse's answer could not be read: {0}")]
    Unreadable(String),
}

/// Sends one interchange and returns the X12 answered.
#[async_trait::async_trait]
pub trait Clearinghouse: Send + Sync + std::fmt::Debug {
    /// `transaction` is the ST01 inside `x12` (`270`, `276`).
    async fn exchange(&self, transaction: &str, x12: &str) -> Result<String, ClearinghouseError>;
}

/// The HTTP adapter.
#[derive(Debug, Clone)]
pub struct HttpClearinghouse {
    settings: ClearinghouseSettings,
    client: reqwest::Client,
}

impl HttpClearinghouse {
    pub fn new(settings: &ClearinghouseSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            settings: settings.clone(),
            client,
        }
    }
}

#[async_trait::async_trait]
impl Clearinghouse for HttpClearinghouse {
    #[tracing::instrument(skip_all, fields(transaction))]
    async fn exchange(&self, transaction: &str, x12: &str) -> Result<String, ClearinghouseError> {
        let mut request = self
            .client
            .post(&self.settings.url)
            .header(reqwest::header::CONTENT_TYPE, "application/edi-x12")
            .header(reqwest::header::ACCEPT, "application/edi-x12")
            .header("X12-Transaction", transaction)
            .body(x12.to_owned());
        request = match &self.settings.auth {
            Some(ClearinghouseAuth::Basic { username, password }) => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
            Some(ClearinghouseAuth::Bearer(token)) => request.bearer_auth(token.expose_secret()),
            None => request,
        };
        let mut response = request.send().await.map_err(|error| {
            tracing::warn!(error = %error.without_url(), "clearinghouse request failed");
            ClearinghouseError::Unreachable
        })?;
        let status = response.status();
        if !status.is_success() {
            tracing::warn!(
                status = status.as_u16(),
                "clearinghouse refused the request"
            );
            return Err(ClearinghouseError::Refused(status.as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| ClearinghouseError::Unreachable)?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                return Err(ClearinghouseError::Unreadable(
                    "it is larger than 1 MiB".to_owned(),
                ));
            }
        }
        String::from_utf8(body)
            .map_err(|_| ClearinghouseError::Unreadable("it is not UTF-8 text".to_owned()))
    }
}
