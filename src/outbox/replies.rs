//! Texts patients send back: Twilio's inbound-message webhook. A reply of
//! STOP (or UNSUBSCRIBE, CANCEL, END, QUIT, STOPALL) opts every patient
//! with that number out of texts; START or UNSTOP opts them back in. Each
//! request must carry Twilio's `X-Twilio-Signature`: the base64 HMAC-SHA1,
//! keyed with the account's auth token, of the URL Twilio called followed
//! by every form field's name and value, sorted by name. A request without
//! a good one changes nothing and is audited as refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;

use super::sms::e164;
use crate::audit::{Actor, AuditEntry, Outcome};
use crate::model::clock::Clock;
use crate::model::timestamp::Timestamp;
use crate::store::{self, Store, StoreError};

/// What a patient's reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
}

impl Keyword {
    /// The keyword a whole message is, ignoring case, spaces and a final
    /// full stop or exclamation mark, as carriers do; `None` for anything
    /// else.
    pub fn parse(body: &str) -> Option<Self> {
        let word = body
            .trim()
            .trim_end_matches(['.', '!'])
            .trim()
            .to_ascii_uppercase();
        match word.as_str() {
            "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some(Self::OptOut),
            "START" | "UNSTOP" => Some(Self::OptIn),
            _ => None,
        }
    }
}

/// The MAC Twilio signs a request to `url` with these form fields with:
/// the URL, then each field's name and value, sorted by name (and value).
fn twilio_mac(auth_token: &SecretString, url: &str, fields: &[(String, String)]) -> Hmac<Sha1> {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// Twilio's signature of a request to `url` with these form fields.
pub fn twilio_signature(
    auth_token: &SecretString,
    url: &str,
    fields: &[(String, String)],
) -> String {
    let mac = twilio_mac(auth_token, url, fields);
    BASE64.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is Twilio's for this request, compared in constant
/// time.
pub fn signature_holds(
    auth_token: &SecretString,
    url: &str,
    fields: &[(String, String)],
    signature: &str,
) -> bool {
    let Ok(given) = BASE64.decode(signature.trim()) else {
        return false;
    };
    twilio_mac(auth_token, url, fields)
        .verify_slice(&given)
        .is_ok()
}

/// What came of a reply: the keyword, and how many patient records it
/// changed (none for another message, or a number no patient gave).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyOutcome {
    pub keyword: Option<Keyword>,
    pub patients: usize,
}

/// The caller of the webhook, as the audit trail names it.
fn webhook_actor(ip: Option<String>, at: Timestamp) -> Actor {
    Actor {
        kind: "system",
        id: Some("twilio-webhook".to_owned()),
        role: None,
        ip,
        at,
    }
}

/// Records a refused webhook request (bad or missing signature, or texts
/// not set up): who called, nothing of what it said.
#[tracing::instrument(skip_all)]
pub async fn refuse(store: &Store, clock: &Clock, ip: Option<String>) -> Result<(), StoreError> {
    let actor = webhook_actor(ip, clock.now());
    let mut tx = store.begin().await?;
    let entry =
        AuditEntry::new(&actor, "sms.inbound_refused", "Communication").outcome(Outcome::Denied);
    store::append_audit(&mut tx, &entry).await?;
    store::commit(tx).await
}

/// Applies a signed reply from `from` (E.164): a keyword changes the text
/// preference of every patient who gave that number, each audited.
#[tracing::instrument(skip_all)]
pub async fn apply_reply(
    store: &Store,
    clock: &Clock,
    ip: Option<String>,
    from: &str,
    body: &str,
) -> Result<ReplyOutcome, StoreError> {
    let Some(keyword) = Keyword::parse(body) else {
        return Ok(ReplyOutcome {
            keyword: None,
            patients: 0,
        });
    };
    let Some(number) = e164(from) else {
        return Ok(ReplyOutcome {
            keyword: Some(keyword),
            patients: 0,
        });
    };
    let last_four = &number[number.len().saturating_sub(4)..];
    let now = clock.now();
    let actor = webhook_actor(ip, now);
    let (opted_out, action) = match keyword {
        Keyword::OptOut => (true, "patient.text_opt_out"),
        Keyword::OptIn => (false, "patient.text_opt_in"),
    };
    let mut tx = store.begin().await?;
    let mut patients = 0;
    for (patient, phone) in store::patients_with_phone_ending(&mut tx, last_four).await? {
        if e164(&phone).as_deref() != Some(number.as_str()) {
            continue;
        }
        store::set_sms_opt_out(&mut tx, &patient, opted_out, now).await?;
        let entry = AuditEntry::new(&actor, action, "Patient")
            .resource(patient.as_str())
            .patient(&patient);
        store::append_audit(&mut tx, &entry).await?;
        patients += 1;
    }
    store::commit(tx).await?;
    Ok(ReplyOutcome {
        keyword: Some(keyword),
        patients,
    })
}

/// The TwiML answer: a confirmation for a keyword, naming only the clinic,
/// and nothing for any other message. It reads the same whether or not the
/// number belongs to a patient.
pub fn twiml_reply(keyword: Option<Keyword>, clinic: &str) -> String {
    let said = match keyword {
        Some(Keyword::OptOut) => Some(format!(
            "You will get no more text messages from {clinic}. Reply START to get them again."
        )),
        Some(Keyword::OptIn) => Some(format!(
            "You will get text messages from {clinic} again. Reply STOP to stop them."
        )),
        None => None,
    };
    match said {
        Some(text) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            xml_escape(&text)
        ),
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>".to_owned(),
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_read_as_carriers_read_them() {
        assert_eq!(Keyword::parse(" stop "), Some(Keyword::OptOut));
        assert_eq!(Keyword::parse("Unsubscribe."), Some(Keyword::OptOut));
        assert_eq!(Keyword::parse("QUIT!"), Some(Keyword::OptOut));
        assert_eq!(Keyword::parse("start"), Some(Keyword::OptIn));
        assert_eq!(Keyword::parse("UNSTOP"), Some(Keyword::OptIn));
        assert_eq!(Keyword::parse("please stop"), None);
        assert_eq!(Keyword::parse("see you at 3"), None);
    }

    #[test]
    fn the_signature_is_twilios_documented_example() {
        // Twilio's security page: this URL, these fields, token 12345.
        let token = SecretString::from("12345");
        let fields: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            twilio_signature(&token, url, &fields),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(!signature_holds(
            &token,
            url,
            &fields,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ"
        ));
    }

    #[test]
    fn the_reply_names_the_clinic_only() {
        let reply = twiml_reply(Some(Keyword::OptOut), "Springfield & Co");
        assert!(
            reply
                .contains("<Message>You will get no more text messages from Springfield &amp; Co.")
        );
        assert_eq!(
            twiml_reply(None, "Springfield"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
        );
    }
}
