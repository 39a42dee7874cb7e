//! The browser app as served: assets revalidated by ETag and compressed
//! for clients that accept it, pages never stored, and the not-found
//! answer (a page for a browser, problem+json for an API client).

use std::io::Read;

use reqwest::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, VARY,
};
use reqwest::{Client, StatusCode};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, assert_problem, spawn_app};

const LIVEKIT: &str = "/assets/vendor/livekit-client.esm.mjs";
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A client that decodes nothing, so the test sees the bytes as sent.
fn raw_client() -> Client {
    Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .no_zstd()
        .build()
        .expect("a client")
}

/// The file as it is in `web/`.
fn web_file(path: &str) -> Vec<u8> {
    let path = format!("{}/web/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = raw_client().get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the server answers")
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn assets_carry_a_strong_etag_and_a_matching_if_none_match_gets_304() {
    let app = spawn_app().await;
    let response = get(&app, "/assets/app.js", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = header(&response, ETAG).to_owned();
    let sha256 = hex::encode(Sha256::digest(web_file("app.js")));
    assert_eq!(etag, format!("\"{sha256}\""), "strong, the file's SHA-256");
    assert_eq!(header(&response, CACHE_CONTROL), "no-cache");
    assert!(header(&response, CONTENT_TYPE).contains("javascript"));
    assert_eq!(response.bytes().await.unwrap(), web_file("app.js"));

    for if_none_match in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"stale\", {etag}"),
    ] {
        let again = get(&app, "/assets/app.js", &[("if-none-match", &if_none_match)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{if_none_match}");
        assert_eq!(header(&again, ETAG), etag);
        assert_eq!(header(&again, CACHE_CONTROL), "no-cache");
        assert!(again.bytes().await.unwrap().is_empty());
    }

    let changed = get(&app, "/assets/app.js", &[("if-none-match", "\"stale\"")]).await;
    assert_eq!(changed.status(), StatusCode::OK);
    let other = get(&app, "/assets/style.css", &[]).await;
    assert_ne!(header(&other, ETAG), etag, "each file has its own");
}

#[tokio::test]
async fn assets_are_compressed_for_a_client_that_accepts_it() {
    let app = spawn_app().await;
    let file = web_file("vendor/livekit-client.esm.mjs");

    let gzip = get(&app, LIVEKIT, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gzip.status(), StatusCode::OK);
    assert_eq!(header(&gzip, CONTENT_ENCODING), "gzip");
    assert!(
        header(&gzip, VARY)
            .to_ascii_lowercase()
            .contains("accept-encoding")
    );
    // Another representation of the file: the same tag, weak.
    let etag = header(&gzip, ETAG).to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    let body = gzip.bytes().await.unwrap();
    assert!(
        body.len() < file.len() / 2,
        "{} bytes for a file of {}",
        body.len(),
        file.len()
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut unzipped)
        .expect("valid gzip");
    assert!(unzipped == file, "the file, once unzipped");

    let cached = get(
        &app,
        LIVEKIT,
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert!(cached.headers().get(CONTENT_ENCODING).is_none());
    assert!(cached.bytes().await.unwrap().is_empty());

    let brotli = get(&app, LIVEKIT, &[("accept-encoding", "br")]).await;
    assert_eq!(header(&brotli, CONTENT_ENCODING), "br");
    assert!(brotli.bytes().await.unwrap().len() < file.len() / 2);

    let plain = get(&app, LIVEKIT, &[]).await;
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    assert!(!header(&plain, ETAG).starts_with("W/"));
    assert!(plain.bytes().await.unwrap() == file);
}

#[tokio::test]
async fn pages_are_never_stored_and_not_compressed() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/clinician",
        "/scheduler",
        "/billing",
        "/join/0190e4a2-1234-7abc-8def-0123456789ab",
        "/guest/0190e4a2-1234-7abc-8def-0123456789ab",
    ] {
        let response = get(&app, path, &[("accept-encoding", "gzip, br")]).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(header(&response, CONTENT_TYPE).starts_with("text/html"));
        assert_eq!(header(&response, CACHE_CONTROL), "no-store", "{path}");
        assert!(response.headers().get(ETAG).is_none(), "{path}");
        assert!(response.headers().get(CONTENT_ENCODING).is_none(), "{path}");
        assert!(header(&response, CONTENT_SECURITY_POLICY).contains("default-src 'self'"));
    }
}

#[tokio::test]
async fn an_unknown_path_shows_a_browser_the_not_found_page() {
    let app = spawn_app().await;
    let response = get(&app, "/no-such-page", &[("accept", BROWSER_ACCEPT)]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(header(&response, CONTENT_TYPE).starts_with("text/html"));
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    assert!(header(&response, CONTENT_SECURITY_POLICY).contains("default-src 'self'"));
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1 id=\"not-found-title\">Page not found</h1>"));
    assert!(html.contains(r#"<a href="/" data-testid="home-link">"#));
    assert!(html.contains(r#"href="/assets/style.css""#));
}

#[tokio::test]
async fn an_unknown_path_gives_an_api_client_problem_json() {
    let app = spawn_app().await;
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut request = raw_client().get(app.url("/no-such-page"));
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        let response = request.send().await.unwrap();
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
    // A missing asset answers as any unknown path does.
    let script = get(&app, "/assets/no-such-file.js", &[("accept", "*/*")]).await;
    assert_problem(script, StatusCode::NOT_FOUND).await;
    let page = get(
        &app,
        "/assets/no-such-file.js",
        &[("accept", BROWSER_ACCEPT)],
    )
    .await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(header(&page, CONTENT_TYPE).starts_with("text/html"));
}
