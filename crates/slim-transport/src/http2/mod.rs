//! The HTTP/2 plumbing the crate drives itself with the `h2` crate, shared by the server
//! (accepted links) and the dialer (dialed links): one task per connection that reads the
//! socket, feeds the streams and writes their queues.
//!
//! - [`grpc`]: gRPC message framing on raw HTTP/2 streams, status headers and trailers.
//! - [`writer`]: [`StreamWriter`], a link's outbound queue into its stream, within the
//!   flow-control window.
//! - [`keepalive`]: [`Keepalive`], PINGs that detect a dead peer.
//! - [`wake`]: [`poll_absorbing_self_wakes`], polling a connection's parts without waking
//!   its own task.
//! - [`adopt`]: a dialed connection that the link's reader may drive from its own task.

pub mod adopt;
pub(crate) mod grpc;
mod keepalive;
mod wake;
mod writer;

pub(crate) use keepalive::Keepalive;
pub use wake::absorbing_self_wakes;
pub(crate) use wake::poll_absorbing_self_wakes;
pub(crate) use writer::{StreamEnd, StreamWriter};
