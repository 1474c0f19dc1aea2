//! The TLS client of `scheme: HTTPS` httpGet probes: a rustls client that does **not** verify the
//! server's certificate, as the kubelet's prober (`InsecureSkipVerify: true`): a probe asks whether the
//! app answers, not who it is; pods serve self-signed or internal-CA certificates the node cannot know,
//! and nothing secret is sent. The handshake's signatures are still checked (a broken peer is a failed
//! attempt), only the chain and the name are not. SNI as Go's client: the URL host when it is a DNS
//! name, none for an IP address.

use std::net::TcpStream;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, ring};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

/// Accepts any certificate chain and name (see the module doc for why).
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// One config for every probe of the process (rustls configs are shared, sessions are not resumed
/// across probes because each connection is closed after one GET, as the kubelet's).
fn config() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(ring::default_provider());
            let verifier = AnyCertificate(provider.signature_verification_algorithms);
            ClientConfig::builder_with_provider(provider as Arc<CryptoProvider>)
                .with_safe_default_protocol_versions()
                .map(|b| {
                    Arc::new(
                        b.dangerous()
                            .with_custom_certificate_verifier(Arc::new(verifier))
                            .with_no_client_auth(),
                    )
                })
                .map_err(|e| format!("tls config: {e}"))
        })
        .clone()
}

/// A TLS session over `tcp` to `host` (the handshake runs on the first read or write, bounded by the
/// socket's timeouts).
pub fn client(
    host: &str,
    tcp: TcpStream,
) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
    let name = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_string()).map_err(|e| format!("tls: {e}"))?,
    };
    let conn = ClientConnection::new(config()?, name).map_err(|e| format!("tls: {e}"))?;
    Ok(StreamOwned::new(conn, tcp))
}
