//! TLS settings of servers and clients. The rustls configurations are built from these in
//! `crate::tls`.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

/// A certificate chain and its private key.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum TlsSource {
    /// PEM files on disk.
    File {
        /// Certificate chain (PEM), leaf first.
        cert: PathBuf,
        /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// PEM text inline (handy with `${env:...}` substitution).
    Pem {
        /// Certificate chain (PEM).
        cert: String,
        /// Private key (PEM).
        key: String,
    },
}

/// A set of trusted CA certificates.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum CaSource {
    /// A PEM file of one or more certificates.
    File {
        /// Path of the PEM file.
        path: PathBuf,
    },
    /// PEM text inline.
    Pem {
        /// The certificates (PEM).
        data: String,
    },
}

/// TLS of a listening endpoint. TLS 1.3 only.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// Serve plaintext HTTP/2. Default false; setting neither this nor `source` is an error.
    pub insecure: bool,
    /// The server's certificate and key.
    pub source: Option<TlsSource>,
    /// Require client certificates signed by these CAs (mutual TLS). Also accepted as
    /// `ca_source` (upstream's name).
    #[serde(alias = "ca_source")]
    pub client_ca: Option<CaSource>,
}

impl ServerTlsConfig {
    /// True when this describes a TLS server.
    pub fn enabled(&self) -> bool {
        !self.insecure && self.source.is_some()
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match (self.insecure, &self.source) {
            (true, Some(_)) => Err(ConfigError::new(
                "insecure",
                "set either insecure: true or a certificate source, not both",
            )),
            (false, None) => Err(ConfigError::new(
                "source",
                "required unless insecure: true (a certificate and key for TLS)",
            )),
            (true, None) if self.client_ca.is_some() => Err(ConfigError::new(
                "client_ca",
                "client certificates need TLS (remove insecure: true and add a source)",
            )),
            _ => Ok(()),
        }
    }
}

/// TLS of an outgoing link. TLS 1.3 only.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTlsConfig {
    /// Dial a bare `host:port` in plaintext. Default false.
    pub insecure: bool,
    /// Accept any server certificate. For tests only: it defeats TLS authentication.
    pub insecure_skip_verify: bool,
    /// Client certificate and key, for servers that require mutual TLS.
    pub source: Option<TlsSource>,
    /// CAs trusted to sign the server certificate. Default: the system's trust store.
    pub ca_source: Option<CaSource>,
}

impl ClientTlsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.insecure_skip_verify && self.ca_source.is_some() {
            return Err(ConfigError::new(
                "insecure_skip_verify",
                "contradicts ca_source (nothing is verified)",
            ));
        }
        Ok(())
    }
}
