//! The errors of the public API: [`ConnectError`] for building an [`crate::App`], and
//! [`SessionError`] for everything done with or inside a session.
//!
//! Both wrap the session layer's own errors instead of flattening them, so a caller can
//! match on exactly what the protocol reported (for example which members did not
//! acknowledge a publish).

use slim_session::{CloseReason, CommandError, CompletionError, PublishError};

/// Why an [`crate::App`] could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No identity was configured ([`crate::AppBuilder::shared_secret`] or
    /// [`crate::AppBuilder::identity`]): there is no safe default.
    #[error("no identity configured")]
    NoIdentity,
    /// The identity provider or verifier could not be built from its configuration.
    #[error("identity configuration: {0}")]
    Identity(#[from] slim_auth::config::ConfigError),
    /// The application name is not `org/namespace/service`.
    #[error("invalid application name: {0}")]
    Name(#[from] slim_wire::NameError),
    /// The node could not be reached, or the link negotiation failed.
    #[error("cannot connect to the node: {0}")]
    Dial(#[from] slim_transport::DialError),
    /// The node refused (or did not acknowledge) the subscription of the application's name.
    #[error("cannot subscribe the application name: {0}")]
    Subscribe(#[from] crate::dataplane::SubscribeError),
    /// The session layer refused the settings.
    #[error("session layer: {0}")]
    Layer(#[from] slim_session::BuildError),
}

/// Why a session operation failed.
///
/// ```
/// # use slim_client::SessionError;
/// fn retryable(error: &SessionError) -> bool {
///     matches!(error, SessionError::Failed(slim_session::CompletionError::NoReply(_)))
/// }
/// # let _ = retryable;
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The session layer refused the command at once (not the moderator, wrong session kind,
    /// already a member, too many sessions, ...).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The session layer refused a publish (the session is closing, or not active yet).
    #[error(transparent)]
    Publish(PublishError),
    /// The operation started but did not succeed: no reply within the retry budget, a
    /// publish that some members did not acknowledge, an MLS failure, ...
    #[error(transparent)]
    Failed(#[from] CompletionError),
    /// The session is closed (the reason, when known).
    #[error("session closed{}", reason_suffix(.0))]
    Closed(Option<CloseReason>),
    /// The application is shut down (or its connection to the node is gone for good).
    #[error("the application is closed")]
    AppClosed,
}

impl From<PublishError> for SessionError {
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::UnknownSession(_) => SessionError::Closed(None),
            other => SessionError::Publish(other),
        }
    }
}

fn reason_suffix(reason: &Option<CloseReason>) -> String {
    match reason {
        None => String::new(),
        Some(CloseReason::Local) => ": closed locally".into(),
        Some(CloseReason::Removed) => ": removed by the moderator".into(),
        Some(CloseReason::ClosedByPeer) => ": closed by the peer".into(),
        Some(CloseReason::PeerUnreachable) => ": peer unreachable".into(),
        Some(CloseReason::JoinTimeout) => ": join timed out".into(),
        Some(CloseReason::Failed(why)) => format!(": {why}"),
    }
}
