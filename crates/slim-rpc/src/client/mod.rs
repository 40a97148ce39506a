//! The caller's side: [`Channel`], a connection to one RPC server that many concurrent
//! calls share.
//!
//! A channel opens its session lazily, on the first call: point-to-point to the server's
//! name (any instance of that service answers the discovery), reliable and with MLS by
//! default, as upstream's clients do. Calls are multiplexed on it by `rpc-id`. If the
//! session ends (the server went away, the node restarted for longer than the session's
//! patience), the calls in flight fail with `UNAVAILABLE` and the next call opens a new
//! session.
//!
//! Layout: this file the channel and the four call patterns; `options.rs` call options and
//! channel settings; `link.rs` the session and its reader; `call.rs` what a call owns
//! (cancellation on drop, the request stream).

pub(crate) mod call;
pub(crate) mod link;
mod options;

pub use call::RequestSink;
pub(crate) use options::Deadline;
pub use options::{CallOptions, ChannelConfig};

use std::sync::{Arc, Mutex, PoisonError};

use futures_core::Stream;
use futures_util::StreamExt;
use slim_client::{App, Name, Session, SessionKind};

use crate::codec::Codec;
use crate::status::Status;
use crate::streaming::Streaming;
use crate::wire::{self, CallHeader, Method};
use call::CallGuard;
use link::Link;

/// A connection to one RPC server, shared by concurrent calls. Cheap to clone.
///
/// ```no_run
/// # async fn demo(app: slim_client::App) -> Result<(), slim_rpc::Status> {
/// use bytes::Bytes;
/// use slim_rpc::{CallOptions, Channel, Method, RawCodec};
///
/// let channel = Channel::new(app, "org/ns/echo-server".parse().expect("name"));
/// let say = Method::new("interop.Echo", "Say");
/// let options = CallOptions::new().with_timeout(std::time::Duration::from_secs(5));
/// let reply = channel.unary::<RawCodec>(&say, &Bytes::from("hi"), &options).await?;
/// assert_eq!(reply, "echo:hi");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Channel {
    core: Arc<ChannelCore>,
}

/// Where a channel's session goes.
#[derive(Debug)]
pub(crate) enum Target {
    /// Point-to-point to a server name.
    Peer(Name),
    /// A group session on `channel`, with these members invited.
    Group { channel: Name, members: Vec<Name> },
}

/// What [`Channel`] and [`crate::GroupChannel`] share: the app, the target, the current
/// session.
#[derive(Debug)]
pub(crate) struct ChannelCore {
    app: App,
    target: Target,
    config: ChannelConfig,
    current: Mutex<Option<Arc<Link>>>,
    /// Held while a session is being opened, so concurrent first calls open one.
    opening: tokio::sync::Mutex<()>,
}

impl ChannelCore {
    pub fn new(app: App, target: Target, mut config: ChannelConfig) -> Self {
        config.session.kind = match target {
            Target::Peer(_) => SessionKind::PointToPoint,
            Target::Group { .. } => SessionKind::Group,
        };
        ChannelCore {
            app,
            target,
            config,
            current: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<Arc<Link>> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.as_ref().filter(|link| link.is_alive()).cloned()
    }

    /// The live link, opening a session if there is none.
    pub async fn link(&self) -> Result<Arc<Link>, Status> {
        if let Some(link) = self.current() {
            return Ok(link);
        }
        let _opening = self.opening.lock().await;
        if let Some(link) = self.current() {
            return Ok(link);
        }
        let session = self.open_session().await?;
        let link = Link::start(session, self.config.max_calls);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(link.clone());
        Ok(link)
    }

    async fn open_session(&self) -> Result<Session, Status> {
        let config = self.config.session.clone();
        match &self.target {
            Target::Peer(server) => self
                .app
                .create_session(config, server.clone())
                .await
                .map_err(|e| Status::unavailable(format!("cannot reach {server}: {e}"))),
            Target::Group { channel, members } => {
                let session = self
                    .app
                    .create_session(config, channel.clone())
                    .await
                    .map_err(|e| Status::unavailable(format!("cannot create {channel}: {e}")))?;
                for member in members {
                    if let Err(error) = session.invite(member.clone()).await {
                        let _ = session.close().await;
                        return Err(Status::unavailable(format!(
                            "cannot invite {member} to {channel}: {error}"
                        )));
                    }
                }
                Ok(session)
            }
        }
    }

    /// Closes the current session, if any (calls in flight fail with `UNAVAILABLE`).
    pub async fn close(&self) {
        let link = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(link) = link {
            let _ = link.session().close().await;
        }
    }

    /// Registers a new call on the live link.
    pub async fn start(
        &self,
        method: &Method,
        options: &CallOptions,
        single: bool,
    ) -> Result<Started, Status> {
        let deadline = Deadline::after(options.timeout().or(self.config.timeout));
        let link = match tokio::time::timeout_at(deadline.local, self.link()).await {
            Ok(link) => link?,
            Err(_) => {
                return Err(Status::deadline_exceeded(
                    "the deadline passed while opening the session",
                ));
            }
        };
        let rpc_id = new_rpc_id();
        let rx = link.register(rpc_id.clone(), self.config.response_buffer, single)?;
        let guard = CallGuard::new(link, rpc_id, deadline.local);
        let header = CallHeader {
            method: method.clone(),
            deadline: deadline.wire,
            metadata: options.metadata().clone(),
            idempotency_key: options.idempotency_key().map(str::to_owned),
        };
        Ok(Started {
            guard,
            rx,
            header,
            deadline,
        })
    }
}

/// A fresh call id: a UUIDv4 as upstream uses, from the thread's RNG (`Uuid::new_v4` asks the
/// operating system for every id, a system call per call).
fn new_rpc_id() -> Arc<str> {
    let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    Arc::from(
        uuid.hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()) as &str,
    )
}

/// A call registered on a link, nothing sent yet.
pub(crate) struct Started {
    pub guard: CallGuard,
    pub rx: tokio::sync::mpsc::Receiver<link::Received>,
    pub header: CallHeader,
    pub deadline: Deadline,
}

impl Started {
    /// Sends the single request of a unary or server-streaming call; returns the response
    /// stream (which also watches that the request is acknowledged).
    pub async fn send_request<T>(
        self,
        blob: bytes::Bytes,
        decode: crate::codec::DecodeFn<T>,
    ) -> Result<Streaming<T>, Status> {
        let Started {
            guard,
            rx,
            header,
            deadline,
        } = self;
        let frame = wire::request_data(guard.rpc_id(), blob, Some(&header));
        let sent = tokio::time::timeout_at(deadline.local, guard.link().send_tracked(frame))
            .await
            .map_err(|_| Status::deadline_exceeded("the deadline passed while sending"))??;
        let mut stream = Streaming::for_caller(rx, decode, guard, deadline.local);
        stream.watch_send(sent);
        Ok(stream)
    }

    /// Opens the request stream of a client-streaming or bidirectional call.
    pub fn into_stream<E, D>(
        self,
        encode: crate::codec::EncodeFn<E>,
        decode: crate::codec::DecodeFn<D>,
    ) -> (RequestSink<E>, Streaming<D>) {
        let Started {
            guard,
            rx,
            header,
            deadline,
        } = self;
        let sink = RequestSink::new(&guard, header, encode);
        (
            sink,
            Streaming::for_caller(rx, decode, guard, deadline.local),
        )
    }
}

impl Channel {
    /// A channel to the server `server` (`org/ns/service`; any instance answers), with the
    /// default settings. Nothing is sent until the first call.
    pub fn new(app: App, server: Name) -> Channel {
        Channel::with_config(app, server, ChannelConfig::default())
    }

    /// A channel with its own settings.
    pub fn with_config(app: App, server: Name, config: ChannelConfig) -> Channel {
        Channel {
            core: Arc::new(ChannelCore::new(app, Target::Peer(server), config)),
        }
    }

    /// The server's name, as given.
    pub fn server(&self) -> &Name {
        match &self.core.target {
            Target::Peer(name) => name,
            Target::Group { channel, .. } => channel,
        }
    }

    /// Opens the session now instead of on the first call (so the first call does not pay
    /// for discovery and the MLS handshake).
    pub async fn connect(&self) -> Result<(), Status> {
        self.core.link().await.map(|_| ())
    }

    /// Closes the session; calls in flight fail with `UNAVAILABLE`, the next call opens a
    /// new session.
    pub async fn close(&self) {
        self.core.close().await
    }

    /// A unary call: one request, one response.
    pub async fn unary<C: Codec>(
        &self,
        method: &Method,
        request: &C::Encode,
        options: &CallOptions,
    ) -> Result<C::Decode, Status> {
        let blob = C::encode(request)?;
        let started = self.core.start(method, options, true).await?;
        started.send_request(blob, C::decode).await?.single().await
    }

    /// A server-streaming call: one request, a stream of responses.
    pub async fn server_streaming<C: Codec>(
        &self,
        method: &Method,
        request: &C::Encode,
        options: &CallOptions,
    ) -> Result<Streaming<C::Decode>, Status> {
        let blob = C::encode(request)?;
        let started = self.core.start(method, options, true).await?;
        started.send_request(blob, C::decode).await
    }

    /// A client-streaming call: the items of `requests`, then one response. The call ends
    /// early (and stops reading `requests`) if the server answers or fails first.
    pub async fn client_streaming<C, S>(
        &self,
        method: &Method,
        requests: S,
        options: &CallOptions,
    ) -> Result<C::Decode, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let (sink, responses) = self.open_streaming::<C>(method, options).await?;
        forward(sink, requests);
        responses.single().await
    }

    /// A bidirectional streaming call: the items of `requests` go out while responses come
    /// back.
    pub async fn streaming<C, S>(
        &self,
        method: &Method,
        requests: S,
        options: &CallOptions,
    ) -> Result<Streaming<C::Decode>, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let (sink, responses) = self.open_streaming::<C>(method, options).await?;
        forward(sink, requests);
        Ok(responses)
    }

    /// A client-streaming or bidirectional call driven by hand: send with the
    /// [`RequestSink`], read the [`Streaming`] (for a client-streaming call, use
    /// [`Streaming::single`]).
    pub async fn open_streaming<C: Codec>(
        &self,
        method: &Method,
        options: &CallOptions,
    ) -> Result<(RequestSink<C::Encode>, Streaming<C::Decode>), Status> {
        let started = self.core.start(method, options, true).await?;
        Ok(started.into_stream(C::encode, C::decode))
    }
}

/// Feeds a request stream into a sink until it ends or the call is over.
pub(crate) fn forward<T, S>(mut sink: RequestSink<T>, requests: S)
where
    T: Send + 'static,
    S: Stream<Item = T> + Send + 'static,
{
    tokio::spawn(async move {
        let mut requests = std::pin::pin!(requests);
        loop {
            let next = tokio::select! {
                () = sink.call_over() => return,
                next = requests.next() => next,
            };
            match next {
                Some(item) => {
                    if sink.send(item).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = sink.close().await;
                    return;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::new_rpc_id;

    #[test]
    fn call_ids_are_distinct_uuid_v4() {
        let first = new_rpc_id();
        let parsed = uuid::Uuid::parse_str(&first).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(first.len(), 36);
        assert_eq!(&*first, first.to_lowercase());
        assert_ne!(first, new_rpc_id());
    }
}
