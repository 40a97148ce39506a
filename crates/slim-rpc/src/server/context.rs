//! [`Context`]: what a handler knows about the call it serves — who called, which method,
//! the caller's metadata, the deadline — and how it learns that the call was cancelled.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use slim_client::{Name, SessionId};
use tokio_util::sync::CancellationToken;

use crate::wire::Method;

/// The context of one call, given to its handler. Cheap to clone; clones given to tasks the
/// handler spawns see the cancellation too.
///
/// When the caller cancels, the deadline passes or the server shuts down, the context is
/// cancelled first and then the handler's future is dropped; work the handler moved to
/// other tasks should watch [`Context::cancelled`].
#[derive(Clone, Debug)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rpc_id: String,
    method: Method,
    caller: Name,
    session: SessionId,
    metadata: HashMap<String, String>,
    deadline: SystemTime,
    local_deadline: tokio::time::Instant,
    idempotency_key: Option<String>,
    cancel: CancellationToken,
}

/// Everything a context is made from.
pub(crate) struct ContextParts {
    pub rpc_id: String,
    pub method: Method,
    pub caller: Name,
    pub session: SessionId,
    pub metadata: HashMap<String, String>,
    pub deadline: SystemTime,
    pub local_deadline: tokio::time::Instant,
    pub idempotency_key: Option<String>,
    pub cancel: CancellationToken,
}

impl Context {
    pub(crate) fn new(parts: ContextParts) -> Context {
        let ContextParts {
            rpc_id,
            method,
            caller,
            session,
            metadata,
            deadline,
            local_deadline,
            idempotency_key,
            cancel,
        } = parts;
        Context {
            inner: Arc::new(Inner {
                rpc_id,
                method,
                caller,
                session,
                metadata,
                deadline,
                local_deadline,
                idempotency_key,
                cancel,
            }),
        }
    }

    /// The call's id (`rpc-id`, a UUID chosen by the caller).
    pub fn rpc_id(&self) -> &str {
        &self.inner.rpc_id
    }

    /// The method called.
    pub fn method(&self) -> &Method {
        &self.inner.method
    }

    /// The caller's full name (with its instance id), as authenticated by the session.
    pub fn caller(&self) -> &Name {
        &self.inner.caller
    }

    /// The session the call arrived on.
    pub fn session_id(&self) -> SessionId {
        self.inner.session
    }

    /// The caller's metadata (without the protocol's own keys).
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.inner.metadata
    }

    /// The call's deadline on the wall clock, as the caller sent it (upstream's default of
    /// ten hours when it sent none).
    pub fn deadline(&self) -> SystemTime {
        self.inner.deadline
    }

    /// Time left before the deadline (zero once it passed).
    pub fn remaining(&self) -> Duration {
        self.inner
            .local_deadline
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// True once the deadline passed.
    pub fn is_deadline_exceeded(&self) -> bool {
        tokio::time::Instant::now() >= self.inner.local_deadline
    }

    /// The caller's idempotency key, if it sent one.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.inner.idempotency_key.as_deref()
    }

    /// True once the call was cancelled (by the caller, its deadline, or the server's
    /// shutdown).
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Resolves when the call is cancelled.
    pub async fn cancelled(&self) {
        self.inner.cancel.cancelled().await
    }

    pub(crate) fn local_deadline(&self) -> tokio::time::Instant {
        self.inner.local_deadline
    }

    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        &self.inner.cancel
    }

    /// The same call seen by another execution (idempotent calls run under their own
    /// cancellation, detached from the attempt that started them).
    pub(crate) fn with_cancel(&self, cancel: CancellationToken) -> Context {
        Context::new(ContextParts {
            rpc_id: self.inner.rpc_id.clone(),
            method: self.inner.method.clone(),
            caller: self.inner.caller.clone(),
            session: self.inner.session,
            metadata: self.inner.metadata.clone(),
            deadline: self.inner.deadline,
            local_deadline: self.inner.local_deadline,
            idempotency_key: self.inner.idempotency_key.clone(),
            cancel,
        })
    }
}
