//! Every refused request for health data lands in the audit trail, from
//! this one layer: a `403` answer to a caller whose token was accepted is
//! recorded with who asked (actor, role, address) and what they asked for,
//! read from the path (a visit, a patient, a claim, a FHIR resource).
//! Answers whose refusal was already audited where it was decided (a FHIR
//! read knows the resource's patient) say so with [`RefusalAudited`].

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::extract::Caller;
use crate::access::{self, Target};
use crate::model::ids::{PatientId, VisitId};
use crate::state::AppState;

/// Where the caller extractor leaves the caller for this layer to read.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<OnceLock<Caller>>);

impl CallerSlot {
    pub fn fill(&self, caller: &Caller) {
        let _ = self.0.set(caller.clone());
    }
}

/// Marks an answer whose refusal was audited where it was decided.
#[derive(Debug, Clone, Copy)]
pub struct RefusalAudited;

/// The layer: runs the request, then audits a refusal.
pub async fn audit_refusals(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let target = target_of(request.uri().path());
    let response = next.run(request).await;
    if response.status() != StatusCode::FORBIDDEN
        || response.extensions().get::<RefusalAudited>().is_some()
    {
        return response;
    }
    let (Some(caller), Some(target)) = (slot.0.get(), target) else {
        return response;
    };
    if let Err(error) =
        access::record_refusal(&state.store, &caller.actor, "access.denied", &target).await
    {
        tracing::warn!(%error, "a refused request was not audited");
    }
    response
}

/// The health data a path names, if any.
fn target_of(path: &str) -> Option<Target> {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("api"), Some("v1"), Some("visits"), Some(id)) => {
            Some(VisitId::parse(id).map_or_else(|| unnamed("Visit", id), Target::Visit))
        }
        (Some("api"), Some("v1"), Some("patients"), Some(id)) => {
            Some(PatientId::parse(id).map_or_else(|| unnamed("Patient", id), Target::Patient))
        }
        (Some("api"), Some("v1"), Some("claims"), id) => Some(Target::Resource {
            kind: "Claim",
            id: id.filter(|id| !id.is_empty()).map(str::to_owned),
            patient: None,
        }),
        (Some("fhir"), Some(kind), id, _) => Some(Target::Resource {
            kind: fhir_kind(kind),
            id: id.filter(|id| !id.is_empty()).map(str::to_owned),
            patient: None,
        }),
        _ => None,
    }
}

fn unnamed(kind: &'static str, id: &str) -> Target {
    Target::Resource {
        kind,
        id: Some(id.to_owned()),
        patient: None,
    }
}

/// The FHIR type named in a path, as a static name (unknown ones as such).
fn fhir_kind(kind: &str) -> &'static str {
    crate::fhir::ResourceType::parse(kind)
        .map(crate::fhir::ResourceType::as_str)
        .or_else(|| (kind == "Composition").then_some("Composition"))
        .unwrap_or("FHIR")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_health_data() {
        let visit = VisitId::new();
        assert!(matches!(
            target_of(&format!("/api/v1/visits/{visit}/media")),
            Some(Target::Visit(v)) if v == visit
        ));
        let patient = PatientId::new();
        assert!(matches!(
            target_of(&format!("/api/v1/patients/{patient}/history")),
            Some(Target::Patient(p)) if p == patient
        ));
        assert!(matches!(
            target_of("/fhir/Claim"),
            Some(Target::Resource {
                kind: "Claim",
                id: None,
                ..
            })
        ));
        assert!(target_of("/api/v1/users").is_none());
    }
}
