//! Billing code values: CPT/HCPCS procedure codes, their modifiers and the
//! place of service, each checked when built.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BillingCodeError {
    #[error("{0:?} is not a CPT or HCPCS code (five characters such as 99213 or G2212)")]
    Cpt(String),
    #[error("{0:?} is not a modifier (two letters or digits such as 95)")]
    Modifier(String),
    #[error("{0:?} is not a place of service (02 or 10)")]
    PlaceOfService(String),
    #[error("{0:?} is not a code family (office or telemedicine)")]
    Family(String),
    #[error("{0}")]
    Rule(String),
}

/// A CPT (`99213`, `0001F`, `0042T`) or HCPCS level II (`G2212`) code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "99213")]
pub struct Cpt(String);

impl Cpt {
    pub fn parse(value: &str) -> Result<Self, BillingCodeError> {
        let code = value.trim().to_ascii_uppercase();
        let b = code.as_bytes();
        let cpt =
            b.len() == 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4].is_ascii_alphanumeric();
        let hcpcs =
            b.len() == 5 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit);
        if cpt || hcpcs {
            Ok(Self(code))
        } else {
            Err(BillingCodeError::Cpt(value.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// CPT codes are all digits but for a trailing F or T; HCPCS start with a letter.
    pub fn is_hcpcs(&self) -> bool {
        self.0.as_bytes()[0].is_ascii_uppercase()
    }
}

impl TryFrom<String> for Cpt {
    type Error = BillingCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl fmt::Display for Cpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A procedure modifier: CPT (`95`, `93`) or HCPCS (`GT`, `FQ`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "95")]
pub struct Modifier(String);

impl Modifier {
    pub fn parse(value: &str) -> Result<Self, BillingCodeError> {
        let code = value.trim().to_ascii_uppercase();
        if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(code))
        } else {
            Err(BillingCodeError::Modifier(value.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 95: a synchronous telemedicine service over real-time audio and video.
    pub fn video() -> Self {
        Self("95".to_owned())
    }

    /// 93: a synchronous telemedicine service over real-time audio only.
    pub fn audio_only() -> Self {
        Self("93".to_owned())
    }

    /// Modifiers of two digits are CPT's; those with a letter are HCPCS's.
    pub fn is_cpt(&self) -> bool {
        self.0.bytes().all(|b| b.is_ascii_digit())
    }
}

impl TryFrom<String> for Modifier {
    type Error = BillingCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// The CMS place of service of a telehealth claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PlaceOfService {
    /// 02: telehealth provided other than in the patient's home.
    TelehealthOther,
    /// 10: telehealth provided in the patient's home.
    TelehealthHome,
}

impl PlaceOfService {
    pub fn code(self) -> &'static str {
        match self {
            Self::TelehealthOther => "02",
            Self::TelehealthHome => "10",
        }
    }

    pub fn display(self) -> &'static str {
        match self {
            Self::TelehealthOther => "Telehealth Provided Other than in Patient's Home",
            Self::TelehealthHome => "Telehealth Provided in Patient's Home",
        }
    }

    pub fn parse(value: &str) -> Result<Self, BillingCodeError> {
        match value {
            "02" => Ok(Self::TelehealthOther),
            "10" => Ok(Self::TelehealthHome),
            other => Err(BillingCodeError::PlaceOfService(other.to_owned())),
        }
    }
}

impl utoipa::PartialSchema for PlaceOfService {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(["02", "10"]))
            .description(Some(
                "CMS place of service: 02 telehealth elsewhere, 10 at home",
            ))
            .into()
    }
}

impl ToSchema for PlaceOfService {}

impl TryFrom<String> for PlaceOfService {
    type Error = BillingCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Cpt> for String {
    fn from(code: Cpt) -> Self {
        code.0
    }
}

impl From<Modifier> for String {
    fn from(code: Modifier) -> Self {
        code.0
    }
}

impl From<PlaceOfService> for String {
    fn from(pos: PlaceOfService) -> Self {
        pos.code().to_owned()
    }
}
