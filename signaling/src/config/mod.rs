//! The hub's limits and timeouts (CONTRACT.md "Socket rules"), and the
//! WebSocket upgrade settings every `/ws` upgrade must use
//! (notes/websocket-memory.md).

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;

/// The protocol's limit on one frame and one message.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Read buffer per socket: tungstenite allocates it up front, for every
/// socket, idle or not. Frames are small (a candidate is ~300 bytes); an
/// SDP of a few KiB takes a few reads.
pub const READ_BUFFER_BYTES: usize = 1024;
/// Write buffer per socket: frames are small and flushed one by one.
pub const WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// Past this the socket is failing to drain; one full message must fit.
pub const MAX_WRITE_BUFFER_BYTES: usize = 2 * MAX_MESSAGE_BYTES + WRITE_BUFFER_BYTES;

/// Applies the per-socket buffer sizes and the 64 KiB frame limit; a frame
/// over the limit then fails the read and the socket closes with 1009.
pub fn configure_upgrade<F>(upgrade: WebSocketUpgrade<F>) -> WebSocketUpgrade<F> {
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
}

/// Timeouts and limits of the hub; `Default` is the contract's values.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// A socket that has not said `hello` by then is closed (1008).
    pub hello_timeout: Duration,
    /// A socket silent this long is closed; clients ping every 15 s.
    pub idle_timeout: Duration,
    /// A dropped socket may `hello {resume}` within this window.
    pub resume_window: Duration,
    /// Sustained frames per second per socket.
    pub rate_per_second: NonZeroU32,
    /// Frames a socket may send at once before the rate applies.
    pub rate_burst: NonZeroU32,
    /// Refused frames per second tolerated before flooding closes the socket.
    pub flood_per_second: NonZeroU32,
    /// Refused frames in a burst tolerated before flooding closes the socket.
    pub flood_burst: NonZeroU32,
    /// A socket may send one `stats` frame per this interval; an earlier
    /// one gets `error rate_limited` and is not kept.
    pub stats_interval: Duration,
    /// Frames queued for one slow socket before it is dropped (it may resume).
    pub outbound_capacity: usize,
    /// Sockets this node holds at most; more are closed with 1013.
    pub max_sockets: usize,
    /// How often this node refreshes its users' presence and expires others'.
    pub presence_interval: Duration,
    /// How often this node renews its lease on the bus; a node silent for
    /// three of these is taken for dead and its participants leave.
    pub node_interval: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            hello_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(45),
            resume_window: Duration::from_secs(30),
            rate_per_second: NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN),
            rate_burst: NonZeroU32::new(1_000).unwrap_or(NonZeroU32::MIN),
            flood_per_second: NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN),
            flood_burst: NonZeroU32::new(500).unwrap_or(NonZeroU32::MIN),
            // Clients sample every few seconds; a little slack for timers.
            stats_interval: Duration::from_millis(1_800),
            outbound_capacity: 64,
            max_sockets: 100_000,
            presence_interval: Duration::from_secs(10),
            node_interval: Duration::from_secs(2),
        }
    }
}
