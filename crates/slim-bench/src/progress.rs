//! The progress bar on stderr while a run measures (hidden when stderr is not a terminal, so
//! logs and CI output stay clean).

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::Amount;

/// A bar over the expected deliveries (count runs) or over the time (duration runs).
pub struct Progress {
    bar: Option<ProgressBar>,
    by_time: bool,
}

impl Progress {
    /// A bar for `amount` of traffic expecting `expected` deliveries; hidden when `enabled`
    /// is false or stderr is not a terminal.
    pub fn new(enabled: bool, title: &str, amount: Amount, expected: u64) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                by_time: false,
            };
        }
        let (length, by_time) = match amount {
            Amount::Count(_) => (expected, false),
            Amount::Duration(d) => (u64::try_from(d.as_millis()).unwrap_or(u64::MAX), true),
        };
        let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
        let template = if by_time {
            "{prefix} [{bar:40}] {elapsed_precise} {msg}"
        } else {
            "{prefix} [{bar:40}] {pos}/{len} {per_sec} eta {eta} {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(title.to_owned());
        Progress {
            bar: Some(bar),
            by_time,
        }
    }

    /// Shows `delivered` so far, `elapsed` into the measured phase.
    pub fn update(&self, delivered: u64, elapsed: Duration) {
        let Some(bar) = &self.bar else { return };
        if self.by_time {
            bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
            bar.set_message(format!("{delivered} delivered"));
        } else {
            bar.set_position(delivered);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
