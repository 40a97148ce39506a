//! `slim-app`: a SLIM application on the command line, built on `slim-client`.
//!
//! It plays the roles of the interoperability scenarios (`tests/interop/README.md`,
//! "Contracts for replacing a role"): same arguments, same JSON events on stdout, exit code
//! 0 only when the role's own checks passed. So `tests/interop/run.py --role
//! p2p_initiator="slim-app p2p-initiator"` mixes it with upstream's Python apps (also
//! `rpc-server` and `rpc-client`, the RPC roles). Two more
//! roles are for people at a shell: `echo` and `send`.
//!
//! ```text
//! slim-app echo --node http://127.0.0.1:46357 --secret S --name org/ns/bob
//! slim-app send --node http://127.0.0.1:46357 --secret S --name org/ns/alice --peer org/ns/bob hello
//! ```
//!
//! Stdout carries only JSON events, one per line (`ready`, `session`, `received`, `done`,
//! `error`, ...); logs go to stderr (`--log-level`, or `RUST_LOG`). A watchdog ends the
//! process with an `error` event and exit code 124 after `--deadline` seconds.
//!
//! Layout: `main.rs` the command line and process plumbing; `common.rs` shared arguments,
//! connection and payload format; `events.rs` JSON output; `p2p.rs`, `group.rs`,
//! `groupio.rs` the interop roles; `rpc.rs` the RPC server and client roles (on
//! `slim-rpc`); `shell.rs` echo and send.

#![forbid(unsafe_code)]

mod common;
mod events;
mod group;
mod groupio;
mod p2p;
mod rpc;
mod shell;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;

/// A SLIM application on the command line.
#[derive(Parser, Debug)]
#[command(name = "slim-app", version)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// Open a point-to-point session and send numbered messages (optionally checking echoes).
    #[command(name = "p2p-initiator", alias = "p2p_initiator")]
    P2pInitiator(p2p::InitiatorArgs),
    /// Accept one point-to-point session, check order, echo.
    #[command(name = "p2p-responder", alias = "p2p_responder")]
    P2pResponder(p2p::ResponderArgs),
    /// Create a group, invite members, publish, optionally remove one, close.
    #[command(name = "group-moderator", alias = "group_moderator")]
    GroupModerator(group::ModeratorArgs),
    /// Join a group when invited, count and check what arrives, optionally publish.
    #[command(name = "group-member", alias = "group_member")]
    GroupMember(group::MemberArgs),
    /// Serve the RPC service `interop.Echo` until SIGTERM.
    #[command(name = "rpc-server", alias = "rpc_server")]
    RpcServer(rpc::ServerArgs),
    /// Call every method of an `interop.Echo` RPC server and check the answers.
    #[command(name = "rpc-client", alias = "rpc_client")]
    RpcClient(rpc::ClientArgs),
    /// Serve every session: answer each message.
    Echo(shell::EchoArgs),
    /// Open a session, send messages (arguments or stdin lines), print the replies.
    Send(shell::SendArgs),
}

impl Role {
    fn name(&self) -> &'static str {
        match self {
            Role::P2pInitiator(_) => "p2p_initiator",
            Role::P2pResponder(_) => "p2p_responder",
            Role::GroupModerator(_) => "group_moderator",
            Role::GroupMember(_) => "group_member",
            Role::RpcServer(_) => "rpc_server",
            Role::RpcClient(_) => "rpc_client",
            Role::Echo(_) => "echo",
            Role::Send(_) => "send",
        }
    }

    fn common(&self) -> &common::CommonArgs {
        match self {
            Role::P2pInitiator(a) => &a.common,
            Role::P2pResponder(a) => &a.common,
            Role::GroupModerator(a) => &a.common,
            Role::GroupMember(a) => &a.common,
            Role::RpcServer(a) => &a.common,
            Role::RpcClient(a) => &a.common,
            Role::Echo(a) => &a.common,
            Role::Send(a) => &a.common,
        }
    }

    async fn run(self) -> anyhow::Result<()> {
        match self {
            Role::P2pInitiator(args) => p2p::initiator(args).await,
            Role::P2pResponder(args) => p2p::responder(args).await,
            Role::GroupModerator(args) => group::moderator(args).await,
            Role::GroupMember(args) => group::member(args).await,
            Role::RpcServer(args) => rpc::server(args).await,
            Role::RpcClient(args) => rpc::client(args).await,
            Role::Echo(args) => shell::echo(args).await,
            Role::Send(args) => shell::send(args).await,
        }
    }
}

const EXIT_FAILED: u8 = 1;
const EXIT_DEADLINE: i32 = 124;

fn main() -> ExitCode {
    events::start_clock();
    let cli = Cli::parse();
    let role = cli.role.name();
    let common = cli.role.common().clone();
    init_logs(&common.log_level);
    watchdog(common.deadline);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            events::emit("error", json!({"role": role, "error": error.to_string()}));
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = runtime.block_on(cli.role.run());
    // Background tasks (other sessions, redials) must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            events::emit(
                "error",
                json!({"role": role, "error": format!("{error:#}")}),
            );
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Logs to stderr at `level` (a level or a `RUST_LOG`-style filter); `RUST_LOG` wins.
fn init_logs(level: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Ends the process after `deadline` seconds, whatever it is doing.
fn watchdog(deadline: f64) {
    let limit = Duration::try_from_secs_f64(deadline).unwrap_or(Duration::from_secs(120));
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        events::emit(
            "error",
            json!({"error": format!("deadline of {deadline} s exceeded"), "where": "watchdog"}),
        );
        std::process::exit(EXIT_DEADLINE);
    });
}
