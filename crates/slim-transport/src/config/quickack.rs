//! [`QuickAck`]: when a TCP link acknowledges every received segment at once.
//!
//! A peer that leaves Nagle's algorithm on (upstream's node and its applications) holds each
//! small write until the previous one is acknowledged, and the kernel delays that ACK by up to
//! 40 ms: an upstream Python application's session round trip through a node measures 88 ms.
//! Setting `TCP_QUICKACK` after every read removes the wait (0.6 ms). It costs a system call
//! per read, which a peer that writes with `TCP_NODELAY` does not need, so by default a link
//! does it only until the peer says, in the link negotiation, that it is such a peer (ours
//! say so, upstream's do not know how).

use serde::{Deserialize, Deserializer, de};

/// When a TCP link sets `TCP_QUICKACK` after each read (Linux; ignored elsewhere). In YAML:
/// `auto` (the default), `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuickAck {
    /// From the start of the connection until the peer announces `TCP_NODELAY` in the link
    /// negotiation.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never: the kernel's delayed acknowledgements.
    Never,
}

impl<'de> Deserialize<'de> for QuickAck {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Word(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Flag(true) => Ok(QuickAck::Always),
            Raw::Flag(false) => Ok(QuickAck::Never),
            Raw::Word(word) if word == "auto" => Ok(QuickAck::Auto),
            Raw::Word(word) => Err(de::Error::custom(format!(
                "tcp_quickack must be auto, true or false, not {word:?}"
            ))),
        }
    }
}
