//! Drives the signaling hub over real sockets: an axum server on
//! 127.0.0.1:0 and tokio-tungstenite clients.

mod credentials;
mod handshake;
mod helpers;
mod limits;
mod nodes;
mod presence;
mod relay;
mod rooms;
