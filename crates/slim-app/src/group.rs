//! The group roles: `group-moderator` creates a group, invites, publishes, optionally
//! removes a member, waits for every member's report and closes; `group-member` joins when
//! invited, counts what it receives per sender, optionally publishes, and reports.

use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value, json};
use slim_client::SessionKind;
use tokio::time::timeout;

use crate::common::{self, CommonArgs, SessionArgs, name_str, secs};
use crate::events::{emit, round};
use crate::groupio::{self, Inbox, Publisher};

/// `group-moderator` arguments.
#[derive(clap::Args, Debug)]
pub struct ModeratorArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub session: SessionArgs,
    /// Group channel name, org/ns/chan.
    #[arg(long)]
    pub channel: String,
    /// Comma-separated member names.
    #[arg(long)]
    pub members: String,
    /// Messages in phase 1.
    #[arg(long, default_value_t = 100)]
    pub count: u64,
    /// Member to remove after phase 1.
    #[arg(long)]
    pub remove: Option<String>,
    /// Messages in phase 2 (after the removal, if any).
    #[arg(long, default_value_t = 0)]
    pub count_after: u64,
    /// Data messages the moderator must receive from members.
    #[arg(long, default_value_t = 0)]
    pub expect: usize,
    #[arg(long, default_value_t = 64)]
    pub payload_size: usize,
    #[arg(long, default_value_t = 128)]
    pub window: usize,
    #[arg(long, default_value_t = 30.0)]
    pub invite_timeout: f64,
    #[arg(long, default_value_t = 30.0)]
    pub ack_timeout: f64,
    /// Longest wait for checkpoints / done reports from members, s.
    #[arg(long, default_value_t = 60.0)]
    pub wait_timeout: f64,
    /// Accepted for compatibility (receiving waits without polling).
    #[arg(long, default_value_t = 5.0)]
    pub recv_timeout: f64,
    /// One `received` event per message.
    #[arg(long)]
    pub report_each: bool,
}

/// Runs the moderator.
pub async fn moderator(args: ModeratorArgs) -> anyhow::Result<()> {
    let app = common::connect(&args.common).await?;
    let members: Vec<String> = args
        .members
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(remove) = &args.remove
        && !members.contains(remove)
    {
        bail!("--remove {remove} is not in --members");
    }
    let me = name_str(app.name());
    emit("ready", common::ready_fields(&app));

    let started = Instant::now();
    let channel = common::parse_name(&args.channel)?;
    let config = args.session.config(SessionKind::Group);
    let session = timeout(
        secs(args.invite_timeout),
        app.create_session(config, channel),
    )
    .await
    .map_err(|_| anyhow!("group creation timed out"))?
    .context("group creation")?;
    emit(
        "session",
        Value::Object(common::describe_session(app.name(), &session)),
    );
    for member in &members {
        let name = common::parse_name(member)?;
        let t0 = Instant::now();
        timeout(secs(args.invite_timeout), session.invite(name))
            .await
            .map_err(|_| {
                anyhow!(
                    "invite {member}: not completed within {} s",
                    args.invite_timeout
                )
            })?
            .with_context(|| format!("invite {member}"))?;
        emit(
            "invited",
            json!({"member": member, "elapsed_s": round(t0.elapsed().as_secs_f64(), 3)}),
        );
    }
    emit(
        "participants",
        json!({"list": groupio::participants(&session).await}),
    );

    let inbox = Inbox::new(args.report_each);
    tokio::spawn(groupio::receive_loop(session.clone(), inbox.clone()));
    let mut publisher = Publisher {
        session: session.clone(),
        sender: me.clone(),
        payload_size: args.payload_size,
        window: args.window,
        ack_timeout: args.ack_timeout,
        next_seq: 0,
        unfinished: Vec::new(),
    };
    let mut extra = Map::new();
    extra.insert("members".into(), json!(members.len()));
    publisher.control("start", false, true, extra).await?;
    emit("start", json!({}));

    let elapsed = publisher.run(args.count).await?;
    emit(
        "published",
        json!({"phase": 1, "count": args.count, "elapsed_s": round(elapsed, 3),
               "msgs_per_s": (elapsed > 0.0).then(|| round(args.count as f64 / elapsed, 1))}),
    );

    let mut remaining = members.clone();
    if let Some(remove) = &args.remove {
        inbox
            .wait_until("checkpoints from every member", args.wait_timeout, |s| {
                let senders = s.senders_of("checkpoint");
                members.iter().all(|m| senders.contains(m))
            })
            .await?;
        let t0 = Instant::now();
        timeout(
            secs(args.invite_timeout),
            session.remove(common::parse_name(remove)?),
        )
        .await
        .map_err(|_| {
            anyhow!(
                "remove {remove}: not completed within {} s",
                args.invite_timeout
            )
        })?
        .with_context(|| format!("remove {remove}"))?;
        remaining.retain(|m| m != remove);
        emit(
            "removed",
            json!({"member": remove, "elapsed_s": round(t0.elapsed().as_secs_f64(), 3),
                   "after_seq": publisher.next_seq as i64 - 1}),
        );
        emit(
            "participants",
            json!({"list": groupio::participants(&session).await}),
        );
    }
    if args.count_after > 0 {
        let elapsed = publisher.run(args.count_after).await?;
        emit(
            "published",
            json!({"phase": 2, "count": args.count_after, "elapsed_s": round(elapsed, 3)}),
        );
    }

    inbox
        .wait_until(
            "done from every remaining member and all member data",
            args.wait_timeout,
            |s| {
                let done = s.senders_of("done");
                remaining.iter().all(|m| done.contains(m)) && s.total() >= args.expect
            },
        )
        .await?;
    let (summary, reports, failed) = {
        let state = inbox.lock();
        let mut reports = Vec::new();
        for kind in ["checkpoint", "done"] {
            for doc in state.control.get(kind).into_iter().flatten() {
                reports.push(json!({"kind": kind, "member": doc.from,
                                    "received": doc.fields.get("received")}));
            }
        }
        let failed = state.failed.then(|| state.closed.clone()).flatten();
        (state.summary(), reports, failed)
    };
    for report in reports {
        emit("member_report", report);
    }
    if let Some(why) = failed {
        bail!("receiving failed: {why}");
    }
    let deleted = matches!(timeout(secs(15.0), session.close()).await, Ok(Ok(())));
    let total = summary["total"].as_u64().unwrap_or(0) as usize;
    let in_order = summary["in_order"] == json!(true);
    let result = json!({
        "count": publisher.next_seq, "in_order": in_order, "published": publisher.next_seq,
        "members": members, "removed": args.remove, "received": summary, "deleted": deleted,
        "elapsed_s": round(started.elapsed().as_secs_f64(), 3),
    });
    app.close().await;
    if total != args.expect || !in_order {
        bail!("moderator did not receive the members' messages in order: {result}");
    }
    emit("done", result);
    Ok(())
}

/// `group-member` arguments.
#[derive(clap::Args, Debug)]
pub struct MemberArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Data messages (from all senders) to receive before saying done.
    #[arg(long)]
    pub expect: usize,
    /// Own messages to publish after `start`.
    #[arg(long, default_value_t = 0)]
    pub publish: u64,
    /// Send a checkpoint after this many data messages.
    #[arg(long)]
    pub checkpoint: Option<usize>,
    /// Being removed before `--expect` messages is success.
    #[arg(long)]
    pub expect_removal: bool,
    #[arg(long, default_value_t = 64)]
    pub payload_size: usize,
    #[arg(long, default_value_t = 128)]
    pub window: usize,
    #[arg(long, default_value_t = 60.0)]
    pub listen_timeout: f64,
    #[arg(long, default_value_t = 30.0)]
    pub ack_timeout: f64,
    /// Longest wait for each step (start, messages, close), s.
    #[arg(long, default_value_t = 60.0)]
    pub wait_timeout: f64,
    /// Accepted for compatibility (receiving waits without polling).
    #[arg(long, default_value_t = 5.0)]
    pub recv_timeout: f64,
    /// No `received` event per message.
    #[arg(long = "quiet", action = clap::ArgAction::SetFalse)]
    pub report_each: bool,
}

/// Runs a member.
pub async fn member(args: MemberArgs) -> anyhow::Result<()> {
    let app = common::connect(&args.common).await?;
    let me = name_str(app.name());
    emit("ready", common::ready_fields(&app));
    let session = timeout(secs(args.listen_timeout), app.accept())
        .await
        .map_err(|_| anyhow!("no invitation within {} s", args.listen_timeout))?
        .context("accept")?;
    let joined_at = Instant::now();
    emit(
        "session",
        Value::Object(common::describe_session(app.name(), &session)),
    );

    let inbox = Inbox::new(args.report_each);
    tokio::spawn(groupio::receive_loop(session.clone(), inbox.clone()));
    let mut publisher = Publisher {
        session: session.clone(),
        sender: me,
        payload_size: args.payload_size,
        window: args.window,
        ack_timeout: args.ack_timeout,
        next_seq: 0,
        unfinished: Vec::new(),
    };
    let mut said_done = false;
    let steps: anyhow::Result<()> = async {
        if args.publish > 0 {
            inbox
                .wait_until("start", args.wait_timeout, |s| {
                    s.control.contains_key("start")
                })
                .await?;
            let elapsed = publisher.run(args.publish).await?;
            emit(
                "published",
                json!({"count": args.publish, "elapsed_s": round(elapsed, 3)}),
            );
        }
        if let Some(checkpoint) = args.checkpoint {
            inbox
                .wait_until(
                    &format!("{checkpoint} messages for the checkpoint"),
                    args.wait_timeout,
                    |s| s.total() >= checkpoint,
                )
                .await?;
            // Not awaited: the moderator removes a member as soon as it has every
            // checkpoint, which may end that member's pending publishes.
            let mut extra = Map::new();
            extra.insert("received".into(), json!(inbox.lock().total()));
            publisher.control("checkpoint", true, false, extra).await?;
        }
        inbox
            .wait_until(
                &format!("{} messages", args.expect),
                args.wait_timeout,
                |s| s.total() >= args.expect,
            )
            .await?;
        said_done = true;
        let mut extra = Map::new();
        extra.insert("received".into(), json!(inbox.lock().total()));
        publisher.control("done", true, true, extra).await
    }
    .await;
    if let Err(error) = steps
        && !(args.expect_removal && inbox.lock().closed.is_some())
    {
        return Err(error);
    }

    if !inbox.wait_closed(args.wait_timeout).await {
        bail!(
            "the session was not closed by the moderator: {}",
            inbox.lock().summary()
        );
    }
    publisher.check_unfinished(1.0).await;
    let (summary, closed, failed) = {
        let state = inbox.lock();
        (state.summary(), state.closed.clone(), state.failed)
    };
    if failed {
        bail!("receiving failed: {closed:?} {summary}");
    }
    let removed = !said_done;
    emit(
        "closed",
        json!({"reason": closed, "removed": removed,
               "after_s": round(joined_at.elapsed().as_secs_f64(), 3)}),
    );
    let total = summary["total"].as_u64().unwrap_or(0) as usize;
    let in_order = summary["in_order"] == json!(true);
    let result = json!({
        "count": total, "in_order": in_order, "removed": removed,
        "published": publisher.next_seq, "per_sender": summary["per_sender"],
    });
    app.close().await;
    if !in_order {
        bail!("messages out of order: {result}");
    }
    if total > args.expect {
        bail!("more messages than expected: {result}");
    }
    emit("done", result);
    Ok(())
}
