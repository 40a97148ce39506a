//! The node's configuration: YAML with documented defaults, `${env:...}` / `${file:...}`
//! substitution, and errors that name the key and the problem.
//!
//! Shape (upstream's top-level keys; `config/reference.yaml` documents every field):
//!
//! ```yaml
//! tracing: { log_level: info, prometheus: { endpoint: 127.0.0.1:9464 } }
//! runtime: { n_cores: 0, thread_name: slim, drain_timeout: 10s, idle_spin: 0s, cpu_idle_poll: 0s }
//! services:
//!   slim/0:
//!     node_id: node-a
//!     router: { full_mesh: false }
//!     dataplane:
//!       enforce_pqc: false
//!       servers: [ { endpoint: 127.0.0.1:46357 } ]
//!       clients: [ { endpoint: http://127.0.0.1:46358 } ]
//! ```
//!
//! Loading is three steps: parse the YAML into a generic value, substitute references
//! (`subst.rs`), map the value onto the typed structs while tracking the key path
//! (`serde_path_to_error`), then [`Config::validate`] what serde cannot check. The typed
//! link settings belong to `slim-transport` and the router's to `slim-router`; this module
//! only assembles them.
//!
//! YAML library: `yaml_serde`, the YAML organization's maintained continuation of
//! `serde_yaml` (which is deprecated).

mod subst;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use slim_router::RouterConfig;
use slim_transport::config::duration;
use slim_transport::{ClientConfig, ServerConfig};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The text is not valid YAML.
    #[error("invalid YAML: {0}")]
    Yaml(String),
    /// A key has a wrong type, an unknown name, or a value that cannot work.
    #[error("{key}: {problem}")]
    Invalid {
        /// Path of the key, e.g. `services.slim/0.dataplane.servers[0].endpoint`.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Logging and metrics.
    pub tracing: TracingConfig,
    /// The async runtime.
    pub runtime: RuntimeConfig,
    /// The nodes this process runs, keyed `slim/<name>`. Default: one, `slim/0`, listening
    /// on 127.0.0.1:46357.
    pub services: BTreeMap<String, ServiceConfig>,
}

impl Default for Config {
    fn default() -> Self {
        let mut services = BTreeMap::new();
        services.insert("slim/0".to_owned(), ServiceConfig::default());
        Config {
            tracing: TracingConfig::default(),
            runtime: RuntimeConfig::default(),
            services,
        }
    }
}

/// Logging and metrics.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TracingConfig {
    /// Minimum level logged: `error`, `warn`, `info`, `debug`, `trace`. Default `info`. The
    /// `RUST_LOG` environment variable, when set, wins.
    pub log_level: String,
    /// Show thread names in log lines. Default true.
    pub display_thread_names: bool,
    /// Show thread ids in log lines. Default false.
    pub display_thread_ids: bool,
    /// Extra filter directives, e.g. `slim_transport=debug`. Default none.
    pub filters: Vec<String>,
    /// Serve Prometheus metrics over HTTP. Default: off.
    pub prometheus: Option<PrometheusConfig>,
    /// Accepted for compatibility with upstream configuration files; OpenTelemetry export is
    /// not implemented and a warning is logged when it is enabled.
    pub opentelemetry: Option<yaml_serde::Value>,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            log_level: "info".to_owned(),
            display_thread_names: true,
            display_thread_ids: false,
            filters: Vec::new(),
            prometheus: None,
            opentelemetry: None,
        }
    }
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// `host:port` to serve `/metrics` on (port 0 picks one; the node prints it).
    pub endpoint: String,
}

/// The async runtime.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads; 0 = one per core. Default 0.
    pub n_cores: usize,
    /// Name of the worker threads. Default `slim`.
    pub thread_name: String,
    /// On SIGINT/SIGTERM, how long to wait for links to close before exiting anyway.
    /// Default 10 s.
    #[serde(deserialize_with = "duration::deserialize")]
    pub drain_timeout: Duration,
    /// Keep the CPUs busy (at the lowest scheduling priority) for this long after the
    /// runtime last had work, so the next message does not wait for a virtual machine's
    /// halted CPU to be woken (see `idle_spin`). Trades CPU for latency. Default 0 = off.
    #[serde(deserialize_with = "duration::deserialize")]
    pub idle_spin: Duration,
    /// Ask the kernel to keep idle CPUs polling (a 0 µs PM QoS CPU latency limit through
    /// `/dev/cpu_dma_latency`, which needs root) until the runtime has been quiet this long
    /// (see `cpu_idle_poll`). Machine-wide; trades idle CPU time for latency. Default 0 = off.
    #[serde(deserialize_with = "duration::deserialize")]
    pub cpu_idle_poll: Duration,
}

impl RuntimeConfig {
    /// The latency aids this asks for.
    pub fn latency_aids(&self) -> crate::latency::LatencyAids {
        crate::latency::LatencyAids {
            idle_spin: self.idle_spin,
            cpu_idle_poll: self.cpu_idle_poll,
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            n_cores: 0,
            thread_name: "slim".to_owned(),
            drain_timeout: Duration::from_secs(10),
            idle_spin: Duration::ZERO,
            cpu_idle_poll: Duration::ZERO,
        }
    }
}

/// One node.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// The node's id, announced in link negotiation. Default: `node-<random UUID>` at start.
    pub node_id: Option<String>,
    /// The deployment this node belongs to; peer links require the same name on both ends.
    /// Default: empty.
    pub deployment_name: String,
    /// Routing settings (see `slim-router`); `node_id` is taken from above.
    pub router: RouterConfig,
    /// Data-plane servers and links.
    pub dataplane: DataplaneConfig,
}

/// Data-plane servers and links of a node.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DataplaneConfig {
    /// Where to listen. Default: one plaintext server on 127.0.0.1:46357.
    pub servers: Vec<ServerConfig>,
    /// Links to other nodes, dialed at start and redialed with backoff. Their
    /// `connection_type` defaults to `peer`.
    pub clients: Vec<ClientConfig>,
    /// Post-quantum mode: hybrid ML-KEM-768 link keys (required from dialers, offered to
    /// servers) and TLS restricted to `X25519MLKEM768`. Default false.
    pub enforce_pqc: bool,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            servers: vec![ServerConfig::default()],
            clients: Vec::new(),
            enforce_pqc: false,
        }
    }
}

impl Config {
    /// Reads, substitutes, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Config::from_yaml(&text, base_dir, &|name| std::env::var(name).ok())
    }

    /// Parses and validates configuration text. `env` resolves `${env:...}` and `base_dir`
    /// anchors `${file:...}`.
    pub fn from_yaml(
        text: &str,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut value: yaml_serde::Value =
            yaml_serde::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        // An empty file is the default configuration.
        if value.is_null() {
            value = yaml_serde::Value::Mapping(Default::default());
        }
        subst::substitute(&mut value, "", &subst::Sources { env, base_dir })?;
        let config: Config =
            serde_path_to_error::deserialize(value).map_err(|error| ConfigError::Invalid {
                key: display_path(&error.path().to_string()),
                problem: error.inner().to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types cannot: endpoints, TLS combinations, limits, service names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, problem: String| ConfigError::Invalid { key, problem };
        if self.services.is_empty() {
            return Err(invalid(
                "services".into(),
                "at least one service is needed".into(),
            ));
        }
        if let Some(prometheus) = &self.tracing.prometheus {
            slim_transport::endpoint::Endpoint::parse(&prometheus.endpoint)
                .map_err(|e| invalid("tracing.prometheus.endpoint".into(), e.to_string()))?;
        }
        for (name, service) in &self.services {
            let at = format!("services.{name}");
            let suffix = name.strip_prefix("slim/").unwrap_or("");
            if suffix.is_empty() {
                return Err(invalid(
                    at,
                    "service keys have the form slim/<name> (e.g. slim/0)".into(),
                ));
            }
            if service.node_id.as_deref() == Some("") {
                return Err(invalid(format!("{at}.node_id"), "must not be empty".into()));
            }
            service
                .router
                .validate()
                .map_err(|e| invalid(format!("{at}.router"), e.to_string()))?;
            for (index, server) in service.dataplane.servers.iter().enumerate() {
                server.validate().map_err(|e| {
                    invalid(
                        format!("{at}.dataplane.servers[{index}].{}", e.field),
                        e.problem,
                    )
                })?;
            }
            for (index, client) in service.dataplane.clients.iter().enumerate() {
                client.validate().map_err(|e| {
                    invalid(
                        format!("{at}.dataplane.clients[{index}].{}", e.field),
                        e.problem,
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// `serde_path_to_error` writes `.` for the root; keep paths readable.
fn display_path(path: &str) -> String {
    if path == "." || path.is_empty() {
        "(top level)".to_owned()
    } else {
        path.to_owned()
    }
}
