//! What a SMART access token stands for on a FHIR request: the app, the
//! scopes it was granted, the patient in context, and the user whose
//! permissions it borrows (still checked: scopes only delegate).

use crate::auth::Principal;
use crate::model::smart::{AppCaller, Scopes};
use crate::model::timestamp::Timestamp;
use crate::store::{self, GrantRecord, GrantSubject, Store, StoreError, TokenKind, Tx};

/// Access tokens start with this, so the bearer extractor knows them.
pub const ACCESS_PREFIX: &str = "bsa_";
/// Refresh tokens start with this.
pub const REFRESH_PREFIX: &str = "bsr_";

/// Whether a bearer value is shaped like a SMART access token.
pub fn is_access_token(bearer: &str) -> bool {
    bearer.starts_with(ACCESS_PREFIX)
}

/// Whose permissions a grant lends, as it stands now: `Ok(None)` when
/// that user is gone (a deactivated account lends nothing),
/// `Ok(Some(None))` for a backend service.
pub(crate) async fn lender(
    tx: &mut Tx,
    grant: &GrantRecord,
) -> Result<Option<Option<Principal>>, StoreError> {
    Ok(match &grant.subject {
        GrantSubject::User(id) => store::get_active_user(tx, id)
            .await?
            .map(|user| Some(Principal::Staff(user))),
        GrantSubject::Patient {
            visit_id,
            patient_id,
            encounter_id,
        } => Some(Some(Principal::Patient {
            visit_id: visit_id.clone(),
            patient_id: patient_id.clone(),
            encounter_id: encounter_id.clone(),
        })),
        GrantSubject::System => Some(None),
    })
}

/// The app caller of a live access token, if `bearer` is one.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    store: &Store,
    bearer: &str,
    now: Timestamp,
) -> Result<Option<Principal>, StoreError> {
    let mut tx = store.begin_read().await?;
    let token = store::find_smart_token(&mut tx, &super::hash(bearer))
        .await?
        .filter(|t| t.kind == TokenKind::Access && t.revoked_at.is_none() && now < t.expires_at);
    let Some(token) = token else {
        return Ok(None);
    };
    let Some(grant) = store::get_smart_grant(&mut tx, &token.grant_id).await? else {
        return Ok(None);
    };
    let Some(on_behalf) = lender(&mut tx, &grant).await? else {
        return Ok(None);
    };
    store::commit(tx).await?;
    Ok(Some(Principal::App(Box::new(AppCaller {
        client_id: grant.client_id,
        grant_id: grant.id,
        scopes: Scopes::parse_known(&grant.scopes),
        patient: grant.patient,
        encounter: grant.encounter,
        on_behalf: on_behalf.map(Box::new),
    }))))
}
