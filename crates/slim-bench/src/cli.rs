//! Command line: one subcommand per scenario, options shared by all of them in [`Common`].
//!
//! Amounts are written the way people say them: sizes as `64`, `4k`, `4KiB`, `1m`; durations
//! as `500ms`, `5s`, `2m`; an amount of traffic as either a count (`100000`) or a duration.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator for SLIM nodes (ours and upstream's, through this project's client) and for
/// NATS (through async-nats), with the same message patterns on both.
#[derive(Debug, Parser)]
#[command(name = "slim-bench", version, about, long_about = None)]
pub struct Cli {
    /// The scenario to run.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// What traffic to generate.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// N publishers → M subscribers of one name, fire-and-forget; each message reaches one
    /// subscriber (SLIM anycast, fanout 1; NATS queue group). 1 → 1 measures forwarding.
    Pubsub(PubsubArgs),
    /// Request/echo round trips, one outstanding request per client; latency histogram.
    Rtt(RttArgs),
    /// One publisher → N subscribers of one name; every subscriber gets every message (SLIM
    /// broadcast, fanout 256; NATS plain subscriptions).
    Fanout(FanoutArgs),
    /// Sessions through `slim-client`'s `App`/`Session` API (SLIM only): round trips over a
    /// point-to-point session, 1 → 1 throughput with every completion and the order checked,
    /// or a group's fan-out 1 → N; reliable or fire-and-forget, MLS on or off.
    Session(SessionArgs),
    /// SLIM RPC: unary calls/s and latency, then one server stream's items/s.
    Rpc(RpcArgs),
}

impl Scenario {
    /// The options every scenario has.
    pub fn common(&self) -> &Common {
        match self {
            Scenario::Pubsub(a) => &a.common,
            Scenario::Rtt(a) => &a.common,
            Scenario::Fanout(a) => &a.common,
            Scenario::Session(a) => &a.common,
            Scenario::Rpc(a) => &a.common,
        }
    }
}

/// Which messaging system the endpoints speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// A SLIM node (ours or upstream's: they are wire-compatible), through `slim-client`.
    Slim,
    /// A NATS server, through `async-nats`.
    Nats,
}

impl System {
    /// Lower-case name, as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            System::Slim => "slim",
            System::Nats => "nats",
        }
    }

    fn default_endpoint(self) -> &'static str {
        match self {
            System::Slim => "http://127.0.0.1:46357",
            System::Nats => "nats://127.0.0.1:4222",
        }
    }
}

/// Options shared by every scenario.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Messaging system behind the endpoints.
    #[arg(long, value_enum, default_value_t = System::Slim)]
    pub system: System,

    /// Endpoint to connect to; repeat to spread clients over several nodes (round-robin).
    /// Default: http://127.0.0.1:46357 for slim, nats://127.0.0.1:4222 for nats.
    #[arg(long = "endpoint", short = 'e')]
    pub endpoints: Vec<String>,

    /// Endpoints for subscribers (and echo responders) when they should sit elsewhere than the
    /// publishers, e.g. on another node of a chain. Default: the `--endpoint` list.
    #[arg(long = "sub-endpoint")]
    pub sub_endpoints: Vec<String>,

    /// Payload bytes per message (e.g. 64, 4k, 1MiB).
    #[arg(long, short = 's', default_value = "64", value_parser = parse_size)]
    pub size: usize,

    /// Messages (pubsub, fanout, session throughput/fanout: published in total; rtt, session
    /// rtt: round trips in total).
    #[arg(
        long,
        short = 'n',
        default_value_t = 100_000,
        conflicts_with = "duration"
    )]
    pub msgs: u64,

    /// Run for this long instead of a message count (e.g. 10s).
    #[arg(long, short = 'd', value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Traffic before measuring, not counted: a count or a duration (0 = none).
    #[arg(long, default_value = "500ms", value_parser = parse_amount)]
    pub warmup: Amount,

    /// After publishing ends, how long delivery may stall before the missing messages are
    /// reported as lost.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// The node's process id: its resident memory is reported before, during and after the
    /// run (from /proc/PID/status).
    #[arg(long)]
    pub node_pid: Option<u32>,

    /// Extra clients that connect and subscribe one name each, then stay idle during the run
    /// (scaling: the node's cost per connection).
    #[arg(long, default_value_t = 0)]
    pub idle_clients: u32,

    /// Extra subscriptions (distinct names) held by one more client during the run (scaling:
    /// the node's cost per subscription).
    #[arg(long, default_value_t = 0)]
    pub extra_subscriptions: u32,

    /// Free-form label copied into the JSON report (e.g. "ours", "upstream").
    #[arg(long, default_value = "")]
    pub label: String,

    /// Print only the JSON line.
    #[arg(long)]
    pub json: bool,

    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Tokio worker threads of the load generator (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Keep the CPUs busy at the lowest priority for this long after the load generator's
    /// runtime last had work (the node's `runtime.idle_spin`, for the client side; 0 = off).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub idle_spin: Duration,

    /// Ask the kernel to keep idle CPUs polling for this long after the load generator's
    /// runtime last had work (the node's `runtime.cpu_idle_poll`; needs root; 0 = off).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub cpu_idle_poll: Duration,
}

impl Common {
    /// The publisher endpoints, with the system's default when none was given.
    pub fn endpoints(&self) -> Vec<String> {
        if self.endpoints.is_empty() {
            vec![self.system.default_endpoint().to_owned()]
        } else {
            self.endpoints.clone()
        }
    }

    /// The subscriber endpoints.
    pub fn sub_endpoints(&self) -> Vec<String> {
        if self.sub_endpoints.is_empty() {
            self.endpoints()
        } else {
            self.sub_endpoints.clone()
        }
    }

    /// The measured amount of traffic.
    pub fn amount(&self) -> Amount {
        match self.duration {
            Some(d) => Amount::Duration(d),
            None => Amount::Count(self.msgs),
        }
    }
}

/// `pubsub` options.
#[derive(Debug, Clone, Args)]
pub struct PubsubArgs {
    /// Publishers (each its own connection).
    #[arg(long = "pub", default_value_t = 1)]
    pub publishers: u32,
    /// Subscribers (each its own connection); messages are spread over them.
    #[arg(long = "sub", default_value_t = 1)]
    pub subscribers: u32,
    #[command(flatten)]
    pub common: Common,
}

/// `rpc` options.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    /// Unary calls measured.
    #[arg(long, default_value_t = 20_000)]
    pub calls: u64,
    /// Unary calls in flight at once, on one channel (one session).
    #[arg(long, default_value_t = 1)]
    pub concurrency: u32,
    /// Items of the measured server stream (each `--size` bytes).
    #[arg(long, default_value_t = 200_000)]
    pub items: u64,
    /// Unary calls before measuring.
    #[arg(long, default_value_t = 1000)]
    pub warmup_calls: u64,
    /// Session without MLS (the default session, like upstream's clients, has MLS).
    #[arg(long)]
    pub no_mls: bool,
    #[command(flatten)]
    pub common: Common,
}

/// `rtt` options.
#[derive(Debug, Clone, Args)]
pub struct RttArgs {
    /// Requesting clients, each with one request in flight.
    #[arg(long, default_value_t = 1)]
    pub clients: u32,
    /// Echo responders (requests are spread over them).
    #[arg(long, default_value_t = 1)]
    pub responders: u32,
    /// How long a request may wait for its echo before it is counted as lost.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    #[command(flatten)]
    pub common: Common,
}

/// `fanout` options.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// Subscribers; each receives every message.
    #[arg(long = "sub", default_value_t = 4)]
    pub subscribers: u32,
    #[command(flatten)]
    pub common: Common,
}

/// `session` options.
#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    /// What to measure: `rtt` (request/echo over a point-to-point session, one request in
    /// flight), `throughput` (1 → 1 point-to-point), `fanout` (one moderator publishing to a
    /// group of `--members`).
    #[arg(long, value_enum, default_value_t = SessionPattern::Rtt)]
    pub pattern: SessionPattern,
    /// Reliable (acknowledged, retransmitted, in order) or fire-and-forget. Default: reliable
    /// for `rtt` and `throughput`, fire-and-forget for `fanout`.
    #[arg(long, value_enum)]
    pub delivery: Option<SessionDelivery>,
    /// End-to-end encryption with MLS (ciphersuite 0x0002, P-256).
    #[arg(long)]
    pub mls: bool,
    /// Group members receiving every message (`fanout`).
    #[arg(long, default_value_t = 8)]
    pub members: u32,
    /// The receiving applications (`throughput`, `fanout`; the echo of `rtt`) share one
    /// connection per `--sub-endpoint` (`slim_client::Connection`, as upstream's `Service`
    /// hosts several applications) instead of a link each: the node sends a message for
    /// several of them once. The senders keep their own links.
    #[arg(long)]
    pub shared_connection: bool,
    /// Messages a session keeps in flight before `publish` waits (the layer's window;
    /// default: the client's default, 2048).
    #[arg(long)]
    pub window: Option<u32>,
    /// When the applications' links set `TCP_QUICKACK` after every read (the client's
    /// `tcp_quickack`): `auto` toward a node that does not announce `TCP_NODELAY`
    /// (upstream's), or always, or never.
    #[arg(long, value_enum, default_value_t = QuickAckArg::Auto)]
    pub tcp_quickack: QuickAckArg,
    /// Shared secret the applications identify with (at least 32 bytes).
    #[arg(long, default_value = "slim-bench-shared-secret-of-32-bytes!")]
    pub secret: String,
    /// How long a request may wait for its echo before it is counted as lost (`rtt`).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    #[command(flatten)]
    pub common: Common,
}

/// `--tcp-quickack` values (see `slim_client::QuickAck`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QuickAckArg {
    /// Until the node announces `TCP_NODELAY`.
    Auto,
    /// On every read.
    Always,
    /// Never (the kernel's delayed ACKs).
    Never,
}

impl From<QuickAckArg> for slim_client::QuickAck {
    fn from(arg: QuickAckArg) -> Self {
        match arg {
            QuickAckArg::Auto => slim_client::QuickAck::Auto,
            QuickAckArg::Always => slim_client::QuickAck::Always,
            QuickAckArg::Never => slim_client::QuickAck::Never,
        }
    }
}

/// What the `session` scenario measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SessionPattern {
    /// Request/echo round trips over a point-to-point session.
    Rtt,
    /// One publisher → one receiver over a point-to-point session.
    Throughput,
    /// One moderator → every member of a group session.
    Fanout,
}

impl SessionPattern {
    /// Lower-case name, as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionPattern::Rtt => "rtt",
            SessionPattern::Throughput => "throughput",
            SessionPattern::Fanout => "fanout",
        }
    }
}

/// Delivery guarantee of the sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SessionDelivery {
    /// Acknowledged and retransmitted; in order per sender; `publish` pushed back by the
    /// window.
    Reliable,
    /// Sent once; no acknowledgement.
    FireAndForget,
}

/// An amount of traffic: a number of messages or a span of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// This many messages (or round trips).
    Count(u64),
    /// As many as fit in this time.
    Duration(Duration),
}

impl Amount {
    /// True when there is nothing to do.
    pub fn is_none(self) -> bool {
        matches!(self, Amount::Count(0)) || self == Amount::Duration(Duration::ZERO)
    }

    /// This worker's share when the amount is split over `workers` (durations are not split).
    pub fn share(self, worker: u64, workers: u64) -> Amount {
        match self {
            Amount::Count(n) => {
                let workers = workers.max(1);
                Amount::Count(n / workers + u64::from(worker < n % workers))
            }
            Amount::Duration(d) => Amount::Duration(d),
        }
    }
}

/// Parses `64`, `4k`, `4KiB`, `1m`, `1MiB` (binary multiples).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let value: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (like 64, 4k, 1MiB)"))?;
    let multiplier: usize = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return Err(format!("unknown size unit in `{text}` (use k or m)")),
    };
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses `250ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (like 500ms, 5s, 2m)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown duration unit in `{text}`")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// Parses a count (`10000`) or a duration (`1s`).
pub fn parse_amount(text: &str) -> Result<Amount, String> {
    match text.trim().parse::<u64>() {
        Ok(n) => Ok(Amount::Count(n)),
        Err(_) => parse_duration(text).map(Amount::Duration),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert!(parse_size("4x").is_err());
        assert!(parse_size("k").is_err());
    }

    #[test]
    fn durations_and_amounts() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_amount("1000"), Ok(Amount::Count(1000)));
        assert_eq!(
            parse_amount("1s"),
            Ok(Amount::Duration(Duration::from_secs(1)))
        );
        assert!(parse_amount("0").unwrap().is_none());
    }

    #[test]
    fn counts_split_exactly() {
        let total: u64 = (0..3)
            .map(|w| match Amount::Count(10).share(w, 3) {
                Amount::Count(n) => n,
                Amount::Duration(_) => 0,
            })
            .sum();
        assert_eq!(total, 10);
        assert_eq!(Amount::Count(10).share(0, 3), Amount::Count(4));
    }
}
