//! The result of a run: a human summary and one JSON line (the scripts read the last line of
//! standard output).

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::node_memory::NodeMemory;

/// Everything a run measured. Field names are the JSON keys the scripts read.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `pubsub`, `rtt`, `fanout` or `session`.
    pub scenario: &'static str,
    /// `slim` or `nats`.
    pub system: &'static str,
    /// The `--label` given.
    pub label: String,
    /// Publisher endpoints.
    pub endpoints: Vec<String>,
    /// Payload bytes per message.
    pub payload_bytes: usize,
    /// Publishing clients (rtt: requesting clients).
    pub publishers: u32,
    /// Receiving clients (rtt: echo responders).
    pub subscribers: u32,
    /// Idle connected clients held during the run.
    pub idle_clients: u32,
    /// Extra subscriptions held during the run.
    pub extra_subscriptions: u32,
    /// Messages published in the measured phase (rtt: requests sent).
    pub sent: u64,
    /// Deliveries expected: sent × receivers per message.
    pub expected: u64,
    /// Deliveries counted (rtt: echoes received in time).
    pub delivered: u64,
    /// `expected - delivered`, when positive.
    pub lost: u64,
    /// Seconds from the first publish to the last delivery.
    pub elapsed_s: f64,
    /// Deliveries per second.
    pub msgs_per_s: f64,
    /// Payload bytes delivered per second.
    pub bytes_per_s: f64,
    /// Publishes per second, measured at the publishers.
    pub publish_rate: f64,
    /// Round-trip latency (rtt only).
    pub latency_us: Option<Latency>,
    /// What only the `session` scenario measures.
    pub session: Option<SessionFigures>,
    /// SLIM RPC figures (rpc only).
    pub rpc: Option<RpcFigures>,
    /// The node's memory, when `--node-pid` was given.
    pub node_memory: Option<NodeMemory>,
    /// Load average at the start and end (the machine is shared; figures fluctuate with it).
    pub loadavg: [String; 2],
    /// Cores the load generator saw.
    pub cpus: usize,
    /// Seconds since the Unix epoch at the end.
    pub unix_time: u64,
}

/// The `session` scenario's own figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionFigures {
    /// `rtt`, `throughput` or `fanout`.
    pub pattern: &'static str,
    /// Reliable (acknowledged) or fire-and-forget.
    pub reliable: bool,
    /// End-to-end MLS on.
    pub mls: bool,
    /// Receiving members (1 for point-to-point).
    pub members: u32,
    /// The receivers share one connection per endpoint (`--shared-connection`).
    pub shared_connection: bool,
    /// Publish completions awaited that resolved `Ok` (reliable `throughput` only).
    pub completions_ok: u64,
    /// Publish completions that resolved with an error.
    pub completions_failed: u64,
    /// The first completion error, if any.
    pub first_error: Option<String>,
    /// Messages received out of the sender's order (reliable: any gap or repeat;
    /// fire-and-forget: a repeat or a step back).
    pub out_of_order: u64,
    /// Losses the session layer reported in place of a message.
    pub reported_lost: u64,
    /// Milliseconds to connect the applications and establish the session (handshake, MLS
    /// group, invitations).
    pub setup_ms: f64,
}

/// What the `rpc` scenario measures besides the unary latency.
#[derive(Debug, Clone, Serialize)]
pub struct RpcFigures {
    /// Unary calls measured.
    pub unary_calls: u64,
    /// Unary calls per second.
    pub unary_calls_per_s: f64,
    /// Unary calls in flight at once.
    pub concurrency: u32,
    /// Items of the server stream.
    pub stream_items: u64,
    /// Seconds from the streaming call to the end of its stream.
    pub stream_elapsed_s: f64,
    /// Streamed items per second.
    pub stream_items_per_s: f64,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Round trips recorded.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// Percentiles of a histogram recorded in nanoseconds.
    pub fn from_nanos(histogram: &Histogram<u64>) -> Latency {
        let us = |ns: u64| ns as f64 / 1e3;
        Latency {
            count: histogram.len(),
            min: us(histogram.min()),
            mean: histogram.mean() / 1e3,
            p50: us(histogram.value_at_quantile(0.50)),
            p90: us(histogram.value_at_quantile(0.90)),
            p99: us(histogram.value_at_quantile(0.99)),
            p999: us(histogram.value_at_quantile(0.999)),
            max: us(histogram.max()),
        }
    }
}

/// The first three fields of /proc/loadavg ("" when unreadable).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn si(value: f64) -> String {
    if value >= 1e9 {
        format!("{:.2} G", value / 1e9)
    } else if value >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} k", value / 1e3)
    } else {
        format!("{value:.0} ")
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "-".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

impl Report {
    /// The summary printed for people.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let label = if self.label.is_empty() {
            String::new()
        } else {
            format!(" [{}]", self.label)
        };
        let _ = writeln!(
            s,
            "{} on {}{} ({}), {} B payload, {} pub / {} sub",
            self.scenario,
            self.system,
            label,
            self.endpoints.join(", "),
            self.payload_bytes,
            self.publishers,
            self.subscribers
        );
        if self.idle_clients > 0 || self.extra_subscriptions > 0 {
            let _ = writeln!(
                s,
                "  held: {} idle clients, {} extra subscriptions",
                self.idle_clients, self.extra_subscriptions
            );
        }
        let _ = writeln!(
            s,
            "  delivered {} of {} in {:.3} s ({} lost)",
            self.delivered, self.expected, self.elapsed_s, self.lost
        );
        let _ = writeln!(
            s,
            "  {}msg/s, {}B/s of payload; publishers {}msg/s",
            si(self.msgs_per_s),
            si(self.bytes_per_s),
            si(self.publish_rate)
        );
        if let Some(l) = &self.latency_us {
            let _ = writeln!(
                s,
                "  round trip µs: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  (mean {:.1}, n {})",
                l.p50, l.p90, l.p99, l.p999, l.max, l.mean, l.count
            );
        }
        if let Some(f) = &self.session {
            let _ = writeln!(
                s,
                "  session {}: {}, MLS {}, {} member(s){}, set up in {:.1} ms; completions {} ok / {} failed; {} out of order; {} reported lost",
                f.pattern,
                if f.reliable {
                    "reliable"
                } else {
                    "fire-and-forget"
                },
                if f.mls { "on" } else { "off" },
                f.members,
                if f.shared_connection {
                    " on a shared connection"
                } else {
                    ""
                },
                f.setup_ms,
                f.completions_ok,
                f.completions_failed,
                f.out_of_order,
                f.reported_lost
            );
            if let Some(error) = &f.first_error {
                let _ = writeln!(s, "  first completion error: {error}");
            }
        }
        if let Some(r) = &self.rpc {
            let _ = writeln!(
                s,
                "  rpc: {} unary calls/s ({} in flight); stream {} items in {:.3} s = {}items/s",
                si(r.unary_calls_per_s),
                r.concurrency,
                r.stream_items,
                r.stream_elapsed_s,
                si(r.stream_items_per_s)
            );
        }
        if let Some(m) = &self.node_memory {
            let _ = writeln!(
                s,
                "  node {} RSS: start {}, loaded {}, max {}, end {} (peak since start {})",
                m.pid,
                mib(m.start_kib),
                mib(m.loaded_kib),
                mib(m.max_kib),
                mib(m.end_kib),
                mib(m.hwm_kib)
            );
        }
        let _ = write!(
            s,
            "  load average {} → {} on {} cores",
            self.loadavg[0], self.loadavg[1], self.cpus
        );
        s
    }

    /// The JSON line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_microseconds() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for ns in 1..=1000u64 {
            h.record(ns * 1000).unwrap();
        }
        let l = Latency::from_nanos(&h);
        assert_eq!(l.count, 1000);
        assert!((l.p50 - 500.0).abs() < 1.0, "{}", l.p50);
        assert!((l.p99 - 990.0).abs() < 1.0, "{}", l.p99);
        assert!((l.max - 1000.0).abs() < 1.0, "{}", l.max);
    }

    #[test]
    fn si_prefixes() {
        assert_eq!(si(1_234_567.0), "1.23 M");
        assert_eq!(si(999.0), "999 ");
    }
}
