//! [`AppConfig`]: everything an [`crate::App`] can be tuned with, and [`AppIdentity`]: how it
//! proves who it is.
//!
//! The defaults suit agents backed by language models, whose peers may think for minutes
//! between two messages: nothing times out because an application is slow to answer, only
//! because the network or a peer process is gone. Every bound on memory is one of the
//! numbers below or in [`LayerConfig`].

use std::time::Duration;

use slim_auth::config::{IdentityProviderConfig, IdentityVerifierConfig};
use slim_auth::shared_secret::{SharedSecretProviderConfig, SharedSecretVerifierConfig};
use slim_session::LayerConfig;
use slim_transport::ClientConfig;
use slim_transport::config::BackoffConfig;

/// How an application proves its identity and checks its peers'.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once per application; boxing would only hurt users
pub enum AppIdentity {
    /// Upstream's shared-secret tokens: every application holding the same secret (at least
    /// 32 bytes) trusts the others. The token id is the application name plus a random
    /// suffix, as upstream's `create_app_with_secret` does.
    SharedSecret(String),
    /// Any provider and verifier `slim-auth` can build (shared secret with custom claims,
    /// JWT signed locally, a static JWT from a file; JWT verification with keys from PEM,
    /// JWK or JWKS files).
    Configs {
        /// How this application proves its identity.
        provider: IdentityProviderConfig,
        /// How it checks its peers.
        verifier: IdentityVerifierConfig,
    },
}

impl AppIdentity {
    /// The provider and verifier configurations, with `name` as the default token id.
    pub(crate) fn configs(&self, name: &str) -> (IdentityProviderConfig, IdentityVerifierConfig) {
        match self {
            AppIdentity::SharedSecret(secret) => (
                IdentityProviderConfig::SharedSecret(SharedSecretProviderConfig::new(
                    name,
                    secret.clone(),
                )),
                IdentityVerifierConfig::SharedSecret(SharedSecretVerifierConfig::new(
                    secret.clone(),
                )),
            ),
            AppIdentity::Configs { provider, verifier } => (provider.clone(), verifier.clone()),
        }
    }
}

/// Settings of an [`crate::App`].
///
/// ```
/// use std::time::Duration;
/// use slim_client::AppConfig;
///
/// let mut config = AppConfig::new("http://127.0.0.1:46357");
/// config.layer.drain_timeout = Duration::from_secs(5);   // close faster
/// config.session_buffer = 1024;                           // read in larger batches
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// The link to the node: endpoint (`http://` plaintext, `https://` TLS, `unix://`), TLS
    /// and mTLS settings, keepalive, reconnection backoff. Default endpoint
    /// `http://127.0.0.1:46357`; backoff exponential from 100 ms to 2 s, never giving up (a
    /// restarted node is found again quickly, and sessions survive the gap).
    pub link: ClientConfig,
    /// Session protocol settings shared by every session: flow-control windows, buffers,
    /// control timers, heartbeats, drain and join timeouts.
    pub layer: LayerConfig,
    /// MLS ciphersuite for sessions with MLS on. Default `P256` (0x0002, upstream's default);
    /// the application's signature key is generated to fit it.
    pub mls_suite: slim_mls::Suite,
    /// Post-quantum link keys (X25519 + ML-KEM-768) in the link negotiation. Default false.
    pub post_quantum_link: bool,
    /// Most frames the driver takes from the link per read (fewer while a fire-and-forget
    /// session's buffer is nearly full). Default 256.
    pub inbox_capacity: usize,
    /// How long a subscription may wait for the node's acknowledgement. Default 10 s.
    pub subscription_timeout: Duration,
    /// Received messages a session hands to its [`crate::Session`] ahead of the application
    /// reading them (the rest wait in the session layer, which stops acknowledging when its
    /// own buffer is full). Default 256.
    pub session_buffer: usize,
    /// Publishes a session queues for the session layer before `publish` waits for room.
    /// Default 256.
    pub publish_queue: usize,
    /// Participant sessions announced but not yet taken with [`crate::App::accept`]; more
    /// invitations are closed at once. Default 1024.
    pub accept_queue: usize,
    /// Longest time [`crate::App::close`] waits for its sessions to finish closing. Default
    /// 45 s (the layer's 30 s drain plus one control exchange).
    pub shutdown_timeout: Duration,
}

impl AppConfig {
    /// Settings to reach the node at `endpoint`, everything else at its default.
    pub fn new(endpoint: impl Into<String>) -> Self {
        AppConfig {
            link: default_link(endpoint),
            layer: LayerConfig::default(),
            mls_suite: slim_mls::Suite::P256,
            post_quantum_link: false,
            inbox_capacity: 256,
            subscription_timeout: Duration::from_secs(10),
            session_buffer: 256,
            publish_queue: 256,
            accept_queue: 1024,
            shutdown_timeout: Duration::from_secs(45),
        }
    }
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig::new(format!(
            "http://127.0.0.1:{}",
            slim_transport::config::DEFAULT_PORT
        ))
    }
}

/// The default link to the node at `endpoint`: exponential backoff from 100 ms to 2 s, never
/// giving up.
pub(crate) fn default_link(endpoint: impl Into<String>) -> ClientConfig {
    let mut link = ClientConfig::with_endpoint(endpoint);
    link.backoff = BackoffConfig::Exponential {
        base: Duration::from_millis(100),
        factor: 2.0,
        max_delay: Duration::from_secs(2),
        jitter: true,
        max_attempts: None,
    };
    link
}
