//! Node faults: a node killed with SIGKILL mid-call, and a socket that
//! drops on one node and resumes on another.

use std::collections::HashSet;

use serde_json::json;
use signaling::protocol::{ClientMessage, ErrorCode, LeaveReason, ServerMessage};

use crate::cluster::{Call, Clinic, Cluster, RECOVERY, WAIT, relay_recovers};
use crate::socket::Socket;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_participants_leave_the_call_on_the_survivors() {
    let Some(mut cluster) = Cluster::start(2).await else {
        return;
    };
    let clinic = Clinic::in_consult(&cluster.nodes[0]).await;
    let mut call = Call::across(&clinic, &cluster.nodes[0], &cluster.nodes[1]).await;
    let lost: HashSet<_> = [
        call.patient_id.clone(),
        call.patient_tab.participant_id.clone(),
    ]
    .into();
    let lost_node = cluster.node_of(&clinic.visit_id, &call.patient_id).await;

    cluster.nodes[0].kill();

    // The survivors' peers hear that both of the node's sockets left.
    let mut left = HashSet::new();
    let deadline = tokio::time::Instant::now() + RECOVERY;
    while left.len() < lost.len() {
        let frame = tokio::time::timeout_at(deadline, call.clinician_tab.next())
            .await
            .unwrap_or_else(|_| {
                panic!("peer_left did not come within {RECOVERY:?}; heard {left:?}")
            })
            .expect("the clinician's socket stays open");
        if let ServerMessage::PeerLeft {
            participant_id,
            reason,
        } = frame
        {
            assert_eq!(reason, LeaveReason::NodeLost);
            left.insert(participant_id);
        }
    }
    assert_eq!(left, lost);
    // Media is peer to peer: the patient's node is gone, not the patient.
    call.talk().await;

    let survivor = &cluster.nodes[1];
    let mut newcomer = Socket::hello(survivor, &clinic.clinician).await;
    newcomer.join(&clinic.visit_id).await;
    let (_, others) = newcomer.joined().await;
    assert!(
        others
            .iter()
            .all(|other| !lost.contains(&other.participant_id)),
        "joined names a participant of the lost node: {others:?}"
    );
    let mut candidate = serde_json::Map::new();
    candidate.insert("candidate".into(), json!("to the lost node"));
    newcomer
        .send(&ClientMessage::Candidate {
            to: call.patient_id.clone(),
            candidate,
        })
        .await;
    assert_eq!(newcomer.error().await, ErrorCode::NotInRoom);

    let directory = cluster.directory(&clinic.visit_id).await;
    assert!(
        directory.iter().all(|(_, node)| *node != lost_node),
        "the directory still names the lost node: {directory:?}"
    );
    let known: bool = cluster
        .redis
        .query(redis::cmd("SISMEMBER").arg("bedside:nodes").arg(&lost_node))
        .await;
    let index: bool = cluster
        .redis
        .query(redis::cmd("EXISTS").arg(format!("bedside:node:{lost_node}:members")))
        .await;
    assert!(!known && !index, "Redis still keeps the lost node");

    // The lost node's patient reconnects to the survivor and is back in
    // the call as the participant it was.
    let tab = call.patient_tab.participant_id.clone();
    let back = Socket::resume(survivor, &clinic.patient, &call.patient_tab.resume_token).await;
    assert_eq!(back.participant_id, tab);
    call.clinician_tab
        .until("the patient's `peer_joined`", |frame| match frame {
            ServerMessage::PeerJoined(info) if info.participant_id == tab => Some(()),
            _ => None,
        })
        .await;
    call.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_dropped_on_one_node_resumes_on_another_as_the_same_participant() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let clinic = Clinic::in_consult(a).await;
    let mut patient = Socket::hello(a, &clinic.patient).await;
    patient.join(&clinic.visit_id).await;
    patient.joined().await;
    let (participant, token) = (patient.participant_id.clone(), patient.resume_token.clone());
    let mut clinician = Socket::hello(b, &clinic.clinician).await;
    clinician.join(&clinic.visit_id).await;
    clinician.joined().await;

    // The connection drops without a close; the page reconnects elsewhere.
    drop(patient);
    let mut back = Socket::resume(b, &clinic.patient, &token).await;

    assert_eq!(back.participant_id, participant, "the same participant");
    let (_, others) = back.joined().await;
    assert_eq!(
        others.len(),
        1,
        "the clinician, and no ghost of itself: {others:?}"
    );
    assert_eq!(others[0].participant_id, clinician.participant_id);
    relay_recovers(&mut clinician, &mut back, WAIT).await;
    let clinician_node = cluster
        .node_of(&clinic.visit_id, &clinician.participant_id)
        .await;
    let mut directory = cluster.directory(&clinic.visit_id).await;
    directory.sort();
    let mut expected = vec![
        (participant.to_string(), clinician_node.clone()),
        (clinician.participant_id.to_string(), clinician_node),
    ];
    expected.sort();
    assert_eq!(directory, expected, "the participant once, on node B");

    // The spent token resumes nothing, on the first node either.
    let mut stale = Socket::resume(a, &clinic.patient, &token).await;
    assert_ne!(stale.participant_id, participant);
    assert_eq!(stale.error().await, ErrorCode::ResumeFailed);

    // A copy still connected is closed when another socket takes it over.
    let mut again = Socket::resume(a, &clinic.patient, &back.resume_token).await;
    assert_eq!(again.participant_id, participant);
    back.expect_closed().await;
    again.joined().await;
    relay_recovers(&mut clinician, &mut again, WAIT).await;
}
