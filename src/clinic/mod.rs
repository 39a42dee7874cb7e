//! What patients see of the clinic: its name, region and contact. An
//! admin's settings in the store win; the configuration is the default
//! (the billing provider's name and phone, `BEDSIDE_REGION`).

use crate::model::audit::{Actor, AuditEntry};
use crate::model::region::Region;
use crate::model::summary::ClinicContact;
use crate::store::{self, Store, StoreError, StoredClinic};
use crate::visits::SummarySettings;

/// The clinic as patients see it now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClinicProfile {
    pub name: Option<String>,
    pub region: Region,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
}

/// The stored settings over the configured region and summary contact.
#[tracing::instrument(skip_all)]
pub async fn profile(
    store: &Store,
    region: Region,
    summary: &SummarySettings,
) -> Result<ClinicProfile, StoreError> {
    let mut tx = store.begin_read().await?;
    let stored = store::clinic_settings(&mut tx).await?;
    store::commit(tx).await?;
    let configured = summary.clinic.as_ref();
    Ok(ClinicProfile {
        name: stored.name.or_else(|| configured.map(|c| c.name.clone())),
        region: stored
            .region
            .as_deref()
            .and_then(Region::parse)
            .unwrap_or(region),
        contact_phone: stored
            .contact_phone
            .or_else(|| configured.and_then(|c| c.phone.clone())),
        contact_email: stored.contact_email,
    })
}

/// Stores an admin's settings, audited.
#[tracing::instrument(skip_all)]
pub async fn update(
    store: &Store,
    actor: &Actor,
    settings: &StoredClinic,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    store::put_clinic_settings(&mut tx, settings, actor.at).await?;
    store::append_audit(&mut tx, &AuditEntry::new(actor, "clinic.update", "Clinic")).await?;
    store::commit(tx).await
}

/// The summary's settings with the clinic patients are told to contact.
pub fn summary_settings(profile: &ClinicProfile, configured: &SummarySettings) -> SummarySettings {
    SummarySettings {
        clinic: profile.name.as_ref().map(|name| ClinicContact {
            name: name.clone(),
            phone: profile.contact_phone.clone(),
        }),
        ..configured.clone()
    }
}
