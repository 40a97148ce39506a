//! One call on the server: checks (method known, deadline not passed, room), the handler's
//! task, its end (response, error, `DEADLINE_EXCEEDED`, or silence when the caller
//! cancelled), and the idempotent path.
//!
//! A handler runs in its own task under a select with its cancellation and its deadline;
//! when either fires, the context is cancelled first and then the handler's future is
//! dropped, so the handler stops at its next await point.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::client::link::Received;
use crate::server::context::{Context, ContextParts};
use crate::server::handler::{BoxFuture, Handler};
use crate::server::idempotency::{self, Begin, CacheKey, Outcome};
use crate::server::session::{Active, SessionScope};
use crate::server::sink::{Responder, ResponseSink};
use crate::status::Status;
use crate::wire::{CallHeader, FrameKind, Inbound};

/// What a handler gets as its request.
enum Input {
    /// The request of a unary or server-streaming call.
    Single(Bytes),
    /// The request stream of a client-streaming or bidirectional call.
    Stream(mpsc::Receiver<Received>),
}

/// How a handler's run ended.
enum Ended {
    /// It returned: a single response (`Some`) or the end of a stream (`None`), or an error.
    Returned(Result<Option<Bytes>, Status>),
    /// Cancelled: by the caller, the end of the session, or the server's shutdown.
    Cancelled,
    /// The deadline passed.
    Deadline,
}

/// Starts a call from its first frame: the call's execution, or `None` when it was refused
/// or needs nothing more.
pub(super) fn start(
    scope: &SessionScope,
    frame: Inbound,
    header: CallHeader,
) -> Option<BoxFuture<()>> {
    let rpc_id: Arc<str> = Arc::from(frame.rpc_id.as_str());
    let responder = Responder::new(scope.session.clone(), &frame.source, rpc_id.clone());
    let refuse = |status: Status| {
        scope.calls().finish(&rpc_id);
        let responder = responder.clone();
        scope.shared.tasks.spawn(async move {
            let _ = responder.end(&Err(status)).await;
        });
    };
    let Some(handler) = scope.shared.handler(&header.method).cloned() else {
        refuse(Status::unimplemented(format!(
            "unknown method {}",
            header.method
        )));
        return None;
    };
    let remaining = header
        .deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    if remaining.is_zero() {
        refuse(Status::deadline_exceeded(
            "the deadline passed before the call arrived",
        ));
        return None;
    }
    let idempotency_key = header
        .idempotency_key
        .clone()
        .filter(|_| scope.shared.idempotency.enabled());
    if idempotency_key.is_some() && !handler.single_response() {
        refuse(Status::invalid_argument(
            "idempotency keys apply to methods with a single response (unary, client streaming)",
        ));
        return None;
    }
    let cancel = scope.stop.child_token();
    let mut requests = None;
    let input = match (handler.streams_requests(), frame.kind) {
        (false, FrameKind::Data(blob) | FrameKind::End(Ok(blob))) => Input::Single(blob),
        (true, kind) => {
            let (tx, rx) = mpsc::channel(scope.shared.config.request_buffer.max(1));
            let end = matches!(kind, FrameKind::End(_));
            // A fresh queue has room for the first frame.
            let _ = tx.try_send(Received {
                source: frame.source.clone(),
                kind,
            });
            if !end {
                requests = Some(tx);
            }
            Input::Stream(rx)
        }
        (false, FrameKind::End(Err(_))) => return None,
    };
    {
        let mut calls = scope.calls();
        if calls.active.len() >= scope.shared.config.max_calls_per_session {
            drop(calls);
            refuse(Status::resource_exhausted("too many calls on this session"));
            return None;
        }
        calls.active.insert(
            rpc_id.clone(),
            Active {
                requests,
                cancel: cancel.clone(),
                execution: None,
            },
        );
    }
    let context = Context::new(ContextParts {
        rpc_id: frame.rpc_id,
        method: header.method,
        caller: frame.source,
        session: scope.session.id(),
        metadata: header.metadata,
        deadline: header.deadline,
        local_deadline: tokio::time::Instant::now() + remaining,
        idempotency_key,
        cancel,
    });
    let scope = scope.clone();
    let tasks = scope.shared.tasks.clone();
    let call = async move {
        let ended = match context.idempotency_key() {
            Some(key) => {
                let key = key.to_owned();
                run_idempotent(&scope, &rpc_id, handler, input, &context, &responder, key).await
            }
            None => {
                let future = handler_future(handler, input, context.clone(), &responder);
                run(future, &context).await
            }
        };
        finish(&scope, &context, &responder, ended).await;
        scope.calls().finish(&rpc_id);
    };
    Some(Box::pin(tasks.track_future(call)))
}

/// Runs a call on the session's reader until it first has to wait, and only then gives it a
/// task of its own. Most unary handlers answer without waiting: they then cost no task, and
/// their reply leaves without a hand-over to another task (on a multi-threaded runtime often
/// the wake-up of another thread). A handler that computes for long before its first await
/// holds up its session's reader meanwhile — as it would hold up a runtime thread anyway. A
/// handler that panics loses only its own call, as it would in a task of its own.
pub(super) async fn run_inline_or_spawn(mut call: BoxFuture<()>) {
    let polled = std::future::poll_fn(|cx| {
        Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| {
            call.as_mut().poll(cx)
        })))
    })
    .await;
    match polled {
        Ok(Poll::Ready(())) => {}
        Ok(Poll::Pending) => {
            tokio::spawn(call);
        }
        Err(_) => tracing::error!("an RPC handler panicked; its call is abandoned"),
    }
}

/// The handler's future for its input.
fn handler_future(
    handler: Handler,
    input: Input,
    context: Context,
    responder: &Responder,
) -> BoxFuture<Result<Option<Bytes>, Status>> {
    let sink = || {
        ResponseSink::new(
            responder.clone(),
            crate::codec::RawCodec::encode_fn(),
            context.cancel_token().clone(),
        )
    };
    match (handler, input) {
        (Handler::Unary(f), Input::Single(blob)) => {
            let future = f(blob, context);
            Box::pin(async move { future.await.map(Some) })
        }
        (Handler::ServerStreaming(f), Input::Single(blob)) => {
            let future = f(blob, context.clone(), sink());
            Box::pin(async move { future.await.map(|()| None) })
        }
        (Handler::ClientStreaming(f), Input::Stream(rx)) => {
            let future = f(rx, context);
            Box::pin(async move { future.await.map(Some) })
        }
        (Handler::Streaming(f), Input::Stream(rx)) => {
            let future = f(rx, context.clone(), sink());
            Box::pin(async move { future.await.map(|()| None) })
        }
        _ => Box::pin(async { Err(Status::internal("handler and request do not match")) }),
    }
}

/// Runs a handler until it returns, is cancelled, or its deadline passes.
async fn run(mut future: BoxFuture<Result<Option<Bytes>, Status>>, context: &Context) -> Ended {
    if context.is_cancelled() {
        return Ended::Cancelled;
    }
    // Most handlers finish without waiting: try once before arming the deadline's timer and
    // the cancellation watch (the deadline had not passed when the call started).
    let first = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
    if let Poll::Ready(result) = first {
        return Ended::Returned(result);
    }
    let ended = tokio::select! {
        biased;
        () = context.cancelled() => Ended::Cancelled,
        () = tokio::time::sleep_until(context.local_deadline()) => Ended::Deadline,
        result = future => Ended::Returned(result),
    };
    if matches!(ended, Ended::Deadline) {
        // Work the handler spawned sees the end too.
        context.cancel_token().cancel();
    }
    ended
}

/// Sends the call's end to its caller.
async fn finish(scope: &SessionScope, context: &Context, responder: &Responder, ended: Ended) {
    let end = match ended {
        // A single response travels in the end frame: one message instead of two. An empty
        // one keeps its own frame: an empty OK end reads as "no response" to some clients.
        Ended::Returned(Ok(Some(blob))) if blob.is_empty() => {
            if responder.data(blob).await.is_err() {
                return;
            }
            Ok(Bytes::new())
        }
        Ended::Returned(Ok(Some(blob))) => Ok(blob),
        Ended::Returned(Ok(None)) => Ok(Bytes::new()),
        Ended::Returned(Err(status)) => Err(status),
        Ended::Deadline => Err(Status::deadline_exceeded(format!(
            "{} did not finish before its deadline",
            context.method()
        ))),
        Ended::Cancelled if scope.shared.stop.is_cancelled() => {
            Err(Status::unavailable("the server is shutting down"))
        }
        // The caller cancelled or the session ended: nobody waits for an answer.
        Ended::Cancelled => return,
    };
    let _ = responder.end(&end).await;
}

/// The idempotent path: run once per key, or wait for / replay the run that owns the key.
async fn run_idempotent(
    scope: &SessionScope,
    rpc_id: &Arc<str>,
    handler: Handler,
    input: Input,
    context: &Context,
    responder: &Responder,
    key: String,
) -> Ended {
    let cache = &scope.shared.idempotency;
    let key = CacheKey {
        caller: caller_identity(context),
        method: context.method().to_string(),
        key,
    };
    let fingerprint = match &input {
        Input::Single(blob) => Some(idempotency::fingerprint(blob)),
        Input::Stream(_) => None,
    };
    let mut input = Some(input);
    loop {
        let mut done = match cache.begin(key.clone(), fingerprint, tokio::time::Instant::now()) {
            Begin::Replay(outcome) => return replay(&outcome),
            Begin::Conflict => {
                return Ended::Returned(Err(Status::invalid_argument(
                    "idempotency key reused with a different request",
                )));
            }
            Begin::Full => {
                return Ended::Returned(Err(Status::resource_exhausted(
                    "too many idempotent calls in progress",
                )));
            }
            Begin::Wait(done) => {
                // Another attempt's execution serves this one; its request stream is not
                // needed (dropping it lets the session's reader discard it).
                input = None;
                done
            }
            Begin::Run(ticket) => {
                let Some(run_input) = input.take() else {
                    return Ended::Returned(Err(Status::unavailable(
                        "the execution for this idempotency key was abandoned",
                    )));
                };
                let done = ticket.subscribe();
                execute(
                    scope,
                    rpc_id,
                    handler.clone(),
                    run_input,
                    context,
                    responder,
                    ticket,
                );
                done
            }
        };
        let waited = tokio::select! {
            biased;
            () = context.cancelled() => return Ended::Cancelled,
            () = tokio::time::sleep_until(context.local_deadline()) => return Ended::Deadline,
            waited = done.wait_for(Option::is_some) => waited.map(|outcome| outcome.clone()),
        };
        match waited {
            Ok(Some(outcome)) => return replay(&outcome),
            // Abandoned (the server is stopping, or its request stream was cut): try again.
            _ => continue,
        }
    }
}

/// Starts the execution that owns a key, detached from the attempt that started it.
fn execute(
    scope: &SessionScope,
    rpc_id: &Arc<str>,
    handler: Handler,
    input: Input,
    context: &Context,
    responder: &Responder,
    ticket: idempotency::Ticket,
) {
    let execution = scope.shared.stop.child_token();
    if let Some(active) = scope.calls().active.get_mut(rpc_id) {
        active.execution = Some(execution.clone());
    }
    let context = context.with_cancel(execution);
    // The sink is unused: only single-response methods take keys.
    let future = handler_future(handler, input, context.clone(), responder);
    scope.shared.tasks.spawn(async move {
        let outcome = match run(future, &context).await {
            Ended::Returned(result) => result.map(Option::unwrap_or_default),
            Ended::Deadline => Err(Status::deadline_exceeded(format!(
                "{} did not finish before its deadline",
                context.method()
            ))),
            // Never completed: leave nothing behind (the ticket's drop forgets the key).
            Ended::Cancelled => return,
        };
        ticket.complete(outcome, tokio::time::Instant::now());
    });
}

fn replay(outcome: &Outcome) -> Ended {
    Ended::Returned(match outcome.as_ref() {
        Ok(blob) => Ok(Some(blob.clone())),
        Err(status) => Err(status.clone()),
    })
}

/// Whose key space a call uses: the caller's service name without its instance id.
fn caller_identity(context: &Context) -> String {
    context
        .caller()
        .with_id(slim_client::InstanceId::ANY)
        .to_string()
}

impl crate::codec::RawCodec {
    /// The identity encoder, for raw sinks.
    pub(crate) fn encode_fn() -> crate::codec::EncodeFn<Bytes> {
        |blob| Ok(blob.clone())
    }
}
