//! The simulator's HTTPS identity: a self-signed certificate made at start (or given files),
//! rotatable at run time so clients can be tested against a changed thumbprint.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Errors building the simulator's TLS identity.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate could not be generated.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The given PEM files are not a certificate chain and a private key.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// rustls rejected the certificate/key pair.
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

/// One certificate the simulator presents.
#[derive(Clone, Debug)]
pub struct Identity {
    /// PEM of the leaf certificate (what a client would add as a custom CA).
    pub cert_pem: String,
    /// SHA-256 of the leaf DER as uppercase colon-separated hex, the form vCenter shows.
    pub thumbprint: String,
    config: Arc<ServerConfig>,
}

/// Formats a SHA-256 digest of `der` the way vSphere shows certificate thumbprints.
pub use crate::vcenter::tls::sha256_thumbprint;

impl Identity {
    /// A fresh self-signed certificate for `localhost`, `127.0.0.1` and `::1`.
    pub fn self_signed() -> Result<Self, TlsError> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])?;
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(std::net::IpAddr::from([
                127, 0, 0, 1,
            ])));
        params.subject_alt_names.push(rcgen::SanType::IpAddress(
            std::net::Ipv6Addr::LOCALHOST.into(),
        ));
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "pulse-vsphere simulated vCenter");
        params.distinguished_name = dn;
        let cert = params.self_signed(&key)?;
        Self::from_pem(&cert.pem(), &key.serialize_pem())
    }

    /// An identity from PEM text (certificate chain first, then the key).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::Pem(format!("certificate: {e}")))?;
        let leaf = chain
            .first()
            .ok_or_else(|| TlsError::Pem("no certificate in PEM".into()))?;
        let thumbprint = sha256_thumbprint(leaf.as_ref());
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| TlsError::Pem(format!("private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Identity {
            cert_pem: cert_pem.to_string(),
            thumbprint,
            config: Arc::new(config),
        })
    }
}

/// The identity currently presented; swapped atomically on rotation so in-flight
/// connections keep theirs and new handshakes see the new one.
#[derive(Clone)]
pub struct TlsState {
    current: Arc<ArcSwap<Identity>>,
}

impl TlsState {
    /// Starts presenting `identity`.
    pub fn new(identity: Identity) -> Self {
        TlsState {
            current: Arc::new(ArcSwap::from_pointee(identity)),
        }
    }

    /// The identity presented to new connections.
    pub fn identity(&self) -> Arc<Identity> {
        self.current.load_full()
    }

    /// The rustls config for the next handshake.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.current.load().config.clone()
    }

    /// Replaces the certificate with a new self-signed one; returns the new thumbprint.
    pub fn rotate(&self) -> Result<String, TlsError> {
        let next = Identity::self_signed()?;
        let thumbprint = next.thumbprint.clone();
        self.current.store(Arc::new(next));
        Ok(thumbprint)
    }
}
