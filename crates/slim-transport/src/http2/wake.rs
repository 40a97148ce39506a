//! [`poll_absorbing_self_wakes`]: how a connection task polls its parts without waking
//! itself.
//!
//! One task drives an HTTP/2 connection and the streams on it. Its parts wake each other
//! while it polls them: h2 wakes the connection when a writer queues data, a stream wakes its
//! reader while the connection reads. Each such wake of the running task makes tokio
//! reschedule it as a yield, and a yield also unparks an idle worker thread to look for work:
//! measured on the node, about three extra system calls and two context switches per round
//! trip. So the parts are polled with a waker that, while the task is inside its poll, only
//! records the wake; the task then polls once more before it returns, and wakes from outside
//! (the socket, other tasks, timers) wake it as usual.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// Rounds of polling in one wake-up while the parts keep waking each other; then the task
/// yields so other tasks run.
const MAX_ROUNDS: usize = 16;

/// Runs `poll` to completion, polling again instead of rescheduling when `poll` woke its own
/// task.
pub(crate) fn poll_absorbing_self_wakes(
    mut poll: impl FnMut(&mut Context<'_>) -> Poll<()>,
) -> impl Future<Output = ()> {
    let wake = Arc::new(SelfWake::default());
    let waker = Waker::from(wake.clone());
    std::future::poll_fn(move |cx| {
        wake.task.register(cx.waker());
        for _ in 0..MAX_ROUNDS {
            wake.woken.store(false, Ordering::SeqCst);
            wake.polling.store(true, Ordering::SeqCst);
            let done = poll(&mut Context::from_waker(&waker));
            wake.polling.store(false, Ordering::SeqCst);
            if done.is_ready() {
                return Poll::Ready(());
            }
            if !wake.woken.swap(false, Ordering::SeqCst) {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Runs `future` the same way: a wake from inside its own poll makes it poll again at once
/// instead of rescheduling its task. For a task that drives an adopted connection
/// ([`crate::ConnectionHandle`]) along with its own work.
pub fn absorbing_self_wakes<F>(future: F) -> impl Future<Output = ()>
where
    F: Future<Output = ()>,
{
    let mut future = Box::pin(future);
    poll_absorbing_self_wakes(move |cx| future.as_mut().poll(cx))
}

/// The waker the parts see: it wakes the task, unless the task is polling them right now, in
/// which case it only records the wake so the task polls once more.
#[derive(Default)]
struct SelfWake {
    task: AtomicWaker,
    /// The task is inside its poll.
    polling: AtomicBool,
    /// Something woke the parts since the current round began.
    woken: AtomicBool,
}

impl Wake for SelfWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Recorded first, then checked: a wake racing the end of a poll is either seen by
        // that poll's last check or wakes the task.
        self.woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.task.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts how often the task itself is woken.
    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wake_during_the_poll_polls_again_instead_of_waking_the_task() {
        let outer = Arc::new(CountWakes(AtomicUsize::new(0)));
        let outer_waker = Waker::from(outer.clone());
        let mut rounds = 0;
        let mut future = Box::pin(poll_absorbing_self_wakes(|cx| {
            rounds += 1;
            if rounds < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }));
        let poll = future.as_mut().poll(&mut Context::from_waker(&outer_waker));
        assert!(poll.is_ready());
        assert_eq!(outer.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_wake_after_the_poll_wakes_the_task() {
        let outer = Arc::new(CountWakes(AtomicUsize::new(0)));
        let outer_waker = Waker::from(outer.clone());
        let mut saved: Option<Waker> = None;
        let mut future = Box::pin(poll_absorbing_self_wakes(|cx| {
            saved = Some(cx.waker().clone());
            Poll::Pending
        }));
        assert!(
            future
                .as_mut()
                .poll(&mut Context::from_waker(&outer_waker))
                .is_pending()
        );
        drop(future);
        saved.expect("polled").wake();
        assert_eq!(outer.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_part_that_always_wakes_itself_yields_after_a_bounded_number_of_rounds() {
        let outer = Arc::new(CountWakes(AtomicUsize::new(0)));
        let outer_waker = Waker::from(outer.clone());
        let mut rounds = 0;
        let mut future = Box::pin(poll_absorbing_self_wakes(|cx| {
            rounds += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }));
        assert!(
            future
                .as_mut()
                .poll(&mut Context::from_waker(&outer_waker))
                .is_pending()
        );
        drop(future);
        assert_eq!(rounds, MAX_ROUNDS);
        assert_eq!(outer.0.load(Ordering::SeqCst), 1);
    }
}
