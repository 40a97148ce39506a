//! Bookkeeping shared by the group moderator and member: [`Inbox`] records what arrives
//! (data counted per sender, control payloads kept) and lets the role wait for a condition
//! with a deadline; [`Publisher`] sends runs of numbered messages with a bounded number of
//! unfinished completions.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use serde_json::{Map, Value, json};
use slim_client::{Completion, Message, Session, SessionError};
use tokio::sync::Notify;

use crate::common::{self, Doc, name_str, secs};
use crate::events::emit;
use crate::p2p::complete;

/// What has arrived.
#[derive(Default)]
pub struct Received {
    /// Data sequence numbers per sender.
    pub seqs: BTreeMap<String, Vec<u64>>,
    /// Control payloads per kind.
    pub control: HashMap<String, Vec<Doc>>,
    /// Why receiving stopped, once it has.
    pub closed: Option<String>,
    /// Receiving stopped on an error, not a normal close.
    pub failed: bool,
}

impl Received {
    pub fn total(&self) -> usize {
        self.seqs.values().map(Vec::len).sum()
    }

    pub fn senders_of(&self, kind: &str) -> Vec<String> {
        self.control
            .get(kind)
            .into_iter()
            .flatten()
            .filter_map(|doc| doc.from.clone())
            .collect()
    }

    pub fn summary(&self) -> Value {
        let mut per_sender = Map::new();
        let mut all_in_order = true;
        for (sender, seqs) in &self.seqs {
            let first = seqs.first().copied().unwrap_or(0);
            let in_order = seqs.iter().copied().eq(first..first + seqs.len() as u64);
            all_in_order &= in_order;
            per_sender.insert(
                sender.clone(),
                json!({"count": seqs.len(), "first": first, "last": seqs.last(), "in_order": in_order}),
            );
        }
        json!({"total": self.total(), "per_sender": per_sender, "in_order": all_in_order})
    }
}

/// What has arrived on a session, shared by its receive task and the role.
pub struct Inbox {
    state: Mutex<Received>,
    changed: Notify,
    report_each: bool,
}

impl Inbox {
    pub fn new(report_each: bool) -> Arc<Self> {
        Arc::new(Inbox {
            state: Mutex::new(Received::default()),
            changed: Notify::new(),
            report_each,
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Received> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, message: &Message) -> anyhow::Result<()> {
        let doc = common::parse_payload(&message.payload)?;
        let sender = name_str(&message.context.source);
        if doc.from.as_deref() != Some(sender.as_str()) {
            bail!(
                "payload sender {:?} differs from the wire source {sender}",
                doc.from
            );
        }
        let kind = doc.kind.clone();
        let seq = doc.seq;
        let mut extra = doc.fields.clone();
        {
            let mut state = self.lock();
            if kind == "data" {
                let seq = seq.ok_or_else(|| anyhow!("data without a sequence number"))?;
                state.seqs.entry(sender.clone()).or_default().push(seq);
            } else {
                state.control.entry(kind.clone()).or_default().push(doc);
            }
        }
        self.changed.notify_waiters();
        if kind == "data" {
            if self.report_each {
                emit("received", json!({"seq": seq, "sender": sender}));
            }
        } else {
            extra.insert("kind".into(), json!(kind));
            extra.insert("sender".into(), json!(sender));
            emit("control", Value::Object(extra));
        }
        Ok(())
    }

    fn mark_closed(&self, why: String, failed: bool) {
        {
            let mut state = self.lock();
            state.closed = Some(why);
            state.failed = failed;
        }
        self.changed.notify_waiters();
    }

    /// Waits until `condition` holds; fails when the session ended first or after `seconds`.
    pub async fn wait_until(
        &self,
        what: &str,
        seconds: f64,
        condition: impl Fn(&Received) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + secs(seconds);
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let state = self.lock();
                if condition(&state) {
                    return Ok(());
                }
                if let Some(closed) = &state.closed {
                    bail!("session ended ({closed}) while waiting for {what}");
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                bail!(
                    "timed out after {seconds} s waiting for {what}: {}",
                    self.lock().summary()
                );
            }
        }
    }

    /// Waits (bounded) until receiving stopped; false on timeout.
    pub async fn wait_closed(&self, seconds: f64) -> bool {
        self.wait_until("the close", seconds, |s| s.closed.is_some())
            .await
            .is_ok()
            || self.lock().closed.is_some()
    }
}

/// Receives until the session closes or fails.
pub async fn receive_loop(session: Session, inbox: Arc<Inbox>) {
    loop {
        match session.recv().await {
            None => {
                let why = match session.close_reason() {
                    Some(reason) => format!("session closed ({reason:?})"),
                    None => "session closed".into(),
                };
                inbox.mark_closed(why, false);
                return;
            }
            Some(Err(lost)) => {
                inbox.mark_closed(format!("receive failed: {lost}"), true);
                return;
            }
            Some(Ok(message)) => {
                if let Err(error) = inbox.record(&message) {
                    inbox.mark_closed(format!("bad message: {error}"), true);
                    return;
                }
            }
        }
    }
}

/// How long a control publish that failed may wait for its session to report the close that
/// cut it short.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// True once `session` is closed, waiting at most `limit`. When the moderator ends the group
/// right after it has every member's last message, a member's own last publish can fail
/// (another member left before acknowledging it) a moment before the close reaches this
/// member's session handle; that failure is the group's end, not an error.
async fn closes_within(session: &Session, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !session.is_closed() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Publishes numbered data messages with at most `window` unfinished completions.
pub struct Publisher {
    pub session: Session,
    pub sender: String,
    pub payload_size: usize,
    pub window: usize,
    pub ack_timeout: f64,
    pub next_seq: u64,
    /// Control publishes not awaited, checked at the end.
    pub unfinished: Vec<(String, Completion)>,
}

impl Publisher {
    /// Publishes `count` messages and waits for all completions; returns seconds taken.
    pub async fn run(&mut self, count: u64) -> anyhow::Result<f64> {
        let started = Instant::now();
        let mut pending: VecDeque<Completion> = VecDeque::new();
        for _ in 0..count {
            let payload = common::payload(
                "data",
                self.next_seq,
                &self.sender,
                self.payload_size,
                &Map::new(),
            );
            self.next_seq += 1;
            pending.push_back(self.session.publish(payload).await?);
            while pending.len() >= self.window.max(1) {
                if let Some(oldest) = pending.pop_front() {
                    complete(oldest, self.ack_timeout, "publish").await?;
                }
            }
        }
        while let Some(oldest) = pending.pop_front() {
            complete(oldest, self.ack_timeout, "publish").await?;
        }
        Ok(started.elapsed().as_secs_f64())
    }

    /// Publishes a control payload. With `closing_ok`, a session closed meanwhile is fine
    /// (the moderator may close or remove us as soon as it has it); with `wait` false the
    /// completion is only checked by [`Publisher::check_unfinished`].
    pub async fn control(
        &mut self,
        kind: &str,
        closing_ok: bool,
        wait: bool,
        extra: Map<String, Value>,
    ) -> anyhow::Result<()> {
        let payload = common::payload(kind, 0, &self.sender, 0, &extra);
        let completion = match self.session.publish(payload).await {
            Ok(completion) => completion,
            Err(SessionError::Closed(_)) if closing_ok => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        if !wait {
            self.unfinished.push((kind.to_owned(), completion));
            return Ok(());
        }
        match complete(completion, self.ack_timeout, &format!("{kind} publish")).await {
            Err(_) if closing_ok && closes_within(&self.session, CLOSE_GRACE).await => Ok(()),
            other => other,
        }
    }

    /// Reports control publishes that did not complete (bounded wait for each).
    pub async fn check_unfinished(&mut self, seconds: f64) {
        for (kind, completion) in self.unfinished.drain(..) {
            if let Err(error) = complete(completion, seconds, &format!("{kind} publish")).await
                && !self.session.is_closed()
            {
                emit(
                    "warning",
                    json!({"what": format!("{kind} publish never completed"), "error": format!("{error:#}")}),
                );
            }
        }
    }
}

/// The roster as `[{name, status}]`.
pub async fn participants(session: &Session) -> Value {
    match session.participants().await {
        Ok(list) => Value::Array(
            list.into_iter()
                .map(|p| json!({"name": name_str(&p.name), "status": format!("{:?}", p.status).to_uppercase()}))
                .collect(),
        ),
        Err(error) => json!({"error": error.to_string()}),
    }
}
