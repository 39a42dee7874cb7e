//! The after-visit summary: once a visit has closed, its patient (and
//! staff) read what was found and what to do next, in plain words, for a
//! configured number of days. Every read is audited.

use std::time::Duration;

use super::{VisitError, audit, load};
use crate::audit::Actor;
use crate::codeset;
use crate::model::codes::Icd10;
use crate::model::ids::VisitId;
use crate::model::summary::{AfterVisitSummary, ClinicContact, SummaryDiagnosis};
use crate::model::timestamp::Timestamp;
use crate::model::visit::VisitStatus;
use crate::store::{self, Store};

/// Days a summary stays readable after close unless configured.
pub const DEFAULT_SUMMARY_DAYS: u64 = 30;

/// What the summary needs of the configuration.
#[derive(Debug, Clone)]
pub struct SummarySettings {
    /// `BEDSIDE_SUMMARY_DAYS`: how long after close the summary is shown.
    pub available_for: Duration,
    /// The clinic's name and phone (the billing provider's), when configured.
    pub clinic: Option<ClinicContact>,
}

impl Default for SummarySettings {
    fn default() -> Self {
        Self {
            available_for: Duration::from_secs(DEFAULT_SUMMARY_DAYS * 24 * 3600),
            clinic: None,
        }
    }
}

impl SummarySettings {
    pub fn days(&self) -> u64 {
        self.available_for.as_secs() / (24 * 3600)
    }
}

/// The description of an ICD-10-CM code from the bundled code set, if listed.
pub fn describe(code: &Icd10) -> Option<&'static str> {
    codeset::icd10cm().get(code).map(|entry| entry.description)
}

/// Whether a line of the plan is about following up or coming back.
fn is_follow_up(line: &str) -> bool {
    let lower = line.to_lowercase();
    [
        "follow up",
        "follow-up",
        "followup",
        "return ",
        "come back",
        "recheck",
        "re-check",
        "review in",
        "see you",
        "book ",
        "schedule ",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// The plan as lines: one per line written, and one per sentence of a line,
/// list marks removed.
fn plan_lines(plan: &str) -> Vec<String> {
    plan.lines()
        .flat_map(|line| line.split_inclusive(". "))
        .map(|part| {
            part.trim()
                .trim_start_matches(['-', '*', '•'])
                .trim()
                .to_owned()
        })
        .filter(|part| !part.is_empty())
        .collect()
}

/// Splits the plan into instructions and follow-up.
pub fn split_plan(plan: &str) -> (Vec<String>, Vec<String>) {
    plan_lines(plan).into_iter().partition(|l| !is_follow_up(l))
}

/// The summary of a closed visit, within its days; audited as
/// `visit.summary_read`. The caller has checked who may read it.
#[tracing::instrument(skip_all)]
pub async fn read(
    store: &Store,
    actor: &Actor,
    settings: &SummarySettings,
    id: &VisitId,
) -> Result<AfterVisitSummary, VisitError> {
    let mut tx = store.begin().await?;
    let visit = load(&mut tx, id).await?;
    let closed_at = match (visit.status, visit.closed_at) {
        (VisitStatus::Closed, Some(at)) => at,
        _ => {
            return Err(VisitError::WrongState(format!(
                "The summary is ready once the visit has closed; this visit is {}.",
                visit.status.as_str().replace('_', " ")
            )));
        }
    };
    let available_until = Timestamp(closed_at.millis() + settings.available_for.as_millis() as i64);
    if actor.at >= available_until {
        let contact = match &settings.clinic {
            Some(ClinicContact {
                name,
                phone: Some(phone),
            }) => format!(" Please contact {name} on {phone}."),
            Some(ClinicContact { name, phone: None }) => format!(" Please contact {name}."),
            None => " Please contact the clinic.".to_owned(),
        };
        return Err(VisitError::Gone(format!(
            "This visit's summary was available for {} days after the visit and is no longer available.{contact}",
            settings.days()
        )));
    }
    let note = store::note_for_encounter(&mut tx, &visit.encounter_id).await?;
    let mut conditions = store::conditions(&mut tx, None, Some(&visit.encounter_id)).await?;
    conditions.sort_by_key(|c| c.rank.unwrap_or(i64::MAX));
    let clinician_id = note
        .as_ref()
        .map(|n| n.author_id.clone())
        .or_else(|| visit.admitted_by.clone());
    let clinician_name = match &clinician_id {
        Some(user) => store::get_staff(&mut tx, user)
            .await?
            .map(|s| s.user.display_name),
        None => None,
    };
    store::append_audit(&mut tx, &audit(actor, "visit.summary_read", &visit)).await?;
    store::commit(tx).await?;
    let plan = note.map(|n| n.soap.plan).unwrap_or_default();
    let (instructions, follow_up) = split_plan(&plan);
    Ok(AfterVisitSummary {
        visit_id: visit.id,
        encounter_id: visit.encounter_id,
        patient_id: visit.patient_id,
        clinician_id,
        clinician_name,
        visit_date: closed_at,
        diagnoses: conditions
            .into_iter()
            .map(|c| SummaryDiagnosis {
                description: describe(&c.code).map(str::to_owned),
                code: c.code,
            })
            .collect(),
        plan,
        instructions,
        follow_up,
        clinic: settings.clinic.clone(),
        available_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnoses_are_described_from_the_code_set() {
        let code = Icd10::parse("j069").unwrap();
        assert_eq!(
            describe(&code),
            Some("Acute upper respiratory infection, unspecified")
        );
        assert_eq!(describe(&Icd10::parse("Z99.99").unwrap()), None);
    }

    #[test]
    fn follow_up_lines_are_told_apart_from_instructions() {
        let (instructions, follow_up) = split_plan(
            "Rest and fluids. Paracetamol as needed.\n- Follow up in 1 week if not better",
        );
        assert_eq!(instructions, ["Rest and fluids.", "Paracetamol as needed."]);
        assert_eq!(follow_up, ["Follow up in 1 week if not better"]);
    }
}
