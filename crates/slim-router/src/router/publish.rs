//! Routing publishes: the hot path.
//!
//! Order of the rules: TTL (decremented for frames from other processes, dropped at 0); then
//! `forward_to`, honoured only from local connections (a remote sender could otherwise steer
//! traffic onto any connection of this node); then the table lookup on the destination: one
//! output for fanout ≤ 1, every match for fanout > 1, never the incoming connection, and no
//! peers for a publish from a peer in full-mesh mode. Without a route the frame is dropped, and
//! a local sender is told.
//!
//! Nothing here allocates: the frame moves into its output (clones for broadcast share the
//! bytes).

use slim_wire::Frame;

use super::Router;
use crate::conn::{ConnId, ConnKind};
use crate::output::{DropReason, Output, Sink};
use crate::table::select::Filter;

impl Router {
    pub(super) fn handle_publish(
        &mut self,
        from: ConnId,
        kind: ConnKind,
        frame: Frame,
        sink: &mut impl Sink,
    ) {
        let Some(ttl) = Self::hop_ttl(kind, &frame) else {
            self.drop_frame(from, frame, DropReason::TtlExpired, sink);
            return;
        };
        if kind == ConnKind::Local {
            if let Some(target) = frame.forward_to() {
                self.forward_directly(from, ConnId(target), frame, ttl, sink);
                return;
            }
        } else if frame.forward_to().is_some() || frame.recv_from().is_some() {
            self.stats.ignored_local_fields += 1;
        }
        let Some(destination) = frame.destination() else {
            // Validated publishes always have one; treat a missing one as unroutable.
            self.no_route(from, kind, frame, sink);
            return;
        };
        let filter = Filter {
            exclude: from,
            skip_peers: self.config.full_mesh && kind == ConnKind::Peer,
        };
        if frame.fanout() <= 1 {
            match self.table.match_one(destination, filter) {
                Some(to) => self.forward(to, frame, ttl, sink),
                None => self.no_route(from, kind, frame, sink),
            }
        } else {
            let mut sent = 0u64;
            self.table.match_all(destination, filter, |to| {
                sent += 1;
                sink.push(Output::Forward {
                    to,
                    frame: frame.clone(),
                    ttl,
                });
            });
            self.stats.frames_forwarded += sent;
            if sent == 0 {
                self.no_route(from, kind, frame, sink);
            }
        }
    }

    /// `forward_to` from a local connection: straight to the named connection, no lookup.
    fn forward_directly(
        &mut self,
        from: ConnId,
        target: ConnId,
        frame: Frame,
        ttl: u32,
        sink: &mut impl Sink,
    ) {
        let refusal = if target == from {
            Some(DropReason::InvalidTarget)
        } else if !self.conns.contains(target) {
            Some(DropReason::UnknownConnection)
        } else {
            None
        };
        match refusal {
            None => self.forward(target, frame, ttl, sink),
            Some(reason) => self.refuse_local(from, frame, reason, sink),
        }
    }

    fn no_route(&mut self, from: ConnId, kind: ConnKind, frame: Frame, sink: &mut impl Sink) {
        if kind == ConnKind::Local {
            self.refuse_local(from, frame, DropReason::NoRoute, sink);
        } else {
            self.drop_frame(from, frame, DropReason::NoRoute, sink);
        }
    }

    /// Drops a local connection's publish and tells it why. Upstream reports failures only to
    /// in-process applications; remote senders are never told.
    fn refuse_local(
        &mut self,
        from: ConnId,
        frame: Frame,
        reason: DropReason,
        sink: &mut impl Sink,
    ) {
        self.stats.local_errors += 1;
        sink.push(Output::LocalError {
            to: from,
            frame: frame.clone(),
            reason,
        });
        self.drop_frame(from, frame, reason, sink);
    }
}
