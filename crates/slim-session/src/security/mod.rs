//! The narrow boundary between the session protocol and its cryptography.
//!
//! The layer needs three things from the outside, each a small trait:
//!
//! - [`Identity`]: the app's identity token for every outbound header, signatures over the
//!   header AAD of command messages, and verification of a peer's token + signature.
//! - [`MlsProvider`]: per-app MLS (key packages, creating and joining groups).
//! - [`MlsGroup`]: one session's MLS group (add/remove/rejoin commits, commit processing,
//!   encryption with the header AAD).
//!
//! The implementations for production use are [`AuthIdentity`] (tokens and header signatures
//! from `slim-auth`) and [`SlimMls`] (RFC 9420 through `slim-mls`, members validated by their
//! `slim-auth` tokens with [`TokenValidator`]). [`Unverified`] signs and checks nothing, for
//! tests and closed deployments.
//!
//! Layout: `mod.rs` traits and errors, `auth.rs` and `mls.rs` the adapters, `seal.rs` the
//! outbound pipeline (token, signature, encryption) and inbound checks, `replay.rs` the
//! per-sender replay guard.

mod auth;
mod mls;
mod replay;
mod seal;

pub use auth::{AuthIdentity, TokenValidator};
pub use mls::SlimMls;
pub(crate) use replay::ReplayGuard;
pub(crate) use seal::{open_app_payload, seal, verify_command};

use std::sync::Arc;
use std::time::SystemTime;

/// Why a cryptographic operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    /// Token creation or verification failed.
    #[error("identity: {0}")]
    Identity(String),
    /// A signature is missing, malformed or wrong.
    #[error("signature: {0}")]
    Signature(String),
    /// An MLS operation failed.
    #[error("mls: {0}")]
    Mls(String),
    /// The ciphertext belongs to an epoch this member has not reached yet; decryption may
    /// succeed after the next commit.
    #[error("mls: message from a future epoch")]
    FutureEpoch,
}

/// The application's identity, as used by the session protocol (§4.9 of the reference).
pub trait Identity: Send {
    /// The token to put in `SLIMHeader.identity` of a message sent at `now`. Implementations
    /// cache tokens and refresh them before they expire; the token is shared, not copied,
    /// because data messages only compare it with the one their header template carries.
    fn token(&mut self, now: SystemTime) -> Result<Arc<str>, SecurityError>;

    /// Signs `data` (the encoded `HeaderIntegrityAad` of a command message) with the key
    /// bound to the token's `pubkey` claim.
    fn sign(&mut self, data: &[u8]) -> Result<Vec<u8>, SecurityError>;

    /// Verifies a peer's token at `now` and its `signature` over `data` with the key the
    /// token binds. Returns the token's subject.
    fn verify(
        &mut self,
        token: &str,
        data: &[u8],
        signature: &[u8],
        now: SystemTime,
    ) -> Result<String, SecurityError>;
}

/// An identity that sends a fixed token, signs nothing and accepts everything.
///
/// For tests and closed deployments only: upstream peers always verify the discovery
/// request's token and signature, so they reject an application using it.
#[derive(Clone, Debug, Default)]
pub struct Unverified {
    token: Arc<str>,
}

impl Unverified {
    /// Sends `token` (may be empty) in every header.
    pub fn new(token: impl Into<String>) -> Self {
        Unverified {
            token: Arc::from(token.into()),
        }
    }
}

impl Identity for Unverified {
    fn token(&mut self, _now: SystemTime) -> Result<Arc<str>, SecurityError> {
        Ok(self.token.clone())
    }

    fn sign(&mut self, _data: &[u8]) -> Result<Vec<u8>, SecurityError> {
        Ok(Vec::new())
    }

    fn verify(
        &mut self,
        token: &str,
        _data: &[u8],
        _signature: &[u8],
        _now: SystemTime,
    ) -> Result<String, SecurityError> {
        Ok(token.to_owned())
    }
}

/// How an MLS group names a member (derived from its credential by the MLS layer, stable for
/// the life of the group).
pub type MemberId = String;

/// The outcome of adding (or re-adding) a member.
#[derive(Clone, Debug)]
pub struct MemberAdded {
    /// The commit to send to the existing members (serialized MLSMessage).
    pub commit: Vec<u8>,
    /// The welcome for the new member (serialized MLSMessage, with ratchet tree).
    pub welcome: Vec<u8>,
    /// How to refer to the new member in later removals.
    pub member: MemberId,
}

/// A decrypted application message.
#[derive(Clone, Debug)]
pub struct Decrypted {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The authenticated data it was encrypted with.
    pub aad: Vec<u8>,
}

/// The application's MLS client: one per app, shared by its sessions. Operations that admit
/// members take `now`, against which credentials and key package lifetimes are checked.
pub trait MlsProvider: Send {
    /// A fresh key package (serialized MLSMessage) to join a group; the provider keeps its
    /// private keys until a welcome consumes them.
    fn key_package(&mut self, now: SystemTime) -> Result<Vec<u8>, SecurityError>;

    /// Creates a group with this app as its only member (moderator).
    fn create_group(
        &mut self,
        group_id: &[u8],
        now: SystemTime,
    ) -> Result<Box<dyn MlsGroup>, SecurityError>;

    /// Joins a group from a welcome addressed to one of this app's key packages.
    fn join_group(
        &mut self,
        welcome: &[u8],
        now: SystemTime,
    ) -> Result<Box<dyn MlsGroup>, SecurityError>;
}

/// One session's MLS group.
pub trait MlsGroup: Send {
    /// The current epoch.
    fn epoch(&self) -> u64;

    /// Adds the holder of `key_package` and applies the commit locally.
    fn add_member(
        &mut self,
        key_package: &[u8],
        now: SystemTime,
    ) -> Result<MemberAdded, SecurityError>;

    /// Removes a member and applies the commit locally; returns the commit.
    fn remove_member(&mut self, member: &str, now: SystemTime) -> Result<Vec<u8>, SecurityError>;

    /// Replaces a member's leaf with a fresh key package in one commit (remove + add) and
    /// applies it locally.
    fn rejoin_member(
        &mut self,
        member: &str,
        key_package: &[u8],
        now: SystemTime,
    ) -> Result<MemberAdded, SecurityError>;

    /// Applies a commit received from the moderator.
    fn process_commit(&mut self, commit: &[u8], now: SystemTime) -> Result<(), SecurityError>;

    /// Encrypts an application message with `aad` as authenticated data.
    fn encrypt(&mut self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SecurityError>;

    /// Decrypts an application message. A message from an epoch not reached yet fails with
    /// [`SecurityError::FutureEpoch`] (the session holds it for the next commit).
    fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Decrypted, SecurityError>;
}
