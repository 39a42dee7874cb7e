//! Patient demographics and insurance, validated before they are stored.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::codes::PostalCode;
use crate::model::ids::PatientId;
use crate::model::timestamp::Timestamp;
use crate::model::validation::{Email, FieldError, Phone, Text};

/// Administrative sex, as FHIR's `AdministrativeGender`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line: Text,
    pub city: Text,
    /// Two-letter state code.
    #[schema(value_type = String, example = "IL")]
    pub state: Text,
    pub postal_code: PostalCode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Insurance {
    pub payer_id: Text,
    pub payer_name: Text,
    pub member_id: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_number: Option<Text>,
}

/// The body of `POST /patients`. Field shapes are checked while parsing;
/// `validate` adds the checks that need more than one value or the clock.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatient {
    pub given_name: Text,
    pub family_name: Text,
    /// `YYYY-MM-DD`, not in the future.
    #[schema(value_type = String, format = "date", example = "1984-03-02")]
    pub birth_date: NaiveDate,
    pub sex: Sex,
    #[serde(default)]
    pub email: Option<Email>,
    #[serde(default)]
    pub phone: Option<Phone>,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub insurance: Option<Insurance>,
}

impl NewPatient {
    pub fn validate(&self, today: NaiveDate) -> Result<(), FieldError> {
        if self.birth_date > today {
            return Err(FieldError::new("birth_date", "must not be in the future"));
        }
        if self.birth_date < NaiveDate::from_ymd_opt(1880, 1, 1).expect("valid date") {
            return Err(FieldError::new("birth_date", "must be after 1880-01-01"));
        }
        if let Some(address) = &self.address {
            let state = address.state.as_str();
            if state.len() != 2 || !state.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(FieldError::new(
                    "address.state",
                    "must be a two-letter state code",
                ));
            }
        }
        Ok(())
    }
}

/// A stored patient.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Patient {
    pub id: PatientId,
    /// The medical record number, unique within this Bedside.
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    #[schema(value_type = String, format = "date")]
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub insurance: Option<Insurance>,
    pub created_at: Timestamp,
}

impl Patient {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(json: serde_json::Value) -> Result<NewPatient, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn birth_dates_in_the_future_are_refused() {
        let p = patient(serde_json::json!({
            "given_name": "Ada", "family_name": "Lovelace", "birth_date": "2999-01-01", "sex": "female"
        }))
        .unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert_eq!(p.validate(today).unwrap_err().field, "birth_date");
    }

    #[test]
    fn shapes_are_checked_while_parsing() {
        let base = serde_json::json!({"given_name": "Ada", "family_name": "L", "birth_date": "1990-02-30", "sex": "female"});
        assert!(patient(base).is_err());
        let sex = serde_json::json!({"given_name": "Ada", "family_name": "L", "birth_date": "1990-02-03", "sex": "f"});
        assert!(patient(sex).is_err());
    }
}
