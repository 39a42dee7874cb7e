//! Fault tests: real outages under running nodes, each with the answer
//! clients must get meanwhile and full recovery asserted within stated
//! bounds (polled, never timed). They start what they break: a private
//! PostgreSQL, a tmpfs, `bedside` processes, a private Redis the tests stop,
//! empty, hang and bring back, a webhook receiver that never answers; real
//! webrtc-rs peers hold a call across nodes throughout. Run with
//! `cargo test -p bedside --test faults`; root, PostgreSQL's binaries and
//! `redis-server` are needed, and tests skip without them (fail in CI).

mod app;
mod cluster;
mod drain;
mod needs;
mod nodes;
mod postgres;
mod redis;
mod sqlite;
mod webhooks;

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
