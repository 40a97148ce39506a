//! The layer's output queues and the context handed to a session for one input.
//!
//! A session never owns I/O: every input (message, timeout, command) gets a [`Ctx`] that
//! borrows the layer's clock, identity, MLS provider, RNG and output queues ([`Io`]). What a
//! session sends is sealed (token, signature, encryption) by the session itself, because only
//! it holds its MLS group, and pushed to `Io::transmit`.

use std::collections::{HashMap, VecDeque};
use std::time::{Instant, SystemTime};

use rand::Rng;
use rand::rngs::StdRng;
use slim_wire::{Frame, proto};

use crate::config::LayerConfig;
use crate::event::{CompletionError, CompletionId, Event, SessionId, SubscriptionId};
use crate::security::{Identity, MlsProvider};

/// Counters of what the layer dropped or refused, for metrics and debugging. New counters
/// may be added: read the fields, do not build the struct.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Received messages that were not valid session messages.
    pub invalid: u64,
    /// Received messages for no known session (and not an invitation).
    pub unknown_session: u64,
    /// Messages of a session here that were addressed to someone else: neither to this
    /// application nor to the session's channel. An honest node never delivers them; a
    /// relay that does could otherwise replay a member's removal to every member.
    pub misaddressed: u64,
    /// Data messages from senders that are not (yet) members of the session.
    pub unknown_sender: u64,
    /// Command messages whose token or signature did not verify.
    pub verification_failed: u64,
    /// Repeated signed command messages (replays or retransmissions).
    pub replayed: u64,
    /// Application payloads that could not be decrypted (held or dropped).
    pub decrypt_failed: u64,
    /// Outbound messages dropped because sealing (token, signature, encryption) failed.
    pub seal_failed: u64,
    /// Data messages dropped because the receiver's buffers were full (the sender retries).
    pub receive_overflow: u64,
    /// Fire-and-forget messages dropped because the application did not read in time.
    pub unreliable_dropped: u64,
    /// Data messages retransmitted (sender side) or requested again (receiver side).
    pub retransmissions: u64,
    /// Unread messages of closed sessions dropped because too many closed sessions held
    /// some (the driver neither read nor discarded them).
    pub leftovers_discarded: u64,
    /// Subscription answers ignored because nothing waited for them any more: the id was
    /// already answered, its channel given up or its session closed, or it was never handed
    /// out (a driver repeating or delaying the node's answers).
    pub stale_subscription_answers: u64,
}

/// One message for the node: sealed as a message, or already encoded as a frame (data and
/// acknowledgements of sessions without MLS, built from a cached header).
#[derive(Debug, Clone)]
pub(crate) enum Transmit {
    Message(Box<proto::Message>),
    Frame(Frame),
}

/// The layer's output queues and id counters.
#[derive(Debug)]
pub(crate) struct Io {
    pub transmit: VecDeque<Transmit>,
    pub events: VecDeque<Event>,
    pub stats: Stats,
    /// Which session asked for each subscription still open (to route the driver's answer).
    pub subscribers: HashMap<SubscriptionId, SessionId>,
    next_completion: u64,
    next_subscription: u64,
}

impl Io {
    pub fn new() -> Self {
        Io {
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            subscribers: HashMap::new(),
            next_completion: 1,
            next_subscription: 1,
        }
    }

    /// A fresh completion id.
    pub fn completion(&mut self) -> CompletionId {
        let id = CompletionId(self.next_completion);
        self.next_completion += 1;
        id
    }

    /// Reports a completion.
    pub fn complete(&mut self, id: CompletionId, result: Result<(), CompletionError>) {
        self.events.push_back(Event::Completed { id, result });
    }

    /// A fresh subscription request id for `session`, whose answer the layer routes to it.
    pub fn subscription(&mut self, session: SessionId) -> SubscriptionId {
        let id = SubscriptionId(self.next_subscription);
        self.next_subscription += 1;
        self.subscribers.insert(id, session);
        id
    }
}

/// Everything a session may use while handling one input.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    /// An instant and the wall-clock time it was: [`Ctx::wall`] is derived from `now` only
    /// when something asks (tokens, MLS, signatures), not for every data message.
    pub clock: (Instant, SystemTime),
    pub config: &'a LayerConfig,
    pub identity: &'a mut dyn Identity,
    pub mls: Option<&'a mut (dyn MlsProvider + 'static)>,
    pub rng: &'a mut StdRng,
    pub io: &'a mut Io,
}

impl Ctx<'_> {
    /// The wall-clock time at `now`.
    pub fn wall(&self) -> SystemTime {
        let (at, wall) = self.clock;
        wall + self.now.saturating_duration_since(at)
    }

    /// A random non-zero control message id (replay protection requires non-zero ids).
    pub fn request_id(&mut self) -> u32 {
        self.rng.gen_range(1..=u32::MAX)
    }
}
