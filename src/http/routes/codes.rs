//! Code sets: finding an ICD-10-CM code by its code or its words, for the
//! diagnosis fields of the clinician's close form and the biller's claim.

use axum::Json;
use axum::extract::Query;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::codeset;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{AnyStaff, Staff};
use crate::model::validation::FieldError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_icd10cm))
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
    let text = query.q.trim();
    if text.is_empty() || text.chars().count() > 100 {
        return Err(FieldError::new("q", "must be 1 to 100 characters").into());
    }
    let limit = query.limit.unwrap_or(20).clamp(1, MAX_MATCHES);
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
