//! Unit tests of the routing rules, each driving one [`Router`] through a recording sink.
//!
//! `publish.rs`: forwarding; `subscription.rs`: subscribe/unsubscribe, acks, local fields,
//! loops; `propagation.rs`: peers; `lifecycle.rs`: connections coming and going.

mod lifecycle;
mod propagation;
mod publish;
mod subscription;

use std::time::{Duration, Instant};

use slim_wire::proto::message::MessageType;
use slim_wire::proto::{self, SlimHeader};
use slim_wire::{Frame, FrameKind, Name, builders};

use super::Router;
use crate::config::RouterConfig;
use crate::conn::{ConnId, ConnKind};
use crate::output::{DropReason, Output};

/// A router, a clock and the outputs of the last call.
pub(super) struct Harness {
    pub(super) router: Router,
    pub(super) now: Instant,
}

impl Harness {
    pub(super) fn new() -> Self {
        Self::with(RouterConfig::default())
    }

    pub(super) fn with(config: RouterConfig) -> Self {
        Harness {
            router: Router::new(config, 1),
            now: Instant::now(),
        }
    }

    pub(super) fn add(&mut self, conn: u64, kind: ConnKind) -> Vec<Output> {
        let mut out = Vec::new();
        self.router
            .add_connection(ConnId(conn), kind, self.now, &mut out);
        out
    }

    pub(super) fn remove(&mut self, conn: u64) -> Vec<Output> {
        let mut out = Vec::new();
        self.router
            .remove_connection(ConnId(conn), self.now, &mut out);
        out
    }

    pub(super) fn recv(&mut self, from: u64, frame: Frame) -> Vec<Output> {
        let mut out = Vec::new();
        self.router
            .handle_frame(ConnId(from), frame, self.now, &mut out);
        out
    }

    pub(super) fn advance(&mut self, by: Duration) -> Vec<Output> {
        self.now += by;
        let mut out = Vec::new();
        self.router.handle_timeout(self.now, &mut out);
        out
    }
}

pub(super) fn name(text: &str) -> Name {
    text.parse().unwrap()
}

fn header_mut(message: &mut proto::Message) -> &mut SlimHeader {
    match message.message_type.as_mut().unwrap() {
        MessageType::Subscribe(s) => s.header.as_mut().unwrap(),
        MessageType::Unsubscribe(u) => u.header.as_mut().unwrap(),
        MessageType::Publish(p) => p.header.as_mut().unwrap(),
        _ => panic!("no header"),
    }
}

/// Encodes `message` after letting `edit` change its header.
pub(super) fn edited(mut message: proto::Message, edit: impl FnOnce(&mut SlimHeader)) -> Frame {
    edit(header_mut(&mut message));
    Frame::from_message(&message).unwrap()
}

pub(super) fn sub(to: &str, id: u64) -> Frame {
    Frame::from_message(&builders::subscribe(&name(to), &name(to), id)).unwrap()
}

pub(super) fn unsub(to: &str, id: u64) -> Frame {
    Frame::from_message(&builders::unsubscribe(&name(to), &name(to), id)).unwrap()
}

pub(super) fn sub_with(to: &str, id: u64, edit: impl FnOnce(&mut SlimHeader)) -> Frame {
    edited(builders::subscribe(&name(to), &name(to), id), edit)
}

pub(super) fn unsub_with(to: &str, id: u64, edit: impl FnOnce(&mut SlimHeader)) -> Frame {
    edited(builders::unsubscribe(&name(to), &name(to), id), edit)
}

pub(super) fn publish(to: &str, fanout: u32) -> Frame {
    let message = builders::publish(&name("org/ns/sender"), &name(to), fanout, "msg", "x".into());
    Frame::from_message(&message).unwrap()
}

pub(super) fn publish_with(to: &str, fanout: u32, edit: impl FnOnce(&mut SlimHeader)) -> Frame {
    let message = builders::publish(&name("org/ns/sender"), &name(to), fanout, "msg", "x".into());
    edited(message, edit)
}

pub(super) fn ack_frame(id: u64, error: Option<&str>) -> Frame {
    Frame::from_message(&builders::subscription_ack(id, error.map(str::to_owned))).unwrap()
}

/// Destinations of the transmissions in `out`, in order.
pub(super) fn targets(out: &[Output]) -> Vec<u64> {
    out.iter()
        .filter_map(|o| o.transmission().map(|(to, _, _)| to.0))
        .collect()
}

/// Transmissions of one frame kind: (destination, subscription id, ttl).
pub(super) fn sent_of(out: &[Output], kind: FrameKind) -> Vec<(u64, u64, u32)> {
    out.iter()
        .filter_map(|o| o.transmission())
        .filter(|(_, frame, _)| frame.kind() == kind)
        .map(|(to, frame, ttl)| (to.0, frame.subscription_id(), ttl))
        .collect()
}

/// Acknowledgements in `out`: (destination, id, success).
pub(super) fn acks(out: &[Output]) -> Vec<(u64, u64, bool)> {
    out.iter()
        .filter_map(|o| o.transmission())
        .filter(|(_, frame, _)| frame.kind() == FrameKind::SubscriptionAck)
        .map(|(to, frame, _)| {
            let success = match frame.decode().unwrap().message_type {
                Some(MessageType::SubscriptionAck(a)) => a.success,
                _ => panic!("not an ack"),
            };
            (to.0, frame.subscription_id(), success)
        })
        .collect()
}

/// Drop reasons in `out`.
pub(super) fn drops(out: &[Output]) -> Vec<DropReason> {
    out.iter()
        .filter_map(|o| match o {
            Output::Dropped { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

/// Local error notifications in `out`: (destination, reason).
pub(super) fn local_errors(out: &[Output]) -> Vec<(u64, DropReason)> {
    out.iter()
        .filter_map(|o| match o {
            Output::LocalError { to, reason, .. } => Some((to.0, *reason)),
            _ => None,
        })
        .collect()
}

/// Forwarded publishes: (destination, ttl).
pub(super) fn publishes(out: &[Output]) -> Vec<(u64, u32)> {
    sent_of(out, FrameKind::Publish)
        .into_iter()
        .map(|(to, _, ttl)| (to, ttl))
        .collect()
}
