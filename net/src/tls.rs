//! TLS (rustls, ring backend) for the Gremlin and admin ports: loading the certificate chain
//! and private key from PEM files into a server configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Where the server's certificate chain and private key are (PEM).
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert_chain_path: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key_path: PathBuf,
}

/// Why TLS could not be set up.
#[derive(Debug)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tls: {}", self.0)
    }
}

impl std::error::Error for TlsError {}

fn pem_error(path: &Path, what: &str, e: impl std::fmt::Display) -> TlsError {
    TlsError(format!("{}: {what}: {e}", path.display()))
}

/// A rustls server configuration (TLS 1.2 and 1.3, no client certificates, HTTP/1.1 ALPN).
pub fn server_config(config: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&config.cert_chain_path)
            .map_err(|e| pem_error(&config.cert_chain_path, "certificates", e))?
            .collect::<Result<_, _>>()
            .map_err(|e| pem_error(&config.cert_chain_path, "certificates", e))?;
    if certs.is_empty() {
        return Err(pem_error(
            &config.cert_chain_path,
            "certificates",
            "no CERTIFICATE block",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&config.private_key_path)
        .map_err(|e| pem_error(&config.private_key_path, "private key", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError(format!("certificate and key do not fit: {e}")))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}
