//! Redis faults under a call across two nodes: Redis killed and restarted
//! empty, and Redis hung. The peers' data channel carries messages
//! throughout; relay, chat and presence across the nodes come back within
//! [`RECOVERY`] of Redis answering again.

use std::time::Duration;

use signaling::protocol::{ClientMessage, ErrorCode, PresenceStatus, ServerMessage};

use crate::cluster::{
    Call, Clinic, Cluster, Node, RECOVERY, WAIT, eventually, heard_until_pong, relay_recovers,
};
use crate::socket::Socket;

/// How long Redis stays hung: longer than a node's lease (three 2 s
/// beats), so every lease lapses inside the frozen Redis.
const HANG: Duration = Duration::from_secs(8);

/// Presence as a scheduler reads it, once it shows what the nodes know.
async fn presence_is(node: &Node, clinic: &Clinic, bound: Duration) {
    let wanted = [
        ("dr.grey".to_owned(), "in_consult".to_owned()),
        ("dr.house".to_owned(), "busy".to_owned()),
    ];
    eventually(
        "presence to show who is in consult and who is busy",
        bound,
        || async {
            let listed = node.clinician_presence(&clinic.scheduler).await;
            wanted
                .iter()
                .all(|entry| listed.contains(entry))
                .then_some(())
        },
    )
    .await;
}

/// dr.house, on `node`, says they are busy.
async fn colleague_busy(node: &Node, clinic: &Clinic) -> Socket {
    let mut colleague = Socket::hello(node, &clinic.colleague).await;
    colleague
        .send(&ClientMessage::Presence {
            status: PresenceStatus::Busy,
        })
        .await;
    colleague
        .presence_update(|_, status| status == PresenceStatus::Busy)
        .await;
    colleague
}

/// A chat from the patient's other tab crosses to the clinician's.
async fn chat_crosses(call: &mut Call, text: &str) {
    call.patient_tab.chat(text).await;
    let (from, said) = call.clinician_tab.chat_message().await;
    assert_eq!(
        (from, said.as_str()),
        (call.patient_tab.participant_id.clone(), text)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_chat_and_presence_across_nodes_recover_after_redis_restarts_empty() {
    let Some(mut cluster) = Cluster::start(2).await else {
        return;
    };
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let clinic = Clinic::in_consult(a).await;
    let mut call = Call::across(&clinic, a, b).await;
    let _colleague = colleague_busy(b, &clinic).await;
    presence_is(a, &clinic, WAIT).await;

    cluster.redis.kill();
    call.talk().await;
    call.patient_tab.chat("Still there?").await;
    assert_eq!(
        call.patient_tab.error().await,
        ErrorCode::NotDelivered,
        "chat that cannot cross nodes is reported, not dropped"
    );
    cluster.redis.restart_empty().await;

    relay_recovers(&mut call.clinician_tab, &mut call.patient_tab, RECOVERY).await;
    relay_recovers(&mut call.patient_tab, &mut call.clinician_tab, RECOVERY).await;
    presence_is(a, &clinic, RECOVERY).await;
    presence_is(b, &clinic, WAIT).await;
    chat_crosses(&mut call, "Better now.").await;
    call.talk().await;
    call.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_across_nodes_rides_out_a_hung_redis_and_no_one_is_taken_for_gone() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let clinic = Clinic::in_consult(a).await;
    let mut call = Call::across(&clinic, a, b).await;
    let _colleague = colleague_busy(b, &clinic).await;
    let nodes = [
        cluster
            .node_of(&clinic.visit_id, &call.patient_tab.participant_id)
            .await,
        cluster
            .node_of(&clinic.visit_id, &call.clinician_tab.participant_id)
            .await,
    ];

    cluster.redis.hang();
    let hung_until = tokio::time::Instant::now() + HANG;
    call.talk().await;
    call.patient_tab.chat("Can you hear me?").await;
    assert_eq!(call.patient_tab.error().await, ErrorCode::NotDelivered);
    // Holding the fault for its length, not waiting for the server.
    tokio::time::sleep_until(hung_until).await;
    call.talk().await;
    cluster.redis.wake();

    // Once both leases are renewed, any node that would take the other
    // for dead has had its chance to.
    eventually("both nodes renewing their lease", RECOVERY, || async {
        let mut renewed = true;
        for node in &nodes {
            renewed &= cluster.lease_held(node).await;
        }
        renewed.then_some(())
    })
    .await;
    let mut heard = relay_recovers(&mut call.clinician_tab, &mut call.patient_tab, RECOVERY).await;
    heard.extend(relay_recovers(&mut call.patient_tab, &mut call.clinician_tab, RECOVERY).await);
    heard.extend(heard_until_pong(&mut call.patient_tab).await);
    heard.extend(heard_until_pong(&mut call.clinician_tab).await);
    assert!(
        !heard
            .iter()
            .any(|frame| matches!(frame, ServerMessage::PeerLeft { .. })),
        "a live node's participants were taken for gone: {heard:?}"
    );
    presence_is(a, &clinic, RECOVERY).await;
    chat_crosses(&mut call, "Yes, now I can.").await;
    call.talk().await;
    call.hang_up().await;
}
