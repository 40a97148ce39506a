//! `slim` processes with generated configurations.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long a node may take to print where it listens.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// One listening endpoint of a node.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// `127.0.0.1:0` (a free port), `unix:///path`, ...
    pub endpoint: String,
    /// Extra keys of the server entry, one `key: value` per line (flow-style YAML values).
    pub extra: Vec<String>,
}

impl ServerSpec {
    /// A plaintext server on a free loopback port.
    pub fn loopback() -> Self {
        ServerSpec {
            endpoint: "127.0.0.1:0".into(),
            extra: Vec::new(),
        }
    }
}

/// One configured link to another node.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Endpoint to dial, as printed by the other node (`http://127.0.0.1:PORT`).
    pub endpoint: String,
    /// Extra keys of the client entry, one `key: value` per line.
    pub extra: Vec<String>,
}

impl ClientSpec {
    /// A link to `endpoint` that redials every 100 ms (tests should not wait 2 s).
    pub fn to(endpoint: &str) -> Self {
        ClientSpec {
            endpoint: endpoint.into(),
            extra: vec!["backoff: {type: fixed, interval: 100ms}".into()],
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// The node id.
    pub node_id: String,
    /// Listening endpoints.
    pub servers: Vec<ServerSpec>,
    /// Links to other nodes.
    pub clients: Vec<ClientSpec>,
    /// Extra keys of the `router` section, one per line.
    pub router: Vec<String>,
    /// Keys of the `runtime` section, one per line.
    pub runtime: Vec<String>,
    /// Serve Prometheus metrics on a free port.
    pub prometheus: bool,
    /// Log level (logs go to a file in the node's folder).
    pub log_level: String,
}

impl NodeSpec {
    /// A node with one plaintext loopback server and no links.
    pub fn new(node_id: &str) -> Self {
        NodeSpec {
            node_id: node_id.into(),
            servers: vec![ServerSpec::loopback()],
            clients: Vec::new(),
            router: Vec::new(),
            runtime: Vec::new(),
            prometheus: false,
            log_level: "debug".into(),
        }
    }

    /// Adds a link to `endpoint`.
    pub fn link_to(mut self, endpoint: &str) -> Self {
        self.clients.push(ClientSpec::to(endpoint));
        self
    }

    /// Turns on the Prometheus endpoint.
    pub fn with_metrics(mut self) -> Self {
        self.prometheus = true;
        self
    }

    /// The configuration file this spec describes.
    pub fn to_yaml(&self) -> String {
        let mut yaml = format!("tracing:\n  log_level: {}\n", self.log_level);
        if self.prometheus {
            yaml.push_str("  prometheus:\n    endpoint: 127.0.0.1:0\n");
        }
        if !self.runtime.is_empty() {
            yaml.push_str("runtime:\n");
            for line in &self.runtime {
                yaml.push_str(&format!("  {line}\n"));
            }
        }
        yaml.push_str(&format!(
            "services:\n  slim/0:\n    node_id: {}\n    router:\n",
            self.node_id
        ));
        if self.router.is_empty() {
            yaml.push_str("      {}\n");
        }
        for line in &self.router {
            yaml.push_str(&format!("      {line}\n"));
        }
        yaml.push_str("    dataplane:\n      servers:\n");
        if self.servers.is_empty() {
            yaml.push_str("        []\n");
        }
        for server in &self.servers {
            push_entry(&mut yaml, &server.endpoint, &server.extra);
        }
        yaml.push_str("      clients:\n");
        if self.clients.is_empty() {
            yaml.push_str("        []\n");
        }
        for client in &self.clients {
            push_entry(&mut yaml, &client.endpoint, &client.extra);
        }
        yaml
    }
}

fn push_entry(yaml: &mut String, endpoint: &str, extra: &[String]) {
    yaml.push_str(&format!("        - endpoint: \"{endpoint}\"\n"));
    for line in extra {
        yaml.push_str(&format!("          {line}\n"));
    }
}

/// A running `slim` process. Killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct NodeProcess {
    binary: PathBuf,
    spec: NodeSpec,
    dir: tempfile::TempDir,
    child: Option<Child>,
    endpoints: Vec<String>,
    metrics: Option<String>,
    starts: u32,
}

impl NodeProcess {
    /// Starts `binary` with the configuration of `spec` and waits until it listens.
    pub fn start(binary: impl AsRef<Path>, spec: NodeSpec) -> anyhow::Result<NodeProcess> {
        let mut node = NodeProcess {
            binary: binary.as_ref().to_owned(),
            spec,
            dir: tempfile::tempdir()?,
            child: None,
            endpoints: Vec::new(),
            metrics: None,
            starts: 0,
        };
        node.spawn()?;
        Ok(node)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        self.starts += 1;
        let config = self.dir.path().join("config.yaml");
        std::fs::write(&config, self.spec.to_yaml())?;
        let log = std::fs::File::create(self.log_path())?;
        let mut child = Command::new(&self.binary)
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("spawning {}", self.binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        // Keep draining stdout for the life of the process so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);

        let expected = self.spec.servers.len();
        let mut endpoints = Vec::new();
        let mut metrics = None;
        let deadline = Instant::now() + START_DEADLINE;
        while endpoints.len() < expected || (self.spec.prometheus && metrics.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(endpoint) = line.strip_prefix("slim listening on ") {
                        endpoints.push(endpoint.trim().to_owned());
                    } else if let Some(url) = line.strip_prefix("slim metrics on ") {
                        metrics = Some(url.trim().to_owned());
                    }
                }
                Err(_) => {
                    let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                    self.kill();
                    bail!(
                        "node {} did not report {expected} listening endpoint(s) in time; log:\n{log}",
                        self.spec.node_id
                    );
                }
            }
        }
        self.endpoints = endpoints;
        self.metrics = metrics;
        Ok(())
    }

    /// The node's log file (stderr).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("node-{}.log", self.starts))
    }

    /// The node's log of its current run.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The folder holding the node's configuration and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The first listening endpoint (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> &str {
        self.endpoints.first().map_or("", String::as_str)
    }

    /// Every listening endpoint, in configuration order.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The Prometheus URL, when enabled.
    pub fn metrics_url(&self) -> Option<&str> {
        self.metrics.as_deref()
    }

    /// The OS process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident memory of the process in KiB (from /proc).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits up to `deadline` for the process to exit.
    pub fn terminate(&mut self, deadline: Duration) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("not running")?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= end {
                let _ = child.kill();
                let _ = child.wait();
                bail!("node did not exit within {deadline:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the node and starts it again on the same endpoints (the ports it got the first
    /// time), with the same configuration otherwise.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        for (server, endpoint) in self.spec.servers.iter_mut().zip(&self.endpoints) {
            if let Some(address) = endpoint.strip_prefix("http://") {
                server.endpoint = address.to_owned();
            } else if let Some(address) = endpoint.strip_prefix("https://") {
                server.endpoint = address.to_owned();
            }
        }
        self.spawn()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `slim` node binary, for tests of packages other than `slim-node` (cargo hands
/// `CARGO_BIN_EXE_slim` only to that package's own tests): `$SLIM_NODE_BIN`, or `slim` in the
/// profile folder above the calling test's `deps/` folder, which a workspace build (what
/// `scripts/test.sh` runs first) produces. A missing binary panics with the command that
/// builds it, which is the clearest failure a test can give.
pub fn slim_node_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SLIM_NODE_BIN") {
        return PathBuf::from(path);
    }
    let profile = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()));
    let Some(path) = profile.map(|profile| profile.join("slim")) else {
        panic!("cannot locate target/<profile>/ from the test executable: set SLIM_NODE_BIN");
    };
    assert!(
        path.exists(),
        "the slim node binary is missing at {}: build it with `cargo build -p slim-node --bin slim` \
         (or set SLIM_NODE_BIN)",
        path.display()
    );
    path
}
