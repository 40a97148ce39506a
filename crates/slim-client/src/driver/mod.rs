//! The driver: one tokio task per application that owns its [`SessionLayer`] and its
//! data-plane connection, and serves the application's handles.
//!
//! This is the thin async shell around the sans-IO session layer (quinn's split): the loop
//! waits for whichever comes first — frames from the node, a command from a handle, the
//! node's answer to a subscription, the layer's next timer, room on the link — feeds it to
//! the layer, then drains the layer's outputs: messages onto the link, events to the handles
//! they concern.
//!
//! The driver reads the link itself (a [`LinkReader`]: no task between the node's frames and
//! the layer), at most as many frames at a time as the fullest fire-and-forget session can
//! still buffer, and not at all while one is full (`intake.rs`): the node then holds the
//! traffic and pushes back on the sender, while commands and timers are still served.
//!
//! It also drives the link's HTTP/2 connection (it adopts it, `slim_transport::
//! ConnectionHandle`), polled first at every wake-up: the socket's readiness wakes the driver
//! directly and what it queued is written before it waits again, instead of crossing to a
//! connection task and back. The task runs under `slim_transport::absorbing_self_wakes`, so
//! the connection and the link waking each other inside one poll re-polls at once rather than
//! rescheduling the task (which would also wake an idle worker). When the application closes,
//! the connection gets its own task again to send the last frames.
//!
//! The driver never blocks on the link while it has input to read: when the link's queue is
//! full it keeps one frame aside, stops draining the layer (whose bounded transmit queue then
//! pushes back on `publish`) and goes on reading, so two applications flooding each other
//! through a node cannot deadlock. While the link is down (the data-plane client redials and
//! restores subscriptions by itself), outgoing messages are dropped like on a lossy network;
//! the layer's retransmissions repair sessions once the node is back.
//!
//! Layout: this file the task and its loop; `command.rs` what handles ask and how it is
//! served; `events.rs` what the layer reports and where it goes; `intake.rs` how much may be
//! read from the link; `sessions.rs` the per-session state (delivery channel, parked
//! publishes); `subscriptions.rs` channel subscriptions.

mod command;
mod events;
mod intake;
mod sessions;
mod subscriptions;

pub(crate) use command::{Command, SessionOp};

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use slim_session::{CompletionId, SessionLayer};
use slim_transport::AdoptedConnection;
use slim_wire::Frame;
use tokio::sync::{mpsc, oneshot};

use crate::config::AppConfig;
use crate::dataplane::SendError;
use crate::error::SessionError;
use crate::session::{Session, SessionParts};
use crate::uplink::{Intake, Uplink};
use sessions::Entry;
use subscriptions::{SubResult, Subscriptions};

/// Commands taken per wake-up.
const COMMAND_BATCH: usize = 256;
/// Longest wait for the last frames to leave when the application closes.
const FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_millis(500);

/// What a completion id resolves.
enum Waiter {
    /// A publish's completion.
    Publish(oneshot::Sender<Result<(), SessionError>>),
    /// An invite, remove, close, soft close or rejoin.
    Op(oneshot::Sender<Result<(), SessionError>>),
    /// A session being created: the handle is made when the handshake finished.
    Create {
        parts: Box<SessionParts>,
        reply: oneshot::Sender<Result<Session, SessionError>>,
    },
}

/// Why the loop woke up.
enum Wake {
    Frames,
    LinkClosed,
    Commands,
    CommandsClosed,
    Subscription(SubResult),
    Timer,
    Sent(Result<(), SendError>),
    /// The adopted connection ended (the link reader sees the link's end on its own).
    ConnectionEnded,
}

/// The application's driver task state.
pub(crate) struct Driver {
    layer: SessionLayer,
    uplink: Uplink,
    intake: Intake,
    /// The link's connection, driven here rather than on a task of its own (see
    /// `slim_transport::ConnectionHandle`): socket readiness wakes this task directly.
    connection: Option<AdoptedConnection>,
    /// Most frames taken from the link per read ([`AppConfig::inbox_capacity`]).
    read_batch: usize,
    /// Fire-and-forget sessions whose buffer limits reading the link.
    backlog: intake::Backlog,
    config: AppConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    /// To give handles made by the driver their command channel, without keeping it open.
    handle_commands: mpsc::WeakUnboundedSender<Command>,
    commands_open: bool,
    sub_results: mpsc::UnboundedReceiver<SubResult>,
    subscriptions: Subscriptions,
    /// Looked up for every received message: foldhash (randomly seeded) instead of SipHash.
    sessions: HashMap<slim_session::SessionId, Entry, foldhash::fast::RandomState>,
    /// One insert and one removal per publish: foldhash as well.
    waiters: HashMap<CompletionId, Waiter, foldhash::fast::RandomState>,
    /// Participant sessions announced and not yet accepted.
    accept_ready: VecDeque<SessionParts>,
    /// `accept` calls waiting for a session.
    accept_waiting: VecDeque<oneshot::Sender<Result<Session, SessionError>>>,
    /// A frame the link had no room for; nothing more is taken from the layer until it left.
    blocked: Option<Frame>,
    frames: Vec<Frame>,
    batch: Vec<Command>,
    timer: Pin<Box<tokio::time::Sleep>>,
    timer_at: Option<Instant>,
    /// Set once the application is closing: the time by which the driver stops anyway, and
    /// who waits for it.
    shutdown: Option<(Instant, Vec<oneshot::Sender<()>>)>,
    /// Outgoing messages dropped because the link was down.
    dropped_offline: u64,
}

/// Starts the driver task; returns the command channel the handles use.
pub(crate) fn spawn(
    layer: SessionLayer,
    uplink: Uplink,
    intake: Intake,
    config: AppConfig,
) -> mpsc::UnboundedSender<Command> {
    let (commands_tx, commands) = mpsc::unbounded_channel();
    let (worker_tx, worker_rx) = mpsc::unbounded_channel();
    let (results_tx, sub_results) = mpsc::unbounded_channel();
    tokio::spawn(subscriptions::worker(uplink.clone(), worker_rx, results_tx));
    let driver = Driver {
        layer,
        uplink,
        intake,
        connection: None,
        read_batch: config.inbox_capacity.max(1),
        backlog: intake::Backlog::default(),
        config,
        commands,
        handle_commands: commands_tx.downgrade(),
        commands_open: true,
        sub_results,
        subscriptions: Subscriptions::new(worker_tx),
        sessions: HashMap::default(),
        waiters: HashMap::default(),
        accept_ready: VecDeque::new(),
        accept_waiting: VecDeque::new(),
        blocked: None,
        frames: Vec::new(),
        batch: Vec::with_capacity(COMMAND_BATCH),
        timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
        timer_at: None,
        shutdown: None,
        dropped_offline: 0,
    };
    // The driver polls its link's connection too: wakes between the two, inside one poll, must
    // not reschedule the task (see `slim_transport::absorbing_self_wakes`).
    tokio::spawn(slim_transport::absorbing_self_wakes(driver.run()));
    commands_tx
}

impl Driver {
    async fn run(mut self) {
        loop {
            let wake = self.wait().await;
            let now = Instant::now();
            match wake {
                Wake::Frames => self.on_frames(now),
                Wake::LinkClosed => {
                    tracing::warn!(name = %self.layer.name(), "connection to the node lost for good");
                    break;
                }
                Wake::Commands => {
                    let mut batch = std::mem::take(&mut self.batch);
                    for command in batch.drain(..) {
                        self.on_command(now, command);
                    }
                    self.batch = batch;
                }
                Wake::CommandsClosed => {
                    self.commands_open = false;
                    self.begin_shutdown(now, None);
                }
                Wake::Subscription(answer) => {
                    self.subscriptions.on_result(&mut self.layer, now, answer)
                }
                Wake::Timer => {
                    self.timer_at = None;
                    self.layer.handle_timeout(now);
                }
                Wake::Sent(result) => {
                    if let Err(SendError::Disconnected) = result {
                        self.dropped_offline += 1;
                    }
                    self.blocked = None;
                }
                Wake::ConnectionEnded => self.connection = None,
            }
            if let Some(handle) = self.intake.take_connection() {
                self.connection = Some(handle.adopt());
            }
            self.pump(now);
            if self.finished(Instant::now()) {
                break;
            }
            self.arm_timer();
        }
        // Nothing more is read; a shared connection must not wait for this application.
        self.intake.close();
        // The last frames leave through the connection: give it its own task again.
        if let Some(connection) = self.connection.take() {
            tokio::spawn(connection);
        }
        self.uplink.flush(FLUSH_LIMIT).await;
        self.stop();
    }

    /// Waits for the next thing to do.
    async fn wait(&mut self) -> Wake {
        let room = self.read_room();
        let Driver {
            uplink,
            intake,
            commands,
            commands_open,
            sub_results,
            blocked,
            frames,
            batch,
            timer,
            timer_at,
            connection,
            ..
        } = self;
        let armed = timer_at.is_some();
        let next = async {
            tokio::select! {
                result = send_blocked(uplink, blocked.as_ref()), if blocked.is_some() => {
                    Wake::Sent(result)
                }
                count = intake.recv_batch(frames, room), if room > 0 => {
                    if count == 0 { Wake::LinkClosed } else { Wake::Frames }
                }
                count = commands.recv_many(batch, COMMAND_BATCH), if *commands_open => {
                    if count == 0 { Wake::CommandsClosed } else { Wake::Commands }
                }
                Some(answer) = sub_results.recv() => Wake::Subscription(answer),
                () = timer.as_mut(), if armed => Wake::Timer,
            }
        };
        tokio::pin!(next);
        // The connection before everything else, at every poll: what it reads from the socket
        // is then found by the link branch in the same poll, and what `pump` queued leaves
        // before this task waits again. (Inside the select it would be polled in random
        // order, and a frame it received would wait for the task's next turn.)
        std::future::poll_fn(|cx| {
            if let Some(adopted) = connection.as_mut()
                && Pin::new(adopted).poll(cx).is_ready()
            {
                return Poll::Ready(Wake::ConnectionEnded);
            }
            next.as_mut().poll(cx)
        })
        .await
    }

    fn on_frames(&mut self, now: Instant) {
        for frame in self.frames.drain(..) {
            if tracing::enabled!(tracing::Level::TRACE)
                && let Ok(message) = frame.decode()
            {
                trace_message("received", &message);
            }
            // Data and acks are read from the frame itself; the rest is decoded (and a frame
            // that does not decode is counted invalid) by the layer.
            self.layer.handle_frame(now, frame);
        }
    }

    /// Drains the layer's outputs until it has nothing more to say.
    fn pump(&mut self, now: Instant) {
        loop {
            self.transmit();
            let mut any = false;
            while let Some(event) = self.layer.poll_event() {
                any = true;
                self.on_event(now, event);
            }
            if !any {
                return;
            }
        }
    }

    /// Moves the layer's messages onto the link until it is full.
    fn transmit(&mut self) {
        if self.blocked.is_some() {
            return;
        }
        // Data and acks come encoded from the layer; other messages are encoded by it.
        while let Some(frame) = self.layer.poll_transmit_frame() {
            let frame = match frame {
                Ok(frame) => frame,
                Err(error) => {
                    tracing::warn!(%error, "session layer produced an invalid message; dropped");
                    continue;
                }
            };
            if tracing::enabled!(tracing::Level::TRACE)
                && let Ok(message) = frame.decode()
            {
                trace_message("sending", &message);
            }
            match self.uplink.try_send_frame(frame.clone()) {
                Ok(()) => {}
                Err(SendError::Full) => {
                    self.blocked = Some(frame);
                    return;
                }
                Err(SendError::Disconnected) => self.dropped_offline += 1,
                Err(SendError::Invalid(error)) => tracing::warn!(%error, "frame not sent"),
            }
        }
    }

    fn arm_timer(&mut self) {
        let mut next = self.layer.poll_timeout();
        if let Some((deadline, _)) = &self.shutdown {
            next = Some(next.map_or(*deadline, |t| t.min(*deadline)));
        }
        // A timer armed earlier than needed stays: it fires, finds nothing due and is armed
        // again then. Following the layer's deadline exactly would move the timer at nearly
        // every message (each publish pushes the retransmission deadline later, each held
        // ack pulls it earlier), and pulling a timer earlier wakes the runtime's time driver:
        // a system call and a context switch per message, on the round trip's path.
        match (next, self.timer_at) {
            (Some(at), Some(armed)) if armed <= at => {}
            (Some(at), _) => {
                self.timer
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(at));
                self.timer_at = Some(at);
            }
            (None, _) => {}
        }
    }

    /// Starts closing every session; the driver ends when they are gone or the shutdown
    /// timeout passed.
    fn begin_shutdown(&mut self, now: Instant, reply: Option<oneshot::Sender<()>>) {
        match &mut self.shutdown {
            Some((_, replies)) => replies.extend(reply),
            None => {
                let ids: Vec<_> = self.layer.sessions().collect();
                for id in ids {
                    let _ = self.layer.close(now, id);
                }
                for waiter in self.accept_waiting.drain(..) {
                    let _ = waiter.send(Err(SessionError::AppClosed));
                }
                let deadline = now + self.config.shutdown_timeout;
                self.shutdown = Some((deadline, reply.into_iter().collect()));
            }
        }
    }

    fn finished(&self, now: Instant) -> bool {
        let Some((deadline, _)) = &self.shutdown else {
            return false;
        };
        let idle = self.layer.sessions().next().is_none() && self.blocked.is_none();
        idle || now >= *deadline
    }

    /// Ends the driver: fail what still waits, close every handle, close the link.
    fn stop(mut self) {
        for (_, entry) in self.sessions.drain() {
            entry.fail(slim_session::CloseReason::Failed(
                "the application is closed".into(),
            ));
        }
        for parts in self.accept_ready.drain(..) {
            parts.shared.set_closed(slim_session::CloseReason::Failed(
                "the application is closed".into(),
            ));
        }
        if self.dropped_offline > 0 {
            tracing::debug!(
                dropped = self.dropped_offline,
                "messages dropped while disconnected"
            );
        }
        self.uplink.close();
        if let Some((_, replies)) = self.shutdown.take() {
            for reply in replies {
                let _ = reply.send(());
            }
        }
        // Waiters, parked accepts and the layer are dropped here: every pending completion
        // resolves with `AppClosed`.
    }

    /// A command sender for a handle made by the driver (`None` once every handle is gone).
    fn handle_sender(&self) -> Option<mpsc::UnboundedSender<Command>> {
        self.handle_commands.upgrade()
    }
}

/// Logs a session message's kind, ids and addresses (trace level, for interop debugging).
fn trace_message(what: &str, message: &slim_wire::proto::Message) {
    use slim_wire::proto::message::MessageType;
    let Some(MessageType::Publish(publish)) = &message.message_type else {
        return;
    };
    let name = |n: Option<&slim_wire::proto::Name>| {
        n.and_then(|n| slim_wire::Name::from_proto(n).ok())
            .map_or_else(|| "?".to_owned(), |n| n.to_string())
    };
    let header = publish.header.as_ref();
    let session = publish.session.as_ref();
    tracing::trace!(
        what,
        kind = ?session.and_then(|s| slim_wire::proto::SessionMessageType::try_from(s.session_message_type).ok()),
        session = session.map(|s| s.session_id),
        id = session.map(|s| s.message_id),
        source = %name(header.and_then(|h| h.source.as_ref())),
        destination = %name(header.and_then(|h| h.destination.as_ref())),
        "session message"
    );
}

/// Waits for room on the link for the frame kept aside (never completes without one).
async fn send_blocked(uplink: &Uplink, frame: Option<&Frame>) -> Result<(), SendError> {
    match frame {
        Some(frame) => uplink.send_frame(frame.clone()).await,
        None => std::future::pending().await,
    }
}
