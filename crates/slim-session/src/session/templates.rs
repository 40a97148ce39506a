//! [`Templates`]: the encoded routing headers of a session's data messages and
//! acknowledgements, kept so each one is not encoded again.
//!
//! A session sends its data to one peer or channel and acknowledges a handful of senders,
//! always with its own name, the same fanout and the same identity token: the routing header
//! (most of a small message's bytes: two names with their strings, and the token) repeats.
//! Sessions without MLS therefore hand their `Msg` and `MsgAck` messages to the layer as
//! frames built from a [`PublishTemplate`] of that header (see `Session::send`), without ever
//! writing the header into the message (`Outbound::route`); the bytes are exactly what
//! sealing and encoding the message would give. A template serves only the route (names
//! with their strings, fanout) and token it was made for, so a refreshed token or another
//! destination simply makes a new one. The set is small and replaced round-robin.

use std::sync::Arc;

use slim_wire::Frame;
use slim_wire::frame::PublishTemplate;
use slim_wire::proto::message::MessageType;

use crate::wire::{Outbound, Route};

/// Headers kept: a point-to-point session needs one, a group one per sender it acknowledges
/// and one for its channel.
const SLOTS: usize = 8;

#[derive(Debug, Default)]
pub(super) struct Templates {
    /// The route and token a template was made for, and the template.
    slots: Vec<(Route, Arc<str>, PublishTemplate)>,
    next: usize,
}

impl Templates {
    /// The frame `out` sealed with `token` (and nothing else: no signature, no encryption)
    /// encodes to, or `None` when its routing header is already written or the frame builder
    /// refuses it (the caller then seals and queues the message, which reports the problem).
    pub fn frame(&mut self, out: &Outbound, token: &Arc<str>) -> Option<Frame> {
        let route = out.route.as_ref()?;
        let Some(MessageType::Publish(publish)) = &out.message.message_type else {
            return None;
        };
        let session = publish.session.as_ref()?;
        let index = match self
            .slots
            .iter()
            .position(|(r, t, _)| same_route(r, route) && same_token(t, token))
        {
            Some(index) => index,
            None => self.insert(route, token)?,
        };
        let (_, _, template) = self.slots.get(index)?;
        template
            .publish(session, publish.msg.as_ref(), &out.message.metadata)
            .ok()
    }

    fn insert(&mut self, route: &Route, token: &Arc<str>) -> Option<usize> {
        let header = slim_wire::proto::SlimHeader {
            identity: token.to_string(),
            ..slim_wire::builders::header(&route.source, &route.destination, route.fanout)
        };
        let entry = (
            route.clone(),
            Arc::clone(token),
            PublishTemplate::new(&header).ok()?,
        );
        if self.slots.len() < SLOTS {
            self.slots.push(entry);
            return Some(self.slots.len() - 1);
        }
        let index = self.next;
        self.next = (self.next + 1) % SLOTS;
        *self.slots.get_mut(index)? = entry;
        Some(index)
    }
}

/// True when both tokens are the same text; the provider hands out one shared token until
/// it refreshes it, so the pointer nearly always answers without comparing ~230 bytes.
fn same_token(kept: &Arc<str>, token: &Arc<str>) -> bool {
    Arc::ptr_eq(kept, token) || kept == token
}

/// True when both routes encode to the same header: names equal down to their strings (a
/// name may travel with or without them), same fanout.
fn same_route(a: &Route, b: &Route) -> bool {
    a.fanout == b.fanout
        && a.destination.same_encoding(&b.destination)
        && a.source.same_encoding(&b.source)
}
