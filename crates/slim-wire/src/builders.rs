//! Builders for the messages nodes and applications originate.
//!
//! They fill in what every message of a kind needs (names in both forms, default TTL, version)
//! so callers state only what differs.

use std::collections::HashMap;

use bytes::Bytes;

use crate::name::Name;
use crate::proto::{self, message::MessageType};

/// A routing header from `source` to `destination` with the default TTL.
pub fn header(source: &Name, destination: &Name, fanout: u32) -> proto::SlimHeader {
    proto::SlimHeader {
        source: Some(source.to_proto()),
        destination: Some(destination.to_proto()),
        fanout,
        ttl: crate::DEFAULT_TTL,
        version: crate::WIRE_VERSION.to_owned(),
        ..Default::default()
    }
}

fn envelope(message_type: MessageType) -> proto::Message {
    proto::Message {
        message_type: Some(message_type),
        metadata: HashMap::new(),
    }
}

/// Subscribe `subscriber` to `name`; a non-zero `subscription_id` asks for an ack.
pub fn subscribe(subscriber: &Name, name: &Name, subscription_id: u64) -> proto::Message {
    envelope(MessageType::Subscribe(proto::Subscribe {
        header: Some(header(subscriber, name, 1)),
        subscription_id,
    }))
}

/// Withdraw `subscriber`'s subscription to `name`.
pub fn unsubscribe(subscriber: &Name, name: &Name, subscription_id: u64) -> proto::Message {
    envelope(MessageType::Unsubscribe(proto::Unsubscribe {
        header: Some(header(subscriber, name, 1)),
        subscription_id,
    }))
}

/// Answer to a subscribe or unsubscribe that carried `subscription_id`.
pub fn subscription_ack(subscription_id: u64, error: Option<String>) -> proto::Message {
    envelope(MessageType::SubscriptionAck(proto::SubscriptionAck {
        subscription_id,
        success: error.is_none(),
        error: error.unwrap_or_default(),
    }))
}

/// An application payload outside any session (session type unspecified, ids zero), as raw
/// data-plane clients and load generators send.
pub fn publish(
    source: &Name,
    destination: &Name,
    fanout: u32,
    payload_type: &str,
    blob: Bytes,
) -> proto::Message {
    envelope(MessageType::Publish(proto::Publish {
        header: Some(header(source, destination, fanout)),
        session: Some(proto::SessionHeader::default()),
        msg: Some(proto::Content {
            content_type: Some(proto::content::ContentType::AppPayload(
                proto::ApplicationPayload {
                    payload_type: payload_type.to_owned(),
                    blob,
                },
            )),
        }),
    }))
}

/// The link-negotiation envelope around a payload.
pub fn link_negotiation(payload: proto::LinkNegotiationPayload) -> proto::Message {
    envelope(MessageType::Link(proto::Link {
        link_type: Some(proto::link::LinkType::LinkNegotiation(payload)),
    }))
}
