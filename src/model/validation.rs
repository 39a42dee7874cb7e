//! Field-level validation shared by the domain modules: the error that
//! names a field, and small text types that cannot hold bad values.

use serde::{Deserialize, Serialize};

/// One invalid field of a request: answered with 422 naming `field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, utoipa::ToSchema)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Trimmed text of 1 to 200 characters (names, payer ids, display names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String)]
pub struct Text(String);

impl Text {
    pub const MAX: usize = 200;

    pub fn parse(value: &str) -> Result<Self, &'static str> {
        let value = value.trim();
        if value.is_empty() {
            return Err("must not be empty");
        }
        if value.chars().count() > Self::MAX {
            return Err("is longer than 200 characters");
        }
        if value.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.0
    }
}

/// An email address of the plain `local@domain.tld` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, format = "email")]
pub struct Email(String);

impl TryFrom<String> for Email {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let value = value.trim();
        let valid = value.len() <= 254
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !value.chars().any(|c| c.is_whitespace() || c.is_control())
                    && !domain.contains('@')
            });
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err("is not an email address")
        }
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

/// A phone number: digits with optional `+`, spaces, dashes, dots and parentheses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "+1 217 555 0100")]
pub struct Phone(String);

impl TryFrom<String> for Phone {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let value = value.trim();
        let digits = value.chars().filter(char::is_ascii_digit).count();
        let allowed = value
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
        if allowed && (7..=15).contains(&digits) && value.len() <= 25 {
            Ok(Self(value.to_owned()))
        } else {
            Err("is not a phone number")
        }
    }
}

impl From<Phone> for String {
    fn from(phone: Phone) -> Self {
        phone.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(Text::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(Text::parse("   ").is_err());
        assert!(Text::parse(&"x".repeat(201)).is_err());
        assert!(Text::parse("a\u{0}b").is_err());
    }

    #[test]
    fn emails_and_phones_take_plain_shapes() {
        assert!(Email::try_from("ada@example.org".to_owned()).is_ok());
        for bad in ["ada", "ada@", "@x.org", "a b@x.org", "a@x", "a@.org"] {
            assert!(Email::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        assert!(Phone::try_from("+1 (217) 555-0100".to_owned()).is_ok());
        assert!(Phone::try_from("call me".to_owned()).is_err());
        assert!(Phone::try_from("12".to_owned()).is_err());
    }
}
