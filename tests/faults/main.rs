//! Bedside under faults: real nodes (the `bedside` binary as child
//! processes) sharing one store and a private Redis the tests stop, empty,
//! hang and bring back, with real webrtc-rs peers in a call across nodes.
//! Each test states the bound within which the cluster must recover and
//! polls for it; none waits on a clock.

mod cluster;
mod nodes;
mod redis;

// The API suite's signaling client and webrtc-rs peers, shared as they are.
#[allow(dead_code)]
#[path = "../api/peers.rs"]
mod peers;
#[allow(dead_code)]
#[path = "../api/socket.rs"]
mod socket;

/// What the shared clients expect of their crate's helpers.
mod helpers {
    pub use crate::cluster::{Node as TestApp, WAIT, within};
}
