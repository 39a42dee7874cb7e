//! Two hubs as two nodes: over the in-memory bus, and over a real Redis at
//! 127.0.0.1:6379 (these tests fail when Redis is unreachable).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use signaling::bus::{Bus, MemberRecord, MemoryBus};
use signaling::presence::Presence;
use signaling::protocol::{
    ErrorCode, LeaveReason, ParticipantId, PresenceStatus, ServerMessage, VisitId, VisitStatus,
};
use signaling::{MemoryPresence, RedisBus, RedisPresence, redis_connection};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{Parts, TestApp, presence_of, spawn_app_with};

const REDIS_URL: &str = "redis://127.0.0.1:6379/";

/// A Redis connection that must work, and a key prefix no other test uses.
async fn redis(test: &str) -> (redis::Client, redis::aio::ConnectionManager, String) {
    let client = redis::Client::open(REDIS_URL).expect("redis url");
    let mut manager = redis_connection(client.clone()).expect("redis manager");
    let pong: String = redis::cmd("PING")
        .query_async(&mut manager)
        .await
        .expect("Redis must be running at 127.0.0.1:6379 for these tests");
    assert_eq!(pong, "PONG");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let prefix = format!("bedside-test:{test}:{}:{nanos}", std::process::id());
    (client, manager, prefix)
}

async fn forget(mut manager: redis::aio::ConnectionManager, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut manager)
        .await
        .expect("keys");
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut manager)
            .await
            .expect("del");
    }
}

async fn two_nodes(
    bus_a: Arc<dyn Bus>,
    bus_b: Arc<dyn Bus>,
    presence: [Arc<dyn Presence>; 2],
) -> (TestApp, TestApp) {
    let [presence_a, presence_b] = presence;
    let a = spawn_app_with(Parts {
        bus: Some(bus_a),
        presence: Some(presence_a),
        ..Parts::default()
    })
    .await;
    let b = spawn_app_with(Parts {
        bus: Some(bus_b),
        presence: Some(presence_b),
        authoriser: Some(a.authoriser.clone()),
        ..Parts::default()
    })
    .await;
    (a, b)
}

/// A patient waiting on node A is admitted from node B, a clinician on
/// node B joins, and negotiation and chat cross between them.
async fn relay_across(a: &TestApp, b: &TestApp) {
    let (mut patient, patient_id) = a.signed_in("patient-v1").await;
    patient.join("v1").await;
    assert!(matches!(patient.frame().await, ServerMessage::Visit { .. }));

    b.authoriser.admit("v1");
    b.hub.open_room(&VisitId::new("v1")).await;
    assert!(matches!(patient.frame().await, ServerMessage::Visit { .. }));
    assert_eq!(
        patient.frame().await,
        ServerMessage::Joined {
            visit_id: VisitId::new("v1"),
            participants: Vec::new(),
        }
    );

    let (mut clinician, clinician_id) = b.signed_in("clinician-1").await;
    clinician.join("v1").await;
    match clinician.frame().await {
        ServerMessage::Joined { participants, .. } => {
            assert_eq!(participants.len(), 1);
            assert_eq!(participants[0].participant_id, patient_id);
        }
        other => panic!("expected joined, got {other:?}"),
    }
    match patient.frame().await {
        ServerMessage::PeerJoined(info) => assert_eq!(info.participant_id, clinician_id),
        other => panic!("expected peer_joined, got {other:?}"),
    }

    clinician
        .send_json(json!({"type": "offer", "to": patient_id, "sdp": "offer", "from": "forged"}))
        .await;
    assert_eq!(
        patient.frame().await,
        ServerMessage::Offer {
            from: clinician_id.clone(),
            sdp: "offer".into(),
        }
    );
    for index in 0..20 {
        patient
            .send_json(
                json!({"type": "candidate", "to": clinician_id, "candidate": {"candidate": index}}),
            )
            .await;
    }
    for index in 0..20 {
        match clinician.frame().await {
            ServerMessage::Candidate { from, candidate } => {
                assert_eq!(from, patient_id);
                assert_eq!(candidate.get("candidate"), Some(&json!(index)));
            }
            other => panic!("expected candidate {index}, got {other:?}"),
        }
    }
    patient
        .send_json(json!({"type": "chat", "text": "hi"}))
        .await;
    assert!(matches!(
        clinician.frame().await,
        ServerMessage::Chat { .. }
    ));

    patient.send_json(json!({"type": "leave"})).await;
    assert_eq!(
        clinician.frame().await,
        ServerMessage::PeerLeft {
            participant_id: patient_id,
            reason: LeaveReason::Left,
        }
    );

    a.hub
        .close_room(&VisitId::new("v1"), VisitStatus::Closed)
        .await;
    assert!(matches!(
        clinician.frame().await,
        ServerMessage::Visit { .. }
    ));
}

#[tokio::test]
async fn two_hubs_on_one_memory_bus_relay_between_their_sockets() {
    let bus = MemoryBus::new();
    let presence = MemoryPresence::new(Duration::from_secs(30));
    let (a, b) = two_nodes(
        Arc::new(bus.clone()),
        Arc::new(bus),
        [Arc::new(presence.clone()), Arc::new(presence)],
    )
    .await;

    relay_across(&a, &b).await;
}

#[tokio::test]
async fn two_hubs_on_one_redis_relay_between_their_sockets() {
    let (client, manager, prefix) = redis("relay").await;
    let bus_a = RedisBus::new(client.clone(), manager.clone(), &prefix);
    let bus_b = RedisBus::new(
        client,
        redis_connection(redis::Client::open(REDIS_URL).expect("url")).expect("manager"),
        &prefix,
    );
    let presence = RedisPresence::new(manager.clone(), &prefix, Duration::from_secs(30));
    let (a, b) = two_nodes(
        Arc::new(bus_a),
        Arc::new(bus_b),
        [Arc::new(presence.clone()), Arc::new(presence)],
    )
    .await;
    assert!(a.hub.healthy().await);
    assert!(b.hub.healthy().await);

    relay_across(&a, &b).await;

    forget(manager, &prefix).await;
}

#[tokio::test]
async fn presence_in_redis_is_shared_by_two_hubs_and_expires() {
    let (client, manager, prefix) = redis("presence").await;
    let presence = RedisPresence::new(manager.clone(), &prefix, Duration::from_secs(1));
    let (a, b) = two_nodes(
        Arc::new(RedisBus::new(client.clone(), manager.clone(), &prefix)),
        Arc::new(RedisBus::new(client, manager.clone(), &prefix)),
        [Arc::new(presence.clone()), Arc::new(presence)],
    )
    .await;
    let (mut scheduler, _) = b.signed_in("scheduler-1").await;

    let (mut clinician, _) = a.signed_in("clinician-1").await;
    presence_of(&mut scheduler, "c1", PresenceStatus::Available).await;
    clinician
        .send_json(json!({"type": "presence", "status": "away"}))
        .await;
    presence_of(&mut scheduler, "c1", PresenceStatus::Away).await;
    let listed = b.hub.presence_list(None).await.expect("list");
    assert!(listed.iter().any(|entry| entry.user_id.as_str() == "c1"
        && entry.status == PresenceStatus::Away
        && entry.display_name == "Dr One"));

    clinician.close_cleanly().await;

    presence_of(&mut scheduler, "c1", PresenceStatus::Offline).await;
    let listed = a.hub.presence_list(None).await.expect("list");
    assert!(
        listed
            .iter()
            .any(|entry| entry.user_id.as_str() == "c1" && entry.status == PresenceStatus::Offline)
    );
    forget(manager, &prefix).await;
}

/// A TCP proxy to the real Redis that the test can cut, as a network
/// failure or a Redis restart would.
struct RedisProxy {
    url: String,
    cut: watch::Sender<bool>,
}

impl RedisProxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("redis://{}/", listener.local_addr().expect("proxy address"));
        let (cut, _) = watch::channel(false);
        let watcher = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut downstream, _)) = listener.accept().await {
                if *watcher.borrow() {
                    continue;
                }
                let mut cut = watcher.subscribe();
                tokio::spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect("127.0.0.1:6379").await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { url, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

async fn until_healthy(app: &TestApp) {
    tokio::time::timeout(Duration::from_secs(15), async {
        while !app.hub.healthy().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the hub recovers when Redis is back");
}

#[tokio::test]
async fn a_node_without_redis_serves_its_own_sockets_and_recovers_when_redis_returns() {
    let (_, direct, prefix) = redis("outage").await;
    let proxy = RedisProxy::start().await;
    let client = redis::Client::open(proxy.url.as_str()).expect("proxy url");
    let node = |client: redis::Client| {
        let manager = redis_connection(client.clone()).expect("manager");
        let bus: Arc<dyn Bus> = Arc::new(RedisBus::new(client, manager.clone(), &prefix));
        let presence: Arc<dyn Presence> = Arc::new(RedisPresence::new(
            manager,
            &prefix,
            Duration::from_secs(30),
        ));
        (bus, presence)
    };
    let (bus_a, presence_a) = node(client.clone());
    let (bus_b, presence_b) = node(client);
    let (a, b) = two_nodes(bus_a, bus_b, [presence_a, presence_b]).await;
    a.authoriser.admit("v1");
    let (mut patient, patient_id) = a.signed_in("patient-v1").await;
    patient.join("v1").await;
    assert!(matches!(
        patient.frame().await,
        ServerMessage::Joined { .. }
    ));

    proxy.set_cut(true);
    assert!(!a.hub.healthy().await);
    let (mut clinician, clinician_id) = a.signed_in("clinician-1").await;
    clinician.join("v1").await;
    match clinician.frame().await {
        ServerMessage::Joined { participants, .. } => {
            assert_eq!(participants.len(), 1);
            assert_eq!(participants[0].participant_id, patient_id);
        }
        other => panic!("expected joined, got {other:?}"),
    }
    clinician
        .send_json(json!({"type": "offer", "to": patient_id, "sdp": "local"}))
        .await;
    assert!(
        matches!(patient.until(|f| matches!(f, ServerMessage::Offer { .. })).await,
        ServerMessage::Offer { from, .. } if from == clinician_id)
    );

    proxy.set_cut(false);
    until_healthy(&a).await;
    until_healthy(&b).await;
    let (direct_client, _, _) = redis("outage-check").await;
    let directory = RedisBus::new(direct_client, direct.clone(), &prefix);
    tokio::time::timeout(Duration::from_secs(10), async {
        while directory
            .members(&VisitId::new("v1"))
            .await
            .map(|members| members.len())
            .unwrap_or(0)
            < 2
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the directory is repaired once Redis is back");
    let (mut colleague, colleague_id) = b.signed_in("clinician-2").await;
    colleague.join("v1").await;
    assert!(matches!(
        colleague.frame().await,
        ServerMessage::Joined { .. }
    ));
    colleague
        .send_json(json!({"type": "offer", "to": patient_id, "sdp": "across"}))
        .await;

    let offer = patient
        .until(|f| matches!(f, ServerMessage::Offer { sdp, .. } if sdp == "across"))
        .await;
    assert!(matches!(offer, ServerMessage::Offer { from, .. } if from == colleague_id));
    forget(direct, &prefix).await;
}

/// Test-sized beats: a lease lapses in 150 ms, reaping starts after 300 ms.
fn quick_nodes() -> signaling::HubConfig {
    signaling::HubConfig {
        node_interval: Duration::from_millis(50),
        ..crate::helpers::quick_config()
    }
}

async fn redis_node(client: &redis::Client, prefix: &str) -> (Arc<dyn Bus>, Arc<dyn Presence>) {
    let manager = redis_connection(client.clone()).expect("manager");
    (
        Arc::new(RedisBus::new(client.clone(), manager.clone(), prefix)),
        Arc::new(RedisPresence::new(manager, prefix, Duration::from_secs(30))),
    )
}

async fn spawn_node(
    client: &redis::Client,
    prefix: &str,
    authoriser: Option<Arc<crate::helpers::TestAuthoriser>>,
) -> TestApp {
    let (bus, presence) = redis_node(client, prefix).await;
    spawn_app_with(Parts {
        config: Some(quick_nodes()),
        bus: Some(bus),
        presence: Some(presence),
        authoriser,
        ..Parts::default()
    })
    .await
}

#[tokio::test]
async fn the_directory_is_rebuilt_from_the_nodes_when_redis_forgets_it() {
    let (client, manager, prefix) = redis("rebuild").await;
    let a = spawn_node(&client, &prefix, None).await;
    let b = spawn_node(&client, &prefix, Some(a.authoriser.clone())).await;
    a.authoriser.admit("v1");
    let (mut patient, patient_id) = a.signed_in("patient-v1").await;
    patient.join("v1").await;
    assert!(matches!(
        patient.frame().await,
        ServerMessage::Joined { .. }
    ));
    let (mut clinician, _) = b.signed_in("clinician-1").await;
    clinician.join("v1").await;
    assert!(matches!(
        clinician.frame().await,
        ServerMessage::Joined { .. }
    ));

    // As a Redis restarted empty would.
    forget(manager.clone(), &prefix).await;

    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            clinician
                .send_json(json!({"type": "offer", "to": patient_id, "sdp": "again"}))
                .await;
            let answered = tokio::time::timeout(
                Duration::from_millis(200),
                patient.until(|f| matches!(f, ServerMessage::Offer { sdp, .. } if sdp == "again")),
            )
            .await;
            if answered.is_ok() {
                return;
            }
        }
    })
    .await
    .expect("relay across nodes comes back once the nodes rebuilt the directory");
    forget(manager, &prefix).await;
}

#[tokio::test]
async fn a_node_whose_lease_lapses_is_reaped_and_its_members_leave_the_call() {
    let (client, manager, prefix) = redis("reap").await;
    let a = spawn_node(&client, &prefix, None).await;
    a.authoriser.admit("v1");
    let (mut patient, _) = a.signed_in("patient-v1").await;
    patient.join("v1").await;
    assert!(matches!(
        patient.frame().await,
        ServerMessage::Joined { .. }
    ));
    // Another node's member, written as that node would, then the node dies.
    let directory = RedisBus::new(client.clone(), manager.clone(), &prefix);
    let ghost = MemberRecord {
        participant_id: ParticipantId::new("ghost-1"),
        user_id: signaling::protocol::UserId::new("c1"),
        role: signaling::protocol::Role::Clinician,
        display_name: "Dr One".into(),
        node: "ghost".into(),
        in_call: true,
    };
    directory
        .announce_node("ghost", Duration::from_millis(100))
        .await
        .expect("lease");
    directory
        .put_member(&VisitId::new("v1"), &ghost)
        .await
        .expect("member");

    let left = patient
        .until(|f| matches!(f, ServerMessage::PeerLeft { .. }))
        .await;

    assert_eq!(
        left,
        ServerMessage::PeerLeft {
            participant_id: ParticipantId::new("ghost-1"),
            reason: LeaveReason::NodeLost,
        }
    );
    let members = directory
        .members(&VisitId::new("v1"))
        .await
        .expect("members");
    assert!(members.iter().all(|member| member.node != "ghost"));
    assert!(directory.lapsed_nodes().await.expect("nodes").is_empty());
    forget(manager, &prefix).await;
}

#[tokio::test]
async fn a_session_resumes_on_another_node_and_its_copy_there_closes() {
    let bus = MemoryBus::new();
    let presence = MemoryPresence::new(Duration::from_secs(30));
    let (a, b) = two_nodes(
        Arc::new(bus.clone()),
        Arc::new(bus),
        [Arc::new(presence.clone()), Arc::new(presence)],
    )
    .await;
    a.authoriser.admit("v1");
    let mut patient = a.connect().await;
    let (patient_id, token) = patient.hello("patient-v1").await;
    patient.join("v1").await;
    assert!(matches!(
        patient.frame().await,
        ServerMessage::Joined { .. }
    ));
    let (mut clinician, _) = b.signed_in("clinician-1").await;
    clinician.join("v1").await;
    assert!(matches!(
        clinician.frame().await,
        ServerMessage::Joined { .. }
    ));

    let mut moved = b.connect().await;
    moved
        .send_json(json!({"type": "hello", "token": "patient-v1", "resume": token}))
        .await;
    let (moved_id, _) = moved.welcome().await;

    assert_eq!(moved_id, patient_id);
    assert_eq!(
        patient.closed().await,
        CloseCode::Again,
        "the copy on node A closes"
    );
    clinician
        .send_json(json!({"type": "offer", "to": patient_id, "sdp": "here"}))
        .await;
    let offer = moved
        .until(|f| matches!(f, ServerMessage::Offer { .. }))
        .await;
    assert!(matches!(offer, ServerMessage::Offer { sdp, .. } if sdp == "here"));
    let mut stale = a.connect().await;
    stale
        .send_json(json!({"type": "hello", "token": "patient-v1", "resume": token}))
        .await;
    let (stale_id, _) = stale.welcome().await;
    assert_ne!(stale_id, patient_id);
    stale.expect_error(ErrorCode::ResumeFailed).await;
}

#[tokio::test]
async fn a_staff_session_resumed_on_another_node_keeps_watching_its_queues() {
    let bus = MemoryBus::new();
    let presence = MemoryPresence::new(Duration::from_secs(30));
    let (a, b) = two_nodes(
        Arc::new(bus.clone()),
        Arc::new(bus),
        [Arc::new(presence.clone()), Arc::new(presence)],
    )
    .await;
    let mut board = a.connect().await;
    let (board_id, token) = board.hello("scheduler-1").await;
    board
        .send_json(json!({"type": "subscribe", "queue_id": "q1"}))
        .await;
    board
        .until(|f| matches!(f, ServerMessage::Queue { .. }))
        .await;

    board.drop_connection();
    let mut moved = b.connect().await;
    moved
        .send_json(json!({"type": "hello", "token": "scheduler-1", "resume": token}))
        .await;
    let (moved_id, _) = moved.welcome().await;
    assert_eq!(moved_id, board_id);
    b.hub
        .publish_queue(
            &signaling::protocol::QueueId::new("q1"),
            json!([{"visit_id": "v1"}]),
        )
        .await;

    let update = moved
        .until(|f| matches!(f, ServerMessage::Queue { entries, .. } if entries != &json!([])))
        .await;
    assert!(
        matches!(update, ServerMessage::Queue { entries, .. } if entries == json!([{"visit_id": "v1"}]))
    );
}

/// Far more envelopes than any buffer of the bus held before a subscriber
/// started dropping them.
const FLOOD: usize = 20_000;

#[tokio::test(flavor = "current_thread")]
async fn a_flooded_node_loses_no_frame_of_another_node() {
    let bus = MemoryBus::new();
    let presence = MemoryPresence::new(Duration::from_secs(30));
    let config = || signaling::HubConfig {
        // The flood is the bus's to carry: the socket's own queue holds it all.
        outbound_capacity: FLOOD + 16,
        ..crate::helpers::quick_config()
    };
    let a = spawn_app_with(Parts {
        bus: Some(Arc::new(bus.clone())),
        presence: Some(Arc::new(presence.clone())),
        config: Some(config()),
        ..Parts::default()
    })
    .await;
    let b = spawn_app_with(Parts {
        bus: Some(Arc::new(bus)),
        presence: Some(Arc::new(presence)),
        authoriser: Some(a.authoriser.clone()),
        config: Some(config()),
        ..Parts::default()
    })
    .await;
    let (mut board, _) = a.signed_in("scheduler-1").await;
    board
        .send_json(json!({"type": "subscribe", "queue_id": "q1"}))
        .await;
    board
        .until(|f| matches!(f, ServerMessage::Queue { .. }))
        .await;

    // On one thread, node A reads nothing until node B has published all.
    let queue = signaling::protocol::QueueId::new("q1");
    for n in 0..FLOOD {
        b.hub.publish_queue(&queue, json!([{"n": n}])).await;
    }

    for n in 0..FLOOD {
        let frame = board
            .until(|f| matches!(f, ServerMessage::Queue { .. }))
            .await;
        assert_eq!(
            frame,
            ServerMessage::Queue {
                queue_id: queue.clone(),
                entries: json!([{"n": n}]),
            },
            "frame {n} of {FLOOD} arrives, in order"
        );
    }
}

#[tokio::test]
async fn a_node_does_not_hear_its_own_envelopes_back() {
    let bus = MemoryBus::new();
    let mut own = bus.subscribe("a").await;
    let mut other = bus.subscribe("b").await;
    let envelope = |origin: &str| signaling::bus::Envelope {
        origin: origin.to_owned(),
        message: signaling::bus::BusMessage::Staff {
            frame: ServerMessage::Pong,
        },
    };

    assert!(bus.publish(&envelope("a")).await.expect("published"));
    assert!(bus.publish(&envelope("b")).await.expect("published"));

    assert_eq!(other.next().await, Some(envelope("a")));
    assert_eq!(own.next().await, Some(envelope("b")));
    drop(other);
    assert!(
        !bus.publish(&envelope("a")).await.expect("published"),
        "with node B gone, no other node hears node A"
    );
}
