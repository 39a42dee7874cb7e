//! The browser app, embedded in the binary so one file runs anywhere: the
//! staff sign-in at `/`, the patient's page at `/join/{visit_id}`, the
//! clinician console and the scheduler board (CONTRACT.md, "Browser pages").

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

/// Pages load only our own scripts and styles and talk only to this origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { page("index.html") }))
        // The patient's token arrives in `?t=`; the page moves it out of the URL.
        .route("/join/{visit_id}", get(|| async { page("join.html") }))
        // An invited guest's link, its token in `?t=` likewise.
        .route("/guest/{visit_id}", get(|| async { page("guest.html") }))
        .route("/clinician", get(|| async { page("clinician.html") }))
        .route("/scheduler", get(|| async { page("scheduler.html") }))
        .route(
            "/assets/{*path}",
            get(|Path(path): Path<String>| async move { asset(&path) }),
        )
}

/// An HTML page: never stored, so nothing of a session outlives sign-out.
fn page(path: &str) -> Response {
    let mut response = asset(path);
    if response.status() == StatusCode::OK {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        // The join link carries a token: never send it on as a referrer.
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(self), microphone=(self), geolocation=()"),
        );
    }
    response
}

fn asset(path: &str) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    (
        [
            (header::CONTENT_TYPE, mime.as_ref().to_owned()),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        file.data,
    )
        .into_response()
}
