//! End-to-end header signatures on control messages (upstream §4.9).
//!
//! The sender signs the `HeaderIntegrityAad` encoding of a publish
//! ([`slim_wire::aad::header_integrity_aad`]) with its signature key and puts the signature
//! in `SLIMHeader.e2e_header_sig`. Order matters: the identity token is set first (it is part
//! of the AAD) and the signature is computed before MLS encryption (which does not touch the
//! header, so the AAD the receiver rebuilds is the one that was signed).
//!
//! The receiver verifies the identity token with its [`IdentityVerifier`], takes the sender's
//! public key from the token's `pubkey` claim, rebuilds the AAD from the headers it received
//! and checks the signature. Nodes never do this; only endpoints.
//!
//! Signatures use the scheme of the key (see [`crate::keys`]): DER ECDSA P-256/SHA-256 or
//! Ed25519, selected on verification from the public-key length.

use std::time::SystemTime;

use bytes::Bytes;
use slim_wire::aad::header_integrity_aad;
use slim_wire::proto;

use crate::claims::{Claims, PubkeyError};
use crate::identity::{IdentityProvider, IdentityVerifier, ProviderError, VerifyError};
use crate::keys::{SignatureError, SigningKey};

/// Signs header AAD bytes.
pub fn sign_header(key: &SigningKey, aad: &[u8]) -> Vec<u8> {
    key.sign(aad)
}

/// Verifies a header signature with the raw public key bytes from a `pubkey` claim.
pub fn verify_header(
    public_key: &[u8],
    aad: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    crate::keys::verify(public_key, aad, signature)
}

/// Why a message could not be stamped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StampError {
    /// The message is not a publish with a SLIM header and a session header.
    #[error("only publishes with SLIM and session headers carry identities")]
    NotAPublish,
    /// The provider could not produce a token.
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// Why a message's identity or header signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageAuthError {
    /// The message is not a publish with a SLIM header and a session header.
    #[error("only publishes with SLIM and session headers carry identities")]
    NotAPublish,
    /// `SLIMHeader.identity` is empty.
    #[error("message carries no identity token")]
    MissingIdentity,
    /// `SLIMHeader.e2e_header_sig` is absent or empty.
    #[error("message carries no header signature")]
    MissingSignature,
    /// The identity token was rejected.
    #[error("identity token rejected: {0}")]
    Token(#[from] VerifyError),
    /// The token's `pubkey` claim is missing or unusable.
    #[error(transparent)]
    Pubkey(#[from] PubkeyError),
    /// The header signature does not verify under the token's key.
    #[error("header signature rejected: {0}")]
    Signature(#[from] SignatureError),
}

fn publish_header_mut(message: &mut proto::Message) -> Option<&mut proto::SlimHeader> {
    match &mut message.message_type {
        Some(proto::message::MessageType::Publish(publish)) if publish.session.is_some() => {
            publish.header.as_mut()
        }
        _ => None,
    }
}

fn publish_header(message: &proto::Message) -> Option<&proto::SlimHeader> {
    match &message.message_type {
        Some(proto::message::MessageType::Publish(publish)) if publish.session.is_some() => {
            publish.header.as_ref()
        }
        _ => None,
    }
}

/// Puts the provider's current token in the message's identity field and, when `sign` is set
/// (control messages), signs the resulting header. Clears any stale signature when not
/// signing, because the old one no longer matches the new identity.
pub fn stamp_message(
    message: &mut proto::Message,
    provider: &dyn IdentityProvider,
    now: SystemTime,
    sign: bool,
) -> Result<(), StampError> {
    let token = provider.token(now)?;
    let header = publish_header_mut(message).ok_or(StampError::NotAPublish)?;
    header.identity.clear();
    header.identity.push_str(&token);
    header.e2e_header_sig = None;
    if sign {
        sign_message(message, provider.signing_key())?;
    }
    Ok(())
}

/// Signs a publish whose identity is already set, storing the signature in
/// `e2e_header_sig`.
pub fn sign_message(message: &mut proto::Message, key: &SigningKey) -> Result<(), StampError> {
    let aad = header_integrity_aad(message).ok_or(StampError::NotAPublish)?;
    let signature = sign_header(key, &aad);
    let header = publish_header_mut(message).ok_or(StampError::NotAPublish)?;
    header.e2e_header_sig = Some(Bytes::from(signature));
    Ok(())
}

/// Verifies a received publish: its identity token (with `verifier`, as of `now`) and its
/// header signature under the token's `pubkey`. Returns the sender's claims.
pub fn verify_message(
    message: &proto::Message,
    verifier: &dyn IdentityVerifier,
    now: SystemTime,
) -> Result<Claims, MessageAuthError> {
    let header = publish_header(message).ok_or(MessageAuthError::NotAPublish)?;
    let signature = header
        .e2e_header_sig
        .as_deref()
        .filter(|signature| !signature.is_empty())
        .ok_or(MessageAuthError::MissingSignature)?;
    let aad = header_integrity_aad(message).ok_or(MessageAuthError::NotAPublish)?;
    verify_signed_header(verifier, &header.identity, &aad, signature, now)
}

/// The same check for callers that hold the parts rather than a decoded message.
pub fn verify_signed_header(
    verifier: &dyn IdentityVerifier,
    identity: &str,
    aad: &[u8],
    signature: &[u8],
    now: SystemTime,
) -> Result<Claims, MessageAuthError> {
    if identity.is_empty() {
        return Err(MessageAuthError::MissingIdentity);
    }
    if signature.is_empty() {
        return Err(MessageAuthError::MissingSignature);
    }
    let claims = verifier.verify(identity, now)?;
    let public_key = claims.pubkey_bytes()?;
    verify_header(&public_key, aad, signature)?;
    Ok(claims)
}

#[cfg(test)]
mod tests;
