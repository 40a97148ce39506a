//! `slim-bench`: a load generator for SLIM nodes and NATS, in the style of `nats bench`.
//!
//! It drives a node through this project's own data-plane client (`slim-client`), the code
//! applications run, and can drive upstream's node (wire-compatible) and a NATS server
//! (through `async-nats`) with the same message patterns, so comparisons are like for like.
//! A run prints a human summary and, as its last line, one JSON object that scripts read
//! (`bench/compare.sh`).
//!
//! Layout: `cli` (options), `system` (SLIM and NATS behind one vocabulary), `scenario`
//! (pubsub, fanout, rtt, session over `slim-client`'s `App`/`Session` API, and rpc over
//! `slim-rpc`), `report` (summary and JSON), `progress` (the bar), `node_memory` (the node's RSS
//! from /proc).
//!
//! Exit status: 0 when messages were delivered, 1 when none were, 2 on errors.

#![forbid(unsafe_code)]

mod cli;
mod node_memory;
mod progress;
mod report;
mod scenario;
mod system;

use std::process::ExitCode;

use clap::Parser as _;
use slim_node::latency::LatencyAids;

/// The same allocator as the `slim` node, so the client side is measured as it would ship.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let common = cli.scenario.common();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if common.threads > 0 {
        builder.worker_threads(common.threads);
    }
    let aids = LatencyAids {
        idle_spin: common.idle_spin,
        cpu_idle_poll: common.cpu_idle_poll,
    };
    let _latency_aids = match aids.install(&mut builder) {
        Ok(aids) => aids,
        Err(error) => {
            eprintln!("slim-bench: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("slim-bench: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let json_only = common.json;
    let result = runtime.block_on(scenario::run(&cli.scenario));
    // Clients still closing must not hold the exit.
    runtime.shutdown_background();
    match result {
        Ok(report) => {
            if !json_only {
                println!("{}", report.human());
            }
            println!("{}", report.json());
            if report.delivered == 0 {
                eprintln!("slim-bench: nothing was delivered");
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("slim-bench: {error:#}");
            ExitCode::from(2)
        }
    }
}
