//! Counters the router keeps for metrics: drops by reason and the notable events of
//! subscription handling. Gauges (table sizes) are computed when [`crate::Router::stats`] is
//! called.

use crate::output::DropReason;

/// A snapshot of the router's counters and table sizes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Frames handed to the router.
    pub frames_received: u64,
    /// Received frames sent on (once per destination connection).
    pub frames_forwarded: u64,
    /// Frames the router made and sent (acks, propagation, replays).
    pub frames_originated: u64,
    /// Error notifications sent to local connections.
    pub local_errors: u64,
    /// Frames from non-local connections whose `forward_to` / `recv_from` fields were ignored.
    pub ignored_local_fields: u64,
    /// Subscribe/unsubscribe frames sent to peers because a name became (un)reachable here.
    pub propagated: u64,
    /// Subscribe/unsubscribe frames from a peer relayed to the other peers.
    pub relayed: u64,
    /// Downstream subscriptions resent after an acknowledgement timeout.
    pub ack_retries: u64,
    /// Downstream subscriptions that were never acknowledged after every retry.
    pub ack_timeouts: u64,
    /// Positive acknowledgements received from peers for propagated subscriptions.
    pub peer_acks_ok: u64,
    /// Negative acknowledgements received from peers (they never fail the original request).
    pub peer_acks_failed: u64,
    /// Dropped frames, indexed like [`DropReason::ALL`].
    pub drops: [u64; DropReason::ALL.len()],
    /// Live connections.
    pub connections: usize,
    /// Routes: distinct (name, connection) pairs in the table.
    pub routes: usize,
    /// Subscription references (a route covered by two subscription ids counts twice).
    pub subscriptions: usize,
    /// Subscription ids remembered for loop prevention.
    pub seen_ids: usize,
    /// Downstream acknowledgements being waited for.
    pub pending_acks: usize,
}

impl RouterStats {
    /// How many frames were dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    /// Frames dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
    }
}
