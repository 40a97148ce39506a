//! JWT identities: a signing provider, a static-token provider and a verifier.
//!
//! Upstream-compatible shape: tokens carry `iss`, `sub`, `aud` (array), `exp`, `iat`, `nbf` and
//! the custom claim `pubkey` at the top level; the header's `kid` is the subject. Verifiers
//! accept `pubkey` at the top level or under `custom_claims`, and when a token's `kid` names
//! no configured key they try every key of the token's algorithm (upstream's `kid` is the
//! subject, not a key id).
//!
//! Algorithms: HS256/384/512, ES256/384, RS256/384/512, PS256/384/512 (upstream's list) and
//! EdDSA (Ed25519). Keys come as PEM (for HMAC: the raw secret), a JWK, or a JWKS, inline or
//! from a file. The crypto is RustCrypto through `jsonwebtoken`'s `rust_crypto` backend; no
//! clock is read (expiry is checked against the `now` passed in).
//!
//! Files: [`keys`] loads key material and holds the rotatable [`JwtKeySet`], `provider.rs`
//! signs ([`JwtProvider`]), `static_token.rs` serves a token file ([`StaticJwtProvider`]),
//! `verifier.rs` verifies ([`JwtVerifier`]).

use std::fmt;
use std::str::FromStr;
use std::sync::Once;

use serde::{Deserialize, Serialize};

pub mod keys;
mod provider;
mod static_token;
mod verifier;

pub use keys::{JwtKeyConfig, JwtKeySet, KeyData, KeyFormat, KeyLoadError};
pub use provider::{JwtProvider, JwtProviderConfig, JwtProviderError};
pub use static_token::{StaticJwtConfig, StaticJwtProvider};
pub use verifier::{JwtVerifier, JwtVerifierConfig};

/// Longest JWT a verifier looks at.
pub const MAX_JWT_LEN: usize = 16 * 1024;

/// Default token lifetime of [`JwtProvider`], seconds.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3600;

/// Default seconds a [`JwtProvider`] reuses a signed token.
pub const DEFAULT_REFRESH_INTERVAL_SECS: u64 = 300;

/// Default clock leeway of [`JwtVerifier`], seconds (the common JWT library default).
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// A JWS signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// Ed25519.
    EdDSA,
}

/// The families that share key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Hmac,
    Ecdsa,
    Rsa,
    Ed,
}

impl JwtAlgorithm {
    pub(crate) fn family(self) -> Family {
        use JwtAlgorithm::*;
        match self {
            HS256 | HS384 | HS512 => Family::Hmac,
            ES256 | ES384 => Family::Ecdsa,
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Family::Rsa,
            EdDSA => Family::Ed,
        }
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            JwtAlgorithm::HS256 => A::HS256,
            JwtAlgorithm::HS384 => A::HS384,
            JwtAlgorithm::HS512 => A::HS512,
            JwtAlgorithm::ES256 => A::ES256,
            JwtAlgorithm::ES384 => A::ES384,
            JwtAlgorithm::RS256 => A::RS256,
            JwtAlgorithm::RS384 => A::RS384,
            JwtAlgorithm::RS512 => A::RS512,
            JwtAlgorithm::PS256 => A::PS256,
            JwtAlgorithm::PS384 => A::PS384,
            JwtAlgorithm::PS512 => A::PS512,
            JwtAlgorithm::EdDSA => A::EdDSA,
        }
    }

    pub(crate) fn from_jsonwebtoken(algorithm: jsonwebtoken::Algorithm) -> Self {
        use jsonwebtoken::Algorithm as A;
        match algorithm {
            A::HS256 => JwtAlgorithm::HS256,
            A::HS384 => JwtAlgorithm::HS384,
            A::HS512 => JwtAlgorithm::HS512,
            A::ES256 => JwtAlgorithm::ES256,
            A::ES384 => JwtAlgorithm::ES384,
            A::RS256 => JwtAlgorithm::RS256,
            A::RS384 => JwtAlgorithm::RS384,
            A::RS512 => JwtAlgorithm::RS512,
            A::PS256 => JwtAlgorithm::PS256,
            A::PS384 => JwtAlgorithm::PS384,
            A::PS512 => JwtAlgorithm::PS512,
            A::EdDSA => JwtAlgorithm::EdDSA,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The name is not a supported JWS algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported JWT algorithm {0}")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for JwtAlgorithm {
    type Err = UnknownAlgorithm;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        jsonwebtoken::Algorithm::from_str(name)
            .map(Self::from_jsonwebtoken)
            .map_err(|_| UnknownAlgorithm(name.to_owned()))
    }
}

/// Selects the pure-Rust crypto backend of `jsonwebtoken` for this process. Needed because
/// another crate of the build may enable the library's other backend too, in which case it
/// refuses to pick one on its own. Installing fails harmlessly if a provider is already set.
pub(crate) fn ensure_crypto_backend() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _already_installed = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
            .install_default()
            .is_err();
    });
}

/// Claims that JWT registers; everything else is a custom claim.
pub(crate) const REGISTERED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip() {
        for name in [
            "HS256", "HS384", "HS512", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256",
            "PS384", "PS512", "EdDSA",
        ] {
            let algorithm: JwtAlgorithm = name.parse().unwrap();
            assert_eq!(algorithm.to_string(), name);
            let json = serde_json::to_string(&algorithm).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(
                JwtAlgorithm::from_jsonwebtoken(algorithm.to_jsonwebtoken()),
                algorithm
            );
        }
        assert!("none".parse::<JwtAlgorithm>().is_err());
    }
}
