//! The `slim` binary: parse arguments, load the configuration, start the nodes, print where
//! they listen, and run until SIGINT or SIGTERM. Everything else lives in the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use slim_node::{Config, Node};

/// mimalloc instead of the C library's allocator: routing a message allocates and frees a
/// few small buffers, which glibc's malloc makes a measurable share of the node's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// SLIM routing node.
#[derive(Parser, Debug)]
#[command(name = "slim", version, disable_version_flag = true)]
struct Args {
    /// Configuration file (YAML). Without it, a node listens on 127.0.0.1:46357.
    #[arg(short, long, env = "CONFIG")]
    config: Option<PathBuf>,
    /// Print the version and exit.
    #[arg(short = 'v', long, action = clap::ArgAction::Version)]
    version: Option<bool>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(config) => config,
            Err(error) => {
                eprintln!("slim: {}: {error}", path.display());
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    if let Err(error) = slim_node::telemetry::init(&config.tracing) {
        eprintln!("slim: {error}");
        return ExitCode::from(2);
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime
        .enable_all()
        .thread_name(config.runtime.thread_name.clone());
    if config.runtime.n_cores > 0 {
        runtime.worker_threads(config.runtime.n_cores);
    }
    // Lives as long as the runtime: dropping it stops the aids.
    let _latency_aids = match config.runtime.latency_aids().install(&mut runtime) {
        Ok(aids) => aids,
        Err(error) => {
            eprintln!("slim: runtime.{error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match runtime.build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("slim: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("slim: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout();
    if let Some(prometheus) = &config.tracing.prometheus {
        let (handle, addr, listener) =
            slim_node::metrics::install_prometheus(&prometheus.endpoint)?;
        writeln!(stdout, "slim metrics on http://{addr}/metrics")?;
        tokio::spawn(slim_node::metrics::serve_prometheus(listener, handle));
    }
    let mut nodes = Vec::new();
    for (name, service) in &config.services {
        let node = Node::start(name, service).await?;
        for endpoint in node.endpoints() {
            writeln!(stdout, "slim listening on {endpoint}")?;
        }
        nodes.push(node);
    }
    stdout.flush()?;

    shutdown_signal().await?;
    tracing::info!("shutting down");
    for node in nodes {
        node.shutdown(config.runtime.drain_timeout).await;
    }
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
