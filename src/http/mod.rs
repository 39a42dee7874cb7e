//! The HTTP edge: routes, extractors and problem+json errors. Handlers are
//! thin; they parse, call the domain, and answer.

mod drain;
pub mod error;
pub mod extract;
pub mod listen;
mod origin;
pub(crate) mod refusals;
mod routes;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;
use error::ApiError;

/// Largest request body the API reads.
pub const BODY_LIMIT: usize = 256 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Bedside", description = "Telehealth: video consults, EHR encounters, billing and decision support."),
    modifiers(&BearerAuth),
    components(schemas(error::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document and the routes it describes.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .merge(routes::auth::router())
        .merge(routes::clinic::router())
        .merge(routes::users::router())
        .merge(routes::patients::router())
        .merge(routes::audit::router())
        .merge(routes::queues::router())
        .merge(routes::visits::router())
        .merge(routes::schedule::router())
        .merge(routes::booking::router())
        .merge(routes::drafts::router())
        .merge(routes::messages::router())
        .merge(routes::outbox::router())
        .merge(routes::claims::router())
        .merge(routes::remittances::router())
        .merge(routes::eligibility::router())
        .merge(routes::claim_inquiries::router())
        .merge(routes::codes::router())
        .merge(routes::accounts::router())
        .merge(routes::reports::router())
        .merge(routes::media::router())
        .merge(routes::screen_share::router())
        .merge(routes::precall::router())
        .merge(routes::quality::router())
        .merge(routes::guests::router())
        .merge(routes::presence::router())
        .merge(routes::cds::router())
        .merge(routes::smart::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .merge(routes::ops::router())
        .merge(routes::cds::hooks_router())
        .merge(routes::livekit::router())
        .merge(routes::twilio::router())
        .merge(routes::smart::oauth_router())
        .split_for_parts()
}

/// The OpenAPI document, as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = api();
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api)
        // The browser app; its fallback answers any path nobody serves (a
        // page for a browser, problem+json for the rest).
        .merge(routes::web::router(
            state.livekit.as_deref().map(|lk| lk.client_url()),
        ))
        .nest("/fhir", routes::fhir::router())
        .route("/ws", get(routes::presence::open_socket))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refusals::audit_refusals,
        ))
        .route(
            "/api/openapi.json",
            get(move || async move { axum::Json(openapi.as_ref().clone()) }),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.draining.clone(),
            drain::refuse_while_draining,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .layer(
            // Spans name the route template only: paths and queries can carry health data.
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", |p| p.as_str());
                tracing::info_span!("request", method = %request.method(), route)
            }),
        )
        // Answers carry health data: no cache may keep them. Pages and
        // assets set their own policy first.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(CatchPanicLayer::custom(|_| panic_response()))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

fn panic_response() -> Response {
    ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
}
