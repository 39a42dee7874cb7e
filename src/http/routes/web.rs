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

/// Pages load only our own scripts and styles and talk only to this origin,
/// and to the LiveKit server when one carries the calls (`livekit`, its
/// browser URL).
fn content_security_policy(livekit: Option<&str>) -> HeaderValue {
    let connect = match livekit.and_then(origin) {
        Some((ws, http)) => format!("'self' {ws} {http}"),
        None => "'self'".to_owned(),
    };
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src {connect}; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
}

/// The WebSocket origin of a LiveKit browser URL and its HTTP twin (the
/// client checks a failed connection over HTTP).
fn origin(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    let http = match scheme {
        "wss" => "https",
        "ws" => "http",
        _ => return None,
    };
    Some((format!("{scheme}://{host}"), format!("{http}://{host}")))
}

pub fn router(livekit: Option<&str>) -> Router<AppState> {
    let csp = content_security_policy(livekit);
    let page_route = |file: &'static str| {
        let csp = csp.clone();
        get(move || async move { page(file, csp) })
    };
    Router::new()
        .route("/", page_route("index.html"))
        // The patient's token arrives in `?t=`; the page moves it out of the URL.
        .route("/join/{visit_id}", page_route("join.html"))
        // An invited guest's link, its token in `?t=` likewise.
        .route("/guest/{visit_id}", page_route("guest.html"))
        .route("/clinician", page_route("clinician.html"))
        .route("/scheduler", page_route("scheduler.html"))
        .route(
            "/assets/{*path}",
            get(|Path(path): Path<String>| async move { asset(&path) }),
        )
}

/// An HTML page: never stored, so nothing of a session outlives sign-out.
fn page(path: &str, csp: HeaderValue) -> Response {
    let mut response = asset(path);
    if response.status() == StatusCode::OK {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_lets_pages_reach_livekit_only_when_it_is_configured() {
        let plain = content_security_policy(None);
        assert!(plain.to_str().unwrap().contains("connect-src 'self';"));
        let with = content_security_policy(Some("wss://lk.example.org/"));
        assert!(
            with.to_str()
                .unwrap()
                .contains("connect-src 'self' wss://lk.example.org https://lk.example.org;")
        );
        assert_eq!(origin("ftp://x"), None);
    }
}
