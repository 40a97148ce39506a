//! Reading a node's Prometheus endpoint.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Fetches the metrics text from `url` (`http://host:port/metrics`).
pub async fn fetch(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("not an http URL: {url}"))?;
    let (address, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream
        .write_all(
            format!("GET /{path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok(body)
}

/// Sums the samples of metric `name` whose labels include every `key="value"` in `labels`.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, sample) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let matches = labels
                .iter()
                .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
            matches.then(|| sample.parse::<f64>().ok()).flatten()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_matching_series() {
        let text =
            "# TYPE x counter\nx{reason=\"a\",node=\"n\"} 2\nx{reason=\"b\",node=\"n\"} 3\ny 7\n";
        assert_eq!(super::value(text, "x", &[("reason", "a")]), 2.0);
        assert_eq!(super::value(text, "x", &[]), 5.0);
        assert_eq!(super::value(text, "y", &[]), 7.0);
        assert_eq!(super::value(text, "z", &[]), 0.0);
    }
}
