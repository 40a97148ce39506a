//! [`Session`]: the application's handle to one session, and what its operations return
//! ([`Completion`], the [`Messages`] stream).
//!
//! A `Session` is a cheap-clone handle. Every operation is a command to the application's
//! driver task, except the two hot paths, which avoid a round trip through it:
//!
//! - **publish** takes a permit from the session's publish queue (waiting when
//!   [`crate::AppConfig::publish_queue`] publishes are already queued: this is where a fast
//!   publisher is pushed back), then hands the message to the driver without waiting for it.
//!   The driver gives the permit back once the session layer accepted the message, which it
//!   does only while the session's flow-control window has room.
//! - **receive** reads from a bounded channel the driver keeps topped up from the session
//!   layer; when the application falls behind, the driver stops moving messages, the layer's
//!   buffer fills and it stops acknowledging, which holds the sender back.
//!
//! When the last clone of a `Session` is dropped, the driver closes the session gracefully.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_core::Stream;
use slim_session::{
    CloseReason, Delivery, ParticipantInfo, Payload, Role, SessionConfig, SessionId, SessionInfo,
    SessionKind,
};
use slim_wire::Name;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::driver::{Command, SessionOp};
use crate::error::SessionError;
use crate::handover::HandoverRx;

/// One received application message: payload and context (sender, metadata, ...).
pub type Message = slim_session::ReceivedMessage;

/// State shared by a session's handles and the driver.
#[derive(Debug)]
pub(crate) struct SessionShared {
    /// Set by the driver when it stopped moving messages because the channel was full.
    pub(crate) starved: AtomicBool,
    /// Publish queue slots; closed when the session is.
    pub(crate) permits: Arc<Semaphore>,
    /// Why the session closed, once it has.
    pub(crate) closed: Mutex<Option<CloseReason>>,
    /// At or below this many buffered messages, a starved session asks for more.
    pub(crate) refill_at: usize,
    /// Set by the driver when it hands over messages whose acknowledgements the layer holds
    /// back for the application's answer to carry. A handle that finds nothing more to read
    /// asks for them to be sent ([`Command::Idle`]); a publish carries them anyway.
    pub(crate) acks_held: AtomicBool,
}

impl SessionShared {
    pub(crate) fn new(publish_queue: usize, buffer: usize) -> Self {
        SessionShared {
            starved: AtomicBool::new(false),
            permits: Arc::new(Semaphore::new(publish_queue.max(1))),
            closed: Mutex::new(None),
            refill_at: buffer / 2,
            acks_held: AtomicBool::new(false),
        }
    }

    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        self.closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_closed(&self, reason: CloseReason) {
        let mut closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        if closed.is_none() {
            *closed = Some(reason);
        }
        self.permits.close();
    }
}

/// What the driver keeps for a session until a handle is made from it.
pub(crate) struct SessionParts {
    pub(crate) info: SessionInfo,
    pub(crate) rx: HandoverRx,
    pub(crate) shared: Arc<SessionShared>,
}

/// A publish waiting for the session layer.
pub(crate) struct PendingPublish {
    pub(crate) payload: Payload,
    pub(crate) to: Option<Name>,
    pub(crate) done: Option<oneshot::Sender<Result<(), SessionError>>>,
    /// Returned to the publish queue when the layer accepts the message.
    pub(crate) _permit: OwnedSemaphorePermit,
}

/// A handle to one session (point-to-point or group). Cheap to clone; the session closes
/// gracefully when the last clone is dropped.
///
/// ```no_run
/// # async fn demo(app: slim_client::App) -> Result<(), slim_client::SessionError> {
/// use slim_client::{SessionConfig, Name};
/// let bob: Name = "org/ns/bob".parse().expect("a valid name");
/// let session = app.create_session(SessionConfig::point_to_point().with_mls(), bob).await?;
/// session.publish("hello").await?.await?;      // queued, then acknowledged by bob
/// if let Some(Ok(reply)) = session.recv().await {
///     println!("bob said {:?}", reply.payload);
/// }
/// session.close().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    info: SessionInfo,
    commands: mpsc::UnboundedSender<Command>,
    rx: tokio::sync::Mutex<HandoverRx>,
    shared: Arc<SessionShared>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Dropped(self.info.id));
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.inner.info.id)
            .field("kind", &self.inner.info.kind)
            .field("role", &self.inner.info.role)
            .field("destination", &self.inner.info.destination)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(parts: SessionParts, commands: mpsc::UnboundedSender<Command>) -> Self {
        Session {
            inner: Arc::new(Inner {
                info: parts.info,
                commands,
                rx: tokio::sync::Mutex::new(parts.rx),
                shared: parts.shared,
            }),
        }
    }

    /// The session id (shared by every member).
    pub fn id(&self) -> SessionId {
        self.inner.info.id
    }

    /// Everything known about the session at creation or acceptance.
    pub fn info(&self) -> &SessionInfo {
        &self.inner.info
    }

    /// Point-to-point or group.
    pub fn kind(&self) -> SessionKind {
        self.inner.info.kind
    }

    /// Whether this application created the session (moderator) or was invited.
    pub fn role(&self) -> Role {
        self.inner.info.role
    }

    /// The session's settings (for an invited member: as the moderator chose them).
    pub fn config(&self) -> &SessionConfig {
        &self.inner.info.config
    }

    /// The peer (point-to-point) or the group's channel.
    pub fn destination(&self) -> &Name {
        &self.inner.info.destination
    }

    /// The moderator's full name.
    pub fn moderator(&self) -> &Name {
        &self.inner.info.moderator
    }

    /// True once the session is closed (messages received before may still be read).
    pub fn is_closed(&self) -> bool {
        self.inner.shared.close_reason().is_some()
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.shared.close_reason()
    }

    fn closed_error(&self) -> SessionError {
        SessionError::Closed(self.inner.shared.close_reason())
    }

    // ----- sending ---------------------------------------------------------------------------

    /// Publishes to every other member (the peer, or the whole group).
    ///
    /// Waits while the session's publish queue is full (flow control: a fast publisher
    /// runs at the pace its slowest online member acknowledges), then returns a
    /// [`Completion`] that resolves once every online member acknowledged the message
    /// (reliable sessions) or it was sent (fire-and-forget). Dropping the completion does
    /// not cancel the message.
    pub async fn publish(&self, payload: impl Into<Payload>) -> Result<Completion, SessionError> {
        let (done, rx) = oneshot::channel();
        self.enqueue(payload.into(), None, Some(done)).await?;
        Ok(Completion { rx })
    }

    /// Publishes like [`Session::publish`] without a completion: the cheapest way to send
    /// when delivery failures are handled elsewhere (receivers learn of lost messages).
    pub async fn publish_detached(&self, payload: impl Into<Payload>) -> Result<(), SessionError> {
        self.enqueue(payload.into(), None, None).await
    }

    /// Sends to one member only (for example `&message.context.source` to answer the sender
    /// of a group message), outside the group's ordered stream. In a point-to-point session
    /// this is the same as [`Session::publish`].
    pub async fn publish_to(
        &self,
        to: &Name,
        payload: impl Into<Payload>,
    ) -> Result<Completion, SessionError> {
        let (done, rx) = oneshot::channel();
        self.enqueue(payload.into(), Some(to.clone()), Some(done))
            .await?;
        Ok(Completion { rx })
    }

    async fn enqueue(
        &self,
        payload: Payload,
        to: Option<Name>,
        done: Option<oneshot::Sender<Result<(), SessionError>>>,
    ) -> Result<(), SessionError> {
        let permits = &self.inner.shared.permits;
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::NoPermits) => permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| self.closed_error())?,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(self.closed_error()),
        };
        let publish = PendingPublish {
            payload,
            to,
            done,
            _permit: permit,
        };
        // The publish takes the held acknowledgements along (cleared first: a flag left set
        // costs one needless `Idle`, a flag cleared late would leave acks to their deadline).
        self.inner.shared.acks_held.store(false, Ordering::Release);
        self.inner
            .commands
            .send(Command::Publish {
                session: self.id(),
                publish,
            })
            .map_err(|_| SessionError::AppClosed)
    }

    // ----- receiving -------------------------------------------------------------------------

    /// The next message, or the loss reported in its place (`Err`) — in the sender's order
    /// for reliable sessions. `None` once the session is closed and everything received
    /// before was read ([`Session::close_reason`] says why). Waits as long as it takes.
    ///
    /// Clones may receive concurrently; each message goes to one of them.
    pub async fn recv(&self) -> Option<Delivery> {
        let mut rx = self.inner.rx.lock().await;
        self.before_wait(&rx).await;
        let delivery = rx.recv().await;
        self.after_receive(&rx);
        delivery
    }

    /// Waits for at least one message, then appends up to `limit` already received ones to
    /// `out`. Returns how many were appended; 0 means closed (as `None` from
    /// [`Session::recv`]).
    pub async fn recv_many(&self, out: &mut Vec<Delivery>, limit: usize) -> usize {
        let mut rx = self.inner.rx.lock().await;
        self.before_wait(&rx).await;
        let count = rx.recv_many(out, limit.max(1)).await;
        self.after_receive(&rx);
        count
    }

    /// The messages as a [`Stream`] (ends when [`Session::recv`] would return `None`).
    ///
    /// ```no_run
    /// # async fn demo(session: slim_client::Session) {
    /// use futures_util::StreamExt;
    /// let mut messages = session.messages();
    /// while let Some(delivery) = messages.next().await {
    ///     match delivery {
    ///         Ok(message) => println!("{:?}", message.payload),
    ///         Err(lost) => eprintln!("{lost}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn messages(&self) -> Messages {
        let stream = futures_util::stream::unfold(self.clone(), |session| async move {
            let delivery = session.recv().await?;
            Some((delivery, session))
        });
        Messages {
            stream: Box::pin(stream),
        }
    }

    /// Everything handed over was read and the reader waits for more: acknowledgements held
    /// for an answer that was not sent go out now. Before that, tasks woken by what was just
    /// read get a turn (an RPC reader dispatches to the handler or caller that answers): if
    /// one of them publishes on this session, the acks leave with that instead.
    async fn before_wait(&self, rx: &HandoverRx) {
        let held = &self.inner.shared.acks_held;
        if !rx.is_empty() || !held.load(Ordering::Acquire) {
            return;
        }
        tokio::task::yield_now().await;
        if rx.is_empty() && held.swap(false, Ordering::AcqRel) {
            let _ = self.inner.commands.send(Command::Idle(self.id()));
        }
    }

    /// Asks the driver for more once the application has read enough of what it was given.
    fn after_receive(&self, rx: &HandoverRx) {
        let shared = &self.inner.shared;
        if shared.starved.load(Ordering::SeqCst)
            && rx.len() <= shared.refill_at
            && shared.starved.swap(false, Ordering::SeqCst)
        {
            let _ = self.inner.commands.send(Command::Refill(self.id()));
        }
    }

    // ----- membership and lifecycle ----------------------------------------------------------

    async fn op(&self, op: SessionOp) -> Result<(), SessionError> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Op {
                session: self.id(),
                op,
                reply,
            })
            .map_err(|_| SessionError::AppClosed)?;
        rx.await.unwrap_or(Err(SessionError::AppClosed))
    }

    /// Moderator of a group: invites `name` (usually without instance id: any instance of
    /// that service answers). Resolves once the new member joined — discovery, join,
    /// welcome, the group update to the other members and MLS all finished — or with what
    /// stopped it.
    pub async fn invite(&self, name: Name) -> Result<(), SessionError> {
        self.op(SessionOp::Invite(name)).await
    }

    /// Moderator of a group: removes a member. Resolves once the member left and the rest
    /// of the group applied the new MLS epoch.
    pub async fn remove(&self, name: Name) -> Result<(), SessionError> {
        self.op(SessionOp::Remove(name)).await
    }

    /// Closes the session gracefully: outstanding messages are drained first (at most
    /// [`slim_session::LayerConfig::drain_timeout`]), then a participant leaves or the
    /// moderator closes the session for everyone. Bounded in time; closing a closed session
    /// is not an error.
    pub async fn close(&self) -> Result<(), SessionError> {
        if self.is_closed() {
            return Ok(());
        }
        match self.op(SessionOp::Close).await {
            Err(SessionError::Closed(_)) => Ok(()),
            other => other,
        }
    }

    /// Group participant: announces itself offline while keeping its membership;
    /// [`Session::rejoin`] comes back.
    pub async fn soft_close(&self) -> Result<(), SessionError> {
        self.op(SessionOp::SoftClose).await
    }

    /// Group participant: comes back after [`Session::soft_close`].
    pub async fn rejoin(&self) -> Result<(), SessionError> {
        self.op(SessionOp::Rejoin).await
    }

    /// The members as this application currently sees them (itself first).
    pub async fn participants(&self) -> Result<Vec<ParticipantInfo>, SessionError> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Participants {
                session: self.id(),
                reply,
            })
            .map_err(|_| SessionError::AppClosed)?;
        rx.await.unwrap_or(Err(SessionError::AppClosed))
    }
}

/// The outcome of one publish: resolves once every online member acknowledged it (reliable
/// sessions), or once it was sent (fire-and-forget). Await it, or drop it.
#[derive(Debug)]
pub struct Completion {
    rx: oneshot::Receiver<Result<(), SessionError>>,
}

impl Future for Completion {
    type Output = Result<(), SessionError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|result| result.unwrap_or(Err(SessionError::AppClosed)))
    }
}

/// A session's received messages as a [`Stream`] of `Result<Message, MessageError>`.
pub struct Messages {
    stream: Pin<Box<dyn Stream<Item = Delivery> + Send>>,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages").finish_non_exhaustive()
    }
}

impl Stream for Messages {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        self.stream.as_mut().poll_next(cx)
    }
}
