//! The browser app, embedded in the binary so one file runs anywhere: the
//! staff sign-in at `/`, the patient's page at `/join/{visit_id}`, the
//! clinician console, the scheduler board, the billing console and the admin console (CONTRACT.md, "Browser
//! pages"); their scripts and styles under `/assets/`, revalidated by ETag
//! and compressed; and the answer to a path nobody serves (issue #11).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use tower_http::compression::CompressionLayer;

use crate::http::error::ApiError;
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
        get(move || async move { page(StatusCode::OK, file, csp) })
    };
    let asset_csp = csp.clone();
    // Compression for assets only: the pages are small, and the call page's
    // LiveKit client alone is 1.4 MB.
    let assets = Router::new()
        .route(
            "/assets/{*path}",
            get(
                move |Path(path): Path<String>, request: HeaderMap| async move {
                    get_asset(&path, &request, asset_csp)
                },
            ),
        )
        .layer(CompressionLayer::new())
        .layer(axum::middleware::map_response(weaken_etag_if_compressed));
    Router::new()
        .route("/", page_route("index.html"))
        // The patient's token arrives in `?t=`; the page moves it out of the URL.
        .route("/join/{visit_id}", page_route("join.html"))
        // An invited guest's link, its token in `?t=` likewise.
        .route("/guest/{visit_id}", page_route("guest.html"))
        .route("/clinician", page_route("clinician.html"))
        .route("/scheduler", page_route("scheduler.html"))
        .route("/billing", page_route("billing.html"))
        .route("/admin", page_route("admin.html"))
        // The sign-in and consent page of a standalone SMART launch.
        .route("/authorize", page_route("authorize.html"))
        .route("/front-desk", page_route("frontdesk.html"))
        // The public booking page: per clinic, or for one clinician.
        .route("/book", page_route("book.html"))
        .route("/book/{clinician}", page_route("book.html"))
        .merge(assets)
        .fallback(move |request: HeaderMap| async move { not_found(&request, csp) })
}

fn content_type(path: &str) -> String {
    mime_guess::from_path(path)
        .first_or_octet_stream()
        .as_ref()
        .to_owned()
}

/// An HTML page: never stored, so nothing of a session outlives sign-out.
fn page(status: StatusCode, file: &str, csp: HeaderValue) -> Response {
    let Some(embedded) = Assets::get(file) else {
        return ApiError::NotFound("page").into_response();
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, content_type(file))],
        embedded.data,
    )
        .into_response();
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
    response
}

/// A path nobody serves: the not-found page to a browser, the API's
/// problem+json to anyone else (issue #11).
fn not_found(request: &HeaderMap, csp: HeaderValue) -> Response {
    if wants_html(request) {
        page(StatusCode::NOT_FOUND, "not-found.html", csp)
    } else {
        ApiError::NotFound("route").into_response()
    }
}

/// Whether `Accept` names HTML, as a browser's navigation does; fetches
/// and API clients send `*/*` or JSON.
fn wants_html(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let html = parts
                .next()
                .is_some_and(|media| media.eq_ignore_ascii_case("text/html"));
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            html && !refused
        })
}

/// `GET /assets/{path}`: an embedded file with a strong ETag (its
/// SHA-256); a browser that already holds it gets a bodiless 304.
fn get_asset(path: &str, request: &HeaderMap, csp: HeaderValue) -> Response {
    let Some(file) = Assets::get(path) else {
        return not_found(request, csp);
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let validators = [
        (header::ETAG, etag.clone()),
        // Asset URLs carry no version: the browser keeps each file but asks before reusing it.
        (header::CACHE_CONTROL, "no-cache".to_owned()),
        (header::VARY, header::ACCEPT_ENCODING.as_str().to_owned()),
    ];
    if none_match(request, &etag) {
        return (StatusCode::NOT_MODIFIED, validators).into_response();
    }
    (
        validators,
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        file.data,
    )
        .into_response()
}

/// Whether `If-None-Match` names `etag`, by weak comparison as RFC 9110
/// §13.1.2 asks: `W/"x"` matches `"x"`, and `*` matches any.
fn none_match(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| {
            let tag = tag.trim();
            tag.strip_prefix("W/").unwrap_or(tag)
        })
        .any(|tag| tag == "*" || tag == etag)
}

/// A compressed body is another representation of the file, so its ETag
/// is weak (as nginx does); it still matches `If-None-Match`.
async fn weaken_etag_if_compressed<B>(mut response: Response<B>) -> Response<B> {
    if !response.headers().contains_key(header::CONTENT_ENCODING) {
        return response;
    }
    let weak = response
        .headers()
        .get(header::ETAG)
        .and_then(|tag| tag.to_str().ok())
        .filter(|tag| !tag.starts_with("W/"))
        .and_then(|tag| HeaderValue::from_str(&format!("W/{tag}")).ok());
    if let Some(weak) = weak {
        response.headers_mut().insert(header::ETAG, weak);
    }
    response
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

    fn headers(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn browsers_navigating_want_html_and_api_clients_do_not() {
        let accept = |value| wants_html(&headers(header::ACCEPT, value));
        assert!(accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(accept("TEXT/HTML"));
        assert!(!accept("*/*"));
        assert!(!accept("application/json"));
        assert!(!accept("application/json, text/html;q=0"));
        assert!(!wants_html(&HeaderMap::new()));
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let etag = "\"abc\"";
        let matches = |value| none_match(&headers(header::IF_NONE_MATCH, value), etag);
        assert!(matches("\"abc\""));
        assert!(matches("W/\"abc\""));
        assert!(matches("\"x\", \"abc\""));
        assert!(matches("*"));
        assert!(!matches("\"abcd\""));
        assert!(!none_match(&HeaderMap::new(), etag));
    }
}
