//! Roles for people at a shell: `echo` serves every session it is invited to, answering
//! each message; `send` opens a session (point-to-point, or a group it invites members to),
//! sends the given messages or stdin lines and prints what comes back.

use std::io::BufRead;
use std::time::Duration;

use anyhow::{Context, anyhow};
use serde_json::json;
use slim_client::{Session, SessionKind};
use tokio::time::timeout;

use crate::common::{self, CommonArgs, SessionArgs, name_str, secs};
use crate::events::emit;

/// `echo` arguments.
#[derive(clap::Args, Debug)]
pub struct EchoArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Stop after this many sessions ended (default: serve forever).
    #[arg(long)]
    pub sessions: Option<usize>,
}

/// Answers every message of every session: a normal publish in point-to-point sessions, a
/// reply to the sender only in groups.
pub async fn echo(args: EchoArgs) -> anyhow::Result<()> {
    let app = common::connect(&args.common).await?;
    emit("ready", common::ready_fields(&app));
    let mut served = Vec::new();
    while args.sessions.is_none_or(|limit| served.len() < limit) {
        let session = app.accept().await.context("accept")?;
        emit(
            "session",
            serde_json::Value::Object(common::describe_session(app.name(), &session)),
        );
        served.push(tokio::spawn(serve(session)));
    }
    for task in served {
        let _ = task.await;
    }
    app.close().await;
    emit("done", json!({}));
    Ok(())
}

async fn serve(session: Session) {
    let mut count = 0u64;
    while let Some(delivery) = session.recv().await {
        let Ok(message) = delivery else { continue };
        count += 1;
        let result = match session.kind() {
            SessionKind::PointToPoint => session.publish_detached(message.payload).await,
            SessionKind::Group => session
                .publish_to(&message.context.source, message.payload)
                .await
                .map(drop),
        };
        if result.is_err() {
            break;
        }
    }
    emit(
        "closed",
        json!({"session_id": session.id().0, "echoed": count,
               "reason": format!("{:?}", session.close_reason())}),
    );
}

/// `send` arguments.
#[derive(clap::Args, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub session: SessionArgs,
    /// Peer of a point-to-point session (org/ns/app).
    #[arg(long, conflicts_with = "channel")]
    pub peer: Option<String>,
    /// Channel of a group session (org/ns/chan); members come from `--invite`.
    #[arg(long, requires = "invite")]
    pub channel: Option<String>,
    /// Comma-separated members to invite into the group.
    #[arg(long)]
    pub invite: Option<String>,
    /// After sending, how long to wait for more replies once they stop coming, s.
    #[arg(long, default_value_t = 2.0)]
    pub wait: f64,
    /// Messages to send (default: every line of stdin).
    pub messages: Vec<String>,
}

/// Sends messages and prints the replies.
pub async fn send(args: SendArgs) -> anyhow::Result<()> {
    let app = common::connect(&args.common).await?;
    emit("ready", common::ready_fields(&app));
    let session = match (&args.peer, &args.channel) {
        (Some(peer), _) => {
            let config = args.session.config(SessionKind::PointToPoint);
            app.create_session(config, common::parse_name(peer)?)
                .await?
        }
        (None, Some(channel)) => {
            let config = args.session.config(SessionKind::Group);
            let session = app
                .create_session(config, common::parse_name(channel)?)
                .await?;
            for member in args.invite.iter().flat_map(|m| m.split(',')) {
                session.invite(common::parse_name(member.trim())?).await?;
                emit("invited", json!({"member": member.trim()}));
            }
            session
        }
        (None, None) => return Err(anyhow!("give --peer or --channel")),
    };
    emit(
        "session",
        serde_json::Value::Object(common::describe_session(app.name(), &session)),
    );
    let printer = tokio::spawn(print_replies(session.clone(), secs(args.wait)));
    let messages = if args.messages.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<Vec<_>, _>>()?
    } else {
        args.messages.clone()
    };
    for (seq, text) in messages.into_iter().enumerate() {
        session.publish(text.clone()).await?.await?;
        emit("published", json!({"seq": seq, "text": text}));
    }
    let replies = printer.await.unwrap_or(0);
    let _ = timeout(secs(10.0), session.close()).await;
    app.close().await;
    emit("done", json!({"replies": replies}));
    Ok(())
}

async fn print_replies(session: Session, quiet: Duration) -> usize {
    let mut count = 0;
    while let Ok(Some(delivery)) = timeout(quiet, session.recv()).await {
        match delivery {
            Ok(message) => {
                count += 1;
                emit(
                    "received",
                    json!({"from": name_str(&message.context.source),
                           "text": String::from_utf8_lossy(&message.payload)}),
                );
            }
            Err(lost) => emit("warning", json!({"what": lost.to_string()})),
        }
    }
    count
}
