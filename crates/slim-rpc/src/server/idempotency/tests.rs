use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::*;

fn key(k: &str) -> CacheKey {
    CacheKey {
        caller: "org/ns/caller".into(),
        method: "svc/M".into(),
        key: k.into(),
    }
}

fn cache(max_entries: usize) -> Arc<IdempotencyCache> {
    IdempotencyCache::new(IdempotencyConfig {
        max_entries,
        window: Duration::from_secs(60),
        ..Default::default()
    })
}

fn ticket(begin: Begin) -> Ticket {
    match begin {
        Begin::Run(ticket) => ticket,
        other => panic!("expected Run, got {other:?}"),
    }
}

#[test]
fn first_attempt_runs_later_ones_replay_the_stored_outcome() {
    let cache = cache(10);
    let now = Instant::now();
    let t = ticket(cache.begin(key("a"), Some(1), now));
    match cache.begin(key("a"), Some(1), now) {
        Begin::Wait(rx) => assert!(rx.borrow().is_none()),
        other => panic!("{other:?}"),
    }
    t.complete(Ok(Bytes::from_static(b"r")), now);
    match cache.begin(key("a"), Some(1), now + Duration::from_secs(59)) {
        Begin::Replay(outcome) => assert_eq!(outcome.as_ref(), &Ok(Bytes::from_static(b"r"))),
        other => panic!("{other:?}"),
    }
    // Errors are results too: the handler ran.
    let t = ticket(cache.begin(key("b"), None, now));
    t.complete(Err(Status::not_found("x")), now);
    assert!(matches!(cache.begin(key("b"), None, now), Begin::Replay(o) if o.is_err()));
}

#[test]
fn waiters_are_woken_with_the_outcome() {
    let cache = cache(10);
    let now = Instant::now();
    let t = ticket(cache.begin(key("a"), None, now));
    let Begin::Wait(mut rx) = cache.begin(key("a"), None, now) else {
        panic!("expected Wait");
    };
    t.complete(Ok(Bytes::from_static(b"done")), now);
    // The value stays readable after the ticket (the sender) is gone.
    let outcome = rx.borrow_and_update().clone().unwrap();
    assert_eq!(outcome.as_ref(), &Ok(Bytes::from_static(b"done")));
}

#[test]
fn an_abandoned_execution_leaves_nothing_behind() {
    let cache = cache(10);
    let now = Instant::now();
    let t = ticket(cache.begin(key("a"), None, now));
    let Begin::Wait(rx) = cache.begin(key("a"), None, now) else {
        panic!("expected Wait");
    };
    drop(t);
    assert!(
        rx.has_changed().is_err(),
        "waiters learn the sender is gone"
    );
    assert_eq!(cache.len(), 0);
    assert!(matches!(cache.begin(key("a"), None, now), Begin::Run(_)));
}

#[test]
fn entries_expire_after_the_window() {
    let cache = cache(10);
    let now = Instant::now();
    ticket(cache.begin(key("a"), None, now)).complete(Ok(Bytes::new()), now);
    let later = now + Duration::from_secs(61);
    assert!(matches!(cache.begin(key("a"), None, later), Begin::Run(_)));
}

#[test]
fn a_key_reused_for_another_request_conflicts() {
    let cache = cache(10);
    let now = Instant::now();
    let t = ticket(cache.begin(key("a"), Some(1), now));
    assert!(matches!(
        cache.begin(key("a"), Some(2), now),
        Begin::Conflict
    ));
    t.complete(Ok(Bytes::new()), now);
    assert!(matches!(
        cache.begin(key("a"), Some(2), now),
        Begin::Conflict
    ));
    // Other callers and methods have their own key space.
    let mut other = key("a");
    other.caller = "org/ns/other".into();
    assert!(matches!(cache.begin(other, Some(2), now), Begin::Run(_)));
}

#[test]
fn capacity_evicts_completed_entries_oldest_first_never_running_ones() {
    let cache = cache(2);
    let now = Instant::now();
    ticket(cache.begin(key("a"), None, now)).complete(Ok(Bytes::new()), now);
    let running = ticket(cache.begin(key("b"), None, now));
    // Full: "a" (completed) is evicted for "c".
    let c = ticket(cache.begin(key("c"), None, now));
    assert_eq!(cache.len(), 2);
    assert!(matches!(cache.begin(key("d"), None, now), Begin::Full));
    drop((running, c));
    assert!(
        matches!(cache.begin(key("a"), None, now), Begin::Run(_)),
        "a was evicted"
    );
}

#[test]
fn oversized_results_are_not_stored_but_never_rerun() {
    let cache = IdempotencyCache::new(IdempotencyConfig {
        max_result_bytes: 4,
        ..Default::default()
    });
    let now = Instant::now();
    let outcome =
        ticket(cache.begin(key("a"), None, now)).complete(Ok(Bytes::from_static(b"123456")), now);
    assert_eq!(
        outcome.as_ref(),
        &Ok(Bytes::from_static(b"123456")),
        "the live attempt gets it"
    );
    match cache.begin(key("a"), None, now) {
        Begin::Replay(o) => assert_eq!(
            o.as_ref().as_ref().unwrap_err().code(),
            crate::Code::FailedPrecondition
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn total_bytes_are_bounded() {
    let cache = IdempotencyCache::new(IdempotencyConfig {
        max_total_bytes: 10,
        ..Default::default()
    });
    let now = Instant::now();
    for k in ["a", "b", "c"] {
        ticket(cache.begin(key(k), None, now)).complete(Ok(Bytes::from_static(b"12345")), now);
    }
    assert_eq!(
        cache.len(),
        2,
        "the oldest was evicted to stay within 10 bytes"
    );
    assert!(matches!(cache.begin(key("a"), None, now), Begin::Run(_)));
}

#[test]
fn fingerprints_tell_requests_apart() {
    assert_eq!(fingerprint(b"abc"), fingerprint(b"abc"));
    assert_ne!(fingerprint(b"abc"), fingerprint(b"abd"));
}
