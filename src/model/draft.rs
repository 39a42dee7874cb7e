//! The clinician's note while it is being written: every field as typed,
//! kept on the server so a reload, a sign-out or another device loses
//! nothing. Nothing here is checked as the final note is; closing does that.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::UserId;
use super::timestamp::Timestamp;
use super::validation::FieldError;
use super::visit::PatientLocation;

/// Longest text a draft field holds, in characters.
pub const MAX_FIELD: usize = 20_000;

/// The note form as typed. Every field may be empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftFields {
    #[serde(default)]
    pub subjective: String,
    #[serde(default)]
    pub objective: String,
    #[serde(default)]
    pub assessment: String,
    #[serde(default)]
    pub plan: String,
    /// Diagnosis codes as typed, e.g. `J06.9, R05.9`.
    #[serde(default)]
    pub diagnoses: String,
    /// Minutes as typed; checked at close.
    #[serde(default)]
    pub total_minutes: String,
    #[serde(default)]
    pub patient_location: Option<PatientLocation>,
    #[serde(default)]
    pub audio_only: bool,
}

impl DraftFields {
    /// Refuses only what no note needs: text past the size limit.
    pub fn validate(&self) -> Result<(), FieldError> {
        let fields = [
            ("subjective", &self.subjective),
            ("objective", &self.objective),
            ("assessment", &self.assessment),
            ("plan", &self.plan),
            ("diagnoses", &self.diagnoses),
            ("total_minutes", &self.total_minutes),
        ];
        for (name, text) in fields {
            if text.chars().count() > MAX_FIELD {
                return Err(FieldError::new(
                    name,
                    format!("is longer than {MAX_FIELD} characters"),
                ));
            }
        }
        Ok(())
    }
}

/// A saved draft: its fields, who wrote it, and when it was last saved.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NoteDraft {
    #[serde(flatten)]
    pub fields: DraftFields,
    pub author_id: UserId,
    pub updated_at: Timestamp,
}
