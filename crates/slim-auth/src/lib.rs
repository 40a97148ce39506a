//! Application identities for SLIM: who sent a message, proven end to end.
//!
//! Every message an application sends carries an identity token in `SLIMHeader.identity`;
//! control messages also carry a signature over their header (`e2e_header_sig`) made with the
//! key named by the token's `pubkey` claim. Routing nodes never look at either: endpoints
//! verify them, and MLS binds the same token and key to each group member. Everything here is
//! wire-compatible with upstream SLIM (`slim-bindings` 3.3.x) and does no I/O of its own
//! except reading key and token files named in configuration; time is always passed in.
//!
//! Layout:
//!
//! - [`keys`]: [`SigningKey`] / [`VerifyingKey`] — ECDSA P-256 (default) and Ed25519, with the
//!   byte encodings upstream uses.
//! - [`identity`]: the [`IdentityProvider`] and [`IdentityVerifier`] traits the session layer
//!   holds, and their errors; [`claims`]: the [`Claims`] every verifier returns.
//! - [`shared_secret`]: the `id:ts:nonce:claims:mac` HMAC tokens.
//! - [`jwt`]: JWT provider, static-token provider, verifier with rotatable keys (PEM, JWK,
//!   JWKS).
//! - [`revocation`]: a runtime revocation list shared by verifiers (beyond upstream).
//! - [`header`]: signing and verifying control-message headers, and the full receive check.
//! - [`credential`]: the MLS member check (token verifies, its `pubkey` is the leaf's key).
//! - [`replay`]: per-sender memory of control-message ids.
//! - [`config`]: serde configuration of providers and verifiers.
//!
//! Typical use by the session layer:
//!
//! ```
//! use std::time::SystemTime;
//! use slim_auth::{SigningKey, SignatureScheme, IdentityProvider as _};
//! use slim_auth::config::{IdentityProviderConfig, IdentityVerifierConfig};
//! use slim_auth::shared_secret::{SharedSecretProviderConfig, SharedSecretVerifierConfig};
//!
//! let secret = "a shared secret of at least 32 bytes!";
//! let key = SigningKey::generate(SignatureScheme::EcdsaP256Sha256, &mut rand_core::OsRng);
//! let provider = IdentityProviderConfig::SharedSecret(SharedSecretProviderConfig::new("org/ns/app", secret))
//!     .build(key)?;
//! let verifier = IdentityVerifierConfig::SharedSecret(SharedSecretVerifierConfig::new(secret))
//!     .build(None)?;
//!
//! let now = SystemTime::now();
//! let instance_id = slim_wire::hash::instance_id_for(provider.token_id());
//! let token = provider.token(now)?;                // put in SLIMHeader.identity
//! let claims = verifier.verify(&token, now)?;      // on the receiving side
//! assert_eq!(claims.sub, provider.token_id());
//! # let _ = instance_id;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod claims;
pub mod config;
pub mod credential;
pub mod header;
pub mod identity;
pub mod jwt;
pub mod keys;
pub mod replay;
pub mod revocation;
pub mod shared_secret;

pub use claims::Claims;
pub use identity::{IdentityProvider, IdentityVerifier, ProviderError, VerifyError};
pub use keys::{SignatureScheme, SigningKey, VerifyingKey};
pub use revocation::RevocationList;
