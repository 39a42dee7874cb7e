//! Identifiers with a checkable form (NPI, US postal codes): each can only
//! be built through `parse`, so an invalid one never reaches the store.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodeError {
    #[error("an NPI is ten digits")]
    NpiFormat,
    #[error("the NPI's check digit is wrong")]
    NpiCheckDigit,
    #[error("a postal code is a ZIP code of five or nine digits")]
    PostalCode,
}

/// A National Provider Identifier: ten digits, the last a Luhn check digit
/// computed over the prefix 80840 and the first nine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "1234567893")]
pub struct Npi(String);

impl Npi {
    pub fn parse(value: &str) -> Result<Self, CodeError> {
        let digits: Vec<u32> = value
            .chars()
            .map(|c| c.to_digit(10))
            .collect::<Option<_>>()
            .ok_or(CodeError::NpiFormat)?;
        if digits.len() != 10 {
            return Err(CodeError::NpiFormat);
        }
        // 24 is the Luhn contribution of the card-issuer prefix 80840.
        let sum: u32 = 24
            + digits[..9]
                .iter()
                .rev()
                .enumerate()
                .map(|(i, &d)| {
                    if i % 2 == 0 {
                        let x = d * 2;
                        x / 10 + x % 10
                    } else {
                        d
                    }
                })
                .sum::<u32>();
        if (10 - sum % 10) % 10 != digits[9] {
            return Err(CodeError::NpiCheckDigit);
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Npi {
    type Error = CodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Npi> for String {
    fn from(npi: Npi) -> Self {
        npi.0
    }
}

impl fmt::Display for Npi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A US ZIP code, stored as its digits (five or nine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "62701-1234")]
pub struct PostalCode(String);

impl PostalCode {
    /// Accepts `12345`, `12345-6789` and `123456789`.
    pub fn parse(value: &str) -> Result<Self, CodeError> {
        let value = value.trim();
        let digits: String = match value.split_once('-') {
            Some((five, four)) if five.len() == 5 && four.len() == 4 => format!("{five}{four}"),
            Some(_) => return Err(CodeError::PostalCode),
            None => value.to_owned(),
        };
        if !(digits.len() == 5 || digits.len() == 9) || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(CodeError::PostalCode);
        }
        Ok(Self(digits))
    }

    pub fn is_nine_digit(&self) -> bool {
        self.0.len() == 9
    }

    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PostalCode {
    type Error = CodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PostalCode> for String {
    fn from(code: PostalCode) -> Self {
        if code.is_nine_digit() {
            format!("{}-{}", &code.0[..5], &code.0[5..])
        } else {
            code.0
        }
    }
}

/// An ICD-10-CM diagnosis code in display form (`J06.9`): a letter, a
/// digit, a digit or letter, then optionally a dot and one to four more.
/// Accepted with or without the dot, in any case; kept uppercase with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "J06.9")]
pub struct Icd10(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("is not an ICD-10-CM code (such as J06.9)")]
pub struct Icd10Error;

impl Icd10 {
    pub fn parse(value: &str) -> Result<Self, Icd10Error> {
        let upper = value.trim().to_ascii_uppercase();
        let compact: String = upper.chars().filter(|&c| c != '.').collect();
        let dots = upper.matches('.').count();
        let bytes = compact.as_bytes();
        let shape = (3..=7).contains(&bytes.len())
            && bytes[0].is_ascii_uppercase()
            && bytes[1].is_ascii_digit()
            && bytes[2..].iter().all(u8::is_ascii_alphanumeric);
        let dot_in_place =
            dots == 0 || (dots == 1 && upper.find('.') == Some(3) && bytes.len() > 3);
        if !shape || !dot_in_place {
            return Err(Icd10Error);
        }
        let display = if bytes.len() > 3 {
            format!("{}.{}", &compact[..3], &compact[3..])
        } else {
            compact
        };
        Ok(Self(display))
    }

    /// Display form, with the dot (FHIR).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// X12 form, without the dot.
    pub fn x12(&self) -> String {
        self.0.replace('.', "")
    }
}

impl TryFrom<String> for Icd10 {
    type Error = Icd10Error;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Icd10> for String {
    fn from(code: Icd10) -> Self {
        code.0
    }
}

#[cfg(test)]
mod icd10_tests {
    use super::*;

    #[test]
    fn icd10_codes_are_checked_in_form_and_kept_with_the_dot() {
        for (input, display, x12) in [
            ("J06.9", "J06.9", "J069"),
            ("j069", "J06.9", "J069"),
            ("C4A", "C4A", "C4A"),
            ("T07.XXXA", "T07.XXXA", "T07XXXA"),
            ("U07.1", "U07.1", "U071"),
        ] {
            let code = Icd10::parse(input).unwrap();
            assert_eq!(
                (code.as_str(), code.x12().as_str()),
                (display, x12),
                "{input}"
            );
        }
        for bad in [
            "",
            "J0",
            "106.9",
            "JJ6.9",
            "J06.",
            "J0.69",
            "J06.12345",
            "J06-9",
            "J06.9.1",
        ] {
            assert!(Icd10::parse(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npi_check_digit_follows_luhn_with_the_80840_prefix() {
        assert!(Npi::parse("1234567893").is_ok());
        assert!(Npi::parse("1245319599").is_ok());
        assert_eq!(Npi::parse("1234567890"), Err(CodeError::NpiCheckDigit));
        assert_eq!(Npi::parse("123456789"), Err(CodeError::NpiFormat));
        assert_eq!(Npi::parse("12345678AB"), Err(CodeError::NpiFormat));
    }

    #[test]
    fn postal_codes_take_five_or_nine_digits() {
        assert_eq!(PostalCode::parse("62701").unwrap().digits(), "62701");
        assert_eq!(
            PostalCode::parse("62701-1234").unwrap().digits(),
            "627011234"
        );
        assert!(PostalCode::parse("627011234").unwrap().is_nine_digit());
        for bad in ["6270", "62701-12", "ABCDE", "627011-234", ""] {
            assert!(PostalCode::parse(bad).is_err(), "{bad}");
        }
    }
}
