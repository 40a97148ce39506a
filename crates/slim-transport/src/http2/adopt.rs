//! A dialed connection's driving future that a reader of the link may take over and poll
//! from its own task ([`ConnectionHandle::adopt`]).
//!
//! Why it exists: a dialed link's HTTP/2 connection runs on its own task, so every message
//! crosses a task boundary twice more on its way between the socket and the application's
//! session driver, which reads and writes the link. On a multi-threaded runtime those
//! hand-offs land on the other worker as often as not, and each costs a thread wake-up. A
//! driver that adopts the connection polls it inside its own loop: the socket's readiness
//! wakes the driver directly, and a frame it queues is written in the same task.
//!
//! Until someone adopts it, the connection runs on the task [`hosted`] returns (the dialer
//! spawns it), so a link is driven from the moment it is dialed and a handle that is never
//! adopted changes nothing. Adoption moves the future out of that task, which then ends; the
//! adopter's first poll re-registers every waker the connection waits on with its own task.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

type Connection = Pin<Box<dyn Future<Output = ()> + Send>>;

#[derive(Default)]
struct Slot {
    /// The connection, while its host task still drives it.
    connection: Option<Connection>,
    /// Taken over: the host task ends at its next poll.
    adopted: bool,
    /// The host task, woken on adoption so it can end.
    host: Option<Waker>,
}

/// The right to take a dialed connection over (see the module docs).
pub struct ConnectionHandle {
    slot: Arc<Mutex<Slot>>,
}

impl std::fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionHandle").finish_non_exhaustive()
    }
}

/// A connection taken over: poll it (it completes when the connection ends), or spawn it to
/// give it a task of its own again. Dropping it closes the connection.
pub struct AdoptedConnection {
    connection: Option<Connection>,
}

impl std::fmt::Debug for AdoptedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdoptedConnection")
            .field("ended", &self.connection.is_none())
            .finish()
    }
}

/// Wraps `connection`: returns the future to run on a host task until adoption, and the
/// handle to adopt it with.
pub(crate) fn hosted(
    connection: impl Future<Output = ()> + Send + 'static,
) -> (impl Future<Output = ()> + Send + 'static, ConnectionHandle) {
    let slot = Arc::new(Mutex::new(Slot {
        connection: Some(Box::pin(connection)),
        adopted: false,
        host: None,
    }));
    let host_slot = Arc::clone(&slot);
    let host = std::future::poll_fn(move |cx| {
        let mut slot = host_slot.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.adopted {
            return Poll::Ready(());
        }
        if !slot.host.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            slot.host = Some(cx.waker().clone());
        }
        poll_to_end(&mut slot.connection, cx)
    });
    (host, ConnectionHandle { slot })
}

impl ConnectionHandle {
    /// Takes the connection over from its host task (which then ends). Poll the result from
    /// now on, or the link stalls.
    pub fn adopt(self) -> AdoptedConnection {
        let (connection, host) = {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            slot.adopted = true;
            (slot.connection.take(), slot.host.take())
        };
        if let Some(host) = host {
            host.wake();
        }
        AdoptedConnection { connection }
    }
}

impl Future for AdoptedConnection {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        poll_to_end(&mut self.connection, cx)
    }
}

/// Polls the connection in `slot`, dropping it once it ended; an empty slot has ended.
fn poll_to_end(slot: &mut Option<Connection>, cx: &mut Context<'_>) -> Poll<()> {
    let Some(connection) = slot.as_mut() else {
        return Poll::Ready(());
    };
    let done = connection.as_mut().poll(cx);
    if done.is_ready() {
        *slot = None;
    }
    done
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;

    /// A stand-in connection on a spawned host task: it counts what `tx` sends it and ends
    /// when `tx` is dropped. Returns the sender, the count, the host task and the handle.
    fn counting_connection() -> (
        mpsc::UnboundedSender<()>,
        Arc<AtomicUsize>,
        tokio::task::JoinHandle<()>,
        ConnectionHandle,
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let seen = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&seen);
        let (host, handle) = hosted(async move {
            while rx.recv().await.is_some() {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        (tx, seen, tokio::spawn(host), handle)
    }

    async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting until {what}"
            );
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn the_host_drives_until_adoption_then_the_adopter_does() {
        let (tx, seen, host, handle) = counting_connection();

        tx.send(()).unwrap();
        eventually("the host task drove it", || {
            seen.load(Ordering::SeqCst) == 1
        })
        .await;

        let mut adopted = handle.adopt();
        // The host task ends once the connection is taken from it.
        tokio::time::timeout(Duration::from_secs(10), host)
            .await
            .expect("the host task did not end")
            .unwrap();
        tx.send(()).unwrap();
        // Nobody else drives it now: the adopter's poll must.
        tokio::task::yield_now().await;
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        let polled = tokio::time::timeout(Duration::from_millis(50), &mut adopted).await;
        assert!(polled.is_err(), "the connection ended early");
        assert_eq!(seen.load(Ordering::SeqCst), 2);

        drop(tx);
        tokio::time::timeout(Duration::from_secs(10), adopted)
            .await
            .expect("the adopted connection did not end with its channel");
    }

    #[tokio::test]
    async fn a_handle_never_adopted_leaves_the_host_in_charge() {
        let (tx, seen, host, handle) = counting_connection();
        drop(handle);
        tx.send(()).unwrap();
        eventually("the host task drove it", || {
            seen.load(Ordering::SeqCst) == 1
        })
        .await;
        drop(tx);
        tokio::time::timeout(Duration::from_secs(10), host)
            .await
            .expect("the host task did not end with the connection")
            .unwrap();
    }

    #[tokio::test]
    async fn adopting_an_ended_connection_gives_one_that_is_done() {
        let (host, handle) = hosted(async {});
        host.await;
        let adopted = handle.adopt();
        tokio::time::timeout(Duration::from_secs(10), adopted)
            .await
            .expect("an ended connection must be ready");
    }
}
