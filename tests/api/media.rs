//! Media beyond the LAN: TURN REST credentials in `GET /visits/{id}/media`
//! checked by recomputing their HMAC and used by two webrtc-rs peers through
//! a real coturn relay; LiveKit join tokens checked with an independent JWT
//! decoder; LiveKit's RoomService calls checked against a local Twirp
//! (protobuf) double, the patient's screen-share permission among them;
//! and signed LiveKit webhooks, refused when the signature, body or expiry
//! is wrong, applied once per event id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as HttpStatus};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bedside::model::ids::EncounterId;
use hmac::{Hmac, Mac};
use livekit_api::access_token::{AccessToken, TokenVerifier};
use livekit_protocol as proto;
use prost::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::app::Visit;
use crate::clinic::{Booked, book_waiting_visit};
use crate::helpers::{TestApp, assert_problem, free_port, spawn_app_with, within};
use crate::peers::{Manner, Media, Peer, gather_relay_candidates, turn_servers};
use crate::socket::Socket;

const LK_KEY: &str = "bedside-test-key";
const LK_SECRET: &str = "bedside-test-secret-at-least-32-bytes";
const TURN_SECRET: &str = "turn-shared-secret-for-tests";
const TURN_REALM: &str = "bedside.test";

/// How the clinician closes a rash consult; `minutes` unless left out.
fn rash_close(minutes: Option<u32>) -> Value {
    let mut body = json!({
        "diagnoses": ["L30.9"],
        "note": {"subjective": "Itchy rash", "objective": "Erythema", "assessment": "Dermatitis", "plan": "Emollients"}
    });
    if let Some(minutes) = minutes {
        body["total_minutes"] = json!(minutes);
    }
    body
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---------------------------------------------------------------------------
// TURN

pub fn turn_source(urls: &str) -> impl FnOnce(bedside::config::Source) -> bedside::config::Source {
    let urls = urls.to_owned();
    move |source| {
        source
            .set("BEDSIDE_TURN_URLS", urls)
            .set("BEDSIDE_TURN_SECRET", TURN_SECRET)
            .set("BEDSIDE_TURN_TTL_SECONDS", "600")
    }
}

/// base64(HMAC-SHA1(secret, username)), computed here from the scheme.
fn turn_password(secret: &str, username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The one TURN entry of a media plan, checked against the scheme.
fn checked_turn_entry(plan: &Value, urls: &[&str], user: &str) -> (String, String) {
    let turn: Vec<&Value> = plan["ice_servers"]
        .as_array()
        .expect("ice_servers")
        .iter()
        .filter(|s| s["username"].is_string())
        .collect();
    assert_eq!(turn.len(), 1, "one TURN entry in {plan}");
    assert_eq!(turn[0]["urls"], json!(urls));
    let username = turn[0]["username"].as_str().expect("username").to_owned();
    let credential = turn[0]["credential"]
        .as_str()
        .expect("credential")
        .to_owned();
    let (expiry, user_id) = username.split_once(':').expect("<expiry>:<userid>");
    assert_eq!(user_id, user);
    let expiry: i64 = expiry.parse().expect("the expiry is Unix seconds");
    let now = unix_now();
    assert!(
        (now + 590..=now + 610).contains(&expiry),
        "expires one TTL (600 s) from now: {expiry} vs {now}"
    );
    assert_eq!(credential, turn_password(TURN_SECRET, &username));
    (username, credential)
}

#[tokio::test]
async fn each_participant_gets_turn_credentials_that_verify_against_the_shared_secret() {
    let urls = "turn:turn.example.org:3478?transport=udp,turn:turn.example.org:3478?transport=tcp";
    let app = spawn_app_with(turn_source(urls)).await;
    let booked = book_waiting_visit(&app, "dr.turn").await;
    booked.admit(&app).await;
    let url_list = [
        "turn:turn.example.org:3478?transport=udp",
        "turn:turn.example.org:3478?transport=tcp",
    ];

    let patient = app
        .media_plan(&booked.visit, &booked.visit.patient_token)
        .await;
    assert_eq!(patient["mode"], "p2p");
    assert!(
        patient.get("livekit").is_none(),
        "no LiveKit without config"
    );
    let patient_user = format!("patient-{}", booked.visit.id);
    checked_turn_entry(&patient, &url_list, &patient_user);

    let clinician = app.media_plan(&booked.visit, &booked.clinician).await;
    let clinician_id = app.user_id(&booked.clinician, "dr.turn").await;
    checked_turn_entry(&clinician, &url_list, &format!("clinician-{clinician_id}"));
    app.stop().await;
}

/// A coturn `turnserver` on 127.0.0.1 with TURN REST auth, stopped on drop.
pub struct Coturn {
    child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Coturn {
    /// Starts coturn and waits until it answers STUN. Fails, never skips,
    /// when `turnserver` is not installed (`.ci/run` installs it).
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let port = free_port();
        let pid = dir.path().join("turnserver.pid");
        let log = dir.path().join("turnserver.log");
        let child = tokio::process::Command::new("turnserver")
            .args([
                "-n".to_owned(),
                "--listening-ip=127.0.0.1".to_owned(),
                "--relay-ip=127.0.0.1".to_owned(),
                format!("--listening-port={port}"),
                "--use-auth-secret".to_owned(),
                format!("--static-auth-secret={TURN_SECRET}"),
                format!("--realm={TURN_REALM}"),
                "--no-tls".to_owned(),
                "--no-dtls".to_owned(),
                "--allow-loopback-peers".to_owned(),
                "--no-cli".to_owned(),
                format!("--pidfile={}", pid.display()),
                format!("--log-file={}", log.display()),
                "--simple-log".to_owned(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("coturn's `turnserver` must be installed (apt-get install -y coturn): {e}")
            });
        let coturn = Self {
            child,
            port,
            _dir: dir,
        };
        within("coturn to answer STUN", coturn.answers_stun()).await;
        coturn
    }

    pub fn url(&self) -> String {
        format!("turn:127.0.0.1:{}?transport=udp", self.port)
    }

    /// Sends STUN Binding requests until one is answered.
    async fn answers_stun(&self) {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("a UDP socket");
        let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        request.extend_from_slice(&rand::random::<[u8; 12]>());
        let mut buffer = [0_u8; 1500];
        loop {
            socket
                .send_to(&request, ("127.0.0.1", self.port))
                .await
                .expect("send a STUN request");
            let answer =
                tokio::time::timeout(Duration::from_millis(100), socket.recv(&mut buffer)).await;
            if let Ok(Ok(n)) = answer
                && n >= 20
                && buffer[..2] == [0x01, 0x01]
            {
                return;
            }
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_connect_only_through_coturn_with_credentials_from_bedside() {
    let coturn = Coturn::start().await;
    let app = spawn_app_with(turn_source(&coturn.url())).await;
    let booked = book_waiting_visit(&app, "dr.relay").await;
    booked.admit(&app).await;

    let clinician_plan = app.media_plan(&booked.visit, &booked.clinician).await;
    let patient_plan = app
        .media_plan(&booked.visit, &booked.visit.patient_token)
        .await;
    let clinician_turn = turn_servers(&clinician_plan["ice_servers"]);
    let patient_turn = turn_servers(&patient_plan["ice_servers"]);
    assert_eq!(clinician_turn.len(), 1);
    assert_eq!(patient_turn.len(), 1);

    let mut clinician_socket = Socket::hello(&app, &booked.clinician).await;
    clinician_socket.join(&booked.visit.id).await;
    clinician_socket.joined().await;
    let mut clinician = Peer::start_relayed(
        clinician_socket,
        Manner::Impolite,
        Media {
            data_channel: true,
            video: false,
        },
        &[],
        clinician_turn,
    )
    .await;
    let mut patient_socket = Socket::hello(&app, &booked.visit.patient_token).await;
    patient_socket.join(&booked.visit.id).await;
    patient_socket.joined().await;
    let mut patient = Peer::start_relayed(
        patient_socket,
        Manner::Polite,
        Media::default(),
        &[],
        patient_turn,
    )
    .await;

    // Transport policy `relay`: no host candidate exists, so connecting
    // means both sides' traffic went through coturn.
    clinician.connected().await;
    patient.connected().await;
    let mut clinician_chat = clinician.open_channel().await;
    let mut patient_chat = patient.open_channel().await;
    clinician_chat
        .send("Can you hear me through the relay?")
        .await;
    assert_eq!(
        patient_chat.receive().await,
        "Can you hear me through the relay?"
    );
    patient_chat.send("Loud and clear.").await;
    assert_eq!(clinician_chat.receive().await, "Loud and clear.");
    drop((clinician_chat, patient_chat));
    clinician.close().await;
    patient.close().await;
    app.stop().await;
    coturn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_grants_a_relay_for_a_fresh_credential_and_refuses_an_expired_one() {
    let coturn = Coturn::start().await;
    let app = spawn_app_with(turn_source(&coturn.url())).await;
    let booked = book_waiting_visit(&app, "dr.expiry").await;
    let plan = app
        .media_plan(&booked.visit, &booked.visit.patient_token)
        .await;

    let fresh = gather_relay_candidates(turn_servers(&plan["ice_servers"])).await;
    assert!(
        fresh.iter().any(|c| c.candidate.contains("typ relay")),
        "a fresh credential gets a relay allocation: {fresh:?}"
    );

    // The same scheme and secret, but an expiry a minute ago.
    let secret = secrecy::SecretString::from(TURN_SECRET.to_owned());
    let user = format!("patient-{}", booked.visit.id);
    let expired = bedside::media::turn::credential(&secret, &user, unix_now() - 60);
    let refused = gather_relay_candidates(vec![webrtc::peer_connection::RTCIceServer {
        urls: vec![coturn.url()],
        username: expired.username.clone(),
        credential: expired.password.clone(),
    }])
    .await;
    assert!(
        refused.is_empty(),
        "an expired credential gets no relay, so a relay-only peer can never connect: {refused:?}"
    );
    app.stop().await;
    coturn.stop().await;
}

// ---------------------------------------------------------------------------
// LiveKit RoomService double

/// One RoomService call the double received.
#[derive(Debug, Clone, PartialEq)]
enum RoomCall {
    Create(Box<proto::CreateRoomRequest>),
    List(String),
    Remove(proto::RoomParticipantIdentity),
    Update(Box<proto::UpdateParticipantRequest>),
    Delete(String),
}

#[derive(Default)]
struct DoubleState {
    calls: Vec<RoomCall>,
    /// Rooms and who is in them.
    rooms: HashMap<String, Vec<String>>,
}

/// LiveKit's Twirp RoomService on 127.0.0.1, protobuf in and out; it checks
/// each call's Bearer token and records what it received.
#[derive(Clone)]
pub struct LiveKitDouble {
    addr: SocketAddr,
    state: Arc<Mutex<DoubleState>>,
    changed: watch::Sender<usize>,
}

impl LiveKitDouble {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let double = Self {
            addr: listener.local_addr().expect("address"),
            state: Arc::default(),
            changed: watch::channel(0).0,
        };
        let app = axum::Router::new()
            .route(
                "/twirp/livekit.RoomService/{method}",
                axum::routing::post(twirp),
            )
            .with_state(double.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        double
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn calls(&self) -> Vec<RoomCall> {
        self.state.lock().expect("double state").calls.clone()
    }

    /// Puts participants in a room, as if they had joined it.
    fn seat(&self, room: &str, identities: &[&str]) {
        let mut state = self.state.lock().expect("double state");
        let seated = state.rooms.get_mut(room).expect("the room exists");
        seated.extend(identities.iter().map(|s| (*s).to_owned()));
    }

    /// Waits until the recorded calls satisfy `done`.
    async fn wait_for(&self, what: &str, done: impl Fn(&[RoomCall]) -> bool) -> Vec<RoomCall> {
        let mut changed = self.changed.subscribe();
        within(what, async {
            loop {
                let calls = self.calls();
                if done(&calls) {
                    return calls;
                }
                changed.changed().await.expect("the double lives");
            }
        })
        .await
    }
}

fn twirp_error(status: HttpStatus, code: &str) -> Response {
    (status, axum::Json(json!({"code": code, "msg": code}))).into_response()
}

async fn twirp(
    State(double): State<LiveKitDouble>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(Ok(claims)) =
        bearer.map(|token| TokenVerifier::with_api_key(LK_KEY, LK_SECRET).verify(token))
    else {
        return twirp_error(HttpStatus::UNAUTHORIZED, "unauthenticated");
    };
    let mut state = double.state.lock().expect("double state");
    let answer = match method.as_str() {
        "CreateRoom" => {
            let request = proto::CreateRoomRequest::decode(body).expect("CreateRoomRequest");
            assert!(claims.video.room_create, "CreateRoom needs roomCreate");
            state.rooms.entry(request.name.clone()).or_default();
            let room = proto::Room {
                name: request.name.clone(),
                sid: "RM_double".to_owned(),
                empty_timeout: request.empty_timeout,
                max_participants: request.max_participants,
                ..Default::default()
            };
            state.calls.push(RoomCall::Create(Box::new(request)));
            room.encode_to_vec().into_response()
        }
        "ListParticipants" => {
            let request =
                proto::ListParticipantsRequest::decode(body).expect("ListParticipantsRequest");
            assert!(claims.video.room_admin && claims.video.room == request.room);
            state.calls.push(RoomCall::List(request.room.clone()));
            match state.rooms.get(&request.room) {
                Some(seated) => proto::ListParticipantsResponse {
                    participants: seated
                        .iter()
                        .map(|identity| proto::ParticipantInfo {
                            identity: identity.clone(),
                            sid: format!("PA_{identity}"),
                            ..Default::default()
                        })
                        .collect(),
                }
                .encode_to_vec()
                .into_response(),
                None => twirp_error(HttpStatus::NOT_FOUND, "not_found"),
            }
        }
        "RemoveParticipant" => {
            let request =
                proto::RoomParticipantIdentity::decode(body).expect("RoomParticipantIdentity");
            assert!(claims.video.room_admin && claims.video.room == request.room);
            if let Some(seated) = state.rooms.get_mut(&request.room) {
                seated.retain(|identity| *identity != request.identity);
            }
            state.calls.push(RoomCall::Remove(request));
            Vec::<u8>::new().into_response()
        }
        "UpdateParticipant" => {
            let request =
                proto::UpdateParticipantRequest::decode(body).expect("UpdateParticipantRequest");
            // LiveKit asks for roomAdmin over the participant's room.
            assert!(claims.video.room_admin && claims.video.room == request.room);
            let seated = state
                .rooms
                .get(&request.room)
                .is_some_and(|seated| seated.contains(&request.identity));
            let answer = if seated {
                proto::ParticipantInfo {
                    identity: request.identity.clone(),
                    sid: format!("PA_{}", request.identity),
                    permission: request.permission.clone(),
                    ..Default::default()
                }
                .encode_to_vec()
                .into_response()
            } else {
                twirp_error(HttpStatus::NOT_FOUND, "not_found")
            };
            state.calls.push(RoomCall::Update(Box::new(request)));
            answer
        }
        "DeleteRoom" => {
            let request = proto::DeleteRoomRequest::decode(body).expect("DeleteRoomRequest");
            state.rooms.remove(&request.room);
            state.calls.push(RoomCall::Delete(request.room));
            Vec::<u8>::new().into_response()
        }
        _ => twirp_error(HttpStatus::NOT_FOUND, "bad_route"),
    };
    let count = state.calls.len();
    drop(state);
    double.changed.send_replace(count);
    answer
}

pub async fn spawn_livekit_app(double: &LiveKitDouble) -> TestApp {
    let url = double.url();
    spawn_app_with(move |source| {
        source
            .set("LIVEKIT_URL", url)
            .set("LIVEKIT_API_KEY", LK_KEY)
            .set("LIVEKIT_API_SECRET", LK_SECRET)
    })
    .await
}

// ---------------------------------------------------------------------------
// LiveKit tokens and rooms

/// Decodes a join token with jsonwebtoken (not LiveKit's verifier): HS256,
/// the API secret, `iss` = the API key, `exp` required.
pub fn decode_join_token(token: &str) -> Value {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[LK_KEY]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "nbf"]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(LK_SECRET.as_bytes()),
        &validation,
    )
    .expect("the join token verifies with the API secret")
    .claims
}

fn assert_join_grants(claims: &Value, room: &str, identity: &str, sources: &[&str]) {
    assert_eq!(claims["iss"], LK_KEY);
    assert_eq!(claims["sub"], identity);
    let video = &claims["video"];
    assert_eq!(video["roomJoin"], true);
    assert_eq!(video["room"], room);
    assert_eq!(video["canPublishSources"], json!(sources));
    assert_eq!(video["canSubscribe"], true);
    assert_eq!(video["canPublishData"], false);
    for admin in [
        "roomCreate",
        "roomList",
        "roomAdmin",
        "roomRecord",
        "ingressAdmin",
        "hidden",
        "recorder",
        "agent",
        "destinationRoom",
    ] {
        assert!(
            video.get(admin).is_none(),
            "{admin} is not granted: {video}"
        );
    }
    let now = unix_now();
    let exp = claims["exp"].as_i64().expect("exp");
    assert!(
        exp > now && exp <= now + 600 + 2,
        "short-lived: exp {exp}, now {now}"
    );
    assert!(claims["nbf"].as_i64().expect("nbf") <= now + 1);
}

#[tokio::test]
async fn livekit_tokens_open_only_the_visits_room_with_the_sources_each_role_needs() {
    let double = LiveKitDouble::start().await;
    let app = spawn_livekit_app(&double).await;
    let booked = book_waiting_visit(&app, "dr.livekit").await;
    let other = book_waiting_visit(&app, "dr.other").await;
    booked.admit(&app).await;
    let room = format!("visit-{}", booked.visit.id);

    let patient = app
        .media_plan(&booked.visit, &booked.visit.patient_token)
        .await;
    assert_eq!(patient["mode"], "livekit");
    assert_eq!(
        patient["livekit"]["url"],
        format!("ws://{}", double.addr),
        "browsers get the websocket URL"
    );
    let claims = decode_join_token(patient["livekit"]["token"].as_str().expect("token"));
    assert_join_grants(
        &claims,
        &room,
        &format!("patient-{}", booked.visit.id),
        &["camera", "microphone"],
    );

    let clinician = app.media_plan(&booked.visit, &booked.clinician).await;
    let claims = decode_join_token(clinician["livekit"]["token"].as_str().expect("token"));
    let identity = claims["sub"].as_str().expect("sub").to_owned();
    assert!(identity.starts_with("clinician-"), "{identity}");
    assert_join_grants(
        &claims,
        &room,
        &identity,
        &["camera", "microphone", "screen_share"],
    );
    assert_eq!(claims["name"], "dr.livekit");

    // Another visit's patient gets that visit's room, never this one.
    let elsewhere = app
        .media_plan(&other.visit, &other.visit.patient_token)
        .await;
    let claims = decode_join_token(elsewhere["livekit"]["token"].as_str().expect("token"));
    assert_eq!(claims["video"]["room"], format!("visit-{}", other.visit.id));
    let response = app
        .get(
            &format!("/api/v1/visits/{}/media", booked.visit.id),
            Some(&other.visit.patient_token),
        )
        .await;
    assert_problem(response, StatusCode::FORBIDDEN).await;

    // The room was created on the first request, with Bedside's limits.
    let calls = double.calls();
    let RoomCall::Create(first) = &calls[0] else {
        panic!("the first call creates the room: {calls:?}");
    };
    assert_eq!(first.name, room);
    assert_eq!(first.empty_timeout, 300);
    assert_eq!(
        first.max_participants, 8,
        "beyond the four a peer-to-peer mesh carries"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_livekit_that_cannot_be_reached_answers_503_with_retry_after_in_plain_words() {
    // Nothing listens on this port: every RoomService call is refused.
    let url = format!("http://127.0.0.1:{}", free_port());
    let app = spawn_app_with(move |source| {
        source
            .set("LIVEKIT_URL", url)
            .set("LIVEKIT_API_KEY", LK_KEY)
            .set("LIVEKIT_API_SECRET", LK_SECRET)
    })
    .await;
    let booked = book_waiting_visit(&app, "dr.unreachable").await;
    booked.admit(&app).await;

    for token in [&booked.visit.patient_token, &booked.clinician] {
        let response = app
            .get(
                &format!("/api/v1/visits/{}/media", booked.visit.id),
                Some(token),
            )
            .await;
        assert!(
            response.headers().contains_key("retry-after"),
            "a 503 says when to retry"
        );
        let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("group video cannot be reached")),
            "{problem}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn closing_a_visit_removes_its_participants_revoking_their_tokens_and_deletes_the_room() {
    let double = LiveKitDouble::start().await;
    let app = spawn_livekit_app(&double).await;
    let booked = book_waiting_visit(&app, "dr.close").await;
    booked.admit(&app).await;
    let room = format!("visit-{}", booked.visit.id);
    let patient = format!("patient-{}", booked.visit.id);
    let plan = app.media_plan(&booked.visit, &booked.clinician).await;
    let clinician = decode_join_token(plan["livekit"]["token"].as_str().expect("token"))["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    double
        .wait_for("the room to be created", |calls| {
            calls
                .iter()
                .any(|c| matches!(c, RoomCall::Create(r) if r.name == room))
        })
        .await;
    double.seat(&room, &[&patient, &clinician]);

    let before = chrono::Utc::now().timestamp_millis();
    let response = app
        .close(&booked.visit, &booked.clinician, &rash_close(Some(15)))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "close the visit");
    let calls = double
        .wait_for("the room to be deleted", |calls| {
            calls.contains(&RoomCall::Delete(room.clone()))
        })
        .await;
    let after = chrono::Utc::now().timestamp_millis();

    let removed: Vec<&proto::RoomParticipantIdentity> = calls
        .iter()
        .filter_map(|c| match c {
            RoomCall::Remove(r) => Some(r),
            _ => None,
        })
        .collect();
    let mut identities: Vec<&str> = removed.iter().map(|r| r.identity.as_str()).collect();
    identities.sort_unstable();
    let mut expected = vec![patient.as_str(), clinician.as_str()];
    expected.sort_unstable();
    assert_eq!(identities, expected, "everyone in the room is removed");
    for removal in &removed {
        assert_eq!(removal.room, room);
        assert!(
            (before..=after).contains(&removal.revoke_token_ts),
            "tokens issued before the close are revoked: {} not in {before}..={after}",
            removal.revoke_token_ts
        );
    }
    let delete_at = calls
        .iter()
        .position(|c| *c == RoomCall::Delete(room.clone()))
        .expect("deleted");
    let last_remove = calls
        .iter()
        .rposition(|c| matches!(c, RoomCall::Remove(_)))
        .expect("removed");
    assert!(last_remove < delete_at, "removed, then deleted: {calls:?}");

    // A closed visit has no call to join any more.
    let response = app
        .get(
            &format!("/api/v1/visits/{}/media", booked.visit.id),
            Some(&booked.visit.patient_token),
        )
        .await;
    assert_problem(response, StatusCode::FORBIDDEN).await;
    app.stop().await;
}

// ---------------------------------------------------------------------------
// The patient's screen in a LiveKit room

/// `PUT /visits/{id}/screen-share`, raw.
async fn put_screen_share(
    app: &TestApp,
    visit: &Visit,
    token: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/visits/{}/screen-share", visit.id)))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("PUT")
}

/// The permission updates the double received.
fn permission_updates(double: &LiveKitDouble) -> Vec<proto::UpdateParticipantRequest> {
    double
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            RoomCall::Update(request) => Some(*request),
            _ => None,
        })
        .collect()
}

/// How many `media.grant` and `media.revoke` events the trail holds for
/// the visit's encounter, made by a clinician.
async fn clinicians_media_audit(app: &TestApp, booked: &Booked) -> (usize, usize) {
    let admin = app.admin_token().await;
    let events = app.audit_trail(&admin, &booked.visit.patient_id).await;
    let count = |action: &str| {
        events
            .iter()
            .filter(|e| {
                e["action"] == action
                    && e["actor_role"] == "clinician"
                    && e["outcome"] == "success"
                    && e["resource_id"] == booked.visit.encounter_id.as_str()
            })
            .count()
    };
    (count("media.grant"), count("media.revoke"))
}

/// An admitted visit whose room holds its patient and its clinician.
async fn call_in_room(double: &LiveKitDouble, app: &TestApp, clinician: &str) -> Booked {
    let booked = book_waiting_visit(app, clinician).await;
    booked.admit(app).await;
    let (room, clinician, patient) = call_identities(app, &booked).await;
    double.seat(&room, &[&patient, &clinician]);
    booked
}

#[tokio::test]
async fn the_clinician_lets_the_patient_share_its_screen_in_the_room_and_takes_it_back() {
    let double = LiveKitDouble::start().await;
    let app = spawn_livekit_app(&double).await;
    let booked = call_in_room(&double, &app, "dr.share").await;
    let room = format!("visit-{}", booked.visit.id);
    let patient = format!("patient-{}", booked.visit.id);
    use proto::TrackSource::{Camera, Microphone, ScreenShare};
    let before = clinicians_media_audit(&app, &booked).await;

    let response = put_screen_share(
        &app,
        &booked.visit,
        &booked.clinician,
        &json!({"allowed": true}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = put_screen_share(
        &app,
        &booked.visit,
        &booked.clinician,
        &json!({"allowed": false}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let updates = permission_updates(&double);
    assert_eq!(updates.len(), 2, "{updates:?}");
    for (update, sources) in updates.iter().zip([
        vec![Camera as i32, Microphone as i32, ScreenShare as i32],
        vec![Camera as i32, Microphone as i32],
    ]) {
        assert_eq!(update.room, room);
        assert_eq!(update.identity, patient, "the patient's permission only");
        let permission = update.permission.as_ref().expect("a permission");
        assert_eq!(permission.can_publish_sources, sources);
        // LiveKit replaces the whole permission: the rest stays as the join
        // token made it.
        assert!(permission.can_publish && permission.can_subscribe);
        assert!(!permission.can_publish_data && !permission.can_update_metadata);
        assert!(!permission.hidden);
        assert!(
            update.metadata.is_empty() && update.name.is_empty() && update.attributes.is_empty()
        );
    }

    let after = clinicians_media_audit(&app, &booked).await;
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1, 1),
        "one grant and one revoke audited"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_the_visits_clinician_changes_the_patients_screen_share_and_refusals_are_audited() {
    let double = LiveKitDouble::start().await;
    let app = spawn_livekit_app(&double).await;
    let booked = call_in_room(&double, &app, "dr.mine").await;
    let other = app.staff_token("dr.notmine", "clinician").await;
    let admin = app.admin_token().await;

    for token in [&booked.visit.patient_token, &other, &admin] {
        let response =
            put_screen_share(&app, &booked.visit, token, &json!({"allowed": true})).await;
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }
    assert!(
        permission_updates(&double).is_empty(),
        "LiveKit was never asked"
    );

    let events = app.audit_trail(&admin, &booked.visit.patient_id).await;
    let mut refused: Vec<&str> = events
        .iter()
        .filter(|e| e["action"] == "access.denied" && e["resource_id"] == booked.visit.id.as_str())
        .map(|e| e["actor_role"].as_str().unwrap())
        .collect();
    refused.sort_unstable();
    assert_eq!(refused, ["admin", "clinician", "patient"], "{events:#?}");
    assert!(
        events.iter().all(|e| e["action"] != "media.revoke"),
        "nothing was changed: {events:#?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_patients_screen_share_is_a_clear_409_without_livekit_the_patient_in_the_room_or_a_consult()
 {
    let double = LiveKitDouble::start().await;
    let app = spawn_livekit_app(&double).await;
    let allow = json!({"allowed": true});

    let booked = book_waiting_visit(&app, "dr.early").await;
    // In consult, but the patient has not joined the room.
    booked.admit(&app).await;
    let response = put_screen_share(&app, &booked.visit, &booked.clinician, &allow).await;
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(
        problem["detail"],
        "the patient is not in the call's room yet"
    );
    // Taking it back needs no patient: one who is not there shares nothing.
    let response = put_screen_share(
        &app,
        &booked.visit,
        &booked.clinician,
        &json!({"allowed": false}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // Not a yes or no.
    let response = put_screen_share(
        &app,
        &booked.visit,
        &booked.clinician,
        &json!({"allowed": "yes"}),
    )
    .await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;

    // A closed visit has no call any more.
    let response = app
        .close(&booked.visit, &booked.clinician, &rash_close(Some(10)))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "close the visit");
    let response = put_screen_share(&app, &booked.visit, &booked.clinician, &allow).await;
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("closed"),
        "{problem}"
    );
    app.stop().await;

    // Without LiveKit the call is peer-to-peer: the socket frame is the permission.
    let app = spawn_app_with(|source| source).await;
    let booked = book_waiting_visit(&app, "dr.p2p").await;
    booked.admit(&app).await;
    let response = put_screen_share(&app, &booked.visit, &booked.clinician, &allow).await;
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("peer-to-peer"),
        "{problem}"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------
// LiveKit webhooks

fn webhook_event(
    id: &str,
    event: &str,
    room: &str,
    identity: Option<&str>,
    created_at: i64,
) -> String {
    let event = proto::WebhookEvent {
        event: event.to_owned(),
        room: Some(proto::Room {
            name: room.to_owned(),
            sid: "RM_double".to_owned(),
            ..Default::default()
        }),
        participant: identity.map(|identity| proto::ParticipantInfo {
            identity: identity.to_owned(),
            sid: format!("PA_{identity}"),
            state: 2,
            ..Default::default()
        }),
        id: id.to_owned(),
        created_at,
        ..Default::default()
    };
    serde_json::to_string(&event).expect("the event serializes")
}

fn body_sha256(body: &str) -> String {
    STANDARD.encode(Sha256::digest(body.as_bytes()))
}

/// What LiveKit puts in `Authorization`: a JWT over the body's sha256, raw.
fn livekit_signature(body: &str, secret: &str) -> String {
    AccessToken::with_api_key(LK_KEY, secret)
        .with_sha256(&body_sha256(body))
        .with_ttl(Duration::from_secs(300))
        .to_jwt()
        .expect("a webhook token")
}

async fn post_webhook(app: &TestApp, body: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/webhooks/livekit"))
        .header("content-type", "application/webhook+json")
        .body(body.to_owned());
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request.send().await.expect("POST the webhook")
}

/// The visit's room and the LiveKit identities of its clinician (as its
/// join token names it) and its patient.
async fn call_identities(app: &TestApp, booked: &Booked) -> (String, String, String) {
    let plan = app.media_plan(&booked.visit, &booked.clinician).await;
    let clinician = decode_join_token(plan["livekit"]["token"].as_str().expect("token"))["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    (
        format!("visit-{}", booked.visit.id),
        clinician,
        format!("patient-{}", booked.visit.id),
    )
}

/// Posts `body` signed the way LiveKit signs it; it must be taken.
async fn deliver_signed(app: &TestApp, body: &str) {
    let signature = livekit_signature(body, LK_SECRET);
    let response = post_webhook(app, body, Some(&signature)).await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
}

async fn presence(app: &TestApp, encounter: &str) -> Vec<bedside::store::CallPresence> {
    let mut tx = app.store.begin_read().await.expect("a transaction");
    let rows =
        bedside::store::call_presence(&mut tx, &EncounterId::from_trusted(encounter.to_owned()))
            .await
            .expect("call presence");
    bedside::store::commit(tx).await.expect("commit");
    rows
}

async fn events_seen(app: &TestApp) -> i64 {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM livekit_events")
        .fetch_one(app.store.pool())
        .await
        .expect("count events");
    count
}

#[tokio::test]
async fn webhooks_with_a_bad_signature_body_or_expiry_get_401_and_change_nothing() {
    let double = LiveKitDouble::start().await;
    let app = spawn_livekit_app(&double).await;
    let booked = book_waiting_visit(&app, "dr.hooks").await;
    let room = format!("visit-{}", booked.visit.id);
    let patient = format!("patient-{}", booked.visit.id);
    let body = webhook_event(
        "EV_join",
        "participant_joined",
        &room,
        Some(&patient),
        unix_now(),
    );

    // Tampered: signed over one body, another one sent.
    let signature = livekit_signature(&body, LK_SECRET);
    let tampered = body.replace("participant_joined", "participant_left");
    let response = post_webhook(&app, &tampered, Some(&signature)).await;
    let problem = assert_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem["status"], 401);
    // One byte more than was signed.
    let response = post_webhook(&app, &format!("{body}\n"), Some(&signature)).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;

    // Signed with another secret.
    let forged = livekit_signature(&body, "not-the-livekit-secret-at-all-32b");
    let response = post_webhook(&app, &body, Some(&forged)).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;

    // Expired two minutes ago (beyond any clock leeway), signed independently.
    let now = unix_now();
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": LK_KEY, "nbf": now - 600, "exp": now - 120, "sha256": body_sha256(&body)}),
        &jsonwebtoken::EncodingKey::from_secret(LK_SECRET.as_bytes()),
    )
    .expect("an expired token");
    let response = post_webhook(&app, &body, Some(&expired)).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;

    // No signature at all, and a token that is not a JWT.
    let response = post_webhook(&app, &body, None).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
    let response = post_webhook(&app, &body, Some("not-a-jwt")).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;

    assert!(presence(&app, &booked.visit.encounter_id).await.is_empty());
    assert_eq!(events_seen(&app).await, 0, "no refused event was noted");

    // The same body, properly signed, goes through.
    let response = post_webhook(&app, &body, Some(&signature)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(presence(&app, &booked.visit.encounter_id).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_redelivered_webhook_is_recorded_once() {
    let double = LiveKitDouble::start().await;
    let app = spawn_livekit_app(&double).await;
    let booked = book_waiting_visit(&app, "dr.dedupe").await;
    let room = format!("visit-{}", booked.visit.id);
    let patient = format!("patient-{}", booked.visit.id);
    let joined_at = unix_now() - 30;
    let body = webhook_event(
        "EV_once",
        "participant_joined",
        &room,
        Some(&patient),
        joined_at,
    );

    for _ in 0..2 {
        let signature = livekit_signature(&body, LK_SECRET);
        let response = post_webhook(&app, &body, Some(&signature)).await;
        assert_eq!(response.status(), StatusCode::OK, "a retry is acknowledged");
    }
    // Another event under an id already seen is not applied either.
    let reused = webhook_event(
        "EV_once",
        "participant_left",
        &room,
        Some(&patient),
        joined_at + 10,
    );
    let signature = livekit_signature(&reused, LK_SECRET);
    let response = post_webhook(&app, &reused, Some(&signature)).await;
    assert_eq!(response.status(), StatusCode::OK);

    let rows = presence(&app, &booked.visit.encounter_id).await;
    assert_eq!(rows.len(), 1, "one connection recorded: {rows:?}");
    assert_eq!(rows[0].joined_at, Some(joined_at * 1000));
    assert_eq!(rows[0].left_at, None, "the reused id changed nothing");
    assert_eq!(events_seen(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn join_and_leave_times_are_stored_against_the_encounter_and_give_the_call_length() {
    let double = LiveKitDouble::start().await;
    let app = spawn_livekit_app(&double).await;
    let booked = book_waiting_visit(&app, "dr.length").await;
    booked.admit(&app).await;
    let (room, clinician, patient) = call_identities(&app, &booked).await;
    let t0 = unix_now() - 600;
    let events = [
        ("EV_1", "room_started", None, t0 - 5),
        ("EV_2", "participant_joined", Some(clinician.as_str()), t0),
        (
            "EV_3",
            "participant_joined",
            Some(patient.as_str()),
            t0 + 10,
        ),
        ("EV_4", "participant_left", Some(patient.as_str()), t0 + 130),
        (
            "EV_5",
            "participant_left",
            Some(clinician.as_str()),
            t0 + 140,
        ),
    ];
    for (id, kind, identity, at) in events {
        deliver_signed(&app, &webhook_event(id, kind, &room, identity, at)).await;
    }

    let rows = presence(&app, &booked.visit.encounter_id).await;
    let find = |identity: &str| {
        rows.iter()
            .find(|r| r.identity == identity)
            .unwrap_or_else(|| panic!("{identity} recorded in {rows:?}"))
    };
    let p = find(&patient);
    assert_eq!(p.side, bedside::store::CallSide::Patient);
    assert_eq!(
        (p.joined_at, p.left_at),
        (Some((t0 + 10) * 1000), Some((t0 + 130) * 1000))
    );
    assert_eq!(p.participant_sid, format!("PA_{patient}"));
    let c = find(&clinician);
    assert_eq!(c.side, bedside::store::CallSide::Staff);
    assert_eq!(
        (c.joined_at, c.left_at),
        (Some(t0 * 1000), Some((t0 + 140) * 1000))
    );

    let mut tx = app.store.begin_read().await.expect("a transaction");
    let seconds = bedside::store::measured_call_seconds(
        &mut tx,
        &EncounterId::from_trusted(booked.visit.encounter_id.clone()),
    )
    .await
    .expect("call seconds");
    bedside::store::commit(tx).await.expect("commit");
    assert_eq!(seconds, Some(120), "both were connected for two minutes");

    // Events for rooms that are not Bedside's are acknowledged and ignored.
    let body = webhook_event("EV_x", "participant_joined", "standup", Some("bob"), t0);
    let signature = livekit_signature(&body, LK_SECRET);
    let response = post_webhook(&app, &body, Some(&signature)).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_measured_livekit_call_is_the_consults_length_when_the_clinician_states_none() {
    let double = LiveKitDouble::start().await;
    let app = spawn_livekit_app(&double).await;
    let booked = book_waiting_visit(&app, "dr.measured").await;
    booked.admit(&app).await;
    let (room, clinician, patient) = call_identities(&app, &booked).await;
    // Both were in the room together for 12 min 10 s, long before the
    // close; the clinician is still connected when closing.
    let t0 = unix_now() - 3600;
    for (id, kind, identity, at) in [
        ("EV_m1", "participant_joined", clinician.as_str(), t0),
        ("EV_m2", "participant_joined", patient.as_str(), t0 + 20),
        ("EV_m3", "participant_left", patient.as_str(), t0 + 20 + 730),
    ] {
        deliver_signed(&app, &webhook_event(id, kind, &room, Some(identity), at)).await;
    }

    let response = app
        .close(&booked.visit, &booked.clinician, &rash_close(None))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "close the visit");
    let closed: Value = response.json().await.expect("visit JSON");
    assert_eq!(closed["total_minutes"], 13, "730 s rounds up to 13 minutes");

    // Billing reads the same minutes, and the clinician's connection was
    // ended at the close.
    let visit = bedside::model::ids::VisitId::from_trusted(booked.visit.id.clone());
    let mut tx = app.store.begin_read().await.expect("a transaction");
    let billed_minutes = match bedside::store::claim_facts(&mut tx, &visit)
        .await
        .expect("claim facts")
    {
        bedside::store::ToBill::Facts(facts) => facts.total_minutes,
        // The billing worker was quicker: its claim carries the minutes.
        bedside::store::ToBill::AlreadyBilled => {
            let claim = bedside::store::get_visit(&mut tx, &visit)
                .await
                .expect("visit")
                .and_then(|visit| visit.claim_id)
                .expect("its claim");
            bedside::store::get_claim(
                &mut tx,
                &bedside::model::claim::ClaimId::from_trusted(claim),
            )
            .await
            .expect("claim")
            .expect("the claim")
            .total_minutes
        }
        bedside::store::ToBill::NotClosed => panic!("the visit is closed"),
    };
    bedside::store::commit(tx).await.expect("commit");
    assert_eq!(billed_minutes, 13);
    let rows = presence(&app, &booked.visit.encounter_id).await;
    assert!(rows.iter().all(|r| r.left_at.is_some()), "{rows:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_join_delivered_after_the_close_is_ended_at_the_close() {
    let double = LiveKitDouble::start().await;
    let app = spawn_livekit_app(&double).await;
    let booked = book_waiting_visit(&app, "dr.late").await;
    booked.admit(&app).await;
    let (room, _, patient) = call_identities(&app, &booked).await;
    let response = app
        .close(&booked.visit, &booked.clinician, &rash_close(Some(10)))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "close the visit");
    let closed: Value = response.json().await.expect("visit JSON");
    let closed_at =
        chrono::DateTime::parse_from_rfc3339(closed["closed_at"].as_str().expect("closed_at"))
            .expect("an RFC 3339 time")
            .timestamp_millis();

    // LiveKit retries a webhook it could not deliver: this join came
    // before the close but reaches Bedside after it.
    let joined_at = unix_now() - 60;
    deliver_signed(
        &app,
        &webhook_event(
            "EV_late",
            "participant_joined",
            &room,
            Some(&patient),
            joined_at,
        ),
    )
    .await;

    let rows = presence(&app, &booked.visit.encounter_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].joined_at, Some(joined_at * 1000));
    // The answer gives the close to the second; the store keeps milliseconds.
    assert_eq!(
        rows[0].left_at.map(|at| at / 1000),
        Some(closed_at / 1000),
        "ended at the close, not left open"
    );
    app.stop().await;
}
