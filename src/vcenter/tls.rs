//! TLS trust for a vCenter connection: system roots (default), a custom CA, a pinned SHA-256
//! certificate thumbprint, or `insecure` only when named. Every verifier records the thumbprint
//! the server presented, so a failure can tell the operator what to pin.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// How the server certificate is trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// The operating system's trust store.
    #[default]
    System,
    /// A CA bundle in PEM (e.g. the vCenter's VMCA root).
    CaPem(String),
    /// The SHA-256 thumbprint of the server certificate, `AB:CD:...` or plain hex.
    Thumbprint(String),
    /// No verification at all. Only when an operator names it.
    Insecure,
}

impl TlsMode {
    /// The trust an operator's options name, in order of precedence: a pinned thumbprint, a CA
    /// file (read now), insecure only when asked for, else the system store. The `check`
    /// command's flags and the `serve` config file share this.
    ///
    /// # Errors
    /// When the CA file cannot be read.
    pub fn from_options(
        thumbprint: Option<&str>,
        ca_file: Option<&std::path::Path>,
        insecure: bool,
    ) -> std::io::Result<TlsMode> {
        Ok(match (thumbprint, ca_file) {
            (Some(t), _) => TlsMode::Thumbprint(t.to_string()),
            (None, Some(f)) => TlsMode::CaPem(std::fs::read_to_string(f)?),
            (None, None) if insecure => TlsMode::Insecure,
            (None, None) => TlsMode::System,
        })
    }
}

/// `AB:CD:...`: the SHA-256 of a DER certificate as vCenter's UI shows thumbprints.
pub fn sha256_thumbprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Normalises a thumbprint an operator typed (`ab:cd`, `ABCD`, spaces) to `AB:CD:...`;
/// `None` unless it is 32 bytes of hex.
pub fn normalize_thumbprint(input: &str) -> Option<String> {
    let hex: String = input
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect::<String>()
        .to_ascii_uppercase();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(
        hex.as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("the CA file holds no usable PEM certificate")]
    NoCaCertificate,
    #[error("the pinned thumbprint is not a SHA-256 thumbprint (64 hex digits)")]
    BadThumbprint,
    #[error("TLS set-up failed: {0}")]
    Rustls(String),
}

/// The thumbprint the server presented in the last handshake, shared with error reporting.
pub type Presented = Arc<Mutex<Option<String>>>;

#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    pin: Option<String>,
    presented: Presented,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let thumb = sha256_thumbprint(end_entity);
        if let Ok(mut p) = self.presented.lock() {
            *p = Some(thumb.clone());
        }
        if let Some(pin) = &self.pin {
            // A pin trusts exactly one certificate, whatever its chain, name or dates.
            return if *pin == thumb {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(rustls::Error::General(format!(
                    "certificate thumbprint {thumb} does not match the pinned {pin}"
                )))
            };
        }
        match &self.inner {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn roots_for(mode: &TlsMode) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    match mode {
        TlsMode::CaPem(pem) => {
            for cert in pem_certificates(pem) {
                roots
                    .add(cert)
                    .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(TlsConfigError::NoCaCertificate);
            }
        }
        _ => {
            // Unreadable system certificates are skipped: one bad file must not disable TLS.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(roots)
}

/// PEM `CERTIFICATE` blocks, decoded without another crate.
fn pem_certificates(pem: &str) -> Vec<CertificateDer<'static>> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut inside = false;
    let mut b64 = String::new();
    for line in pem.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            inside = true;
            b64.clear();
        } else if line == "-----END CERTIFICATE-----" {
            inside = false;
            if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&b64) {
                out.push(CertificateDer::from(der));
            }
        } else if inside {
            b64.push_str(line);
        }
    }
    out
}

/// A rustls client configuration for `mode`, and the slot where the presented thumbprint lands.
pub fn client_config(mode: &TlsMode) -> Result<(rustls::ClientConfig, Presented), TlsConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let presented: Presented = Arc::default();
    let (inner, pin) = match mode {
        TlsMode::Insecure => (None, None),
        TlsMode::Thumbprint(t) => (
            None,
            Some(normalize_thumbprint(t).ok_or(TlsConfigError::BadThumbprint)?),
        ),
        _ => {
            let roots = roots_for(mode)?;
            let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
            (Some(v), None)
        }
    };
    let verifier = Arc::new(Verifier {
        inner,
        pin,
        presented: presented.clone(),
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok((config, presented))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_normalise() {
        let t = "ab".repeat(32);
        let n = normalize_thumbprint(&t).expect("valid");
        assert_eq!(n.len(), 95);
        assert!(n.starts_with("AB:AB"));
        assert_eq!(normalize_thumbprint(&n), Some(n.clone()));
        assert_eq!(normalize_thumbprint("abc"), None);
        assert_eq!(normalize_thumbprint(&"zz".repeat(32)), None);
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        assert!(matches!(
            client_config(&TlsMode::CaPem("not a pem".into())),
            Err(TlsConfigError::NoCaCertificate)
        ));
        assert!(matches!(
            client_config(&TlsMode::Thumbprint("12".into())),
            Err(TlsConfigError::BadThumbprint)
        ));
    }
}
