//! How much the driver may read from the link: back-pressure toward the node.
//!
//! The driver reads the link itself, so nothing between the node and the session layer holds
//! frames back any more; the layer's per-session receive buffers are the only place where
//! received messages wait for the application. Reliable sessions protect themselves (once
//! their buffer is full they stop acknowledging, and the sender's window stops the sender),
//! but a fire-and-forget session has no such means: a message arriving at a full buffer is
//! dropped. So the driver never reads more frames than the fullest fire-and-forget session
//! can still take: each received frame adds at most one message to one session, so reading
//! at most `receive_buffer - held` frames, where `held` is what the fullest session's buffer
//! holds, drops nothing. When that room is zero the driver stops reading the link (the node
//! then holds the traffic and back-pressures the sender) and goes on serving commands and
//! timers; as the application reads, its handle asks for a refill, the buffer drains into
//! the handle's channel and reading resumes.
//!
//! Only sessions whose buffer the driver could not empty into their handle's channel (the
//! channel was full) can hold anything between two reads: those are the *backlogged* ones
//! tracked here, so computing the room costs nothing while every reader keeps up.
//!
//! The price of one link for every session: while reading is paused for one slow
//! fire-and-forget reader, nothing else is received either (acknowledgements of reliable
//! sessions included), as it was when a bounded queue sat between link and driver.

use std::collections::HashSet;

use slim_session::SessionId;

use super::Driver;

/// The fire-and-forget sessions whose layer buffer holds messages their handle has no room
/// for yet.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    sessions: HashSet<SessionId, foldhash::fast::RandomState>,
}

impl Driver {
    /// How many frames the next read may take from the link (0: do not read now).
    pub(super) fn read_room(&self) -> usize {
        let capacity = self.layer.config().receive_buffer.max(1);
        let mut room = self.read_batch.min(capacity);
        for session in &self.backlog.sessions {
            let held = self.layer.readable(*session);
            room = room.min(capacity.saturating_sub(held));
        }
        room
    }

    /// Records whether a session still holds messages in the layer after a fill.
    pub(super) fn note_backlog(&mut self, session: SessionId, unreliable: bool) {
        if unreliable && self.layer.readable(session) > 0 {
            self.backlog.sessions.insert(session);
        } else {
            self.backlog.sessions.remove(&session);
        }
    }
}
