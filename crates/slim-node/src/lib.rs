//! The SLIM routing node as a library: configuration ([`config`]), the assembly of router and
//! transport into a running [`Node`], and the pieces the `slim` binary (`main.rs`) wires
//! together ([`telemetry`], [`metrics`], and the opt-in [`latency`] aids for idle CPUs:
//! [`idle_spin`] and [`cpu_idle_poll`]).
//!
//! A node owns a `slim_router::Router` behind a mutex and one task per link: each task reads
//! a batch of frames, routes it under the lock, then waits for room in the destination links'
//! bounded queues (see `node/core.rs`). Links come from the configured servers (accepted) and
//! from the configured clients (dialed, redialed with backoff, re-synchronised by the router
//! when they come back).

#![forbid(unsafe_code)]

mod activity;
pub mod config;
pub mod cpu_idle_poll;
pub mod idle_spin;
pub mod latency;
pub mod metrics;
mod node;
pub mod telemetry;

pub use config::{Config, ConfigError};
pub use node::{Node, NodeError};
