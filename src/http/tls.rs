//! HTTPS built in: the certificate and key from PEM files
//! (`BEDSIDE_TLS_CERT`, `BEDSIDE_TLS_KEY`), reloaded when the files change
//! without touching open connections (each handshake asks for the current
//! certificate), a listener that completes handshakes off the accept loop,
//! and the optional plain listener that redirects to HTTPS.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Uri, header};
use axum::response::Redirect;
use axum::serve::Listener;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::listen::no_delay;
use crate::config::TlsFiles;

/// How often the PEM files are read for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// How long a client has to finish its handshake.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; accepting waits beyond it.
const MAX_HANDSHAKES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("{0} holds no PEM private key")]
    NoKey(String),
    #[error("the certificate and key cannot be used: {0}")]
    Unusable(#[from] rustls::Error),
}

/// The certificate every new handshake is given; swapped on reload.
#[derive(Debug)]
pub struct Certificates {
    files: TlsFiles,
    current: RwLock<(Vec<u8>, Arc<CertifiedKey>)>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The files' bytes (to notice a change) and the key they make.
fn load(files: &TlsFiles) -> Result<(Vec<u8>, Arc<CertifiedKey>), TlsError> {
    let cert_pem = read(&files.cert)?;
    let key_pem = read(&files.key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|chain| !chain.is_empty())
        .ok_or_else(|| TlsError::NoCertificate(files.cert.display().to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| TlsError::NoKey(files.key.display().to_string()))?;
    // Refuses a key that does not belong to the certificate (say, read
    // between the writes of a renewal): the old pair stays until both match.
    let certified = CertifiedKey::from_der(chain, key, &provider())?;
    let mut seen = cert_pem;
    seen.extend_from_slice(&key_pem);
    Ok((seen, Arc::new(certified)))
}

impl Certificates {
    pub fn load(files: &TlsFiles) -> Result<Arc<Self>, TlsError> {
        Ok(Arc::new(Self {
            files: files.clone(),
            current: RwLock::new(load(files)?),
        }))
    }

    /// Reads the files again and swaps the certificate if they changed.
    /// Whether it was swapped.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let (seen, certified) = load(&self.files)?;
        let mut current = self.current.write().expect("certificate lock");
        if current.0 == seen {
            return Ok(false);
        }
        *current = (seen, certified);
        Ok(true)
    }

    /// Reloads every [`RELOAD_EVERY`] until the task is aborted.
    pub fn watch(self: &Arc<Self>) -> JoinHandle<()> {
        let certificates = Arc::clone(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RELOAD_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let this = Arc::clone(&certificates);
                match tokio::task::spawn_blocking(move || this.reload()).await {
                    Ok(Ok(true)) => tracing::info!("TLS certificate reloaded"),
                    Ok(Ok(false)) => {}
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "TLS certificate not reloaded; the previous one stays");
                    }
                    Err(error) => tracing::warn!(%error, "TLS reload failed"),
                }
            }
        })
    }

    /// The server configuration whose handshakes ask for the current certificate.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[derive(Debug)]
struct Resolver(Arc<Certificates>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.current.read().ok().map(|current| current.1.clone())
    }
}

/// Accepts TCP, sets `TCP_NODELAY`, and completes TLS handshakes in tasks
/// of their own, so one slow client never holds up the next.
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (done, ready) = mpsc::channel(64);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let accepting = tokio::spawn(async move {
            let mut listener = listener;
            loop {
                let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else {
                    return;
                };
                let (stream, addr) = Listener::accept(&mut listener).await;
                no_delay(&stream);
                let (acceptor, done) = (acceptor.clone(), done.clone());
                tokio::spawn(async move {
                    let shaken =
                        tokio::time::timeout(HANDSHAKE_WAIT, acceptor.accept(stream)).await;
                    drop(permit);
                    match shaken {
                        Ok(Ok(tls)) => {
                            let _ = done.send((tls, addr)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The plain listener's app: every request answers 308 to the same path
/// on HTTPS, at the public URL when it is https, else at the host asked for
/// on the HTTPS port.
pub fn redirect(public_url: &str, https_port: u16) -> Router {
    let base = public_url
        .starts_with("https://")
        .then(|| public_url.trim_end_matches('/').to_owned());
    Router::new().fallback(move |headers: HeaderMap, uri: Uri| {
        let base = base.clone();
        async move {
            let base = base.unwrap_or_else(|| {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
                    .map_or_else(|| "localhost".to_owned(), |a| a.host().to_owned());
                match https_port {
                    443 => format!("https://{host}"),
                    port => format!("https://{host}:{port}"),
                }
            });
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            Redirect::permanent(&format!("{base}{path}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &std::path::Path) -> TlsFiles {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, made.cert.pem()).unwrap();
        std::fs::write(&files.key, made.signing_key.serialize_pem()).unwrap();
        files
    }

    #[tokio::test]
    async fn accepted_tls_sockets_have_nodelay_set() {
        let dir = tempfile::tempdir().unwrap();
        let certificates = Certificates::load(&files(dir.path())).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = TlsListener::new(tcp, certificates.server_config().unwrap()).unwrap();
        // A client that trusts anything: only the server's socket matters here.
        let client = tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let config = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate))
                .with_no_client_auth();
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, stream)
                .await
                .unwrap()
        });
        let (accepted, _) = Listener::accept(&mut listener).await;
        assert!(accepted.get_ref().0.nodelay().unwrap());
        drop(client.await.unwrap());
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = files(dir.path());
        let other = tempfile::tempdir().unwrap();
        let second = files(other.path());
        let mixed = TlsFiles {
            cert: first.cert,
            key: second.key,
        };
        assert!(matches!(
            Certificates::load(&mixed),
            Err(TlsError::Unusable(_))
        ));
    }

    #[derive(Debug)]
    struct AnyCertificate;

    impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &rustls_pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls_pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &provider().signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &provider().signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
}
