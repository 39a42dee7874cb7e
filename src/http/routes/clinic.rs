//! What every page needs to know of the clinic before anyone signs in, and
//! the settings an admin keeps of it.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clinic::{self, ClinicProfile};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Admins, ApiJson, Staff};
use crate::model::region::{ClinicSettings, Region};
use crate::model::validation::FieldError;
use crate::state::AppState;
use crate::store::StoredClinic;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_clinic))
        .routes(routes!(get_clinic_settings, put_clinic_settings))
}

/// `GET /clinic`: the region, its emergency number and temperature unit,
/// and the clinic's name and contact when set.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicClinic {
    #[serde(flatten)]
    settings: ClinicSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_email: Option<String>,
}

/// `GET /clinic` (anyone): the region, its emergency number and temperature
/// unit, so pages speak as the clinic's patients expect, and the clinic's
/// name and contact. No health data.
#[utoipa::path(get, path = "/clinic", tag = "clinic", responses((status = 200, body = PublicClinic)))]
async fn get_clinic(State(state): State<AppState>) -> Result<Json<PublicClinic>, ApiError> {
    let profile = clinic::profile(&state.store, state.config.region, &state.config.summary).await?;
    Ok(Json(PublicClinic {
        settings: ClinicSettings::from(profile.region),
        name: profile.name,
        contact_phone: profile.contact_phone,
        contact_email: profile.contact_email,
    }))
}

/// The clinic's settings as they apply now (admin).
#[utoipa::path(get, path = "/clinic/settings", tag = "clinic", security(("bearer" = [])),
    responses((status = 200, body = ClinicProfile), (status = 403, body = Problem)))]
async fn get_clinic_settings(
    State(state): State<AppState>,
    _admin: Staff<Admins>,
) -> Result<Json<ClinicProfile>, ApiError> {
    Ok(Json(
        clinic::profile(&state.store, state.config.region, &state.config.summary).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClinicSettingsRequest {
    /// Empty or null follows the configuration.
    #[serde(default)]
    name: Option<String>,
    /// `US` or `GB`.
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    contact_phone: Option<String>,
    #[serde(default)]
    contact_email: Option<String>,
}

fn trimmed(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl ClinicSettingsRequest {
    fn validate(self) -> Result<StoredClinic, FieldError> {
        let name = trimmed(self.name);
        if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(FieldError::new("name", "must be at most 200 characters"));
        }
        let region = trimmed(self.region);
        if let Some(code) = &region {
            Region::parse(code).ok_or_else(|| FieldError::new("region", "must be US or GB"))?;
        }
        let contact_phone = trimmed(self.contact_phone);
        if let Some(phone) = &contact_phone {
            let digits = phone.chars().filter(char::is_ascii_digit).count();
            let ok = phone.len() <= 40
                && (5..=20).contains(&digits)
                && phone
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c));
            if !ok {
                return Err(FieldError::new(
                    "contact_phone",
                    "must be a phone number: digits, spaces, '+', '-', '(' and ')'",
                ));
            }
        }
        let contact_email = trimmed(self.contact_email);
        if let Some(email) = &contact_email {
            let ok = email.len() <= 200
                && !email.contains(char::is_whitespace)
                && email
                    .split_once('@')
                    .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
            if !ok {
                return Err(FieldError::new(
                    "contact_email",
                    "must be an email address like clinic@example.org",
                ));
            }
        }
        Ok(StoredClinic {
            name,
            region: region.map(|r| r.to_ascii_uppercase()),
            contact_phone,
            contact_email,
        })
    }
}

/// Sets the clinic's name, region and contact patients see (admin);
/// audited. Not secrets: keys and passwords stay in the configuration.
#[utoipa::path(put, path = "/clinic/settings", tag = "clinic", security(("bearer" = [])),
    request_body = ClinicSettingsRequest,
    responses((status = 200, body = ClinicProfile), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_clinic_settings(
    State(state): State<AppState>,
    admin: Staff<Admins>,
    ApiJson(body): ApiJson<ClinicSettingsRequest>,
) -> Result<Json<ClinicProfile>, ApiError> {
    let stored = body.validate()?;
    clinic::update(&state.store, &admin.actor, &stored).await?;
    Ok(Json(
        clinic::profile(&state.store, state.config.region, &state.config.summary).await?,
    ))
}
