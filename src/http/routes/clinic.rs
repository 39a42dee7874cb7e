//! What every page needs to know of the clinic before anyone signs in.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::model::region::ClinicSettings;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_clinic))
}

/// `GET /clinic` (anyone): the region, its emergency number and temperature
/// unit, so pages speak as the clinic's patients expect. No health data.
#[utoipa::path(get, path = "/clinic", tag = "clinic", responses((status = 200, body = ClinicSettings)))]
async fn get_clinic(State(state): State<AppState>) -> Json<ClinicSettings> {
    Json(ClinicSettings::from(state.config.region))
}
