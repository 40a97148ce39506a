//! Synchronous, sans-IO MLS (RFC 9420) for SLIM sessions.
//!
//! The session layer drives this crate: the moderator creates a group and adds, removes and
//! rejoins members, each change producing a commit for the existing members and a welcome for
//! the new one; participants make key packages, join from welcomes and apply commits in order;
//! everyone encrypts application payloads with the message's header AAD and decrypts what the
//! others sent. Nothing here does I/O, spawns threads or reads a clock: the caller passes `now`.
//!
//! # Library choice
//!
//! Built on **mls-rs 0.57** with the **aws-lc** crypto provider (`mls-rs-crypto-awslc` 0.27,
//! feature `post-quantum`), the same library and provider upstream SLIM uses (the 3.3.8 Python
//! wheel embeds mls-rs 0.56.0 and aws-lc-rs 1.18.1; provider 0.26's sources match 0.27 except
//! for dependency versions). This gives:
//!
//! * byte-level wire interop on suite 0x0002 (P-256) and 0x0001 (X25519/Ed25519): key packages,
//!   welcomes, commits and private messages are produced by the same code with the same
//!   configuration (see `client.rs` for the explicit settings);
//! * a real post-quantum suite: mls-rs' private-use code point 0xFE4C (`ML_KEM_768_X25519`),
//!   whose HPKE KEM in the aws-lc provider is the X-Wing combiner of ML-KEM-768 and X25519,
//!   available only with the provider's `post-quantum` feature; the other primitives are those
//!   of 0x0001 (AES-128-GCM, SHA-256, Ed25519 signatures).
//!
//! openmls was not chosen: its experimental X-Wing suite is a different one (code point 0x004D,
//! ChaCha20-Poly1305), so it cannot join upstream's post-quantum groups, and interop of its key
//! package capabilities and extensions with mls-rs was never tested by upstream.
//! `mls-rs-crypto-rustcrypto` was not needed: aws-lc builds here (cmake and libclang are
//! installed), it is upstream's provider, and the 0xFE4C X-Wing KEM lives in it. Default mls-rs features are used except `rayon` (no thread pool in a
//! sans-IO crate; it only parallelises tree hashing and does not change the wire).
//!
//! # Identity
//!
//! Credentials are `BasicCredential`s whose identifier is the member's identity token; the leaf's
//! signature key is the application's key, whose public half the token's `pubkey` claim names.
//! The application decides who may be a member through a [`MemberValidator`]; this crate does
//! not parse tokens.
//!
//! # Files
//!
//! * `suite.rs`: [`Suite`], the three ciphersuites and their code points.
//! * `identity.rs`: [`MlsIdentity`], key encodings and key pair checks.
//! * `validator.rs`: [`MemberValidator`] and its adapter to mls-rs' `IdentityProvider`.
//! * `client.rs`: [`MlsClient`] (groups and key packages), [`PendingJoin`], mls-rs settings.
//! * `group.rs`: [`MlsGroup`]: state, accessors, encryption, decryption, export.
//! * `group/commit.rs`: commits made (add, remove, rejoin) and received (`process_commit`).
//! * `state.rs`: export and import of a group's state.
//! * `error.rs`: one error enum per operation family.

#![forbid(unsafe_code)]

mod client;
mod error;
mod group;
mod identity;
mod state;
mod suite;
mod validator;

pub use client::{MlsClient, MlsSettings, PendingJoin};
pub use error::{
    CommitError, CreateError, DecryptError, EncryptError, IdentityError, JoinError,
    ProcessCommitError, StateError,
};
pub use group::{CommitApplied, CommitOutput, Decrypted, MlsGroup};
pub use identity::MlsIdentity;
pub use suite::{SignatureScheme, Suite};
pub use validator::{MemberId, MemberValidator};
