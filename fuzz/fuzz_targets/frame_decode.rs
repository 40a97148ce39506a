//! Fuzzes the frame decoder: any bytes from a link either fail to parse with an error or parse
//! into a frame that re-emits, for the next hop (with a MAC) and as sent by an endpoint
//! (without), into bytes that parse again to the same routing view. A panic anywhere is a bug.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use slim_wire::Frame;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::parse(Bytes::copy_from_slice(data)) else {
        return;
    };
    // The next hop's TTL with the link's MAC (a node forwarding), and the frame's own TTL
    // without one (an endpoint sending): the header is patched in place where it can be,
    // walked otherwise; both must give a frame that parses to the same routing view.
    let tag = [0xA5; 32];
    let next_hop = frame.ttl().saturating_sub(1).max(1);
    for (ttl, mac) in [(next_hop, Some(&tag)), (frame.ttl(), None)] {
        let out = frame.to_forwarded_bytes(ttl, mac);
        assert_eq!(out.len(), frame.forwarded_len(ttl, mac.is_some()));
        let again = Frame::parse(out).expect("a re-emitted frame must parse");
        assert_eq!(again.kind(), frame.kind());
        assert_eq!(again.destination(), frame.destination());
        assert_eq!(again.source(), frame.source());
        assert_eq!(again.identity(), frame.identity());
        assert_eq!(again.fanout(), frame.fanout());
        assert_eq!(again.subscription_id(), frame.subscription_id());
        assert_eq!(again.session(), frame.session());
        if frame.has_header() {
            assert_eq!(again.ttl(), ttl);
            assert_eq!(again.recv_from(), None);
            assert_eq!(again.forward_to(), None);
            assert_eq!(again.header_mac(), mac.map(|m| &m[..]));
        }
    }
});
