//! Logging setup for the `slim` binary: `tracing` to stderr (stdout carries only the
//! "listening" lines that tools read).

use tracing_subscriber::EnvFilter;

use crate::config::TracingConfig;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level and
/// filters.
pub fn init(config: &TracingConfig) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::try_new(spec)?,
        _ => {
            let mut spec = config.log_level.clone();
            for directive in &config.filters {
                spec.push(',');
                spec.push_str(directive);
            }
            EnvFilter::try_new(spec)?
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_thread_names(config.display_thread_names)
        .with_thread_ids(config.display_thread_ids)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))?;
    if config
        .opentelemetry
        .as_ref()
        .and_then(|v| v.get("enabled"))
        .and_then(yaml_serde::Value::as_bool)
        == Some(true)
    {
        tracing::warn!(
            "tracing.opentelemetry is enabled but OpenTelemetry export is not implemented; ignored"
        );
    }
    Ok(())
}
