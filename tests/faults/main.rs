//! Fault tests: real outages under a running node, each with the answer
//! clients must get meanwhile and full recovery asserted within stated
//! times. They start what they break (a private PostgreSQL, a tmpfs, a
//! `bedside` process, a webhook receiver that never answers). Run with
//! `cargo test -p bedside --test faults`; PostgreSQL's binaries and root are
//! needed for some, which skip elsewhere and fail in CI when missing.

mod app;
mod drain;
mod needs;
mod postgres;
mod sqlite;
mod webhooks;
