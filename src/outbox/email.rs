//! E-mail over SMTP with `lettre`. The server's 250 to the message is what
//! counts as sent; each message carries a Message-ID made from its outbox
//! row, so a resend after a lost answer is recognisably the same message.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::sms::Delivery;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP: only for a relay on this machine or a trusted network.
    None,
    /// STARTTLS, required (the default for `smtp://`).
    StartTls,
    /// TLS from the first byte (the default for `smtps://`).
    Tls,
}

impl SmtpTls {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "none" => Some(Self::None),
            "starttls" => Some(Self::StartTls),
            "tls" => Some(Self::Tls),
            _ => None,
        }
    }
}

/// `BEDSIDE_SMTP_URL`, `BEDSIDE_SMTP_FROM`, `BEDSIDE_SMTP_TLS`.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    /// The user and password from the URL, when it has them.
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: Mailbox,
    pub tls: SmtpTls,
}

impl EmailSettings {
    /// Parses `smtp://[user:pass@]host[:port]` or `smtps://…`.
    pub fn parse(url: &str, from: &str, tls: Option<&str>) -> Result<Self, (&'static str, String)> {
        const URL: &str = "BEDSIDE_SMTP_URL";
        let parsed = reqwest::Url::parse(url).map_err(|_| {
            (
                URL,
                "is not a URL such as smtp://mail.example.org:587".to_owned(),
            )
        })?;
        let default_tls = match parsed.scheme() {
            "smtp" => SmtpTls::StartTls,
            "smtps" => SmtpTls::Tls,
            _ => return Err((URL, "must start with smtp:// or smtps://".to_owned())),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or((URL, "names no host".to_owned()))?
            .to_owned();
        let tls = match tls {
            None => default_tls,
            Some(v) => SmtpTls::parse(v).ok_or((
                "BEDSIDE_SMTP_TLS",
                "must be none, starttls or tls".to_owned(),
            ))?,
        };
        let port = parsed.port().unwrap_or(match tls {
            SmtpTls::Tls => 465,
            SmtpTls::StartTls => 587,
            SmtpTls::None => 25,
        });
        let decode = |s: &str| {
            percent_decode(s).ok_or((
                URL,
                "has a user or password that is not valid UTF-8".to_owned(),
            ))
        };
        let username = (!parsed.username().is_empty())
            .then(|| decode(parsed.username()))
            .transpose()?;
        let password = parsed
            .password()
            .map(decode)
            .transpose()?
            .map(SecretString::from);
        let from: Mailbox = from.parse().map_err(|_| {
            (
                "BEDSIDE_SMTP_FROM",
                "is not an address such as \"Clinic <clinic@example.org>\"".to_owned(),
            )
        })?;
        Ok(Self {
            host,
            port,
            username,
            password,
            from,
            tls,
        })
    }

    /// The server, without credentials, for logs and `--demo`.
    pub fn describe(&self) -> String {
        let tls = match self.tls {
            SmtpTls::None => "no TLS",
            SmtpTls::StartTls => "STARTTLS",
            SmtpTls::Tls => "TLS",
        };
        format!("{}:{} ({tls})", self.host, self.port)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends through the configured server.
#[derive(Debug, Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(settings: &EmailSettings) -> Result<Self, lettre::transport::smtp::Error> {
        let parameters = || TlsParameters::new(settings.host.clone());
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(parameters()?),
            SmtpTls::Tls => Tls::Wrapper(parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from: settings.from.clone(),
        })
    }

    /// Sends one message; the answer says, in plain words, what happened.
    pub async fn send(&self, message_id: &str, to: &str, subject: &str, body: &str) -> Delivery {
        let Ok(to) = to.parse::<Mailbox>() else {
            return Delivery::Permanent("the patient's e-mail address cannot be used".to_owned());
        };
        let domain = self.from.email.domain().to_owned();
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{message_id}@{domain}>")))
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned());
        let email = match email {
            Ok(email) => email,
            Err(_) => return Delivery::Permanent("the message could not be written".to_owned()),
        };
        match self.transport.send(email).await {
            Ok(response) if response.is_positive() => Delivery::Sent { provider_id: None },
            Ok(response) => Delivery::Temporary(format!(
                "the mail server answered {} instead of accepting the message",
                response.code()
            )),
            Err(error) if error.is_permanent() => Delivery::Permanent(format!(
                "the mail server refused the message{}",
                error
                    .status()
                    .map(|code| format!(" (code {code})"))
                    .unwrap_or_default()
            )),
            Err(error) if error.is_transient() => Delivery::Temporary(format!(
                "the mail server asked to try later{}",
                error
                    .status()
                    .map(|code| format!(" (code {code})"))
                    .unwrap_or_default()
            )),
            Err(error) if error.is_timeout() => {
                Delivery::Temporary("the mail server did not answer in time".to_owned())
            }
            Err(error) if error.is_tls() => Delivery::Temporary(
                "a secure connection to the mail server could not be made".to_owned(),
            ),
            Err(_) => Delivery::Temporary("the mail server could not be reached".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_gives_host_port_credentials_and_tls() {
        let s = EmailSettings::parse(
            "smtps://clinic%40x.org:p%40ss@mail.example.org",
            "Clinic <clinic@example.org>",
            None,
        )
        .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example.org", 465, SmtpTls::Tls)
        );
        assert_eq!(s.username.as_deref(), Some("clinic@x.org"));
        assert_eq!(s.password.unwrap().expose_secret(), "p@ss");
        let plain = EmailSettings::parse("smtp://127.0.0.1:2525", "a@b.org", Some("none")).unwrap();
        assert_eq!((plain.port, plain.tls), (2525, SmtpTls::None));
        assert_eq!(
            EmailSettings::parse("http://x", "a@b.org", None)
                .unwrap_err()
                .0,
            "BEDSIDE_SMTP_URL"
        );
        assert_eq!(
            EmailSettings::parse("smtp://x", "nobody", None)
                .unwrap_err()
                .0,
            "BEDSIDE_SMTP_FROM"
        );
    }
}
