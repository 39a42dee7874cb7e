//! Which browser pages may open the socket. A browser sends `Origin` with
//! every WebSocket handshake and, unlike `fetch`, applies no CORS check to
//! it: without this, any site a signed-in clinician visits could open a
//! socket in their name. Clients that send no `Origin` (native apps, tests)
//! are not browsers and pass; the token in `hello` still decides.

/// Whether a page from `origin` may open the socket: this server's own
/// origin (its public URL, or the `Host` it was reached at) or one listed
/// in `BEDSIDE_ALLOWED_ORIGINS`.
pub fn allowed(origin: &str, host: Option<&str>, public_url: &str, listed: &[String]) -> bool {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    if origin == origin_of(public_url) || listed.contains(&origin) {
        return true;
    }
    let Some(host) = host.map(str::to_ascii_lowercase) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && rest == host)
}

/// `scheme://host[:port]` of a URL, lowercased.
fn origin_of(url: &str) -> String {
    let url = url.to_ascii_lowercase();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{authority}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "https://clinic.example.org/base";

    #[test]
    fn the_servers_own_origin_passes() {
        assert!(allowed("https://clinic.example.org", None, PUBLIC, &[]));
        assert!(allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            PUBLIC,
            &[]
        ));
    }

    #[test]
    fn a_listed_origin_passes_and_others_do_not() {
        let listed = vec!["https://app.example.org".to_owned()];
        assert!(allowed("https://APP.example.org/", None, PUBLIC, &listed));
        assert!(!allowed(
            "https://evil.example",
            Some("clinic.example.org"),
            PUBLIC,
            &listed
        ));
        assert!(!allowed(
            "null",
            Some("clinic.example.org"),
            PUBLIC,
            &listed
        ));
        assert!(!allowed(
            "https://clinic.example.org.evil.example",
            None,
            PUBLIC,
            &listed
        ));
    }
}
