//! Unit tests of the data path: sender window, acknowledgements, retransmission and RTX
//! answers; receiver ordering, gap requests, loss reporting and stream start.

use std::time::{Duration, Instant};

use bytes::Bytes;
use slim_wire::proto::{SessionMessageType as T, SessionType};
use slim_wire::{InstanceId, Name};

use super::*;
use crate::config::Retries;
use crate::event::{CompletionError, CompletionId};
use crate::wire::{Envelope, Inbound};

pub(crate) fn name(s: &str, id: u128) -> Name {
    Name::new("org", "ns", s).unwrap().with_id(InstanceId(id))
}

const RETRIES: Retries = Retries::new(Duration::from_secs(1), 2);

fn sender(window: u32, reliable: bool) -> DataSender {
    DataSender::new(
        SenderAddress {
            me: name("me", 1),
            destination: Some(name("chan", 9)),
            fanout: 256,
            session_type: SessionType::Multicast,
            session_id: 77,
        },
        reliable.then_some(RETRIES),
        window,
    )
}

fn payload(n: u8) -> AppPayload {
    AppPayload {
        payload_type: "msg".into(),
        blob: Bytes::from(vec![n]),
        metadata: Default::default(),
    }
}

/// The routing header `o` goes out with (written here if the session would leave it to the
/// template).
fn header(o: &crate::wire::Outbound) -> Option<slim_wire::proto::SlimHeader> {
    let mut o = o.clone();
    o.materialize();
    match o.message.message_type {
        Some(slim_wire::proto::message::MessageType::Publish(p)) => p.header,
        _ => None,
    }
}

fn ids(fx: &Effects) -> Vec<(u32, T, String)> {
    fx.transmit
        .iter()
        .map(|o| {
            let dest = header(o)
                .and_then(|h| h.destination)
                .map(|d| Name::from_proto(&d).unwrap().to_string())
                .unwrap_or_default();
            (o.message_id(), o.kind, dest)
        })
        .collect()
}

#[test]
fn ids_start_at_one_and_the_window_bounds_what_is_in_flight() {
    let now = Instant::now();
    let mut s = sender(3, true);
    let mut fx = Effects::default();
    s.add_endpoint(now, name("a", 2), &mut fx);
    for n in 0..3 {
        assert!(s.has_room());
        s.publish(now, payload(n), Some(CompletionId(u64::from(n))), &mut fx);
    }
    assert!(!s.has_room(), "window of 3 is full");
    let sent: Vec<u32> = ids(&fx).iter().map(|i| i.0).collect();
    assert_eq!(sent, vec![1, 2, 3]);
    s.mark_blocked();
    // Acking a later message does not free room: the window is a span from the oldest.
    let mut fx = Effects::default();
    s.on_ack(now, &name("a", 2), 2, &mut fx);
    assert!(!s.has_room());
    assert!(!fx.writable);
    s.on_ack(now, &name("a", 2), 1, &mut fx);
    assert!(s.has_room());
    assert!(fx.writable, "room came back after a WouldBlock");
    assert_eq!(
        fx.completions,
        vec![(CompletionId(1), Ok(())), (CompletionId(0), Ok(()))]
    );
}

#[test]
fn acknowledged_messages_leave_no_timer_behind() {
    let start = Instant::now();
    let mut s = sender(8, true);
    let mut fx = Effects::default();
    s.add_endpoint(start, name("a", 2), &mut fx);
    for (n, at) in [0u8, 1, 2].into_iter().zip(1u64..) {
        let now = start + Duration::from_millis(at);
        s.publish(now, payload(n), None, &mut fx);
    }
    let first = s.next_timeout().expect("a timer while unacknowledged");
    s.on_ack(start, &name("a", 2), 1, &mut fx);
    let second = s.next_timeout().expect("two messages still wait");
    assert!(
        second > first,
        "the first message's timer went with its ack"
    );
    // An ack out of order leaves the earliest timer, which is still a real one.
    s.on_ack(start, &name("a", 2), 3, &mut fx);
    assert_eq!(s.next_timeout(), Some(second));
    s.on_ack(start, &name("a", 2), 2, &mut fx);
    assert_eq!(
        s.next_timeout(),
        None,
        "nothing waits, nothing to wake up for"
    );
}

#[test]
fn retransmission_goes_unicast_to_the_missing_and_exhaustion_names_them() {
    let now = Instant::now();
    let mut s = sender(8, true);
    let mut fx = Effects::default();
    s.add_endpoint(now, name("a", 2), &mut fx);
    s.add_endpoint(now, name("b", 3), &mut fx);
    s.publish(now, payload(0), Some(CompletionId(9)), &mut fx);
    assert_eq!(ids(&fx), vec![(1, T::Msg, name("chan", 9).to_string())]);
    s.on_ack(now, &name("a", 2), 1, &mut fx);

    // Retransmissions back off from the initial timeout (no round-trip sample yet) up to the
    // interval; each goes to b alone. The budget is interval × (max_retries + 1) = 3 s.
    let mut retransmissions = 0;
    let failed_at = loop {
        let at = s.next_timeout().expect("a timer while unacknowledged");
        let mut fx = Effects::default();
        s.on_timeout(at, &mut fx);
        if !fx.completions.is_empty() {
            assert!(fx.transmit.is_empty());
            assert_eq!(
                fx.completions,
                vec![(
                    CompletionId(9),
                    Err(CompletionError::NotAcknowledged(vec![name("b", 3)]))
                )]
            );
            assert_eq!(fx.unresponsive, vec![name("b", 3)]);
            break at;
        }
        assert_eq!(ids(&fx), vec![(1, T::Msg, name("b", 3).to_string())]);
        retransmissions += 1;
    };
    assert_eq!(failed_at - now, Duration::from_secs(3));
    assert_eq!(retransmissions, 4, "at 0.2, 0.6, 1.4 and 2.4 s");
    assert!(s.is_idle());
}

#[test]
fn acknowledgements_tune_the_retransmission_timeout() {
    let now = Instant::now();
    let mut s = sender(8, true);
    let mut fx = Effects::default();
    s.add_endpoint(now, name("a", 2), &mut fx);
    for n in 0..5u32 {
        let sent = now + Duration::from_millis(u64::from(n) * 100);
        s.publish(sent, payload(n as u8), None, &mut fx);
        s.on_ack(
            sent + Duration::from_millis(20),
            &name("a", 2),
            n + 1,
            &mut fx,
        );
    }
    let sent = now + Duration::from_secs(1);
    s.publish(sent, payload(9), None, &mut fx);
    let timeout = s.next_timeout().unwrap() - sent;
    assert!(
        timeout < Duration::from_millis(100),
        "{timeout:?} follows the 20 ms round trip"
    );
}

#[test]
fn rtx_requests_are_answered_but_history_is_refused_to_newcomers() {
    let now = Instant::now();
    let mut s = sender(8, true);
    let mut fx = Effects::default();
    s.add_endpoint(now, name("a", 2), &mut fx);
    s.publish(now, payload(0), None, &mut fx); // id 1, before b joined
    s.add_endpoint(now, name("b", 3), &mut fx);
    s.publish(now, payload(1), None, &mut fx); // id 2

    let mut fx = Effects::default();
    s.on_rtx_request(&name("a", 2), 1, &mut fx);
    s.on_rtx_request(&name("b", 3), 2, &mut fx);
    s.on_rtx_request(&name("b", 3), 1, &mut fx);
    s.on_rtx_request(&name("a", 2), 40, &mut fx);
    let replies = ids(&fx);
    assert_eq!(replies[0], (1, T::RtxReply, name("a", 2).to_string()));
    assert_eq!(replies[1], (2, T::RtxReply, name("b", 3).to_string()));
    let errors: Vec<bool> = fx
        .transmit
        .iter()
        .map(|o| header(o).and_then(|h| h.error).unwrap_or(false))
        .collect();
    assert_eq!(errors, vec![false, false, true, true]);
    // An RTX request is not an acknowledgement: message 1 still waits for a's ack.
    assert!(!s.is_idle());
}

#[test]
fn messages_wait_for_a_first_endpoint() {
    let now = Instant::now();
    for reliable in [true, false] {
        let mut s = sender(8, reliable);
        let mut fx = Effects::default();
        s.publish(now, payload(0), Some(CompletionId(1)), &mut fx);
        assert!(fx.transmit.is_empty());
        assert!(fx.completions.is_empty());
        s.add_endpoint(now, name("a", 2), &mut fx);
        assert_eq!(ids(&fx).len(), 1);
        if !reliable {
            assert_eq!(fx.completions, vec![(CompletionId(1), Ok(()))]);
        }
    }
}

#[test]
fn an_unreachable_member_fails_only_what_it_did_not_ack() {
    let now = Instant::now();
    let mut s = sender(8, true);
    let mut fx = Effects::default();
    s.add_endpoint(now, name("a", 2), &mut fx);
    s.add_endpoint(now, name("b", 3), &mut fx);
    s.publish(now, payload(0), Some(CompletionId(1)), &mut fx);
    s.publish(now, payload(1), Some(CompletionId(2)), &mut fx);
    s.on_ack(now, &name("a", 2), 1, &mut fx);
    s.on_ack(now, &name("b", 3), 1, &mut fx);
    s.on_ack(now, &name("a", 2), 2, &mut fx);
    let mut fx = Effects::default();
    s.remove_endpoint(&name("b", 3), Removal::Unreachable, &mut fx);
    assert_eq!(
        fx.completions,
        vec![(
            CompletionId(2),
            Err(CompletionError::NotAcknowledged(vec![name("b", 3)]))
        )]
    );
    // A member that leaves is not a failure.
    s.publish(now, payload(2), Some(CompletionId(3)), &mut fx);
    let mut fx = Effects::default();
    s.remove_endpoint(&name("a", 2), Removal::Left, &mut fx);
    assert_eq!(fx.completions, vec![(CompletionId(3), Ok(()))]);
}

#[test]
fn a_range_acknowledges_each_of_its_ids_for_that_member_only() {
    let now = Instant::now();
    let mut s = sender(8, true);
    let mut fx = Effects::default();
    s.add_endpoint(now, name("a", 2), &mut fx);
    s.add_endpoint(now, name("b", 3), &mut fx);
    for n in 0..4 {
        s.publish(now, payload(n), Some(CompletionId(u64::from(n))), &mut fx);
    }
    assert!(
        fx.transmit.iter().all(|o| match &o.message.message_type {
            Some(slim_wire::proto::message::MessageType::Publish(p)) =>
                p.session.as_ref().is_some_and(|s| s.takes_ack_ranges),
            _ => false,
        }),
        "reliable sequential data is marked"
    );
    let mut fx = Effects::default();
    s.on_acks(now, &name("a", 2), 1, 3, &mut fx);
    assert!(fx.completions.is_empty(), "b has acknowledged nothing");
    s.on_acks(now, &name("b", 3), 2, 4, &mut fx);
    assert_eq!(
        fx.completions,
        vec![(CompletionId(1), Ok(())), (CompletionId(2), Ok(()))],
        "ids 2 and 3 have both acks; 1 waits for b, 4 for a"
    );
    let mut fx = Effects::default();
    s.on_acks(now, &name("b", 3), 1, 1, &mut fx);
    assert_eq!(fx.completions, vec![(CompletionId(0), Ok(()))]);
    // Ids past what was sent are ignored; 4 completes once a acknowledges it.
    let mut fx = Effects::default();
    s.on_acks(now, &name("a", 2), 4, 7, &mut fx);
    assert_eq!(fx.completions, vec![(CompletionId(3), Ok(()))]);
    assert!(s.is_idle());
}

// ----- receiver --------------------------------------------------------------------------

fn receiver() -> DataReceiver {
    DataReceiver::new(
        name("me", 1),
        SessionType::PointToPoint,
        77,
        Some(RETRIES),
        16,
    )
}

/// A point-to-point data message from `from` with id `id` (its payload is the id).
pub(crate) fn msg(from: &Name, id: u32) -> Box<Inbound> {
    sized_msg(from, id, id.to_be_bytes().to_vec())
}

/// A point-to-point data message from `from` with id `id` and payload `blob`.
fn sized_msg(from: &Name, id: u32, blob: Vec<u8>) -> Box<Inbound> {
    let me = name("me", 1);
    let out = Envelope {
        source: from,
        destination: &me,
        fanout: 1,
        session_type: SessionType::PointToPoint,
        session_id: 77,
    }
    .app(T::Msg, id, "msg", Bytes::from(blob), Default::default());
    Box::new(Inbound::parse(out.message).unwrap())
}

fn delivered(fx: &Effects) -> Vec<Option<u32>> {
    fx.received
        .iter()
        .map(|r| match r {
            Received::Message(m) => Some(m.message_id),
            Received::Lost { .. } => None,
        })
        .collect()
}

fn receive(
    r: &mut DataReceiver,
    now: Instant,
    from: &Name,
    id: u32,
    fx: &mut Effects,
) -> Classification {
    receive_message(r, now, msg(from, id), fx)
}

fn receive_message(
    r: &mut DataReceiver,
    now: Instant,
    message: Box<Inbound>,
    fx: &mut Effects,
) -> Classification {
    let class = r.classify(&message, false);
    if class == Classification::New {
        r.accept(now, message, false, fx);
    }
    class
}

#[test]
fn delivery_is_in_order_with_requests_for_gaps() {
    let now = Instant::now();
    let a = name("a", 2);
    let mut r = receiver();
    let mut fx = Effects::default();
    receive(&mut r, now, &a, 1, &mut fx);
    receive(&mut r, now, &a, 4, &mut fx);
    assert_eq!(delivered(&fx), vec![Some(1)]);
    // Gaps are requested only after the reorder grace (a tenth of the interval).
    assert!(fx.transmit.is_empty());
    r.on_timeout(now + Duration::from_millis(100), &mut fx);
    let requests: Vec<(u32, T)> = fx
        .transmit
        .iter()
        .map(|o| (o.message_id(), o.kind))
        .collect();
    assert_eq!(requests, vec![(2, T::RtxRequest), (3, T::RtxRequest)]);

    let mut fx = Effects::default();
    assert_eq!(
        receive(&mut r, now, &a, 4, &mut fx),
        Classification::Duplicate
    );
    receive(&mut r, now, &a, 3, &mut fx);
    assert!(fx.received.is_empty());
    receive(&mut r, now, &a, 2, &mut fx);
    assert_eq!(delivered(&fx), vec![Some(2), Some(3), Some(4)]);
    assert_eq!(r.classify(&msg(&a, 1), false), Classification::Duplicate);
    assert_eq!(
        r.classify(&msg(&a, 5 + 16), false),
        Classification::TooFarAhead
    );
}

#[test]
fn messages_held_out_of_order_are_bounded_in_bytes_but_the_next_id_always_goes() {
    let now = Instant::now();
    let (a, b) = (name("a", 2), name("b", 3));
    let mut r = receiver();
    r.limit_bytes(250);
    let mut fx = Effects::default();
    let kib = |from: &Name, id: u32| sized_msg(from, id, vec![id as u8; 100]);
    receive_message(&mut r, now, kib(&a, 1), &mut fx);
    // 1 delivered; 2 is missing, so 3 and 4 wait (200 bytes) and 5 would pass 250.
    for id in [3, 4] {
        assert_eq!(
            receive_message(&mut r, now, kib(&a, id), &mut fx),
            Classification::New
        );
    }
    assert_eq!(r.buffered_bytes(), 200);
    assert_eq!(
        receive_message(&mut r, now, kib(&a, 5), &mut fx),
        Classification::NoRoom
    );
    // The bound is over all senders: b's stream waiting behind its own gap is refused too.
    receive_message(&mut r, now, kib(&b, 1), &mut fx);
    assert_eq!(
        receive_message(&mut r, now, kib(&b, 3), &mut fx),
        Classification::NoRoom
    );
    // A small message still fits.
    assert_eq!(
        receive_message(&mut r, now, sized_msg(&b, 3, vec![0; 10]), &mut fx),
        Classification::New
    );
    assert_eq!(delivered(&fx), vec![Some(1), Some(1)]);
    // The missing one is the next id: taken although the buffer is full, and the buffer
    // drains behind it; 5 comes again (the sender retransmits what was not acknowledged).
    let mut fx = Effects::default();
    assert_eq!(
        receive_message(&mut r, now, kib(&a, 2), &mut fx),
        Classification::New
    );
    assert_eq!(delivered(&fx), vec![Some(2), Some(3), Some(4)]);
    assert_eq!(r.buffered_bytes(), 10, "only b's small message waits");
    assert_eq!(
        receive_message(&mut r, now, kib(&a, 5), &mut fx),
        Classification::New
    );
    r.remove_source(&b);
    assert_eq!(
        r.buffered_bytes(),
        0,
        "a departed sender's bytes are released"
    );
}

#[test]
fn a_lost_message_is_reported_in_its_place_and_delivery_continues() {
    let now = Instant::now();
    let a = name("a", 2);
    let mut r = receiver();
    let mut fx = Effects::default();
    for id in [1, 3, 4] {
        receive(&mut r, now, &a, id, &mut fx);
    }
    r.on_lost(&a, 2, &mut fx);
    assert_eq!(delivered(&fx), vec![Some(1), None, Some(3), Some(4)]);
}

#[test]
fn requests_are_retried_then_given_up() {
    let now = Instant::now();
    let a = name("a", 2);
    let mut r = receiver();
    let mut fx = Effects::default();
    receive(&mut r, now, &a, 1, &mut fx);
    receive(&mut r, now, &a, 3, &mut fx);
    let asked = now + Duration::from_millis(100);
    let mut fx = Effects::default();
    r.on_timeout(asked, &mut fx);
    assert_eq!(fx.transmit.len(), 1, "first request after the grace");
    for second in 1..=2 {
        let mut fx = Effects::default();
        r.on_timeout(asked + Duration::from_secs(second), &mut fx);
        assert_eq!(fx.transmit.len(), 1, "retry {second}");
    }
    let mut fx = Effects::default();
    r.on_timeout(asked + Duration::from_secs(3), &mut fx);
    assert_eq!(delivered(&fx), vec![None, Some(3)]);
    assert!(r.next_timeout().is_none() || fx.transmit.is_empty());
}

#[test]
fn a_stream_joined_mid_way_skips_history_silently() {
    let now = Instant::now();
    let a = name("a", 2);
    let mut r = receiver();
    let mut fx = Effects::default();
    // First message 5: ids 1..4 are requested (they may have been lost) ...
    receive(&mut r, now, &a, 5, &mut fx);
    r.on_timeout(now + Duration::from_millis(100), &mut fx);
    assert_eq!(fx.transmit.len(), 4);
    // ... the sender says they were never ours: skipped without a loss report.
    for id in 1..5 {
        r.on_lost(&a, id, &mut fx);
    }
    assert_eq!(delivered(&fx), vec![Some(5)]);
    // After the first delivery a loss is a loss.
    receive(&mut r, now, &a, 7, &mut fx);
    r.on_lost(&a, 6, &mut fx);
    assert_eq!(delivered(&fx), vec![Some(5), None, Some(7)]);

    // Far beyond the reorder range: a mid-stream join, starting right there.
    let b = name("b", 3);
    let mut fx = Effects::default();
    receive(&mut r, now, &b, 1000, &mut fx);
    assert_eq!(delivered(&fx), vec![Some(1000)]);
    r.on_timeout(now + Duration::from_secs(1), &mut fx);
    assert!(fx.transmit.is_empty());
}

#[test]
fn direct_messages_bypass_ordering_and_drop_duplicates() {
    let now = Instant::now();
    let a = name("a", 2);
    let mut r = receiver();
    let mut fx = Effects::default();
    let id = u32::MAX - 5;
    assert_eq!(r.classify(&msg(&a, id), true), Classification::New);
    r.accept(now, msg(&a, id), true, &mut fx);
    assert_eq!(delivered(&fx), vec![Some(id)]);
    assert_eq!(r.classify(&msg(&a, id), true), Classification::Duplicate);
}

#[test]
fn sequential_ids_wrap_around() {
    let now = Instant::now();
    let a = name("a", 2);
    let mut r = DataReceiver::new(
        name("me", 1),
        SessionType::PointToPoint,
        77,
        Some(RETRIES),
        16,
    );
    let mut fx = Effects::default();
    let last = crate::wire::MAX_PUBLISH_ID;
    receive(&mut r, now, &a, last - 1, &mut fx);
    receive(&mut r, now, &a, 0, &mut fx);
    receive(&mut r, now, &a, last, &mut fx);
    receive(&mut r, now, &a, 1, &mut fx);
    assert_eq!(
        delivered(&fx),
        vec![Some(last - 1), Some(last), Some(0), Some(1)]
    );
}

fn sized(len: usize) -> AppPayload {
    AppPayload {
        blob: Bytes::from(vec![7; len]),
        ..payload(0)
    }
}

/// A sender of 64 messages and 100 payload bytes, with endpoint `a` (2) when `reachable`.
fn byte_bounded(now: Instant, reliable: bool, reachable: bool) -> (DataSender, Effects) {
    let mut s = sender(64, reliable);
    s.limit_bytes(100);
    let mut fx = Effects::default();
    if reachable {
        s.add_endpoint(now, name("a", 2), &mut fx);
    }
    (s, fx)
}

#[test]
fn the_byte_bound_refuses_while_that_much_waits_and_frees_with_each_ack() {
    let now = Instant::now();
    let (mut s, mut fx) = byte_bounded(now, true, true);
    let a = name("a", 2);
    s.publish(now, sized(60), None, &mut fx);
    assert!(s.has_room(), "60 of 100 bytes kept");
    s.publish(now, sized(60), None, &mut fx);
    assert!(
        !s.has_room(),
        "120 bytes kept: refused though 62 slots are free"
    );
    s.mark_blocked();
    let mut fx = Effects::default();
    s.on_ack(now, &a, 1, &mut fx);
    assert!(s.has_room(), "60 bytes kept again");
    assert!(fx.writable, "room came back after a WouldBlock");
    // A direct message counts too, and frees with its ack.
    s.publish_to(
        now,
        crate::wire::MAX_PUBLISH_ID + 5,
        a.clone(),
        sized(50),
        None,
        &mut fx,
    );
    assert!(!s.has_room(), "110 bytes kept");
    s.on_ack(now, &a, crate::wire::MAX_PUBLISH_ID + 5, &mut fx);
    s.on_ack(now, &a, 2, &mut fx);
    assert!(s.has_room());
    assert_eq!(s.kept_bytes(), 0, "every byte accounted for");
}

#[test]
fn a_message_larger_than_the_byte_bound_goes_when_nothing_else_waits() {
    let now = Instant::now();
    let (mut s, mut fx) = byte_bounded(now, true, true);
    let a = name("a", 2);
    assert!(s.has_room());
    s.publish(now, sized(1000), None, &mut fx);
    assert!(!s.has_room());
    s.on_ack(now, &a, 1, &mut fx);
    assert!(s.has_room(), "the large message finished");
    assert_eq!(s.kept_bytes(), 0);
}

#[test]
fn bytes_held_for_a_first_endpoint_or_failed_on_close_are_released() {
    let now = Instant::now();
    // Fire-and-forget: kept only while no endpoint exists.
    let (mut s, mut fx) = byte_bounded(now, false, false);
    s.publish(now, sized(80), None, &mut fx);
    s.publish(now, sized(80), None, &mut fx);
    assert!(!s.has_room(), "160 bytes wait for an endpoint");
    s.add_endpoint(now, name("a", 2), &mut fx);
    assert!(s.has_room(), "sent once the endpoint came");
    assert_eq!(s.kept_bytes(), 0);
    // Reliable, aborted while unacknowledged: every byte released.
    let (mut s, mut fx) = byte_bounded(now, true, true);
    s.publish(now, sized(70), None, &mut fx);
    s.publish(now, sized(70), None, &mut fx);
    assert!(!s.has_room());
    s.abort(&mut fx);
    assert_eq!(s.kept_bytes(), 0);
    assert!(s.has_room());
}
