//! CDS Hooks' `fhirAuthorization` (STANDARDS.md §4): a client that sends
//! no prefetch lends the service a bearer token for its `fhirServer`. When
//! that server is this Bedside, the token must be a live SMART access
//! token Bedside issued, and the service reads only what its scopes and
//! the patient in context allow.

use serde::Deserialize;
use serde_json::Value;

use super::Endpoints;
use crate::access;
use crate::audit::{Actor, AuditEntry, Outcome};
use crate::auth::Principal;
use crate::model::ids::PatientId;
use crate::model::smart::Interaction;
use crate::model::timestamp::Timestamp;
use crate::store::{self, Store, StoreError};

/// The resource types the services read for a patient when the client
/// sends no prefetch.
pub const READS: [&str; 3] = ["AllergyIntolerance", "MedicationStatement", "Observation"];

#[derive(Debug, Deserialize)]
struct FhirAuthorization {
    access_token: String,
    token_type: String,
}

/// Why a lent token cannot be used: the service answers 412.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Unusable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks the `fhirAuthorization` of a hook call before the service reads
/// `patient`'s `READS` from the store, auditing the use (or refusal) with
/// the app as actor.
pub async fn check_lent_token(
    store: &Store,
    endpoints: &Endpoints,
    fhir_server: Option<&str>,
    authorization: &Value,
    patient: &str,
    ip: Option<String>,
    now: Timestamp,
) -> Result<(), Refused> {
    let unusable = |why: &str| Refused::Unusable(why.to_owned());
    if !fhir_server.is_some_and(|s| endpoints.is_own_audience(s)) {
        return Err(unusable(
            "fhirServer is not this Bedside's FHIR base: send the data as prefetch",
        ));
    }
    let lent: FhirAuthorization = serde_json::from_value(authorization.clone())
        .map_err(|_| unusable("fhirAuthorization needs access_token and token_type \"Bearer\""))?;
    if !lent.token_type.eq_ignore_ascii_case("bearer") {
        return Err(unusable("fhirAuthorization.token_type must be Bearer"));
    }
    let principal = super::caller::authenticate(store, &lent.access_token, now)
        .await?
        .ok_or_else(|| {
            unusable("fhirAuthorization.access_token is not a live token of this Bedside")
        })?;
    let patient_id = PatientId::parse(patient);
    let allowed = READS.iter().all(|resource| {
        access::scopes_allow(
            &principal,
            resource,
            Interaction::Search,
            patient_id.as_ref(),
        )
    }) && access::may_read(
        &principal,
        access::Data::Clinical,
        &access::Subject {
            patient: patient_id.as_ref(),
            ..access::Subject::default()
        },
    );
    let actor = Actor::from_principal(&principal, ip, now);
    let entry = AuditEntry::new(&actor, "cds.fhir_authorization", "CdsService").patient(patient);
    let mut tx = store.begin().await?;
    store::append_audit(
        &mut tx,
        &if allowed {
            entry
        } else {
            entry.outcome(Outcome::Denied)
        },
    )
    .await?;
    store::commit(tx).await?;
    if !allowed {
        return Err(unusable(
            "the token's scopes do not reach this patient's allergies, medications and observations",
        ));
    }
    if let Principal::App(_) = principal {
        Ok(())
    } else {
        Err(unusable(
            "fhirAuthorization must carry a SMART access token",
        ))
    }
}
