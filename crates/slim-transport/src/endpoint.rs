//! Endpoint strings as they appear in configuration: `http://host:port`, `https://host:port`,
//! bare `host:port` and `unix:///path/to/socket`.

use std::fmt;
use std::path::PathBuf;

/// How a TCP endpoint was written, which decides the default for TLS on the dialing side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`: plaintext HTTP/2 (h2c).
    Http,
    /// `https://`: TLS.
    Https,
    /// No scheme: TLS unless the TLS settings say `insecure`.
    Bare,
}

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP host and port.
    Tcp {
        /// How it was written.
        scheme: Scheme,
        /// Host name or IP literal (IPv6 without brackets).
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix-domain socket path.
    Unix(PathBuf),
}

/// Why an endpoint string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Nothing given.
    #[error("empty endpoint")]
    Empty,
    /// A scheme this implementation does not speak.
    #[error("unsupported scheme {0:?} (use http://, https://, unix:// or host:port)")]
    UnsupportedScheme(String),
    /// No `:port` after the host.
    #[error("missing port")]
    MissingPort,
    /// The port is not a number in 0..=65535.
    #[error("invalid port {0:?}")]
    InvalidPort(String),
    /// No host before the port.
    #[error("missing host")]
    MissingHost,
    /// A path, query or user part where none belongs.
    #[error("unexpected path or query after host:port")]
    TrailingPath,
    /// `unix://` without a path.
    #[error("unix endpoint needs an absolute path (unix:///path/to/socket)")]
    EmptyUnixPath,
}

impl Endpoint {
    /// Parses an endpoint string.
    pub fn parse(text: &str) -> Result<Endpoint, EndpointError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(EndpointError::Empty);
        }
        if let Some(path) = text.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(EndpointError::EmptyUnixPath);
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        let (scheme, rest) = match text.split_once("://") {
            Some(("http", rest)) => (Scheme::Http, rest),
            Some(("https", rest)) => (Scheme::Https, rest),
            Some((other, _)) => return Err(EndpointError::UnsupportedScheme(other.to_owned())),
            None => (Scheme::Bare, text),
        };
        // Accept one trailing slash (`http://host:port/`), nothing else after the authority.
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(EndpointError::TrailingPath);
        }
        let (host, port) = split_host_port(authority)?;
        Ok(Endpoint::Tcp {
            scheme,
            host: host.to_owned(),
            port,
        })
    }

    /// The URI tonic is given: the scheme tells the peer whether TLS is on, the authority is
    /// what `:authority` carries. Unix sockets use a placeholder authority.
    pub fn uri(&self, tls: bool) -> String {
        let scheme = if tls { "https" } else { "http" };
        match self {
            Endpoint::Tcp { host, port, .. } if host.contains(':') => {
                format!("{scheme}://[{host}]:{port}")
            }
            Endpoint::Tcp { host, port, .. } => format!("{scheme}://{host}:{port}"),
            Endpoint::Unix(_) => format!("{scheme}://localhost"),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp {
                scheme, host, port, ..
            } => {
                let prefix = match scheme {
                    Scheme::Http => "http://",
                    Scheme::Https => "https://",
                    Scheme::Bare => "",
                };
                if host.contains(':') {
                    write!(f, "{prefix}[{host}]:{port}")
                } else {
                    write!(f, "{prefix}{host}:{port}")
                }
            }
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

fn split_host_port(authority: &str) -> Result<(&str, u16), EndpointError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        let (host, after) = rest.split_once(']').ok_or(EndpointError::MissingPort)?;
        let port = after.strip_prefix(':').ok_or(EndpointError::MissingPort)?;
        (host, port)
    } else {
        authority
            .rsplit_once(':')
            .ok_or(EndpointError::MissingPort)?
    };
    if host.is_empty() {
        return Err(EndpointError::MissingHost);
    }
    if host.contains(':') && !authority.starts_with('[') {
        // An unbracketed IPv6 address is ambiguous with the port separator.
        return Err(EndpointError::InvalidPort(port.to_owned()));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| EndpointError::InvalidPort(port.to_owned()))?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(scheme: Scheme, host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp {
            scheme,
            host: host.into(),
            port,
        }
    }

    #[test]
    fn accepted_forms() {
        let cases = [
            ("127.0.0.1:46357", tcp(Scheme::Bare, "127.0.0.1", 46357)),
            ("http://localhost:80", tcp(Scheme::Http, "localhost", 80)),
            (
                "https://node.example:443/",
                tcp(Scheme::Https, "node.example", 443),
            ),
            ("[::1]:0", tcp(Scheme::Bare, "::1", 0)),
            ("http://[::1]:5", tcp(Scheme::Http, "::1", 5)),
            (
                "unix:///tmp/slim.sock",
                Endpoint::Unix("/tmp/slim.sock".into()),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(Endpoint::parse(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn refused_forms_say_why() {
        let cases = [
            ("", EndpointError::Empty),
            ("ws://host:1", EndpointError::UnsupportedScheme("ws".into())),
            ("host", EndpointError::MissingPort),
            ("host:99999", EndpointError::InvalidPort("99999".into())),
            ("host:http", EndpointError::InvalidPort("http".into())),
            (":80", EndpointError::MissingHost),
            ("http://host:80/path", EndpointError::TrailingPath),
            ("unix://", EndpointError::EmptyUnixPath),
            ("::1:80", EndpointError::InvalidPort("80".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(Endpoint::parse(text).unwrap_err(), expected, "{text:?}");
        }
    }

    #[test]
    fn display_and_uri_round_trip() {
        for text in ["http://127.0.0.1:1", "[::1]:2", "unix:///x/y"] {
            assert_eq!(Endpoint::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            Endpoint::parse("[::1]:2").unwrap().uri(true),
            "https://[::1]:2"
        );
    }
}
