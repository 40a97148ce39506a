//! The reference and example files parse; defaults hold; errors name the key.

use std::path::{Path, PathBuf};

use super::*;

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn parse(yaml: &str) -> Result<Config, ConfigError> {
    Config::from_yaml(yaml, Path::new("."), &|_| None)
}

fn error(yaml: &str) -> String {
    parse(yaml).unwrap_err().to_string()
}

#[test]
fn reference_file_parses_to_the_defaults() {
    let config = Config::load(&repo_file("config/reference.yaml")).unwrap();
    // The reference shows every default, so it must equal the default configuration.
    assert_eq!(config, Config::default());
}

#[test]
fn example_files_parse() {
    let dir = repo_file("config/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 5);
}

#[test]
fn empty_file_is_the_default_node() {
    let config = parse("").unwrap();
    assert_eq!(config, Config::default());
    let service = &config.services["slim/0"];
    assert_eq!(service.dataplane.servers.len(), 1);
    assert_eq!(service.dataplane.servers[0].endpoint, "127.0.0.1:46357");
    assert!(service.dataplane.clients.is_empty());
}

#[test]
fn errors_name_the_key_and_the_problem() {
    assert_eq!(
        error(
            "services:\n  slim/0:\n    dataplane:\n      servers:\n        - endpoint: 'host:99999'"
        ),
        "services.slim/0.dataplane.servers[0].endpoint: invalid port \"99999\""
    );
    assert_eq!(
        error(
            "services:\n  slim/0:\n    dataplane:\n      clients:\n        - endpoint: 'http://a:1'\n          tls: {insecure_skip_verify: true, ca_source: {type: file, path: x}}"
        ),
        "services.slim/0.dataplane.clients[0].tls.insecure_skip_verify: contradicts ca_source (nothing is verified)"
    );
    let unknown = error("tracing:\n  log_levle: debug");
    assert!(
        unknown.starts_with(
            "tracing.log_levle: unknown field `log_levle`, expected one of `log_level`"
        ),
        "{unknown}"
    );
    let top = error("extra: 1");
    assert!(top.contains("unknown field `extra`"), "{top}");
    let wrong_type = error("runtime:\n  n_cores: many");
    assert!(
        wrong_type.starts_with("runtime.n_cores: invalid type"),
        "{wrong_type}"
    );
    let duration = error("runtime:\n  drain_timeout: soon");
    assert!(duration.starts_with("runtime.drain_timeout:"), "{duration}");
    assert_eq!(
        error("services:\n  node/0: {}"),
        "services.node/0: service keys have the form slim/<name> (e.g. slim/0)"
    );
    assert_eq!(
        error(
            "services:\n  slim/0:\n    dataplane:\n      servers:\n        - endpoint: ${env:MISSING}"
        ),
        "services.slim/0.dataplane.servers[0].endpoint: environment variable MISSING is not set"
    );
    assert!(error("tracing: [").starts_with("invalid YAML"));
    assert_eq!(
        error("services: {}"),
        "services: at least one service is needed"
    );
}

#[test]
fn environment_references_fill_typed_fields() {
    let env = |name: &str| match name {
        "PORT" => Some("5555".to_owned()),
        "CORES" => Some("2".to_owned()),
        _ => None,
    };
    let config = Config::from_yaml(
        "runtime:\n  n_cores: ${env:CORES}\nservices:\n  slim/0:\n    dataplane:\n      servers:\n        - endpoint: 127.0.0.1:${env:PORT}",
        Path::new("."),
        &env,
    )
    .unwrap();
    assert_eq!(config.runtime.n_cores, 2);
    assert_eq!(
        config.services["slim/0"].dataplane.servers[0].endpoint,
        "127.0.0.1:5555"
    );
}

#[test]
fn node_links_and_router_settings() {
    let config = parse(
        "services:\n  slim/a:\n    node_id: a\n    router: {full_mesh: true}\n    dataplane:\n      servers: []\n      clients:\n        - endpoint: http://127.0.0.1:1\n",
    )
    .unwrap();
    let service = &config.services["slim/a"];
    assert!(service.router.full_mesh);
    assert!(service.dataplane.servers.is_empty());
    assert_eq!(service.dataplane.clients[0].connection_type, None);
    assert_eq!(service.node_id.as_deref(), Some("a"));
}
