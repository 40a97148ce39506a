//! [`HeldAcks`]: acknowledgements of received data, held back briefly so they share a write
//! with whatever the session sends next.
//!
//! Acknowledging every message the moment it arrives costs a write of its own, and a node
//! hop and a wake-up on the sender, on the critical path of whatever answer the application
//! is about to send: a request/reply round trip took about 80 µs with immediate acks and
//! 44 µs without any (`docs/benchmarks.md`, stop 13). Nothing on the wire asks for that
//! haste: upstream senders retransmit after a second. So an acknowledgement waits until the
//! first of
//!
//! - the session sends anything else (typically the application's answer): acks go first,
//!   in the same batch of writes;
//! - the application has read everything it was given and waits for more (the driver then
//!   calls `SessionLayer::flush_acks`): nothing will come to share a write with;
//! - [`LayerConfig::ack_batch`](crate::LayerConfig) acks are held: a sender's window must
//!   keep moving while a busy reader never idles;
//! - [`LayerConfig::ack_delay`](crate::LayerConfig) has passed since the first was held:
//!   the bound for an application that neither answers nor reads.
//!
//! Acks of duplicates and of a closing session are never held: the sender is already
//! retrying, or nothing else will follow.
//!
//! **Ranges** (an extension upstream does not know). Upstream acknowledges every message with
//! a MsgAck of its own, so a stream of N messages costs N more frames to build, route, parse
//! and match: half of all frames, and about a third of a reliable stream's throughput
//! (`docs/benchmarks.md`, stop 14). Our senders mark their sequential data messages with
//! `SessionHeader.takes_ack_ranges`; when a flush finds consecutive ids of such a sender,
//! they leave as one MsgAck whose `message_id` is the last and `ack_range_first` the first.
//! Upstream apps never see the mark (their decoders skip unknown fields), so they get one ack
//! per message as before, and an upstream node drops both fields on the way, which degrades
//! safely: the receiver sees no mark and acks one by one, and a range that lost its first id
//! acks only its last, so the sender retransmits the rest and their duplicates are
//! acknowledged at once. Id 0 (after the ids wrap) cannot open a range: 0 means "no range".

use std::time::Instant;

use slim_wire::Name;

use crate::reliable::seq;

/// A received data message whose acknowledgement is held.
#[derive(Debug)]
pub(super) struct HeldAck {
    /// Its sender.
    pub to: Name,
    pub id: u32,
    /// A group `publish_to` message: its ack echoes the flag and never joins a range.
    pub publish_to: bool,
    /// Its sender takes acknowledgement ranges.
    pub ranged: bool,
}

/// One MsgAck to send: ids `first` to `last` of `to` (one id when they are equal).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct AckRun {
    pub to: Name,
    pub first: u32,
    pub last: u32,
    pub publish_to: bool,
}

/// Acknowledgements waiting to go out, oldest first.
#[derive(Debug, Default)]
pub(super) struct HeldAcks {
    acks: Vec<HeldAck>,
    /// When the oldest one must go at the latest.
    due: Option<Instant>,
}

impl HeldAcks {
    /// Holds `ack` until `due` at the latest. True when `batch` acks are held now: the
    /// caller sends them at once.
    pub fn hold(&mut self, ack: HeldAck, due: Instant, batch: usize) -> bool {
        self.due.get_or_insert(due);
        self.acks.push(ack);
        self.acks.len() >= batch.max(1)
    }

    /// Everything held, as few MsgAcks as the senders take, leaving nothing due.
    pub fn take(&mut self) -> Vec<AckRun> {
        self.due = None;
        // Stable: each sender's acks stay in arrival order, which is mostly id order.
        self.acks.sort_by_key(|ack| ack.to.key());
        let mut runs: Vec<AckRun> = Vec::with_capacity(self.acks.len().min(4));
        // Whether the last run may take the next id of its sender.
        let mut open = false;
        for ack in self.acks.drain(..) {
            let rangeable = ack.ranged && !ack.publish_to;
            if let Some(run) = runs.last_mut()
                && open
                && rangeable
                && seq::next(run.last) == ack.id
                && run.to.key() == ack.to.key()
            {
                run.last = ack.id;
                continue;
            }
            open = rangeable && ack.id != 0;
            runs.push(AckRun {
                to: ack.to,
                first: ack.id,
                last: ack.id,
                publish_to: ack.publish_to,
            });
        }
        runs
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.acks.is_empty()
    }

    /// When the held acks must go out at the latest.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::{AckRun, HeldAck, HeldAcks};
    use crate::reliable::tests::name;
    use crate::wire::MAX_PUBLISH_ID;

    fn held(acks: &[(&slim_wire::Name, u32, bool, bool)]) -> Vec<AckRun> {
        let mut held = HeldAcks::default();
        let due = Instant::now();
        for (to, id, publish_to, ranged) in acks {
            held.hold(
                HeldAck {
                    to: (*to).clone(),
                    id: *id,
                    publish_to: *publish_to,
                    ranged: *ranged,
                },
                due,
                usize::MAX,
            );
        }
        let runs = held.take();
        assert!(held.is_empty() && held.due().is_none());
        runs
    }

    fn run(to: &slim_wire::Name, first: u32, last: u32, publish_to: bool) -> AckRun {
        AckRun {
            to: to.clone(),
            first,
            last,
            publish_to,
        }
    }

    #[test]
    fn consecutive_ids_of_each_sender_that_takes_ranges_become_one_ack() {
        let (a, b) = (name("a", 1), name("b", 2));
        let runs = held(&[
            (&a, 1, false, true),
            (&b, 7, false, true),
            (&a, 2, false, true),
            (&b, 8, false, true),
            (&a, 3, false, true),
            (&a, 5, false, true),
        ]);
        let mut expected = vec![run(&a, 1, 3, false), run(&a, 5, 5, false)];
        let b_run = run(&b, 7, 8, false);
        if b.key() < a.key() {
            expected.insert(0, b_run);
        } else {
            expected.push(b_run);
        }
        assert_eq!(runs, expected);
    }

    #[test]
    fn senders_without_ranges_publish_to_acks_and_id_zero_stay_single() {
        let a = name("a", 1);
        let runs = held(&[
            (&a, 1, false, false),
            (&a, 2, false, false),
            (&a, 2_147_483_650, true, true),
            (&a, 2_147_483_651, true, true),
        ]);
        assert_eq!(
            runs,
            vec![
                run(&a, 1, 1, false),
                run(&a, 2, 2, false),
                run(&a, 2_147_483_650, 2_147_483_650, true),
                run(&a, 2_147_483_651, 2_147_483_651, true),
            ]
        );
        // Ids wrap from MAX_PUBLISH_ID to 0: a range may cross 0, but since 0 means "no
        // range" it cannot open one.
        let runs = held(&[
            (&a, MAX_PUBLISH_ID - 1, false, true),
            (&a, MAX_PUBLISH_ID, false, true),
            (&a, 0, false, true),
            (&a, 1, false, true),
        ]);
        assert_eq!(runs, vec![run(&a, MAX_PUBLISH_ID - 1, 1, false)]);
        let runs = held(&[
            (&a, 0, false, true),
            (&a, 1, false, true),
            (&a, 2, false, true),
        ]);
        assert_eq!(runs, vec![run(&a, 0, 0, false), run(&a, 1, 2, false)]);
    }
}
