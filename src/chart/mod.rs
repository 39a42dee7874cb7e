//! Ending what the chart lists: an allergy (inactive, resolved, or
//! entered in error), a medication (stopped, or entered in error) or a
//! problem (resolved). Each end is audited (`allergy.end`,
//! `medication.end`, `condition.end`) and kept as the resource's next FHIR
//! version in the transaction that makes it, so `_history` and the ETag
//! stay true. A refused attempt — an entry of another patient, one already
//! ended — is audited too. Adding entries is the record's ([`crate::ehr`]).

use crate::audit::{Actor, AuditEntry, Outcome};
use crate::fhir::ResourceType;
use crate::fhir::write::{self, WriteError};
use crate::model::clinical::{
    Allergy, AllergyStatus, Condition, ConditionEnd, EndAllergy, EndCondition, EndMedication,
    Medication, MedicationEnd,
};
use crate::model::ids::{PatientId, UserId};
use crate::model::timestamp::Timestamp;
use crate::model::validation::{FieldError, Text};
use crate::store::{self, Ending, Store, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// No such entry in this patient's chart.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The entry was ended before.
    #[error("{0}")]
    AlreadyEnded(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Who ends an entry, and where the FHIR facade is served (for the version kept).
#[derive(Debug, Clone, Copy)]
pub struct Ender<'a> {
    pub actor: &'a Actor,
    pub user: &'a UserId,
    pub fhir_base: &'a str,
    pub now: Timestamp,
}

/// The kinds of chart entry that end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Allergy,
    Medication,
    Condition,
}

impl Item {
    fn kind(self) -> ResourceType {
        match self {
            Self::Allergy => ResourceType::AllergyIntolerance,
            Self::Medication => ResourceType::MedicationStatement,
            Self::Condition => ResourceType::Condition,
        }
    }

    fn action(self) -> &'static str {
        match self {
            Self::Allergy => "allergy.end",
            Self::Medication => "medication.end",
            Self::Condition => "condition.end",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Allergy => "allergy",
            Self::Medication => "medication",
            Self::Condition => "condition",
        }
    }

    /// The entry's patient and status, if it exists.
    async fn current(self, tx: &mut Tx, id: &str) -> Result<Option<Current>, StoreError> {
        Ok(match self {
            Self::Allergy => store::get_allergy(tx, id).await?.map(|a| Current {
                patient: a.patient_id,
                status: a.status.as_str().to_owned(),
                open: a.status == AllergyStatus::Active,
            }),
            Self::Medication => store::get_medication(tx, id).await?.map(|m| Current {
                open: m.status == "active",
                patient: m.patient_id,
                status: m.status,
            }),
            Self::Condition => store::get_condition(tx, id).await?.map(|c| Current {
                open: matches!(
                    c.clinical_status.as_str(),
                    "active" | "recurrence" | "relapse"
                ),
                patient: c.patient_id,
                status: c.clinical_status,
            }),
        })
    }

    async fn end_row(self, tx: &mut Tx, id: &str, ending: Ending<'_>) -> Result<bool, StoreError> {
        match self {
            Self::Allergy => store::end_allergy(tx, id, ending).await,
            Self::Medication => store::end_medication(tx, id, ending).await,
            Self::Condition => store::end_condition(tx, id, ending).await,
        }
    }
}

struct Current {
    patient: PatientId,
    status: String,
    /// Whether it may still be ended.
    open: bool,
}

/// Ends one entry of `patient`'s chart with `status`, inside `tx`.
async fn end(
    tx: &mut Tx,
    who: Ender<'_>,
    item: Item,
    patient: &PatientId,
    id: &str,
    status: &str,
    reason: Option<&Text>,
) -> Result<(), ChartError> {
    let found = item.current(tx, id).await?;
    let refused = |outcome: Outcome, owner: &PatientId| {
        AuditEntry::new(who.actor, item.action(), item.kind().as_str())
            .resource(id)
            .patient(owner)
            .outcome(outcome)
    };
    let current = match found {
        Some(current) if &current.patient == patient => current,
        // Another patient's entry is refused as if it were not there.
        Some(other) => {
            store::append_audit(tx, &refused(Outcome::Denied, &other.patient)).await?;
            return Err(ChartError::NotFound(item.noun()));
        }
        None => {
            store::append_audit(tx, &refused(Outcome::NotFound, patient)).await?;
            return Err(ChartError::NotFound(item.noun()));
        }
    };
    let already = || {
        ChartError::AlreadyEnded(format!(
            "this {} was already ended ({}); it cannot be ended again",
            item.noun(),
            current.status
        ))
    };
    if !current.open {
        store::append_audit(tx, &refused(Outcome::Denied, patient)).await?;
        return Err(already());
    }
    let change = write::begin_change(tx, item.kind(), id, who.fhir_base, who.now)
        .await?
        .ok_or(ChartError::NotFound(item.noun()))?;
    let ending = Ending {
        status,
        by: who.user,
        at: who.now,
        reason: reason.map(Text::as_str),
    };
    if !item.end_row(tx, id, ending).await? {
        return Err(already());
    }
    write::finish_change(tx, change, who.fhir_base, who.now).await?;
    let entry = AuditEntry::new(who.actor, item.action(), item.kind().as_str())
        .resource(id)
        .patient(patient);
    store::append_audit(tx, &entry).await?;
    Ok(())
}

/// Runs `end`, committing its audit of a refusal as well as a success.
async fn end_committed(
    store: &Store,
    who: Ender<'_>,
    item: Item,
    patient: &PatientId,
    id: &str,
    status: &str,
    reason: Option<&Text>,
) -> Result<Tx, ChartError> {
    let mut tx = store.begin().await?;
    match end(&mut tx, who, item, patient, id, status, reason).await {
        Ok(()) => Ok(tx),
        Err(e @ (ChartError::NotFound(_) | ChartError::AlreadyEnded(_))) => {
            store::commit(tx).await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Ends an active allergy: inactive, resolved (the default), or entered in error.
#[tracing::instrument(skip_all)]
pub async fn end_allergy(
    store: &Store,
    who: Ender<'_>,
    patient: &PatientId,
    id: &str,
    body: &EndAllergy,
) -> Result<Allergy, ChartError> {
    let status = body.status.unwrap_or(AllergyStatus::Resolved);
    if status == AllergyStatus::Active {
        return Err(FieldError::new(
            "status",
            "an allergy ends as inactive, resolved or entered-in-error",
        )
        .into());
    }
    let item = Item::Allergy;
    let mut tx = end_committed(
        store,
        who,
        item,
        patient,
        id,
        status.as_str(),
        body.reason.as_ref(),
    )
    .await?;
    let allergy = store::get_allergy(&mut tx, id)
        .await?
        .ok_or(StoreError::Corrupt("an ended allergy vanished"))?;
    store::commit(tx).await?;
    Ok(allergy)
}

/// Stops an active medication (or marks it entered in error).
#[tracing::instrument(skip_all)]
pub async fn end_medication(
    store: &Store,
    who: Ender<'_>,
    patient: &PatientId,
    id: &str,
    body: &EndMedication,
) -> Result<Medication, ChartError> {
    let status = body.status.unwrap_or(MedicationEnd::Stopped);
    let mut tx = end_committed(
        store,
        who,
        Item::Medication,
        patient,
        id,
        status.as_str(),
        body.reason.as_ref(),
    )
    .await?;
    let medication = store::get_medication(&mut tx, id)
        .await?
        .ok_or(StoreError::Corrupt("a stopped medication vanished"))?;
    store::commit(tx).await?;
    Ok(medication)
}

/// Resolves an active problem (or marks it inactive or in remission).
#[tracing::instrument(skip_all)]
pub async fn end_condition(
    store: &Store,
    who: Ender<'_>,
    patient: &PatientId,
    id: &str,
    body: &EndCondition,
) -> Result<Condition, ChartError> {
    let status = body.status.unwrap_or(ConditionEnd::Resolved);
    let mut tx = end_committed(
        store,
        who,
        Item::Condition,
        patient,
        id,
        status.as_str(),
        body.reason.as_ref(),
    )
    .await?;
    let condition = store::get_condition(&mut tx, id)
        .await?
        .ok_or(StoreError::Corrupt("a resolved condition vanished"))?;
    store::commit(tx).await?;
    Ok(condition)
}
