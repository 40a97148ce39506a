//! The JSON events a role prints on stdout, one object per line: `{"event": NAME, "t":
//! seconds since start, ...fields}`. Logs go to stderr, so stdout carries nothing else.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::{Map, Value, json};

static START: OnceLock<Instant> = OnceLock::new();

/// Fixes the time origin of the `t` field (call first thing in `main`).
pub fn start_clock() {
    START.get_or_init(Instant::now);
}

/// Seconds since the start, rounded to 0.1 ms.
pub fn since_start() -> f64 {
    round(START.get_or_init(Instant::now).elapsed().as_secs_f64(), 4)
}

/// Rounds to `digits` decimals.
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// Prints one event. `fields` must be a JSON object (anything else is wrapped as `value`).
pub fn emit(event: &str, fields: Value) {
    let mut record = Map::new();
    record.insert("event".into(), json!(event));
    record.insert("t".into(), json!(since_start()));
    match fields {
        Value::Object(map) => record.extend(map),
        Value::Null => {}
        other => {
            record.insert("value".into(), other);
        }
    }
    let line = Value::Object(record).to_string();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed stdout (the reader went away) must not panic the role.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// p50, p99 and max of latencies in seconds, as milliseconds (empty when no samples).
pub fn percentiles(samples: &mut [f64]) -> Map<String, Value> {
    let mut out = Map::new();
    if samples.is_empty() {
        return out;
    }
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        let index = ((q * samples.len() as f64) as usize).min(samples.len() - 1);
        round(samples[index] * 1000.0, 3)
    };
    out.insert("p50_ms".into(), json!(pick(0.50)));
    out.insert("p99_ms".into(), json!(pick(0.99)));
    out.insert(
        "max_ms".into(),
        json!(round(samples[samples.len() - 1] * 1000.0, 3)),
    );
    out
}
