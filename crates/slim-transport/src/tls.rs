//! rustls configurations built from [`crate::config`] TLS settings.
//!
//! TLS 1.3 only, ALPN `h2`, aws-lc-rs as the provider (it has the hybrid `X25519MLKEM768`
//! key exchange that post-quantum mode restricts the handshake to). Certificates and keys are
//! PEM, from files or inline text.

use std::sync::Arc;

use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{CaSource, ClientTlsConfig, ServerTlsConfig, TlsSource};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key could not be read or parsed.
    #[error("{what}: {detail}")]
    Pem {
        /// Which item (`certificate`, `private key`, `CA`), and where from.
        what: String,
        /// The parser's complaint.
        detail: String,
    },
    /// A CA file held no certificate.
    #[error("no certificate found in {0}")]
    Empty(String),
    /// rustls refused the combination (e.g. key does not match certificate).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client CA: {0}")]
    ClientVerifier(String),
    /// A server TLS config without a certificate source.
    #[error("no certificate source configured")]
    NoSource,
}

/// The provider for every TLS config, restricted to the hybrid group in post-quantum mode.
fn provider(post_quantum: bool) -> Arc<CryptoProvider> {
    let mut provider = aws_lc_rs::default_provider();
    if post_quantum {
        provider.kx_groups = vec![aws_lc_rs::kx_group::X25519MLKEM768];
    }
    Arc::new(provider)
}

fn pem_error(what: String, error: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        what,
        detail: error.to_string(),
    }
}

fn load_chain_and_key(
    source: &TlsSource,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    match source {
        TlsSource::File { cert, key } => {
            let what = format!("certificate {}", cert.display());
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| pem_error(what.clone(), e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_error(what.clone(), e))?;
            if chain.is_empty() {
                return Err(TlsError::Empty(what));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| pem_error(format!("private key {}", key.display()), e))?;
            Ok((chain, key))
        }
        TlsSource::Pem { cert, key } => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_error("inline certificate".into(), e))?;
            if chain.is_empty() {
                return Err(TlsError::Empty("inline certificate".into()));
            }
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                .map_err(|e| pem_error("inline private key".into(), e))?;
            Ok((chain, key))
        }
    }
}

fn load_roots(source: &CaSource) -> Result<RootCertStore, TlsError> {
    let (what, certs) = match source {
        CaSource::File { path } => {
            let what = format!("CA {}", path.display());
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| pem_error(what.clone(), e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_error(what.clone(), e))?;
            (what, certs)
        }
        CaSource::Pem { data } => (
            "inline CA".to_owned(),
            CertificateDer::pem_slice_iter(data.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_error("inline CA".into(), e))?,
        ),
    };
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| pem_error(what.clone(), e))?;
    }
    if roots.is_empty() {
        return Err(TlsError::Empty(what));
    }
    Ok(roots)
}

fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::debug!(%error, "skipping part of the system trust store");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "loaded system trust store");
    roots
}

/// The rustls config of a TLS server (mutual TLS when `client_ca` is set).
pub fn server_config(
    tls: &ServerTlsConfig,
    post_quantum: bool,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let source = tls.source.as_ref().ok_or(TlsError::NoSource)?;
    let (chain, key) = load_chain_and_key(source)?;
    let provider = provider(post_quantum);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(load_roots(ca)?),
                provider,
            )
            .build()
            .map_err(|e| TlsError::ClientVerifier(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The rustls config of a dialing link.
pub fn client_config(
    tls: &ClientTlsConfig,
    post_quantum: bool,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = provider(post_quantum);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
    } else {
        let roots = match &tls.ca_source {
            Some(ca) => load_roots(ca)?,
            None => system_roots(),
        };
        builder.with_root_certificates(roots)
    };
    let mut config = match &tls.source {
        Some(source) => {
            let (chain, key) = load_chain_and_key(source)?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake signature is
/// still checked against the certificate the server presented.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
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
