//! The point-to-point roles: `p2p-initiator` opens a session and sends numbered messages
//! (optionally checking their echoes and measuring round trips); `p2p-responder` accepts
//! one session, checks order and echoes.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value, json};
use slim_client::{CloseReason, Completion, Session, SessionKind};
use tokio::time::timeout;

use crate::common::{self, CommonArgs, SessionArgs, name_str, secs};
use crate::events::{emit, percentiles, round};

/// `p2p-initiator` arguments.
#[derive(clap::Args, Debug)]
pub struct InitiatorArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub session: SessionArgs,
    /// Name of the responder, org/ns/app.
    #[arg(long)]
    pub peer: String,
    /// Messages to send.
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    /// Payload size in bytes (JSON padded).
    #[arg(long, default_value_t = 64)]
    pub payload_size: usize,
    /// Most publishes awaiting completion (1 = strictly sequential).
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Expect every message echoed back, in order.
    #[arg(long)]
    pub echo: bool,
    /// Longest time to establish the session, s.
    #[arg(long, default_value_t = 30.0)]
    pub session_timeout: f64,
    /// Longest wait for one publish to complete, s.
    #[arg(long, default_value_t = 30.0)]
    pub ack_timeout: f64,
    /// Longest silence while waiting for echoes, s.
    #[arg(long, default_value_t = 30.0)]
    pub recv_timeout: f64,
    /// One `received` event per echo.
    #[arg(long)]
    pub report_each: bool,
}

/// Awaits one completion within `seconds`.
pub async fn complete(completion: Completion, seconds: f64, what: &str) -> anyhow::Result<()> {
    match timeout(secs(seconds), completion).await {
        Err(_) => bail!("{what}: not completed within {seconds} s"),
        Ok(result) => result.with_context(|| what.to_owned()),
    }
}

/// What the echo collector saw.
#[derive(Default)]
struct Echoes {
    seqs: Vec<u64>,
    latencies: Vec<f64>,
    failure: Option<String>,
}

async fn collect_echoes(
    session: Session,
    expected: usize,
    sent_at: Arc<Mutex<Vec<Option<Instant>>>>,
    recv_timeout: f64,
    report_each: bool,
) -> Echoes {
    let mut echoes = Echoes::default();
    while echoes.seqs.len() < expected {
        let message = match timeout(secs(recv_timeout), session.recv()).await {
            Err(_) => {
                echoes.failure = Some(format!("no echo within {recv_timeout} s"));
                break;
            }
            Ok(None) => {
                echoes.failure = Some(format!("session closed: {:?}", session.close_reason()));
                break;
            }
            Ok(Some(Err(lost))) => {
                echoes.failure = Some(lost.to_string());
                break;
            }
            Ok(Some(Ok(message))) => message,
        };
        let now = Instant::now();
        let seq = match common::parse_payload(&message.payload) {
            Ok(doc) => match doc.seq {
                Some(seq) => seq,
                None => {
                    echoes.failure = Some("echo without a sequence number".into());
                    break;
                }
            },
            Err(error) => {
                echoes.failure = Some(error.to_string());
                break;
            }
        };
        echoes.seqs.push(seq);
        let sent = sent_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(seq as usize)
            .copied()
            .flatten();
        if let Some(sent) = sent {
            echoes
                .latencies
                .push(now.duration_since(sent).as_secs_f64());
        }
        if report_each {
            emit(
                "received",
                json!({"seq": seq, "sender": name_str(&message.context.source)}),
            );
        }
    }
    echoes
}

/// Opens a session to `--peer` and sends `--count` numbered messages.
pub async fn initiator(args: InitiatorArgs) -> anyhow::Result<()> {
    let app = common::connect(&args.common).await?;
    let peer = common::parse_name(&args.peer)?;
    emit("ready", common::ready_fields(&app));

    let started = Instant::now();
    let config = args.session.config(SessionKind::PointToPoint);
    let session = timeout(secs(args.session_timeout), app.create_session(config, peer))
        .await
        .map_err(|_| {
            anyhow!(
                "session setup: not completed within {} s",
                args.session_timeout
            )
        })?
        .context("session setup")?;
    let mut fields = common::describe_session(app.name(), &session);
    fields.insert(
        "setup_s".into(),
        json!(round(started.elapsed().as_secs_f64(), 3)),
    );
    emit("session", Value::Object(fields));

    let me = name_str(app.name());
    let sent_at = Arc::new(Mutex::new(vec![None; args.count as usize]));
    let collector = args.echo.then(|| {
        tokio::spawn(collect_echoes(
            session.clone(),
            args.count as usize,
            sent_at.clone(),
            args.recv_timeout,
            args.report_each,
        ))
    });

    let t0 = Instant::now();
    let mut pending: VecDeque<Completion> = VecDeque::new();
    for seq in 0..args.count {
        let payload = common::payload("data", seq, &me, args.payload_size, &Map::new());
        if let Some(slot) = sent_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(seq as usize)
        {
            *slot = Some(Instant::now());
        }
        pending.push_back(session.publish(payload).await.context("publish")?);
        while pending.len() >= args.window.max(1) {
            if let Some(oldest) = pending.pop_front() {
                complete(oldest, args.ack_timeout, "publish").await?;
            }
        }
    }
    while let Some(oldest) = pending.pop_front() {
        complete(oldest, args.ack_timeout, "publish").await?;
    }
    let publish_s = t0.elapsed().as_secs_f64();
    emit(
        "published",
        json!({"count": args.count, "elapsed_s": round(publish_s, 3),
               "msgs_per_s": (publish_s > 0.0).then(|| round(args.count as f64 / publish_s, 1))}),
    );

    let mut result = Map::new();
    result.insert("count".into(), json!(args.count));
    let mut ok = true;
    if let Some(collector) = collector {
        let wait = secs(args.recv_timeout * 2.0 + 5.0);
        let mut echoes = timeout(wait, collector)
            .await
            .map_err(|_| anyhow!("echo collector did not finish"))?
            .context("echo collector")?;
        let in_order = echoes.seqs.iter().copied().eq(0..echoes.seqs.len() as u64)
            && echoes.seqs.len() as u64 == args.count;
        let mut fields = Map::new();
        fields.insert("received".into(), json!(echoes.seqs.len()));
        fields.insert("in_order".into(), json!(in_order));
        fields.insert(
            "elapsed_s".into(),
            json!(round(t0.elapsed().as_secs_f64(), 3)),
        );
        fields.extend(percentiles(&mut echoes.latencies));
        emit("echoes", Value::Object(fields));
        result.insert("echoes".into(), json!(echoes.seqs.len()));
        result.insert("in_order".into(), json!(in_order));
        if let Some(failure) = &echoes.failure {
            result.insert("echo_error".into(), json!(failure));
        }
        ok = in_order && echoes.failure.is_none();
    } else {
        result.insert("in_order".into(), json!(true));
    }

    let deleted = matches!(timeout(secs(10.0), session.close()).await, Ok(Ok(())));
    if !deleted {
        emit(
            "warning",
            json!({"what": "close", "error": "not closed within 10 s"}),
        );
    }
    result.insert(
        "elapsed_s".into(),
        json!(round(started.elapsed().as_secs_f64(), 3)),
    );
    result.insert("deleted".into(), json!(deleted));
    app.close().await;
    if !ok {
        bail!(
            "echoes incomplete or out of order: {}",
            Value::Object(result)
        );
    }
    emit("done", Value::Object(result));
    Ok(())
}

/// How the responder echoes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoMode {
    /// No echo.
    None,
    /// A normal session publish (reliable and ordered like the initiator's stream).
    Publish,
    /// A reply to the sender only (outside the ordered stream).
    #[value(name = "publish_to")]
    PublishTo,
}

/// Whether the session must use MLS.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectMls {
    /// Either.
    Any,
    /// MLS on.
    On,
    /// MLS off.
    Off,
}

/// `p2p-responder` arguments.
#[derive(clap::Args, Debug)]
pub struct ResponderArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Messages expected (without it: until the initiator closes).
    #[arg(long)]
    pub count: Option<usize>,
    /// How to echo.
    #[arg(long, value_enum, default_value_t = EchoMode::None)]
    pub echo: EchoMode,
    /// Longest wait for the initiator to open the session, s.
    #[arg(long, default_value_t = 60.0)]
    pub listen_timeout: f64,
    /// Longest silence between messages, s.
    #[arg(long, default_value_t = 30.0)]
    pub recv_timeout: f64,
    /// Longest wait for one echo to complete, s.
    #[arg(long, default_value_t = 30.0)]
    pub ack_timeout: f64,
    /// After the last message, longest wait for the initiator to close, s.
    #[arg(long, default_value_t = 20.0)]
    pub close_timeout: f64,
    /// Most echoes in flight.
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Required MLS setting of the session.
    #[arg(long, value_enum, default_value_t = ExpectMls::Any)]
    pub expect_mls: ExpectMls,
    /// No `received` event per message.
    #[arg(long = "quiet", action = clap::ArgAction::SetFalse)]
    pub report_each: bool,
}

/// Accepts one session, receives (and echoes) until `--count` or the peer's close.
pub async fn responder(args: ResponderArgs) -> anyhow::Result<()> {
    let app = common::connect(&args.common).await?;
    emit("ready", common::ready_fields(&app));
    let session = timeout(secs(args.listen_timeout), app.accept())
        .await
        .map_err(|_| anyhow!("no session within {} s", args.listen_timeout))?
        .context("accept")?;
    let info = common::describe_session(app.name(), &session);
    let mls = info.get("mls") == Some(&json!(true));
    emit("session", Value::Object(info));
    if args.expect_mls != ExpectMls::Any && mls != (args.expect_mls == ExpectMls::On) {
        bail!("session MLS is {mls}, expected {:?}", args.expect_mls);
    }

    let mut seqs: Vec<u64> = Vec::new();
    let mut senders = BTreeSet::new();
    let mut pending: VecDeque<Completion> = VecDeque::new();
    let mut closed_by_peer = false;
    let mut first_at = None;
    while args.count.is_none_or(|count| seqs.len() < count) {
        let message = match timeout(secs(args.recv_timeout), session.recv()).await {
            Err(_) => bail!(
                "receive failed after {} messages: no message within {} s",
                seqs.len(),
                args.recv_timeout
            ),
            Ok(None) => {
                closed_by_peer = session.close_reason() == Some(CloseReason::ClosedByPeer);
                break;
            }
            Ok(Some(Err(lost))) => bail!("receive failed after {} messages: {lost}", seqs.len()),
            Ok(Some(Ok(message))) => message,
        };
        first_at.get_or_insert_with(Instant::now);
        let doc = common::parse_payload(&message.payload)?;
        let sender = name_str(&message.context.source);
        let seq = doc.seq.context("data without a sequence number")?;
        seqs.push(seq);
        senders.insert(sender.clone());
        if args.report_each {
            emit("received", json!({"seq": seq, "sender": sender}));
        }
        match args.echo {
            EchoMode::None => {}
            EchoMode::Publish => pending.push_back(session.publish(message.payload).await?),
            EchoMode::PublishTo => pending.push_back(
                session
                    .publish_to(&message.context.source, message.payload)
                    .await?,
            ),
        }
        while pending.len() >= args.window.max(1) {
            if let Some(oldest) = pending.pop_front() {
                complete(oldest, args.ack_timeout, "echo publish").await?;
            }
        }
    }
    while let Some(oldest) = pending.pop_front() {
        complete(oldest, args.ack_timeout, "echo publish").await?;
    }
    let receive_s = first_at.map_or(0.0, |t| t.elapsed().as_secs_f64());

    if !closed_by_peer {
        // Wait (bounded) for the initiator to close: proof it got what it needed.
        match timeout(secs(args.close_timeout), session.recv()).await {
            Ok(Some(extra)) => bail!("unexpected message after the expected count: {extra:?}"),
            Ok(None) => {
                closed_by_peer = session.close_reason() == Some(CloseReason::ClosedByPeer);
            }
            Err(_) => {
                emit(
                    "warning",
                    json!({"what": "initiator did not close the session"}),
                );
                let _ = timeout(secs(10.0), session.close()).await;
            }
        }
    }

    let in_order = seqs.iter().copied().eq(0..seqs.len() as u64);
    let complete_count = args.count.is_none_or(|count| seqs.len() == count);
    let result = json!({
        "count": seqs.len(), "in_order": in_order, "complete": complete_count,
        "senders": senders, "closed_by_peer": closed_by_peer, "receive_s": round(receive_s, 3),
    });
    app.close().await;
    if !(in_order && complete_count) {
        bail!("messages missing or out of order: {result}");
    }
    emit("done", result);
    Ok(())
}
