//! The outbound sealing pipeline and the matching inbound checks.
//!
//! Order matters and follows upstream (§4.9): the identity token is set first, the
//! end-to-end signature is computed over the header AAD *with* the token, and only then is an
//! application payload encrypted, with that same AAD as MLS authenticated data. Receivers
//! rebuild the AAD from the headers they got, so any change to an authenticated header field
//! in transit breaks the signature or the AAD check.

use std::time::SystemTime;

use bytes::Bytes;
use slim_wire::aad::header_integrity_aad;
use slim_wire::proto::{self, SessionMessageType};

use super::{Identity, MlsGroup, SecurityError};
use crate::wire::{Inbound, Outbound};

/// Turns an unsealed message into the wire message: identity token, optional signature,
/// optional MLS encryption of the application payload.
pub(crate) fn seal(
    outbound: Outbound,
    identity: &mut dyn Identity,
    wall: SystemTime,
    sign: bool,
    mls: Option<&mut (dyn MlsGroup + 'static)>,
) -> Result<Box<proto::Message>, SecurityError> {
    let mut outbound = outbound;
    outbound.materialize();
    let Outbound {
        mut message, kind, ..
    } = outbound;
    let token = identity.token(wall)?;
    let Some(proto::message::MessageType::Publish(publish)) = &mut message.message_type else {
        return Ok(message);
    };
    let is_error = publish
        .header
        .as_ref()
        .and_then(|h| h.error)
        .unwrap_or(false);
    if let Some(header) = publish.header.as_mut() {
        header.identity = String::from(&*token);
    }
    let encrypt = mls.is_some()
        && matches!(kind, SessionMessageType::Msg | SessionMessageType::RtxReply)
        && !is_error;
    if !sign && !encrypt {
        return Ok(message);
    }
    let aad = header_integrity_aad(&message)
        .ok_or_else(|| SecurityError::Signature("message has no session header".into()))?;
    if sign {
        let signature = identity.sign(&aad)?;
        if !signature.is_empty()
            && let Some(proto::message::MessageType::Publish(publish)) = &mut message.message_type
            && let Some(header) = publish.header.as_mut()
        {
            header.e2e_header_sig = Some(Bytes::from(signature));
        }
    }
    if encrypt
        && let Some(group) = mls
        && let Some(proto::message::MessageType::Publish(publish)) = &mut message.message_type
        && let Some(proto::content::ContentType::AppPayload(app)) =
            publish.msg.as_mut().and_then(|c| c.content_type.as_mut())
    {
        let ciphertext = group.encrypt(&app.blob, &aad)?;
        app.blob = Bytes::from(ciphertext);
    }
    Ok(message)
}

/// Verifies a command message's token and end-to-end signature. Returns the token subject.
pub(crate) fn verify_command(
    inbound: &Inbound,
    identity: &mut dyn Identity,
    wall: SystemTime,
) -> Result<String, SecurityError> {
    // A missing signature is passed on as empty: whether that is acceptable is the
    // identity's decision (real identities refuse it; `Unverified` accepts it).
    let signature = inbound.signature().map_or(&[][..], |s| &s[..]);
    let aad = inbound
        .decoded()
        .and_then(header_integrity_aad)
        .ok_or_else(|| SecurityError::Signature("message has no session header".into()))?;
    identity.verify(inbound.identity(), &aad, signature, wall)
}

/// Decrypts an application payload in place. With `check_aad`, the MLS authenticated data
/// must equal the AAD rebuilt from the received headers.
pub(crate) fn open_app_payload(
    inbound: &mut Inbound,
    group: &mut dyn MlsGroup,
    check_aad: bool,
) -> Result<(), SecurityError> {
    let expected = if check_aad {
        Some(
            inbound
                .decoded()
                .and_then(header_integrity_aad)
                .ok_or_else(|| SecurityError::Mls("message has no session header".into()))?,
        )
    } else {
        None
    };
    let Some(app) = inbound.app_mut() else {
        return Err(SecurityError::Mls("no application payload".into()));
    };
    let decrypted = group.decrypt(&app.blob)?;
    if let Some(expected) = expected
        && decrypted.aad != expected
    {
        return Err(SecurityError::Mls(
            "authenticated data does not match the message headers".into(),
        ));
    }
    app.blob = Bytes::from(decrypted.plaintext);
    Ok(())
}
