//! [`SharedSecretProvider`]: mints shared-secret tokens and reuses each one for a while.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use rand_core::{CryptoRng, RngCore};
use serde_json::Value;

use super::token::{self, HmacSha256};
use super::{NONCE_LEN, SharedSecretError, SharedSecretProviderConfig, keyed_mac};
use crate::claims::PUBKEY_CLAIM;
use crate::identity::{IdentityProvider, ProviderError, unix_seconds};
use crate::keys::SigningKey;

/// Proves identity with a shared secret. See the [module docs](super) for the format.
pub struct SharedSecretProvider {
    token_id: String,
    mac: HmacSha256,
    /// The encoded claims field; it never changes, so it is built once.
    claims_field: String,
    signing_key: SigningKey,
    refresh_interval_secs: u64,
    state: Mutex<MintState>,
}

struct MintState {
    rng: Box<dyn RngCore + Send>,
    cached: Option<(u64, Arc<str>)>,
}

impl SharedSecretProvider {
    /// Builds a provider whose randomness (id suffix, nonces) comes from the OS.
    pub fn new(
        config: &SharedSecretProviderConfig,
        signing_key: SigningKey,
    ) -> Result<Self, SharedSecretError> {
        Self::with_rng(config, signing_key, rand_core::OsRng)
    }

    /// Builds a provider drawing its randomness from `rng` (seed it for reproducible tests).
    pub fn with_rng<R>(
        config: &SharedSecretProviderConfig,
        signing_key: SigningKey,
        mut rng: R,
    ) -> Result<Self, SharedSecretError>
    where
        R: RngCore + CryptoRng + Send + 'static,
    {
        token::validate_base_id(&config.id)?;
        let mac = keyed_mac(&config.secret)?;
        if config.custom_claims.contains_key(PUBKEY_CLAIM) {
            return Err(SharedSecretError::ReservedClaim(PUBKEY_CLAIM.to_owned()));
        }
        let mut claims = config.custom_claims.clone();
        claims.insert(
            PUBKEY_CLAIM.to_owned(),
            Value::String(signing_key.public_key_base64()),
        );
        let token_id = format!("{}_{}", config.id, token::random_suffix(&mut rng));
        Ok(Self {
            token_id,
            mac,
            claims_field: token::encode_claims(&claims),
            signing_key,
            refresh_interval_secs: config.refresh_interval_secs,
            state: Mutex::new(MintState {
                rng: Box::new(rng),
                cached: None,
            }),
        })
    }

    /// Rebuilds a provider with a token id saved earlier (from [`IdentityProvider::token_id`]),
    /// so a restarted application keeps its instance id. The id must start with the
    /// configured base id and contain no `:` or whitespace.
    pub fn restore<R>(
        config: &SharedSecretProviderConfig,
        signing_key: SigningKey,
        token_id: &str,
        rng: R,
    ) -> Result<Self, SharedSecretError>
    where
        R: RngCore + CryptoRng + Send + 'static,
    {
        token::validate_base_id(token_id)?;
        if !token_id.starts_with(config.id.as_str()) {
            return Err(SharedSecretError::InvalidId(
                "saved token id does not extend the configured id",
            ));
        }
        let mut provider = Self::with_rng(config, signing_key, rng)?;
        provider.token_id = token_id.to_owned();
        Ok(provider)
    }

    /// Mints a fresh token dated `now`, bypassing (and not updating) the cache.
    pub fn mint(&self, now: SystemTime) -> Result<String, ProviderError> {
        let issued_at = unix_seconds(now).ok_or(ProviderError::ClockBeforeEpoch)?;
        let mut state = self.lock();
        Ok(self.mint_at(&mut state, issued_at))
    }

    fn mint_at(&self, state: &mut MintState, issued_at: u64) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        state.rng.fill_bytes(&mut nonce);
        token::mint(
            &self.mac,
            &self.token_id,
            issued_at,
            &nonce,
            &self.claims_field,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MintState> {
        // Minting cannot panic while holding the lock; a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl IdentityProvider for SharedSecretProvider {
    fn token(&self, now: SystemTime) -> Result<Arc<str>, ProviderError> {
        let now = unix_seconds(now).ok_or(ProviderError::ClockBeforeEpoch)?;
        let mut state = self.lock();
        if let Some((issued_at, token)) = &state.cached
            // A clock that went backwards gets a fresh token rather than one from its future.
            && *issued_at <= now
            && now - *issued_at < self.refresh_interval_secs
        {
            return Ok(Arc::clone(token));
        }
        let token: Arc<str> = self.mint_at(&mut state, now).into();
        state.cached = Some((now, Arc::clone(&token)));
        Ok(token)
    }

    fn token_id(&self) -> &str {
        &self.token_id
    }

    fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }
}

impl std::fmt::Debug for SharedSecretProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSecretProvider")
            .field("token_id", &self.token_id)
            .field("refresh_interval_secs", &self.refresh_interval_secs)
            .finish_non_exhaustive()
    }
}
