//! A socket lives no longer than the credential of its token: ending the
//! credential (on any node) or reaching its expiry closes its sockets with
//! 1008, and no other socket.

use std::sync::Arc;

use signaling::bus::MemoryBus;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{Parts, spawn_app, spawn_app_with};

#[tokio::test]
async fn ending_a_credential_closes_its_sockets_with_1008_and_no_others() {
    let app = spawn_app().await;
    let (mut first, _) = app.signed_in("clinician-1").await;
    let (mut second, _) = app.signed_in("clinician-1").await;
    let (mut other, _) = app.signed_in("clinician-2").await;

    app.hub.end_credential("credential-of-clinician-1").await;

    assert_eq!(first.closed().await, CloseCode::Policy);
    assert_eq!(second.closed().await, CloseCode::Policy);
    other.ping_pong().await;
}

#[tokio::test]
async fn ending_a_credential_on_one_node_closes_its_socket_on_another() {
    let bus = MemoryBus::new();
    let a = spawn_app_with(Parts {
        bus: Some(Arc::new(bus.clone())),
        ..Parts::default()
    })
    .await;
    let b = spawn_app_with(Parts {
        bus: Some(Arc::new(bus)),
        ..Parts::default()
    })
    .await;
    let (mut on_b, _) = b.signed_in("scheduler-1").await;

    a.hub.end_credential("credential-of-scheduler-1").await;

    assert_eq!(on_b.closed().await, CloseCode::Policy);
}

#[tokio::test]
async fn a_socket_closes_when_its_credential_expires() {
    let app = spawn_app().await;
    let (mut brief, _) = app.signed_in("clinician-1-brief").await;
    let (mut lasting, _) = app.signed_in("clinician-1").await;

    assert_eq!(brief.closed().await, CloseCode::Policy);
    lasting.ping_pong().await;
}
