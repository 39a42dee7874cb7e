//! Text messages through a provider adapter. The first adapter speaks
//! Twilio's Messages API: `POST /2010-04-01/Accounts/{sid}/Messages.json`
//! with form fields `To`, `From`, `Body` and HTTP basic auth `sid:token`;
//! 201 with the message's `sid` is accepted, an error answers JSON with
//! `code` and `message` (21610: the number replied STOP).

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::model::timestamp::Timestamp;

/// What one attempt to hand a message over came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted (SMTP 250, or the provider's 201 with its id).
    Sent { provider_id: Option<String> },
    /// Worth trying again later, for this reason.
    Temporary(String),
    /// Will not go, for this reason.
    Permanent(String),
    /// The number opted out of texts with the provider (it answered STOP).
    OptedOut(String),
    /// Not handed over: kept back by Bedside's own limit (the daily cap of
    /// texts) until `until`, for this reason.
    Held { reason: String, until: Timestamp },
}

/// A text-message provider.
#[async_trait]
pub trait SmsProvider: Send + Sync + std::fmt::Debug {
    /// Sends `body` to `to` (E.164).
    async fn send(&self, to: &str, body: &str) -> Delivery;
}

/// `BEDSIDE_SMS_PROVIDER=twilio` and its `BEDSIDE_SMS_*` keys.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    pub account_sid: String,
    pub auth_token: SecretString,
    /// The sending number (E.164) or short code.
    pub from: String,
    /// `BEDSIDE_SMS_BASE_URL`, default `https://api.twilio.com`.
    pub base_url: String,
}

impl SmsSettings {
    pub fn describe(&self) -> String {
        format!("Twilio at {} from {}", self.base_url, self.from)
    }
}

/// Twilio's Messages API.
#[derive(Debug, Clone)]
pub struct Twilio {
    client: reqwest::Client,
    settings: SmsSettings,
}

/// How long one request to the provider may take.
const SMS_TIMEOUT: Duration = Duration::from_secs(15);

/// Twilio's error for a number that replied STOP.
pub const TWILIO_OPTED_OUT: i64 = 21610;

impl Twilio {
    pub fn new(settings: SmsSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(SMS_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self { client, settings }
    }
}

#[derive(Debug, serde::Deserialize)]
struct TwilioMessage {
    sid: String,
}

#[derive(Debug, serde::Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

#[async_trait]
impl SmsProvider for Twilio {
    async fn send(&self, to: &str, body: &str) -> Delivery {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.settings.base_url, self.settings.account_sid
        );
        let sent = self
            .client
            .post(url)
            .basic_auth(
                &self.settings.account_sid,
                Some(self.settings.auth_token.expose_secret()),
            )
            .form(&[
                ("To", to),
                ("From", self.settings.from.as_str()),
                ("Body", body),
            ])
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) if error.is_timeout() => {
                return Delivery::Temporary(
                    "the text-message provider did not answer in time".to_owned(),
                );
            }
            Err(_) => {
                return Delivery::Temporary(
                    "the text-message provider could not be reached".to_owned(),
                );
            }
        };
        let status = response.status();
        if status.is_success() {
            return match response.json::<TwilioMessage>().await {
                Ok(message) => Delivery::Sent {
                    provider_id: Some(message.sid),
                },
                Err(_) => Delivery::Sent { provider_id: None },
            };
        }
        let error = response.json::<TwilioError>().await.ok();
        let said = error
            .as_ref()
            .and_then(|e| e.message.clone())
            .unwrap_or_else(|| format!("status {}", status.as_u16()));
        let code = error.as_ref().and_then(|e| e.code);
        let reason = match code {
            Some(code) => format!("the text-message provider refused it: {said} (code {code})"),
            None => format!("the text-message provider refused it: {said}"),
        };
        if code == Some(TWILIO_OPTED_OUT) {
            Delivery::OptedOut(reason)
        } else if status.as_u16() == 429 || status.is_server_error() {
            Delivery::Temporary(reason)
        } else if status.as_u16() == 401 || status.as_u16() == 403 {
            Delivery::Temporary(
                "the text-message provider refused our credentials (BEDSIDE_SMS_ACCOUNT_SID, BEDSIDE_SMS_AUTH_TOKEN)"
                    .to_owned(),
            )
        } else {
            Delivery::Permanent(reason)
        }
    }
}

/// A phone number in E.164 (`+12175550100`) from what the patient gave; a
/// ten-digit number is taken as North American. `None` when it cannot be.
pub fn e164(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let international = phone.trim_start().starts_with('+');
    match digits.len() {
        10 if !international => Some(format!("+1{digits}")),
        8..=15 if international => Some(format!("+{digits}")),
        11 if digits.starts_with('1') => Some(format!("+{digits}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_e164() {
        assert_eq!(e164("(217) 555-0100").as_deref(), Some("+12175550100"));
        assert_eq!(e164("+1 217 555 0100").as_deref(), Some("+12175550100"));
        assert_eq!(e164("+44 20 7946 0958").as_deref(), Some("+442079460958"));
        assert_eq!(e164("555-0100"), None);
    }
}
