//! Names of the counters the transport reports through the `metrics` facade.
//!
//! Nothing is recorded unless the process installs a recorder (the node does when its
//! Prometheus endpoint is on), so libraries and tests pay nothing by default. Hot paths count
//! locally and report once per batch.

/// Frames dropped on receipt, by `reason` (`malformed`, `unknown_message_type`, `oversize`,
/// `mac_missing`, `mac_mismatch`, `mac_unexpected`, `link_after_negotiation`, ...).
pub const FRAMES_DROPPED: &str = "slim_frames_dropped_total";
/// Header-MAC verification failures (also counted in [`FRAMES_DROPPED`] by reason).
pub const MAC_FAILURES: &str = "slim_header_mac_failures_total";
/// Failed link negotiations, by `reason` and `side` (`server`, `client`).
pub const NEGOTIATION_FAILURES: &str = "slim_link_negotiation_failures_total";
/// Failed dial attempts of outgoing links, by `reason`.
pub const DIAL_FAILURES: &str = "slim_dial_failures_total";
/// Connections refused or failed before HTTP/2 started (TLS handshake, accept errors).
pub const ACCEPT_ERRORS: &str = "slim_accept_errors_total";

pub(crate) fn dropped(reason: &'static str, count: u64) {
    if count > 0 {
        metrics::counter!(FRAMES_DROPPED, "reason" => reason).increment(count);
    }
}

pub(crate) fn negotiation_failed(side: &'static str, reason: &'static str) {
    metrics::counter!(NEGOTIATION_FAILURES, "side" => side, "reason" => reason).increment(1);
}

pub(crate) fn accept_error(reason: &'static str) {
    metrics::counter!(ACCEPT_ERRORS, "reason" => reason).increment(1);
}

pub(crate) fn dial_failed(reason: &'static str) {
    metrics::counter!(DIAL_FAILURES, "reason" => reason).increment(1);
}
