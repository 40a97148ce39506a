//! A deterministic simulator for session layers: virtual clock, a network that routes like a
//! SLIM node, seeded loss, duplication, delay and reordering, crashes and partitions.
//!
//! Shared by the simulation tests of this crate as a `tests/sim/` module (each test file
//! declares `mod sim;`). Nothing here sleeps or reads the wall clock to make progress: time
//! jumps to the next network delivery or protocol timer.
//!
//! Routing follows the node (§3 of the reference): an exact instance id matches only that
//! subscription; the any-instance id matches every instance of the service; fanout 1 picks
//! one target (round robin), fanout > 1 reaches all of them; the sender never gets its own
//! message back. Messages leave a layer as frames (`poll_transmit_frame`) and reach the next
//! one as frames (`handle_frame`), as with the client driver, so what the layer emits must
//! be valid on the wire.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod fake_identity;
pub mod fake_mls;
pub mod real;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slim_session::{
    Delivery, Event, Identity, LayerConfig, MlsProvider, Payload, PublishError, SessionId,
    SessionInfo, SessionLayer, SubscriptionId,
};
use slim_wire::proto::{self, message::MessageType};
use slim_wire::{Frame, InstanceId, Name, NameKey};

/// Network behaviour.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Probability that one delivery is lost.
    pub loss: f64,
    /// Probability that one delivery happens twice.
    pub duplicate: f64,
    /// Shortest one-way delay.
    pub min_delay: Duration,
    /// Longest one-way delay (a spread larger than the send interval reorders).
    pub max_delay: Duration,
}

impl NetConfig {
    /// No loss, no duplication, 1 ms delay.
    pub fn perfect() -> Self {
        NetConfig {
            loss: 0.0,
            duplicate: 0.0,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        }
    }

    /// Loss and duplication with 1–20 ms delays (reorders freely).
    pub fn hostile(loss: f64, duplicate: f64) -> Self {
        NetConfig {
            loss,
            duplicate,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
        }
    }
}

/// How an endpoint's application reads its sessions.
#[derive(Clone, Debug)]
pub enum Reader {
    /// Takes everything as soon as it is readable.
    Eager,
    /// Takes at most `batch` messages every `every`.
    Paced {
        every: Duration,
        batch: usize,
        next: Instant,
    },
    /// Never reads.
    Stalled,
}

/// One simulated application.
pub struct Endpoint {
    pub layer: SessionLayer,
    pub name: Name,
    pub alive: bool,
    /// When set, the driver stops taking messages from `poll_transmit`.
    pub clogged: bool,
    pub reader: Reader,
    /// Every event except `Readable`, `Subscribe` and `Unsubscribe` (handled by the sim).
    pub events: Vec<Event>,
    /// What the application read, per session.
    pub inbox: HashMap<SessionId, Vec<Delivery>>,
    /// Sessions announced with `NewSession`.
    pub new_sessions: Vec<SessionInfo>,
    /// Every channel subscription the layer asked for, oldest first: a test can answer an
    /// id again after it stopped mattering, as a late or repeated acknowledgement would.
    pub subscribe_requests: Vec<(SubscriptionId, Name)>,
    /// Every channel the layer gave up, oldest first.
    pub unsubscribed: Vec<Name>,
    /// When set, the node still subscribes at once but its answer waits in `held` until the
    /// test gives it with [`Sim::answer_subscription`] (a slow or refusing node).
    pub hold_subscriptions: bool,
    /// Subscription requests whose answer the test has not given yet, oldest first.
    pub held: Vec<SubscriptionId>,
    readable: HashSet<SessionId>,
}

/// One message as it crossed the network, for transcripts.
#[derive(Clone, Debug)]
pub struct Traced {
    pub at: Duration,
    pub from: usize,
    pub to: Vec<usize>,
    pub message: proto::Message,
}

/// The simulation.
pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    pub endpoints: Vec<Endpoint>,
    pub net: NetConfig,
    pub trace: Option<Vec<Traced>>,
    rng: StdRng,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    in_flight: HashMap<u64, (usize, usize, Vec<u8>)>,
    subscriptions: HashMap<NameKey, Vec<usize>>,
    partitions: HashSet<(usize, usize)>,
    next_seq: u64,
    round_robin: usize,
    /// Messages delivered to endpoints (counting duplicates).
    pub delivered: u64,
    /// Largest number of messages ever in flight on the network at once.
    pub max_in_flight: usize,
    /// Endpoints whose messages cross an upstream node, which drops the session-header
    /// fields it does not know (our extensions).
    pub via_upstream: HashSet<usize>,
    /// Messages due at the same instant all reach their layers before anyone reads, as a
    /// driver hands the layer a whole read batch before its application runs. Off: each
    /// message is read (and its held ack flushed) before the next arrives.
    pub batched: bool,
}

/// Wall-clock anchor for tokens: a fixed date, so runs are reproducible.
pub fn wall_anchor() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

impl Sim {
    pub fn new(seed: u64, net: NetConfig) -> Self {
        let start = Instant::now();
        Sim {
            start,
            now: start,
            endpoints: Vec::new(),
            net,
            trace: None,
            rng: StdRng::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            in_flight: HashMap::new(),
            subscriptions: HashMap::new(),
            partitions: HashSet::new(),
            next_seq: 0,
            round_robin: 0,
            delivered: 0,
            max_in_flight: 0,
            via_upstream: HashSet::new(),
            batched: false,
        }
    }

    /// Virtual time elapsed.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Adds an application `org/ns/svc` with instance `id`, subscribed to its own name.
    pub fn add(
        &mut self,
        name: &str,
        id: u128,
        identity: impl Identity + 'static,
        mls: Option<Box<dyn MlsProvider>>,
        config: LayerConfig,
    ) -> usize {
        let name: Name = name.parse().expect("valid name");
        let name = name.with_id(InstanceId(id));
        let seed = self.rng.r#gen();
        let mut builder = SessionLayer::builder(name.clone(), identity)
            .config(config)
            .seed(seed);
        if let Some(mls) = mls {
            builder = builder.mls_boxed(mls);
        }
        let layer = builder.build(self.now, wall_anchor()).expect("layer");
        let index = self.endpoints.len();
        self.subscriptions
            .entry(name.key())
            .or_default()
            .push(index);
        self.endpoints.push(Endpoint {
            layer,
            name,
            alive: true,
            clogged: false,
            reader: Reader::Eager,
            events: Vec::new(),
            inbox: HashMap::new(),
            new_sessions: Vec::new(),
            subscribe_requests: Vec::new(),
            unsubscribed: Vec::new(),
            hold_subscriptions: false,
            held: Vec::new(),
            readable: HashSet::new(),
        });
        index
    }

    /// Stops an endpoint for good: it processes nothing and its messages vanish.
    pub fn crash(&mut self, index: usize) {
        self.endpoints[index].alive = false;
        for subs in self.subscriptions.values_mut() {
            subs.retain(|i| *i != index);
        }
    }

    /// Cuts (or restores) the path between two endpoints, both ways.
    pub fn partition(&mut self, a: usize, b: usize, cut: bool) {
        if cut {
            self.partitions.insert((a, b));
            self.partitions.insert((b, a));
        } else {
            self.partitions.remove(&(a, b));
            self.partitions.remove(&(b, a));
        }
    }

    /// Cuts (or restores) the path from `from` to `to` only.
    pub fn cut_one_way(&mut self, from: usize, to: usize, cut: bool) {
        if cut {
            self.partitions.insert((from, to));
        } else {
            self.partitions.remove(&(from, to));
        }
    }

    /// Records every message from now on.
    pub fn record(&mut self) {
        self.trace = Some(Vec::new());
    }

    fn targets(&mut self, from: usize, message: &proto::Message) -> Vec<usize> {
        let Some(MessageType::Publish(publish)) = &message.message_type else {
            return Vec::new();
        };
        let Some(header) = &publish.header else {
            return Vec::new();
        };
        let Some(destination) = header
            .destination
            .as_ref()
            .and_then(|d| Name::from_proto(d).ok())
        else {
            return Vec::new();
        };
        let key = destination.key();
        let mut matches: Vec<usize> = if key.id.is_any() {
            let mut all: Vec<(NameKey, usize)> = self
                .subscriptions
                .iter()
                .filter(|(k, _)| k.components == key.components)
                .flat_map(|(k, v)| v.iter().map(move |i| (*k, *i)))
                .collect();
            all.sort();
            all.into_iter().map(|(_, i)| i).collect()
        } else {
            self.subscriptions.get(&key).cloned().unwrap_or_default()
        };
        matches.retain(|i| *i != from);
        matches.dedup();
        if header.fanout <= 1 && matches.len() > 1 {
            self.round_robin += 1;
            let pick = matches[self.round_robin % matches.len()];
            matches = vec![pick];
        }
        matches
    }

    fn route(&mut self, from: usize, mut bytes: Vec<u8>) {
        let mut message = proto::Message::decode(bytes.as_slice()).expect("a frame decodes");
        if self.via_upstream.contains(&from)
            && let Some(MessageType::Publish(publish)) = &mut message.message_type
            && let Some(session) = publish.session.as_mut()
        {
            session.takes_ack_ranges = false;
            session.ack_range_first = 0;
            bytes = message.encode_to_vec();
        }
        let targets = self.targets(from, &message);
        if let Some(trace) = self.trace.as_mut() {
            trace.push(Traced {
                at: self.now - self.start,
                from,
                to: targets.clone(),
                message,
            });
        }
        for to in targets {
            if self.partitions.contains(&(from, to)) {
                continue;
            }
            if self.rng.gen_bool(self.net.loss) {
                continue;
            }
            let copies = if self.rng.gen_bool(self.net.duplicate) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let spread = self.net.max_delay.saturating_sub(self.net.min_delay);
                let jitter = if spread.is_zero() {
                    Duration::ZERO
                } else {
                    spread.mul_f64(self.rng.r#gen::<f64>())
                };
                let at = self.now + self.net.min_delay + jitter;
                self.next_seq += 1;
                self.queue.push(Reverse((at, self.next_seq)));
                self.in_flight
                    .insert(self.next_seq, (from, to, bytes.clone()));
            }
        }
        self.max_in_flight = self.max_in_flight.max(self.in_flight.len());
    }

    /// Moves every endpoint's outputs into the network and the test-visible state.
    pub fn flush(&mut self) {
        for index in 0..self.endpoints.len() {
            self.flush_one(index);
        }
    }

    fn flush_one(&mut self, index: usize) {
        loop {
            let mut progressed = false;
            if !self.endpoints[index].alive {
                return;
            }
            while !self.endpoints[index].clogged {
                // As the client driver takes them: encoded frames.
                let Some(frame) = self.endpoints[index].layer.poll_transmit_frame() else {
                    break;
                };
                progressed = true;
                let frame = frame.expect("the layer sends valid frames");
                self.route(index, frame.bytes().to_vec());
            }
            while let Some(event) = self.endpoints[index].layer.poll_event() {
                progressed = true;
                match event {
                    Event::Subscribe { name, id } => {
                        self.subscriptions
                            .entry(name.key())
                            .or_default()
                            .push(index);
                        let endpoint = &mut self.endpoints[index];
                        endpoint.subscribe_requests.push((id, name));
                        if endpoint.hold_subscriptions {
                            endpoint.held.push(id);
                        } else {
                            endpoint.layer.subscribed(self.now, id, Ok(()));
                        }
                    }
                    Event::Unsubscribe { name } => {
                        if let Some(subs) = self.subscriptions.get_mut(&name.key())
                            && let Some(pos) = subs.iter().position(|i| *i == index)
                        {
                            subs.swap_remove(pos);
                        }
                        self.endpoints[index].unsubscribed.push(name);
                    }
                    Event::Readable(session) => {
                        self.endpoints[index].readable.insert(session);
                    }
                    Event::NewSession(info) => {
                        self.endpoints[index].new_sessions.push(info.clone());
                        self.endpoints[index].events.push(Event::NewSession(info));
                    }
                    other => self.endpoints[index].events.push(other),
                }
            }
            progressed |= self.read(index);
            if !progressed {
                return;
            }
        }
    }

    /// Gives endpoint `index` the node's answer to subscription `id`, as its driver would:
    /// a held answer, or an id answered before or never handed out (the layer must shrug
    /// those off). Routing at the node is not changed: a refusal is undone by the
    /// unsubscribe the layer answers it with, or by its session's close.
    pub fn answer_subscription(
        &mut self,
        index: usize,
        id: SubscriptionId,
        result: Result<(), String>,
    ) {
        self.endpoints[index].held.retain(|held| *held != id);
        let now = self.now;
        self.endpoints[index].layer.subscribed(now, id, result);
        self.flush_one(index);
    }

    /// Ids of the subscriptions endpoint `index` asked for since its `from`th request.
    pub fn subscription_ids(&self, index: usize, from: usize) -> Vec<SubscriptionId> {
        self.endpoints[index].subscribe_requests[from..]
            .iter()
            .map(|(id, _)| *id)
            .collect()
    }

    /// Lets the application read according to its reader; true if it read (or acknowledged)
    /// anything.
    fn read(&mut self, index: usize) -> bool {
        let now = self.now;
        let endpoint = &mut self.endpoints[index];
        let mut budget = match &mut endpoint.reader {
            Reader::Eager => usize::MAX,
            Reader::Stalled => 0,
            Reader::Paced { every, batch, next } => {
                if now < *next {
                    0
                } else {
                    *next = now + *every;
                    *batch
                }
            }
        };
        let mut progressed = false;
        let sessions: Vec<SessionId> = endpoint.readable.iter().copied().collect();
        for session in sessions {
            if budget == 0 {
                break;
            }
            let inbox = endpoint.inbox.entry(session).or_default();
            let taken = endpoint
                .layer
                .recv_into(now, session, budget, |delivery| inbox.push(delivery));
            progressed |= taken > 0;
            if taken < budget {
                endpoint.readable.remove(&session);
                // Read everything and waits for more: as the client driver does, the acks
                // held for an answer that did not come go out now.
                if endpoint.layer.holds_acks(session) {
                    endpoint.layer.flush_acks(now, session);
                    progressed = true;
                }
            }
            budget -= taken;
        }
        progressed
    }

    /// The next instant anything happens.
    fn next_time(&mut self) -> Option<Instant> {
        let network = self.queue.peek().map(|Reverse((t, _))| *t);
        let timers: Vec<Instant> = self
            .endpoints
            .iter_mut()
            .filter(|e| e.alive)
            .filter_map(|e| e.layer.poll_timeout())
            .collect();
        let readers = self
            .endpoints
            .iter()
            .filter(|e| e.alive)
            .filter_map(|e| match e.reader {
                Reader::Paced { next, .. } if !e.readable.is_empty() => Some(next),
                _ => None,
            });
        network.into_iter().chain(timers).chain(readers).min()
    }

    /// Advances to the next instant anything happens and processes it. False when idle.
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some(next) = self.next_time() else {
            return false;
        };
        if next > self.now {
            self.now = next;
        }
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > self.now {
                break;
            }
            self.queue.pop();
            let Some((_, to, bytes)) = self.in_flight.remove(&seq) else {
                continue;
            };
            if !self.endpoints[to].alive {
                continue;
            }
            self.delivered += 1;
            let now = self.now;
            // As the client driver does: the link's frame goes to the layer as it is.
            match Frame::parse(Bytes::from(bytes)) {
                Ok(frame) => self.endpoints[to].layer.handle_frame(now, frame),
                Err(error) => panic!("the layer sent an invalid frame: {error}"),
            }
            if !self.batched {
                self.flush_one(to);
            }
        }
        for index in 0..self.endpoints.len() {
            if !self.endpoints[index].alive {
                continue;
            }
            if self.endpoints[index]
                .layer
                .poll_timeout()
                .is_some_and(|t| t <= self.now)
            {
                let now = self.now;
                self.endpoints[index].layer.handle_timeout(now);
            }
            self.flush_one(index);
        }
        true
    }

    /// Steps until `done` holds (true) or `limit` of virtual time passed / nothing is left
    /// to do (false). `done` may act (publish, close, ...).
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        loop {
            self.flush();
            if done(self) {
                return true;
            }
            if self.elapsed() > limit {
                return false;
            }
            if !self.step() {
                self.flush();
                return done(self);
            }
        }
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        loop {
            self.flush();
            match self.next_time() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => break,
            }
        }
        if self.now < end {
            self.now = end;
        }
        self.flush();
    }

    /// Publishes `n` payloads `prefix-0 .. prefix-(n-1)` as fast as flow control allows,
    /// interleaved with the simulation. Returns the completion results.
    pub fn completions(&self, index: usize) -> Vec<&Event> {
        self.endpoints[index]
            .events
            .iter()
            .filter(|e| matches!(e, Event::Completed { .. }))
            .collect()
    }

    /// The result of completion `id` at `index`, if reported.
    pub fn completion(
        &self,
        index: usize,
        id: slim_session::CompletionId,
    ) -> Option<Result<(), slim_session::CompletionError>> {
        self.endpoints[index].events.iter().find_map(|e| match e {
            Event::Completed { id: c, result } if *c == id => Some(result.clone()),
            _ => None,
        })
    }

    /// Publishes one payload; `Ok(None)` when flow control says wait (through
    /// `try_publish`, which hands a refused payload back).
    pub fn try_publish(
        &mut self,
        index: usize,
        session: SessionId,
        payload: Payload,
    ) -> Result<Option<slim_session::CompletionId>, PublishError> {
        let now = self.now;
        let sent = payload.clone();
        match self.endpoints[index]
            .layer
            .try_publish(now, session, None, payload)
        {
            Ok(id) => Ok(Some(id)),
            Err((error, returned)) => {
                // A refused payload comes back whole, for the caller's retry.
                assert_eq!(returned, sent, "the refused payload came back changed");
                match error {
                    PublishError::WouldBlock => Ok(None),
                    e => Err(e),
                }
            }
        }
    }

    /// The payloads endpoint `index` read on `session`, grouped by sender, with losses as
    /// `None`.
    pub fn received_by_sender(
        &self,
        index: usize,
        session: SessionId,
    ) -> HashMap<Name, Vec<Option<Vec<u8>>>> {
        let mut by_sender: HashMap<Name, Vec<Option<Vec<u8>>>> = HashMap::new();
        for delivery in self.endpoints[index]
            .inbox
            .get(&session)
            .into_iter()
            .flatten()
        {
            match delivery {
                Ok(message) => by_sender
                    .entry(message.context.source.clone())
                    .or_default()
                    .push(Some(message.payload.to_vec())),
                Err(slim_session::MessageError::Lost { sender, .. }) => {
                    by_sender.entry(sender.clone()).or_default().push(None)
                }
            }
        }
        by_sender
    }

    /// Number of messages endpoint `index` read on `session`.
    pub fn read_count(&self, index: usize, session: SessionId) -> usize {
        self.endpoints[index]
            .inbox
            .get(&session)
            .map_or(0, Vec::len)
    }
}

impl Sim {
    /// alice (endpoint 0) and bob (endpoint 1), both with `layer`, and a point-to-point
    /// session alice created to bob with `session`, handshake done.
    pub fn pair(
        seed: u64,
        net: NetConfig,
        layer: LayerConfig,
        session: slim_session::SessionConfig,
    ) -> (Sim, SessionId) {
        let mut sim = Sim::new(seed, net);
        sim.add(
            "org/ns/alice",
            1,
            slim_session::Unverified::new("a"),
            None,
            layer.clone(),
        );
        sim.add(
            "org/ns/bob",
            2,
            slim_session::Unverified::new("b"),
            None,
            layer,
        );
        let now = sim.now;
        let bob: Name = "org/ns/bob".parse().expect("valid name");
        let (id, done) = sim.endpoints[0]
            .layer
            .create_session(now, session, bob)
            .expect("session created");
        assert!(sim.run_until(Duration::from_secs(30), |s| s.completion(0, done).is_some()));
        (sim, id)
    }
}

/// A layer config with the given window.
pub fn config_with_window(window: u32) -> LayerConfig {
    LayerConfig {
        window,
        ..LayerConfig::default()
    }
}

/// The session message type of a traced message.
pub fn kind(message: &slim_wire::proto::Message) -> slim_wire::proto::SessionMessageType {
    match &message.message_type {
        Some(slim_wire::proto::message::MessageType::Publish(p)) => p
            .session
            .as_ref()
            .and_then(|s| {
                slim_wire::proto::SessionMessageType::try_from(s.session_message_type).ok()
            })
            .unwrap_or(slim_wire::proto::SessionMessageType::Unspecified),
        _ => slim_wire::proto::SessionMessageType::Unspecified,
    }
}
