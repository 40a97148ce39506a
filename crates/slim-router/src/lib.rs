//! The routing core of a SLIM node: synchronous, sans-IO, deterministic.
//!
//! A [`Router`] holds the connection table and the subscription table of one node and decides,
//! for every frame a connection delivers, where it goes. It never touches a socket or a clock:
//! the node passes each frame with the current time ([`Router::handle_frame`]), tells it about
//! connections coming and going ([`Router::add_connection`], [`Router::remove_connection`]),
//! drives its timers ([`Router::poll_timeout`], [`Router::handle_timeout`]), and carries out
//! the [`Output`]s it pushes into a [`Sink`] (a `Vec<Output>` will do).
//!
//! ```
//! use std::time::Instant;
//! use slim_router::{ConnId, ConnKind, Output, Router, RouterConfig};
//! use slim_wire::{Frame, Name, InstanceId, builders};
//!
//! let mut router = Router::new(RouterConfig::default(), 42);
//! let (now, mut out) = (Instant::now(), Vec::new());
//! router.add_connection(ConnId(1), ConnKind::Edge, now, &mut out);
//! router.add_connection(ConnId(2), ConnKind::Edge, now, &mut out);
//!
//! let bob: Name = "org/ns/bob".parse().unwrap();
//! let bob1 = bob.with_id(InstanceId(1));
//! let subscribe = Frame::from_message(&builders::subscribe(&bob1, &bob1, 7)).unwrap();
//! router.handle_frame(ConnId(2), subscribe, now, &mut out); // acked on conn 2
//!
//! out.clear();
//! let alice: Name = "org/ns/alice".parse().unwrap();
//! let publish = builders::publish(&alice, &bob, 1, "msg", "hi".into());
//! router.handle_frame(ConnId(1), Frame::from_message(&publish).unwrap(), now, &mut out);
//! assert!(matches!(out[..], [Output::Forward { to: ConnId(2), ttl: 7, .. }]));
//! ```
//!
//! # Rules
//!
//! The semantics follow upstream SLIM's node (see `docs/architecture.md` and the reference
//! notes), with deliberate hardening where noted:
//!
//! - **Connections** have a kind ([`ConnKind`]): Local (in-process), Remote (other domain),
//!   Peer (node of the same deployment), Edge (application over the network). One-output
//!   routing prefers them in that order.
//! - **Publishes** go to subscribers of the destination name. A specific instance id matches
//!   only subscriptions to exactly that id (never an any-instance subscription);
//!   [`slim_wire::InstanceId::ANY`] matches every instance. Fanout ≤ 1: one output from the first
//!   non-empty category, round-robin inside it (across instances and connections). Fanout > 1:
//!   every matching connection. Never back to the incoming connection. No route: dropped, and
//!   a local sender gets [`Output::LocalError`].
//! - **TTL** (default [`slim_wire::DEFAULT_TTL`]): decremented for frames from any non-local
//!   connection, dropped at 0; outputs carry the TTL to write.
//! - **`forward_to` / `recv_from`** are honoured only on frames from local connections (hardening:
//!   they index this process's connections, so a remote sender must not steer them). Publish
//!   with `forward_to = C`: sent on C without lookup. Subscribe with `forward_to = C`: installed
//!   for the sender and sent on C, the ack deferred until C answers (timeout, retries), and
//!   remembered to replay when C reconnects. Subscribe with `recv_from = C`: the route goes
//!   through C ("set route"), also remembered across C's reconnections.
//! - **Subscriptions** are keyed by destination name per connection and reference-counted by
//!   subscription id. A non-zero id is acknowledged on the same connection.
//! - **Propagation**: a name's first non-peer route is announced to every peer (TTL 8, or 2 in
//!   full-mesh mode), its last one withdrawn; peer subscriptions with TTL ≥ 2 left are relayed
//!   to the other peers. Loops are cut by subscription id. In full-mesh mode, publishes from a
//!   peer are not forwarded to other peers (the 1-hop rule).
//! - **Connection removal** removes its routes, withdraws unreachable names, fails the acks
//!   waiting on it and undoes the requests it made; a peer that connects gets a full sync.
//!
//! # Where this differs from upstream, and why
//!
//! The wire behaviour matches upstream; these choices differ in behaviour:
//!
//! - `forward_to` / `recv_from` from non-local connections are ignored (counted in
//!   [`RouterStats::ignored_local_fields`]); upstream honours them from anyone.
//! - A name is propagated to peers under an id the router allocates per name (from its seed),
//!   not under the id of the subscription that happened to come first; the withdrawal reuses
//!   it. Subscribe and unsubscribe stay paired for peers that count by id, and subscriptions
//!   made with id 0 get loop protection too.
//! - The requester's ack never waits for peers (upstream waits up to 5 s and then ignores peer
//!   failures anyway); peer answers are counted.
//! - Loop detection applies to frames from node links (peer, remote) only, and only when the
//!   id's first arrival came over another connection that is still up. Applications do not
//!   relay, so a repeated id from one is a retry or a reconnection and is processed
//!   (idempotently); a peer's resync after its old link was removed is accepted.
//! - Requests that cannot be carried out are answered with a negative ack naming the reason
//!   ([`DropReason::message`]): `recv_from`/`forward_to` naming an unknown or local connection
//!   (upstream acks and ignores), a TTL that ran out, the per-connection subscription limit.
//! - An unsubscribe whose id the route does not hold releases the route's smallest id (one
//!   reference) instead of failing, so clients that unsubscribe under a fresh id work.
//! - Routes set with `recv_from` are remembered like `forward_to` subscriptions and restored
//!   when their connection comes back (upstream loses them on a link flap); both are undone
//!   when the local connection that asked goes away.
//! - Subscriptions relayed between peers are withdrawn when the peer they came from goes away
//!   and are part of the sync a newly connected peer gets, so chains recover from any link
//!   flapping, not only the first hop's.
//!
//! - One-output routing prefers the nearest instance: local, then edge (applications attached to
//!   this node), then peer, then remote. Upstream prefers other nodes over attached
//!   applications, which sends anycast traffic away from an instance that could serve it here.
//!
//! Consequences worth knowing: anycast spreads round-robin among the instances of the nearest
//! kind only, so an instance on another node receives anycast from here only when no nearer
//! one exists. Without `full_mesh`, broadcast in a topology
//! with cycles can reach a subscriber more than once (nodes relay peer publishes); meshes must
//! run with `full_mesh`.
//!
//! # Contract with the node
//!
//! - Frames are validated and MAC-checked before they reach the router.
//! - Outputs are self-contained; carry them out in order per destination, after releasing
//!   whatever lock guards the router.
//! - When a link to a peer is replaced (same remote node reconnecting), remove the old
//!   connection before adding the new one: subscriptions are deduplicated by id across live
//!   node links, so a half-open old link would make the new one's sync look like a loop.
//! - A client link that reconnects should keep its [`ConnId`], so requests remembered for it
//!   are replayed.
//!
//! # Layout
//!
//! `router/` (entry points and rules), `table/` (subscription table and lookups), `conn.rs`,
//! `output.rs`, `config.rs`, `stats.rs`, and the bookkeeping behind the rules: `seen.rs` (loop
//! prevention), `acks.rs` (downstream acks), `intents.rs` (remembered local requests),
//! `relays.rs` (relayed peer subscriptions), `hash.rs` (keyed table hashing).

#![forbid(unsafe_code)]

mod acks;
mod config;
mod conn;
mod hash;
mod intents;
mod output;
mod relays;
mod router;
mod seen;
mod stats;
mod table;

pub use config::{ConfigError, RouterConfig};
pub use conn::{ConnId, ConnKind};
pub use output::{DropReason, Output, Sink};
pub use router::{ConnectionInfo, Router};
pub use stats::RouterStats;
pub use table::RouteInfo;
