//! Fuzzes link negotiation on both sides: arbitrary bytes as the dialer's request reach the
//! listener's `respond`, and as the listener's reply reach a dialer's `finish`. Either side
//! refuses with an error or succeeds with a well-formed outcome; a panic anywhere is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use rand::SeedableRng;
use rand::rngs::StdRng;
use slim_transport::negotiate::{
    ClientHandshake, ClientLinkParams, ConnectionType, ServerLinkParams, payload_of, respond,
};
use slim_wire::proto;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let Ok(message) = proto::Message::decode(bytes) else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(u64::from(mode));
    let strict = mode & 1 == 1;
    let post_quantum = mode & 2 == 2;

    let server = ServerLinkParams {
        node_id: "fuzz-server".into(),
        deployment_name: "fuzz".into(),
        post_quantum,
        require_header_mac: strict,
    };
    if let Ok((negotiated, reply)) = respond(&server, &message, &mut rng) {
        let request = payload_of(&message).expect("accepted a non-negotiation message");
        let answer = payload_of(&reply).expect("the reply is a negotiation message");
        assert!(answer.is_reply);
        assert_eq!(answer.link_id, request.link_id);
        assert_eq!(negotiated.link_id, request.link_id);
        assert!(!negotiated.link_id.is_empty());
        assert!(negotiated.mac_key.is_some() || !strict);
        assert!(!post_quantum || negotiated.hybrid);
    }

    let client = ClientHandshake::new(
        ClientLinkParams {
            link_id: Some("fuzz-link".into()),
            connection_type: ConnectionType::Peer,
            node_id: "fuzz-client".into(),
            deployment_name: "fuzz".into(),
            post_quantum,
            require_header_mac: strict,
        },
        &mut rng,
    );
    if let Ok(negotiated) = client.finish(&message) {
        assert_eq!(negotiated.link_id, "fuzz-link");
        assert!(negotiated.mac_key.is_some() || !strict);
        assert_eq!(negotiated.hybrid, post_quantum);
    }
});
