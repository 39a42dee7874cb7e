//! HTTPS built in: requests and the socket over TLS with a certificate made
//! here, a replaced certificate seen by new connections while an open
//! socket keeps answering, and the plain listener's 308 to HTTPS.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use rustls::pki_types::{CertificateDer, ServerName};
use signaling::protocol::{ClientMessage, Secret, ServerMessage};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, free_port, spawn_app_with, within};

/// A self-signed certificate for 127.0.0.1, as PEM and DER.
struct Cert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn make_cert() -> Cert {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("a self-signed certificate");
    Cert {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
        der: certified.cert.der().clone(),
    }
}

/// The files `BEDSIDE_TLS_CERT` and `BEDSIDE_TLS_KEY` name.
struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(cert: &Cert) -> Self {
        let dir = tempfile::tempdir().expect("a folder");
        let files = Self {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            _dir: dir,
        };
        files.write(cert);
        files
    }

    /// Replaces both files as a renewal would: written aside, then renamed.
    fn write(&self, cert: &Cert) {
        for (path, text) in [(&self.key, &cert.key_pem), (&self.cert, &cert.cert_pem)] {
            let aside = path.with_extension("new");
            std::fs::write(&aside, text).expect("write PEM");
            std::fs::rename(&aside, path).expect("rename PEM");
        }
    }
}

async fn spawn_https(
    files: &Files,
    more: impl FnOnce(bedside::config::Source) -> bedside::config::Source,
) -> TestApp {
    let (cert, key) = (path(&files.cert), path(&files.key));
    spawn_app_with(move |s| more(s.set("BEDSIDE_TLS_CERT", cert).set("BEDSIDE_TLS_KEY", key))).await
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A TLS connection trusting only `trusted`; the certificate it was shown.
async fn connect(app: &TestApp, trusted: &CertificateDer<'static>) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).expect("a root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = within("a TCP connection", TcpStream::connect(app.addr))
        .await
        .expect("connects");
    let name = ServerName::IpAddress(app.addr.ip().into());
    within(
        "the TLS handshake",
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("the handshake succeeds")
}

/// The certificate a new connection is shown.
async fn shown(
    app: &TestApp,
    trusted: &CertificateDer<'static>,
) -> Option<CertificateDer<'static>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).expect("a root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(app.addr).await.ok()?;
    let name = ServerName::IpAddress(app.addr.ip().into());
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .ok()?;
    tls.get_ref().1.peer_certificates()?.first().cloned()
}

type Socket = WebSocketStream<TlsStream<TcpStream>>;

/// A signaling socket over TLS, welcomed with the admin's token.
async fn socket(app: &TestApp, trusted: &CertificateDer<'static>, token: &str) -> Socket {
    let tls = connect(app, trusted).await;
    let url = format!("wss://{}/ws", app.addr);
    let (mut socket, _) = within(
        "the socket to open",
        Box::pin(tokio_tungstenite::client_async(url, tls)),
    )
    .await
    .expect("the socket opens");
    let hello = ClientMessage::Hello {
        token: Secret::new(token),
        resume: None,
    };
    send(&mut socket, &hello).await;
    match read(&mut socket).await {
        ServerMessage::Welcome { .. } => socket,
        other => panic!("expected welcome, got {other:?}"),
    }
}

async fn send(socket: &mut Socket, message: &ClientMessage) {
    let text = serde_json::to_string(message).expect("a frame");
    socket.send(Message::text(text)).await.expect("sent");
}

async fn read(socket: &mut Socket) -> ServerMessage {
    within("a frame", async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text).expect("a server frame");
                }
                Some(Ok(_)) => continue,
                other => panic!("the socket ended: {other:?}"),
            }
        }
    })
    .await
}

/// Sends `ping` and waits for `pong`, passing over other frames (presence).
async fn ping(socket: &mut Socket) {
    send(socket, &ClientMessage::Ping).await;
    within("a pong", async {
        loop {
            match read(socket).await {
                ServerMessage::Pong => return,
                ServerMessage::Error { .. } => panic!("an error instead of pong"),
                _ => continue,
            }
        }
    })
    .await;
}

/// An HTTPS client trusting only `trusted`.
fn https_client(trusted: &Cert) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(trusted.cert_pem.as_bytes()).expect("a PEM certificate"),
        )
        .build()
        .expect("a client")
}

#[tokio::test]
async fn requests_and_the_socket_work_over_https() {
    let cert = make_cert();
    let files = Files::new(&cert);
    let app = spawn_https(&files, |s| s).await;
    let client = https_client(&cert);
    let response = client
        .get(format!("https://{}/healthz", app.addr))
        .send()
        .await
        .expect("an HTTPS answer");
    assert_eq!(response.status(), StatusCode::OK);
    let login = client
        .post(format!("https://{}/api/v1/auth/login", app.addr))
        .json(&serde_json::json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .expect("an HTTPS answer");
    assert_eq!(login.status(), StatusCode::OK);
    let token = login.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut socket = Box::pin(socket(&app, &cert.der, &token)).await;
    ping(&mut socket).await;
    app.stop().await;
}

#[tokio::test]
async fn a_replaced_certificate_serves_new_connections_while_open_sockets_keep_answering() {
    let first = make_cert();
    let files = Files::new(&first);
    let app = spawn_https(&files, |s| s).await;
    let token = {
        let response = https_client(&first)
            .post(format!("https://{}/api/v1/auth/login", app.addr))
            .json(&serde_json::json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD}))
            .send()
            .await
            .expect("an HTTPS answer");
        response.json::<serde_json::Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut open = Box::pin(socket(&app, &first.der, &token)).await;
    assert_eq!(shown(&app, &first.der).await.as_ref(), Some(&first.der));

    let second = make_cert();
    files.write(&second);
    within("new connections to be shown the new certificate", async {
        while shown(&app, &second.der).await.as_ref() != Some(&second.der) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;

    // The socket opened under the old certificate still answers.
    ping(&mut open).await;
    app.stop().await;
}

#[tokio::test]
async fn the_plain_listener_redirects_to_https_with_308() {
    let cert = make_cert();
    let files = Files::new(&cert);
    let port = free_port();
    let app = spawn_https(&files, |s| {
        s.set("BEDSIDE_HTTP_REDIRECT_ADDR", format!("127.0.0.1:{port}"))
    })
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The redirect listener binds as the server starts: ask until it answers.
    let response = within("the redirect listener", async {
        loop {
            match client
                .get(format!("http://127.0.0.1:{port}/clinician?tab=queue"))
                .send()
                .await
            {
                Ok(response) => return response,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        response.headers()["location"],
        format!("https://{}/clinician?tab=queue", app.addr).as_str()
    );
    app.stop().await;
}
