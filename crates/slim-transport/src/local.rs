//! [`LocalNode`]: what this process says about itself in every negotiation.

/// Our side of every link negotiation.
#[derive(Debug, Clone, Default)]
pub struct LocalNode {
    /// Our node id (applications may leave it empty).
    pub node_id: String,
    /// Our deployment name; peer links require the same on both ends.
    pub deployment_name: String,
    /// Post-quantum mode: hybrid ML-KEM-768 link keys and the `X25519MLKEM768` TLS group.
    pub post_quantum: bool,
}
