//! Extractors: our JSON body (rejecting in problem+json, naming the field),
//! the caller's address, and the principal of a bearer token with the
//! roles a route admits.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use ipnet::IpNet;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::access::{self, Data};
use crate::audit::Actor;
use crate::auth::{self, Principal, Role, User};
use crate::model::ids::{PatientId, VisitId};
use crate::model::validation::FieldError;
use crate::state::AppState;

/// A JSON body. Syntax errors answer 400; a value of the wrong shape
/// answers 422 naming its path (`address.postal_code`).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || mime.to_ascii_lowercase().ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status().as_u16() {
                413 => ApiError::PayloadTooLarge(super::BODY_LIMIT),
                _ => ApiError::Malformed("the body could not be read".to_owned()),
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_data() {
            ApiError::Invalid(field_error(error.path().to_string(), inner))
        } else {
            ApiError::Malformed(format!(
                "the body is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ))
        }
    })?;
    deserializer.end().map_err(|_| {
        ApiError::Malformed("the body has trailing characters after the JSON value".to_owned())
    })?;
    Ok(value)
}

/// Builds the field error from serde's message without its position.
fn field_error(path: String, error: &serde_json::Error) -> FieldError {
    let message = error.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    // A missing field is reported at its parent; name the field itself.
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        let field = if path == "." {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        return FieldError::new(field, "is required");
    }
    if message.starts_with("unknown field `") {
        // serde_path_to_error already ends the path with the unknown field.
        return FieldError::new(path, "is not a known field");
    }
    FieldError::new(if path == "." { "body".to_owned() } else { path }, message)
}

/// The client's address, the one every throttle and audit event uses: the
/// connection's peer, or, when that peer is a trusted proxy
/// (`BEDSIDE_TRUSTED_PROXIES`), the address its `Forwarded` or
/// `X-Forwarded-For` header names. Anyone else's header is ignored: it
/// could say anything.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<super::listen::PeerAddr>>()
            .map(|ConnectInfo(peer)| peer.0.ip())
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        Ok(Self(client_ip(
            peer,
            &parts.headers,
            &state.config.trusted_proxies,
        )))
    }
}

/// Walks the forwarded chain back from `peer` while each hop is a trusted
/// proxy; the first hop that is not one is the client.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if !is_trusted(&client) {
        return client;
    }
    for hop in forwarded_chain(headers).into_iter().rev() {
        // An unreadable or hidden hop ("unknown", "_proxy"): stop at the last known one.
        let Some(hop) = hop else { break };
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

/// The addresses a request passed through, client first: RFC 7239
/// `Forwarded: for=…` when present, else `X-Forwarded-For`.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: header::HeaderName| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let forwarded = values(header::FORWARDED);
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .map(|element| {
                element
                    .split(';')
                    .find_map(|pair| {
                        let (name, value) = pair.trim().split_once('=')?;
                        name.trim().eq_ignore_ascii_case("for").then_some(value)
                    })
                    .and_then(|value| parse_node(value.trim().trim_matches('"')))
            })
            .collect();
    }
    values(header::HeaderName::from_static("x-forwarded-for"))
        .iter()
        .map(|v| parse_node(v))
        .collect()
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]`,
/// `[::1]:5678` or a bare IPv6 address.
fn parse_node(value: &str) -> Option<IpAddr> {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    value
        .parse()
        .ok()
        .or_else(|| value.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

/// The bearer token of a request, as sent.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// An authenticated caller: staff or a visit's patient. Invited guests are
/// refused (403) here; the few routes open to them take [`GuestOrCaller`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let GuestOrCaller(caller) = GuestOrCaller::from_request_parts(parts, state).await?;
        if matches!(caller.principal, Principal::Guest { .. }) {
            return Err(ApiError::Forbidden);
        }
        // A SMART app's token reaches the FHIR API only, never the rest.
        if matches!(caller.principal, Principal::App(_))
            && parts.extensions.get::<AppSurface>().is_none()
        {
            return Err(ApiError::Forbidden);
        }
        Ok(caller)
    }
}

/// Any authenticated caller, invited guests included.
#[derive(Debug, Clone)]
pub struct GuestOrCaller(pub Caller);

impl FromRequestParts<AppState> for GuestOrCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(Self(caller.clone()));
        }
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let principal = if crate::smart::caller::is_access_token(token) {
            crate::smart::caller::authenticate(&state.store, token, state.clock.now()).await?
        } else {
            auth::authenticate(
                &state.store,
                &state.clock,
                &state.tokens,
                &state.sessions,
                token,
            )
            .await?
        }
        .ok_or(ApiError::Unauthorized)?;
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let caller = Caller {
            actor: Actor::from_principal(&principal, Some(ip.to_string()), state.clock.now()),
            principal,
        };
        parts.extensions.insert(caller.clone());
        if let Some(slot) = parts.extensions.get::<super::refusals::CallerSlot>() {
            slot.fill(&caller);
        }
        Ok(Self(caller))
    }
}

/// Marks the routes a SMART app's access token may call (the FHIR API);
/// [`Caller`] refuses app tokens everywhere else.
#[derive(Debug, Clone, Copy)]
pub struct AppSurface;

impl Caller {
    /// The patient this caller is, with the one visit its token allows.
    pub fn patient(&self) -> Option<(&PatientId, &VisitId)> {
        match &self.principal {
            Principal::Patient {
                patient_id,
                visit_id,
                ..
            } => Some((patient_id, visit_id)),
            Principal::Staff(_) | Principal::Guest { .. } | Principal::App(_) => None,
        }
    }
}

/// The roles a route admits.
pub trait RoleSet: Send + Sync + 'static {
    const ROLES: &'static [Role];
}

macro_rules! role_set {
    ($($(#[$doc:meta])* $name:ident => [$($role:ident),+];)+) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl RoleSet for $name {
            const ROLES: &'static [Role] = &[$(Role::$role),+];
        }
    )+};
}

role_set! {
    /// Every staff role.
    AnyStaff => [Admin, Scheduler, Clinician, Billing];
    Admins => [Admin];
    Clinicians => [Clinician];
    /// Who manages queues and visits.
    Schedulers => [Scheduler, Admin];
    /// Who creates visits.
    VisitCreators => [Scheduler, Clinician, Admin];
    /// Who changes claims and posts money.
    Billers => [Billing];
}

/// Who reads a whole chart: the read policy's readers of clinical data.
#[derive(Debug)]
pub struct ChartReaders;
impl RoleSet for ChartReaders {
    const ROLES: &'static [Role] = access::readers(Data::Clinical);
}

/// Who sees claims and accounts: the read policy's readers of claims.
#[derive(Debug)]
pub struct BillingStaff;
impl RoleSet for BillingStaff {
    const ROLES: &'static [Role] = access::readers(Data::Claims);
}

/// A signed-in staff member whose role is in `R`: 401 without a valid
/// staff token, 403 for any other role or a patient.
#[derive(Debug)]
pub struct Staff<R: RoleSet = AnyStaff> {
    pub user: User,
    pub actor: Actor,
    roles: PhantomData<R>,
}

impl<R: RoleSet> FromRequestParts<AppState> for Staff<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.principal {
            Principal::Staff(user) if R::ROLES.contains(&user.role) => Ok(Self {
                user,
                actor: caller.actor,
                roles: PhantomData,
            }),
            _ => Err(ApiError::Forbidden),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u8,
    }

    fn field(json: &str) -> String {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::Invalid(e)) => e.field,
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_shape_names_its_path() {
        assert_eq!(
            field(r#"{"name": "a", "inner": {"count": "x"}}"#),
            "inner.count"
        );
        assert_eq!(field(r#"{"inner": {"count": 1}}"#), "name");
        assert_eq!(field(r#"{"name": "a", "inner": {}}"#), "inner.count");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = headers(&[("x-forwarded-for", "203.0.113.9, 10.0.0.7")]);
        assert_eq!(
            client_ip(proxy, &xff, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(stranger, &xff, &trusted), stranger);
        // A client cannot slip an address in front of the one the proxy saw.
        let spoofed = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(
            client_ip(proxy, &spoofed, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let forwarded = headers(&[("forwarded", r#"for="[2001:db8::1]:4711";proto=https"#)]);
        assert_eq!(
            client_ip(proxy, &forwarded, &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let hidden = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(client_ip(proxy, &hidden, &trusted), proxy);
    }

    #[test]
    fn broken_json_is_malformed() {
        assert!(matches!(
            parse_json::<Body>(b"{\"name\": "),
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"name": "a", "inner": {"count": 1}} x"#),
            Err(ApiError::Malformed(_))
        ));
    }
}
