//! What every role shares: the common arguments, connecting the application, session
//! settings from flags, the data payload format, and describing sessions and names.
//!
//! Data payloads are small JSON documents, `{"k": "data", "seq": 17, "from": "org/ns/a"}`,
//! optionally padded with `"pad": "xxx..."` to a size; group control messages use the same
//! shape with `k` = `start`, `checkpoint` or `done`. `from` is the sender's name as on the
//! wire, without instance id, so every receiver can check it against the message source.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use slim_client::{App, AppConfig, Name, Retries, Session, SessionConfig, SessionKind};

/// Arguments every role takes (the interop runner passes them all).
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Node endpoint, e.g. http://127.0.0.1:46357.
    #[arg(long)]
    pub node: String,
    /// Shared secret (at least 32 bytes).
    #[arg(long)]
    pub secret: String,
    /// Own name, org/ns/app.
    #[arg(long)]
    pub name: String,
    /// Hard limit for the whole run in seconds (an `error` event and exit code 124 after).
    #[arg(long, default_value_t = 120.0)]
    pub deadline: f64,
    /// How long to keep retrying the first connection to the node, in seconds.
    #[arg(long, default_value_t = 15.0)]
    pub connect_timeout: f64,
    /// Log level for stderr (`RUST_LOG` syntax also works: `slim_session=debug`).
    #[arg(long, env = "SLIM_INTEROP_LOG", default_value = "warn")]
    pub log_level: String,
}

/// Session settings of the roles that create sessions.
#[derive(clap::Args, Debug, Clone)]
pub struct SessionArgs {
    /// Disable MLS.
    #[arg(long = "no-mls", action = clap::ArgAction::SetFalse)]
    pub mls: bool,
    /// Fire-and-forget data (no acknowledgements or retransmissions).
    #[arg(long = "unreliable", action = clap::ArgAction::SetFalse)]
    pub reliable: bool,
    /// Retransmissions before giving up (reliable sessions).
    #[arg(long, default_value_t = 10)]
    pub max_retries: u32,
    /// Retransmission interval in seconds (reliable sessions).
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
}

impl SessionArgs {
    /// The session configuration these flags describe.
    pub fn config(&self, kind: SessionKind) -> SessionConfig {
        let base = match kind {
            SessionKind::PointToPoint => SessionConfig::point_to_point(),
            SessionKind::Group => SessionConfig::group(),
        };
        let reliability = self.reliable.then(|| {
            Retries::new(
                Duration::from_secs_f64(self.interval.max(0.001)),
                self.max_retries,
            )
        });
        let config = base.with_reliability(reliability);
        if self.mls { config.with_mls() } else { config }
    }
}

/// Parses `org/ns/app` (exactly three non-empty components).
pub fn parse_name(text: &str) -> anyhow::Result<Name> {
    let parts: Vec<&str> = text.split('/').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        bail!("name must be org/ns/app, got {text:?}");
    }
    Ok(Name::new(parts[0], parts[1], parts[2])?)
}

/// `org/ns/app` of a name, without its instance id.
pub fn name_str(name: &Name) -> String {
    match name.components() {
        Some([a, b, c]) => format!("{a}/{b}/{c}"),
        None => name.to_string(),
    }
}

/// Connects the application, retrying the first connection for `--connect-timeout`.
pub async fn connect(args: &CommonArgs) -> anyhow::Result<App> {
    if args.secret.len() < 32 {
        bail!("shared secret must be at least 32 bytes");
    }
    let name = parse_name(&args.name)?;
    let mut config = AppConfig::new(args.node.clone());
    config.link.backoff = slim_transport::config::BackoffConfig::Fixed {
        interval: Duration::from_millis(250),
        max_attempts: None,
    };
    let give_up = tokio::time::Instant::now() + Duration::from_secs_f64(args.connect_timeout);
    loop {
        let attempt = App::builder(name.clone())
            .shared_secret(args.secret.clone())
            .config(config.clone())
            .connect()
            .await;
        match attempt {
            Ok(app) => return Ok(app),
            Err(error) if tokio::time::Instant::now() < give_up => {
                tracing::debug!(%error, "connect failed; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot connect to {}", args.node));
            }
        }
    }
}

/// The fields of the `ready` event.
pub fn ready_fields(app: &App) -> Value {
    json!({
        "name": name_str(app.name()),
        "id": app.name().id().to_string(),
        "conn": 0,
    })
}

/// The fields describing a session (`session` event); `me` is this application.
pub fn describe_session(me: &Name, session: &Session) -> Map<String, Value> {
    let config = session.config();
    let mut fields = Map::new();
    fields.insert("session_id".into(), json!(session.id().0));
    fields.insert(
        "type".into(),
        json!(match session.kind() {
            SessionKind::Group => "group",
            SessionKind::PointToPoint => "p2p",
        }),
    );
    fields.insert("source".into(), json!(name_str(me)));
    fields.insert("destination".into(), json!(name_str(session.destination())));
    fields.insert("mls".into(), json!(config.mls.is_some()));
    fields.insert("reliable".into(), json!(config.is_reliable()));
    fields.insert(
        "initiator".into(),
        json!(session.role() == slim_client::Role::Moderator),
    );
    fields
}

/// A data or control payload padded to at least `size` bytes.
pub fn payload(
    kind: &str,
    seq: u64,
    from: &str,
    size: usize,
    extra: &Map<String, Value>,
) -> Vec<u8> {
    let mut doc = Map::new();
    doc.insert("k".into(), json!(kind));
    doc.insert("seq".into(), json!(seq));
    doc.insert("from".into(), json!(from));
    doc.extend(extra.clone());
    let raw = Value::Object(doc.clone()).to_string();
    if raw.len() >= size {
        return raw.into_bytes();
    }
    // `,"pad":""` adds 9 bytes around the padding itself.
    let pad = size.saturating_sub(raw.len() + 9);
    doc.insert("pad".into(), json!("x".repeat(pad)));
    Value::Object(doc).to_string().into_bytes()
}

/// A received payload: kind, sequence number, claimed sender and any other fields.
#[derive(Debug, Clone)]
pub struct Doc {
    pub kind: String,
    pub seq: Option<u64>,
    pub from: Option<String>,
    pub fields: Map<String, Value>,
}

/// Parses a payload of ours.
pub fn parse_payload(raw: &[u8]) -> anyhow::Result<Doc> {
    let value: Value = serde_json::from_slice(raw).with_context(|| {
        format!(
            "payload is not one of ours: {}",
            String::from_utf8_lossy(&raw[..raw.len().min(64)])
        )
    })?;
    let Value::Object(mut fields) = value else {
        bail!("payload is not a JSON object");
    };
    fields.remove("pad");
    let kind = match fields.remove("k") {
        Some(Value::String(kind)) => kind,
        _ => bail!("payload without a kind"),
    };
    let seq = fields.remove("seq").and_then(|v| v.as_u64());
    let from = match fields.remove("from") {
        Some(Value::String(from)) => Some(from),
        _ => None,
    };
    Ok(Doc {
        kind,
        seq,
        from,
        fields,
    })
}

/// Seconds as a `Duration` (negative and NaN become zero).
pub fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
}
