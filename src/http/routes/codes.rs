//! Code sets: finding an ICD-10-CM code by its code or its words, for the
//! diagnosis fields of the clinician's close form, the biller's claim and
//! the chart's problems; and the RxNorm and SNOMED CT codes of drugs and
//! substances, for the chart's medications and allergies.

use axum::Json;
use axum::extract::Query;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::codeset::{self, SubstanceKind};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{AnyStaff, Staff};
use crate::model::clinical::CodeSystem;
use crate::model::validation::FieldError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_icd10cm))
        .routes(routes!(search_rxnorm))
        .routes(routes!(search_substances))
}

/// Most matches one search answers.
const MAX_MATCHES: usize = 50;

#[derive(Debug, Deserialize, IntoParams)]
pub struct CodeQuery {
    /// A code or its start (`J06`), or words of the description (`upper respiratory`).
    q: String,
    /// At most this many matches (default 20, at most 50).
    limit: Option<usize>,
}

impl CodeQuery {
    /// The query's text and how many matches it wants.
    fn checked(&self) -> Result<(&str, usize), ApiError> {
        let text = self.q.trim();
        if text.is_empty() || text.chars().count() > 100 {
            return Err(FieldError::new("q", "must be 1 to 100 characters").into());
        }
        Ok((text, self.limit.unwrap_or(20).clamp(1, MAX_MATCHES)))
    }
}

/// One ICD-10-CM code of the bundled release.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeMatch {
    pub code: String,
    /// Coded to full specificity; a heading is not billable.
    pub billable: bool,
    pub description: String,
}

/// Searches ICD-10-CM by code or words, billable codes first (staff).
#[utoipa::path(get, path = "/codes/icd10cm", tag = "codes", security(("bearer" = [])), params(CodeQuery),
    responses((status = 200, body = Vec<CodeMatch>), (status = 422, body = Problem)))]
async fn search_icd10cm(
    _staff: Staff<AnyStaff>,
    Query(query): Query<CodeQuery>,
) -> Result<Json<Vec<CodeMatch>>, ApiError> {
    let (text, limit) = query.checked()?;
    let matches = codeset::icd10cm()
        .search(text, limit)
        .into_iter()
        .map(|entry| CodeMatch {
            code: entry.code.to_owned(),
            billable: entry.billable,
            description: entry.description.to_owned(),
        })
        .collect();
    Ok(Json(matches))
}

/// A coded drug or substance.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubstanceMatch {
    pub code: String,
    /// `rxnorm` or `snomed`.
    pub system: CodeSystem,
    /// The system's URI, as FHIR names it.
    pub system_uri: &'static str,
    pub name: String,
}

fn substance_matches(
    kind: SubstanceKind,
    query: &CodeQuery,
) -> Result<Vec<SubstanceMatch>, ApiError> {
    let (text, limit) = query.checked()?;
    Ok(codeset::substances()
        .search(kind, text, limit)
        .into_iter()
        .map(|s| SubstanceMatch {
            code: s.code.clone(),
            system: s.system,
            system_uri: s.system.uri(),
            name: s.name.clone(),
        })
        .collect())
}

/// Searches the drugs Bedside codes (RxNorm), by name or code, for a
/// medication (staff).
#[utoipa::path(get, path = "/codes/rxnorm", tag = "codes", security(("bearer" = [])), params(CodeQuery),
    responses((status = 200, body = Vec<SubstanceMatch>), (status = 422, body = Problem)))]
async fn search_rxnorm(
    _staff: Staff<AnyStaff>,
    Query(query): Query<CodeQuery>,
) -> Result<Json<Vec<SubstanceMatch>>, ApiError> {
    Ok(Json(substance_matches(SubstanceKind::Drugs, &query)?))
}

/// Searches the drugs (RxNorm) and other substances (SNOMED CT) Bedside
/// codes, by name or code, for an allergy (staff).
#[utoipa::path(get, path = "/codes/substances", tag = "codes", security(("bearer" = [])), params(CodeQuery),
    responses((status = 200, body = Vec<SubstanceMatch>), (status = 422, body = Problem)))]
async fn search_substances(
    _staff: Staff<AnyStaff>,
    Query(query): Query<CodeQuery>,
) -> Result<Json<Vec<SubstanceMatch>>, ApiError> {
    Ok(Json(substance_matches(SubstanceKind::Any, &query)?))
}
