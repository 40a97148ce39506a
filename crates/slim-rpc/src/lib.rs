//! SLIM RPC: gRPC's four call patterns over SLIM sessions, wire-compatible with upstream
//! SlimRPC (`slim-bindings`), plus what upstream lacks: cancellation that reaches the
//! handler, group calls with collection policies, and idempotency keys.
//!
//! ```no_run
//! use bytes::Bytes;
//! use slim_client::App;
//! use slim_rpc::{CallOptions, Channel, Method, RawCodec, Server, Status};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = "a shared secret of at least 32 bytes!";
//! let say = Method::new("interop.Echo", "Say");
//!
//! // Server: an application with handlers.
//! let server_app = App::builder("org/ns/echo".parse()?).shared_secret(secret).connect().await?;
//! let server = Server::builder()
//!     .unary::<RawCodec, _, _>(say.clone(), |request: Bytes, _context| async move {
//!         Ok::<_, Status>(Bytes::from([&b"echo:"[..], &request].concat()))
//!     })
//!     .build();
//! tokio::spawn(async move { server.serve(server_app).await });
//!
//! // Client: a channel to the server's name; calls share one session.
//! let app = App::builder("org/ns/caller".parse()?).shared_secret(secret).connect().await?;
//! let channel = Channel::new(app, "org/ns/echo".parse()?);
//! let options = CallOptions::new().with_timeout(std::time::Duration::from_secs(5));
//! let reply = channel.unary::<RawCodec>(&say, &Bytes::from("hi"), &options).await?;
//! assert_eq!(reply, "echo:hi");
//! # Ok(()) }
//! ```
//!
//! Typed clients and server traits are generated from `.proto` files by `slim-rpc-build`.
//!
//! # Design
//!
//! - **One session, many calls.** A [`Channel`] opens one session to the server's name on
//!   its first call (point-to-point, reliable, MLS: what upstream's clients use) and
//!   multiplexes every call on it by `rpc-id`. A reader task hands each received frame to
//!   its call's bounded queue; the server runs one reader per accepted session, which runs
//!   each call until it first waits and then gives it a task of its own. Ordering within a call comes from the session's per-source ordering.
//! - **Flow control is the session's.** Queues are bounded; when a call's queue is full the
//!   reader waits, the session stops acknowledging, and the sender's window closes. Memory
//!   stays bounded; the price is that a caller who stops reading a stream slows the other
//!   calls of its channel.
//! - **Deadlines** are relative in the API ([`CallOptions::with_timeout`]) and absolute on
//!   the wire (`slimrpc-timeout`, epoch seconds, as upstream). Both sides enforce them: the
//!   caller stops waiting and sends a cancellation; the server cancels the handler's
//!   [`Context`] and drops its future, answering `DEADLINE_EXCEEDED`.
//! - **Cancellation** reaches the handler: dropping a call (or its [`Streaming`]) sends a
//!   terminal request frame; the server cancels the context (tasks the handler spawned see
//!   [`Context::cancelled`]) and drops the handler's future.
//! - **Group calls** ([`GroupChannel`]) send one request to a group session and gather the
//!   members' replies, attributed by sender, under a [`Policy`]; stragglers are cancelled.
//! - **Idempotency keys** make a server run a handler at most once per (caller, method,
//!   key) within a window, replaying the stored result to retries
//!   ([`server::IdempotencyConfig`]).
//!
//! # The wire
//!
//! Every frame is a session message with payload type `"msg"` and upstream's metadata keys
//! (`rpc-id`, `service`, `method`, `slimrpc-dir`, `slimrpc-code`, `slimrpc-timeout`); the
//! table is in [`wire`]. Two extensions, which upstream peers ignore:
//!
//! - **Cancellation**: a caller that gives up (drops the call, or its deadline passes) sends
//!   a terminal request frame with `slimrpc-code` 1 (CANCELLED) or 4 (DEADLINE_EXCEEDED) and
//!   no `service`/`method`; our server cancels the handler's context and drops its future.
//! - **Idempotency keys**: `slimrpc-idempotency-key` on the first frame (see
//!   [`server::IdempotencyConfig`]).
//!
//! # Layout
//!
//! - [`wire`]: frame format, metadata keys, deadlines.
//! - `frames.rs`: reading a session's RPC frames in batches, shared by client and server.
//! - `status.rs`: [`Code`], [`Status`]. `codec.rs`: [`Codec`], [`ProstCodec`], [`RawCodec`].
//! - `streaming.rs`: [`Streaming`], a call's message stream.
//! - `client/`: [`Channel`], [`CallOptions`], [`RequestSink`].
//! - [`server`]: [`Server`], handlers, [`Context`], [`ResponseSink`], idempotency.
//! - [`group`]: [`GroupChannel`], scatter-gather over named servers, collection policies.

#![forbid(unsafe_code)]

mod client;
mod codec;
mod frames;
pub mod group;
pub mod server;
mod status;
mod streaming;
pub mod wire;

pub use client::{CallOptions, Channel, ChannelConfig, RequestSink};
pub use codec::{Codec, ProstCodec, RawCodec};
pub use group::{GroupChannel, GroupReplies, MemberReply, Policy};
pub use server::{Context, ResponseSink, Server, ServerBuilder, ServerConfig, Service};
pub use status::{Code, Status};
pub use streaming::Streaming;
pub use wire::Method;

/// What generated code needs, re-exported so generated crates depend on `slim-rpc` only.
#[doc(hidden)]
pub mod __private {
    pub use bytes::Bytes;
    pub use futures_core::Stream;
    pub use prost::Message;
}
