//! The listeners `serve` accepts on, plain TCP or TLS, and the peer address
//! each connection hands the app. Every accepted socket gets `TCP_NODELAY`:
//! signaling frames are small and a call waits on each, so they go at once
//! rather than being held back for the next (Nagle's algorithm).

use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};

use super::tls::TlsListener;

/// The address of the connection's peer, as `ConnectInfo` carries it.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, PlainListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, PlainListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// Sets `TCP_NODELAY` on an accepted socket.
pub fn no_delay(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::warn!(%error, "TCP_NODELAY could not be set");
    }
}

/// Plain HTTP on a TCP listener.
#[derive(Debug)]
pub struct PlainListener(pub TcpListener);

impl Listener for PlainListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        no_delay(&stream);
        (stream, addr)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_plain_sockets_have_nodelay_set() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = PlainListener(tcp);
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = Listener::accept(&mut listener).await;
        assert!(accepted.nodelay().unwrap());
    }
}
