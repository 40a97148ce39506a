//! Tagged configuration of identity providers and verifiers, and their construction as the
//! trait objects the session layer holds.
//!
//! ```yaml
//! identity:                       # IdentityProviderConfig
//!   type: shared_secret           # or jwt, static_jwt
//!   id: org/ns/alice
//!   secret: ${env:SLIM_SECRET}
//! verifier:                       # IdentityVerifierConfig
//!   type: jwt                     # or shared_secret
//!   key: { algorithm: ES256, format: jwks, key: { file: /etc/slim/jwks.json } }
//!   audience: [slim]
//! ```
//!
//! Field defaults are documented on each variant's struct.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::identity::{IdentityProvider, IdentityVerifier, ProviderError};
use crate::jwt::keys::KeyLoadError;
use crate::jwt::{
    JwtProvider, JwtProviderConfig, JwtProviderError, JwtVerifier, JwtVerifierConfig,
    StaticJwtConfig, StaticJwtProvider,
};
use crate::keys::SigningKey;
use crate::revocation::RevocationList;
use crate::shared_secret::{
    SharedSecretError, SharedSecretProvider, SharedSecretProviderConfig, SharedSecretVerifier,
    SharedSecretVerifierConfig,
};

/// How this application proves its identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IdentityProviderConfig {
    /// Shared-secret tokens (upstream-compatible).
    SharedSecret(SharedSecretProviderConfig),
    /// JWTs signed with a local key.
    Jwt(JwtProviderConfig),
    /// A JWT issued elsewhere, read from a file.
    StaticJwt(StaticJwtConfig),
}

/// How this application checks its peers' identities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IdentityVerifierConfig {
    /// Shared-secret tokens (upstream-compatible).
    SharedSecret(SharedSecretVerifierConfig),
    /// JWTs.
    Jwt(JwtVerifierConfig),
}

/// Why a provider or verifier could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Shared-secret settings are invalid.
    #[error(transparent)]
    SharedSecret(#[from] SharedSecretError),
    /// JWT provider settings are invalid.
    #[error(transparent)]
    JwtProvider(#[from] JwtProviderError),
    /// JWT keys could not be loaded.
    #[error(transparent)]
    JwtKey(#[from] KeyLoadError),
    /// The static token could not be read.
    #[error(transparent)]
    StaticToken(#[from] ProviderError),
}

impl IdentityProviderConfig {
    /// Builds the provider around the application's signature key.
    pub fn build(&self, signing_key: SigningKey) -> Result<Arc<dyn IdentityProvider>, ConfigError> {
        Ok(match self {
            Self::SharedSecret(config) => Arc::new(SharedSecretProvider::new(config, signing_key)?),
            Self::Jwt(config) => Arc::new(JwtProvider::new(config, signing_key)?),
            Self::StaticJwt(config) => Arc::new(StaticJwtProvider::new(config, signing_key)?),
        })
    }
}

impl IdentityVerifierConfig {
    /// Builds the verifier, consulting `revocation` on every verification when given.
    pub fn build(
        &self,
        revocation: Option<RevocationList>,
    ) -> Result<Arc<dyn IdentityVerifier>, ConfigError> {
        Ok(match self {
            Self::SharedSecret(config) => {
                let verifier = SharedSecretVerifier::new(config)?;
                match revocation {
                    Some(list) => Arc::new(verifier.with_revocation(list)),
                    None => Arc::new(verifier),
                }
            }
            Self::Jwt(config) => {
                let verifier = JwtVerifier::new(config)?;
                match revocation {
                    Some(list) => Arc::new(verifier.with_revocation(list)),
                    None => Arc::new(verifier),
                }
            }
        })
    }
}
