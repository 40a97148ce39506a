//! `HeaderIntegrityAad`: the canonical bytes that bind a publish's header to its payload.
//!
//! The same encoding is the AAD of MLS application messages and the input of end-to-end
//! control-message signatures. Receivers rebuild it from the headers they got and compare, so
//! it must be produced by a canonical proto3 encoder (prost) from exactly these fields.

use prost::Message as _;

use crate::proto;

/// The only AAD version defined.
pub const AAD_VERSION: u32 = 1;

/// Encodes the AAD of a publish as it is (identity set, before encryption). Returns `None` for
/// messages that are not publishes or lack a header or session header.
pub fn header_integrity_aad(message: &proto::Message) -> Option<Vec<u8>> {
    let Some(proto::message::MessageType::Publish(publish)) = &message.message_type else {
        return None;
    };
    let header = publish.header.as_ref()?;
    let session = publish.session.as_ref()?;
    let payload_type = match publish.msg.as_ref().and_then(|c| c.content_type.as_ref()) {
        Some(proto::content::ContentType::AppPayload(app)) => app.payload_type.clone(),
        _ => String::new(),
    };
    let aad = proto::HeaderIntegrityAad {
        version: AAD_VERSION,
        source: header.source.clone(),
        destination: header.destination.clone(),
        identity: header.identity.clone(),
        session_type: session.session_type,
        session_message_type: session.session_message_type,
        session_id: session.session_id,
        message_id: session.message_id,
        payload_type,
    };
    Some(aad.encode_to_vec())
}
