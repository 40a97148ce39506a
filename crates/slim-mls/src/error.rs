//! One small error enum per operation family.
//!
//! Callers mostly need to tell three things apart: the input was not what it claims to be
//! (garbage, wrong kind of message, wrong group), the protocol state does not allow it now
//! (wrong epoch, unknown member, removed), or a peer's identity was refused. Everything else the
//! library reports is wrapped as `Library` with its own message.

use mls_rs::error::MlsError;
use thiserror::Error;

use crate::{MemberId, Suite};

/// Why an identity (credential + signature key pair) cannot be used.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The credential (identity token) is empty.
    #[error("the credential (identity token) is empty")]
    EmptyCredential,
    /// The secret key has a length the suite's signature scheme cannot use.
    #[error("signing secret of {len} bytes does not fit {suite}")]
    SecretKeyLength {
        /// The suite the key was meant for.
        suite: Suite,
        /// The length given.
        len: usize,
    },
    /// The public key has a length the suite's signature scheme cannot use.
    #[error("signing public key of {len} bytes does not fit {suite}")]
    PublicKeyLength {
        /// The suite the key was meant for.
        suite: Suite,
        /// The length given.
        len: usize,
    },
    /// The public key is not the one that belongs to the secret key.
    #[error("the signing public key does not match the signing secret")]
    KeyPairMismatch,
    /// The member validator cannot name our own credential.
    #[error("the member validator cannot identify our own credential: {0}")]
    Unidentifiable(String),
    /// The crypto provider refused the key material.
    #[error("crypto provider: {0}")]
    Crypto(String),
}

/// Why a key package or a new group could not be made.
#[derive(Debug, Error)]
pub enum CreateError {
    /// Group ids must not be empty.
    #[error("the group id is empty")]
    EmptyGroupId,
    /// The library failed.
    #[error("mls-rs: {0}")]
    Library(#[from] MlsError),
}

/// Why a welcome could not be joined.
#[derive(Debug, Error)]
pub enum JoinError {
    /// The bytes are not an MLS message.
    #[error("malformed MLS message: {0}")]
    Malformed(MlsError),
    /// The message is an MLS message but not a welcome.
    #[error("expected a welcome, got a {0} message")]
    NotAWelcome(&'static str),
    /// The welcome uses another suite than ours.
    #[error("the welcome uses suite 0x{got:04X}, we use {ours}")]
    WrongSuite {
        /// Our suite.
        ours: Suite,
        /// The suite code in the welcome.
        got: u16,
    },
    /// The welcome was not made for our pending key package (or it was already used).
    #[error("the welcome is not addressed to our key package")]
    NotForUs,
    /// A member of the group was refused by the member validator.
    #[error("a group member was refused: {0}")]
    MemberRejected(String),
    /// The library failed.
    #[error("mls-rs: {0}")]
    Library(MlsError),
}

/// Why a commit (add, remove, rejoin) could not be made by this member.
#[derive(Debug, Error)]
pub enum CommitError {
    /// The bytes are not an MLS message.
    #[error("malformed key package: {0}")]
    Malformed(MlsError),
    /// The message is an MLS message but not a key package.
    #[error("expected a key package, got a {0} message")]
    NotAKeyPackage(&'static str),
    /// The key package uses another suite than the group.
    #[error("the key package uses suite 0x{got:04X}, the group uses {group}")]
    WrongSuite {
        /// The group's suite.
        group: Suite,
        /// The suite code in the key package.
        got: u16,
    },
    /// The key package's owner was refused by the member validator.
    #[error("the new member was refused: {0}")]
    MemberRejected(String),
    /// The key package belongs to someone already in the group (use a rejoin instead).
    #[error("{0} is already a member")]
    AlreadyMember(MemberId),
    /// No member with this id is in the group.
    #[error("{0} is not a member")]
    UnknownMember(MemberId),
    /// A rejoin's key package belongs to someone else than the member it replaces.
    #[error("the key package belongs to {found}, not to {expected}")]
    IdentityMismatch {
        /// The member being rejoined.
        expected: MemberId,
        /// The owner of the key package.
        found: MemberId,
    },
    /// A member cannot remove or rejoin itself with a commit of its own.
    #[error("a member cannot remove itself")]
    CannotRemoveSelf,
    /// This member was removed from the group; the group is closed.
    #[error("we were removed from the group")]
    Removed,
    /// The library failed.
    #[error("mls-rs: {0}")]
    Library(MlsError),
}

/// Why a received commit was not applied. The group state is unchanged in every case.
#[derive(Debug, Error)]
pub enum ProcessCommitError {
    /// The bytes are not an MLS message.
    #[error("malformed MLS message: {0}")]
    Malformed(MlsError),
    /// The message is a valid MLS message but not a commit.
    #[error("expected a commit, got a {0} message")]
    NotACommit(&'static str),
    /// The commit belongs to another group.
    #[error("the commit belongs to another group")]
    WrongGroup,
    /// The commit is for an epoch this member has already left: a duplicate or a replay.
    #[error("stale commit for epoch {commit_epoch}, the group is at epoch {group_epoch}")]
    StaleEpoch {
        /// The epoch the commit was made in.
        commit_epoch: u64,
        /// Our current epoch.
        group_epoch: u64,
    },
    /// The commit is for a later epoch: earlier commits are missing and must be applied first.
    #[error("commit for future epoch {commit_epoch}, the group is at epoch {group_epoch}")]
    FutureEpoch {
        /// The epoch the commit was made in.
        commit_epoch: u64,
        /// Our current epoch.
        group_epoch: u64,
    },
    /// A member added or updated by the commit was refused by the member validator.
    #[error("a member was refused: {0}")]
    MemberRejected(String),
    /// The commit carries a proposal SLIM members cannot follow (ReInit, ExternalInit).
    #[error("commits with {0} proposals are not supported")]
    Unsupported(&'static str),
    /// This member was removed from the group; the group is closed.
    #[error("we were removed from the group")]
    Removed,
    /// The library refused the commit (bad signature, bad tree, ...).
    #[error("mls-rs: {0}")]
    Library(MlsError),
}

/// Why a message could not be encrypted.
#[derive(Debug, Error)]
pub enum EncryptError {
    /// This member was removed from the group; the group is closed.
    #[error("we were removed from the group")]
    Removed,
    /// The library failed.
    #[error("mls-rs: {0}")]
    Library(#[from] MlsError),
}

/// Why a received message could not be decrypted. The group state is unchanged in every case.
#[derive(Debug, Error)]
pub enum DecryptError {
    /// The bytes are not an MLS message.
    #[error("malformed MLS message: {0}")]
    Malformed(MlsError),
    /// The message is a valid MLS message but not an encrypted application message.
    #[error("expected an application message, got a {0} message")]
    NotApplication(&'static str),
    /// The message belongs to another group.
    #[error("the message belongs to another group")]
    WrongGroup,
    /// The message was sent in an epoch we have not reached (a commit is missing).
    #[error("message for future epoch {message_epoch}, the group is at epoch {group_epoch}")]
    FutureEpoch {
        /// The epoch the message was sent in.
        message_epoch: u64,
        /// Our current epoch.
        group_epoch: u64,
    },
    /// The message was sent in an epoch whose keys are no longer kept.
    #[error("message for epoch {message_epoch} whose keys are gone (group at {group_epoch})")]
    EpochUnavailable {
        /// The epoch the message was sent in.
        message_epoch: u64,
        /// Our current epoch.
        group_epoch: u64,
    },
    /// The key of this message was used already: it is a duplicate or a replay, or a damaged
    /// copy of it arrived first and used the key up. Either way the message cannot be read.
    #[error("the key of generation {generation} was already used (duplicate or replay)")]
    KeyAlreadyUsed {
        /// The sender's message generation in its epoch.
        generation: u32,
    },
    /// The message was sent by this member itself (an echo of its own broadcast).
    #[error("the message is our own")]
    OwnMessage,
    /// This member was removed from the group; the group is closed.
    #[error("we were removed from the group")]
    Removed,
    /// The library refused the message (authentication failure, ...).
    #[error("mls-rs: {0}")]
    Library(MlsError),
}

/// Why a group state could not be exported or imported.
#[derive(Debug, Error)]
pub enum StateError {
    /// The bytes are not a state exported by this crate.
    #[error("not an exported slim-mls group state")]
    Malformed,
    /// The state belongs to another identity or suite than the client importing it.
    #[error("the state belongs to another identity or suite")]
    NotOurs,
    /// This member was removed from the group; there is nothing to export.
    #[error("we were removed from the group")]
    Removed,
    /// The library failed.
    #[error("mls-rs: {0}")]
    Library(#[from] MlsError),
}

/// The short name of an MLS message kind, for error messages.
pub(crate) fn kind_name(format: mls_rs::WireFormat) -> &'static str {
    match format {
        mls_rs::WireFormat::PublicMessage => "public",
        mls_rs::WireFormat::PrivateMessage => "private",
        mls_rs::WireFormat::Welcome => "welcome",
        mls_rs::WireFormat::GroupInfo => "group info",
        mls_rs::WireFormat::KeyPackage => "key package",
        _ => "unknown",
    }
}
