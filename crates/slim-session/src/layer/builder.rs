//! Building a [`SessionLayer`], and the [`Payload`] of a publish.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use slim_wire::Name;

use super::SessionLayer;
use crate::config::LayerConfig;
use crate::fast_hash::{FastMap, FastSet};
use crate::io::Io;
use crate::security::{Identity, MlsProvider, ReplayGuard};

/// An application payload to publish.
///
/// ```
/// use slim_session::Payload;
/// let payload = Payload::new(&b"{\"q\":1}"[..])
///     .with_type("application/json")
///     .with_metadata("trace", "abc");
/// assert_eq!(payload.payload_type.as_deref(), Some("application/json"));
/// // Plain bytes and strings convert directly.
/// let simple: Payload = "hello".into();
/// assert_eq!(simple.blob, &b"hello"[..]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payload {
    /// The bytes (encrypted on the wire when the session uses MLS).
    pub blob: Bytes,
    /// Payload type; `"msg"` when `None`.
    pub payload_type: Option<String>,
    /// Application metadata sent with the message.
    pub metadata: HashMap<String, String>,
}

impl Payload {
    /// A payload with the default type and no metadata.
    pub fn new(blob: impl Into<Bytes>) -> Self {
        Payload {
            blob: blob.into(),
            ..Default::default()
        }
    }

    /// Sets the payload type.
    pub fn with_type(mut self, payload_type: impl Into<String>) -> Self {
        self.payload_type = Some(payload_type.into());
        self
    }

    /// Adds a metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

impl From<Bytes> for Payload {
    fn from(blob: Bytes) -> Self {
        Payload::new(blob)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(blob: Vec<u8>) -> Self {
        Payload::new(blob)
    }
}

impl From<&'static [u8]> for Payload {
    fn from(blob: &'static [u8]) -> Self {
        Payload::new(blob)
    }
}

impl From<String> for Payload {
    fn from(text: String) -> Self {
        Payload::new(text)
    }
}

impl From<&'static str> for Payload {
    fn from(text: &'static str) -> Self {
        Payload::new(text)
    }
}

/// Why a layer could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The application name must carry its own instance id (not the any-instance id).
    #[error("the application name needs a specific instance id")]
    NoInstanceId,
}

/// Builds a [`SessionLayer`].
pub struct SessionLayerBuilder {
    pub(super) name: Name,
    pub(super) identity: Box<dyn Identity>,
    pub(super) mls: Option<Box<dyn MlsProvider>>,
    pub(super) config: LayerConfig,
    pub(super) seed: Option<u64>,
}

impl SessionLayerBuilder {
    /// Replaces the default [`LayerConfig`].
    pub fn config(mut self, config: LayerConfig) -> Self {
        self.config = config;
        self
    }

    /// Enables MLS sessions with this provider.
    pub fn mls(mut self, provider: impl MlsProvider + 'static) -> Self {
        self.mls = Some(Box::new(provider));
        self
    }

    /// Enables MLS sessions with a boxed provider.
    pub fn mls_boxed(mut self, provider: Box<dyn MlsProvider>) -> Self {
        self.mls = Some(provider);
        self
    }

    /// Seeds the RNG (session ids, message ids, channel ids). Drivers pass OS randomness;
    /// tests pass a constant for reproducible runs. Without a seed, 0 is used.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the layer. `now` and `wall` anchor the layer's clock: identity tokens are
    /// stamped with `wall + (later now - now)`.
    pub fn build(self, now: Instant, wall: SystemTime) -> Result<SessionLayer, BuildError> {
        if self.name.id().is_any() {
            return Err(BuildError::NoInstanceId);
        }
        Ok(SessionLayer {
            replay: ReplayGuard::new(
                self.config.replay_senders,
                self.config.replay_ids_per_sender,
            ),
            config: self.config,
            me: self.name,
            aliases: Vec::new(),
            identity: self.identity,
            mls: self.mls,
            rng: StdRng::seed_from_u64(self.seed.unwrap_or(0)),
            clock: (now, wall),
            sessions: FastMap::default(),
            deadlines: BTreeSet::new(),
            unscheduled: Vec::new(),
            io: Io::new(),
            closed: VecDeque::new(),
            closed_set: FastSet::default(),
            leftovers: VecDeque::new(),
            transmit_blocked: FastSet::default(),
            headers: crate::wire::HeaderCache::default(),
            names: crate::wire::NameCache::default(),
            tokens: crate::wire::TokenCache::default(),
        })
    }
}
