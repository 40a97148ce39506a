//! The negotiation exchange end to end, and every rule a peer can break.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use slim_wire::proto;

use super::*;

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn client_params() -> ClientLinkParams {
    ClientLinkParams {
        link_id: None,
        connection_type: ConnectionType::Edge,
        node_id: "client-node".into(),
        deployment_name: "dep".into(),
        post_quantum: false,
        require_header_mac: true,
    }
}

fn server_params() -> ServerLinkParams {
    ServerLinkParams {
        node_id: "server-node".into(),
        deployment_name: "dep".into(),
        post_quantum: false,
        require_header_mac: true,
    }
}

fn payload_mut(message: &mut proto::Message) -> &mut proto::LinkNegotiationPayload {
    match message.message_type.as_mut() {
        Some(proto::message::MessageType::Link(proto::Link {
            link_type: Some(proto::link::LinkType::LinkNegotiation(p)),
        })) => p,
        _ => panic!("not a link message"),
    }
}

fn exchange(
    client: ClientLinkParams,
    server: &ServerLinkParams,
) -> Result<(Negotiated, Negotiated), NegotiationError> {
    let mut rng = rng();
    let handshake = ClientHandshake::new(client, &mut rng);
    let (server_side, reply) = respond(server, &handshake.request(), &mut rng)?;
    let client_side = handshake.finish(&reply)?;
    Ok((client_side, server_side))
}

#[test]
fn classical_exchange_agrees_on_key_and_link() {
    let (client, server) = exchange(client_params(), &server_params()).unwrap();
    assert_eq!(client.link_id, server.link_id);
    assert!(uuid::Uuid::parse_str(&client.link_id).is_ok());
    assert_eq!(
        client.mac_key.as_ref().unwrap().raw(),
        server.mac_key.as_ref().unwrap().raw()
    );
    assert!(!client.hybrid && !server.hybrid);
    assert_eq!(server.connection_type, ConnectionType::Edge);
    assert_eq!(server.peer.node_id, "client-node");
    assert_eq!(client.peer.node_id, "server-node");
    assert_eq!(client.peer.slim_version, slim_wire::WIRE_VERSION);
}

#[test]
fn both_ends_announce_nodelay_and_an_upstream_end_reads_as_without_it() {
    let (client, server) = exchange(client_params(), &server_params()).unwrap();
    assert!(client.peer.nodelay && server.peer.nodelay);

    // Upstream's messages have no field 48: each end sees a peer without TCP_NODELAY.
    let mut rng = rng();
    let handshake = ClientHandshake::new(client_params(), &mut rng);
    let mut request = handshake.request();
    payload_mut(&mut request).tcp_nodelay = false;
    let (server, mut reply) = respond(&server_params(), &request, &mut rng).unwrap();
    assert!(!server.peer.nodelay);
    payload_mut(&mut reply).tcp_nodelay = false;
    assert!(!handshake.finish(&reply).unwrap().peer.nodelay);
}

#[test]
fn configured_link_id_is_used_and_echoed() {
    let params = ClientLinkParams {
        link_id: Some("my-link".into()),
        ..client_params()
    };
    let (client, server) = exchange(params, &server_params()).unwrap();
    assert_eq!(client.link_id, "my-link");
    assert_eq!(server.link_id, "my-link");
}

#[test]
fn hybrid_exchange_when_the_dialer_offers_ml_kem() {
    let params = ClientLinkParams {
        post_quantum: true,
        ..client_params()
    };
    let mut rng = rng();
    let handshake = ClientHandshake::new(params, &mut rng);
    let request = handshake.request();
    assert_eq!(
        payload_of(&request)
            .unwrap()
            .link_kem_payload
            .as_ref()
            .unwrap()
            .len(),
        MLKEM768_EK_LEN
    );
    // The listener does not require post-quantum but follows the dialer.
    let (server, reply) = respond(&server_params(), &request, &mut rng).unwrap();
    assert_eq!(
        payload_of(&reply)
            .unwrap()
            .link_kem_payload
            .as_ref()
            .unwrap()
            .len(),
        MLKEM768_CT_LEN
    );
    let client = handshake.finish(&reply).unwrap();
    assert!(client.hybrid && server.hybrid);
    assert_eq!(client.mac_key.unwrap().raw(), server.mac_key.unwrap().raw());
}

#[test]
fn post_quantum_listener_refuses_a_classical_dialer() {
    let server = ServerLinkParams {
        post_quantum: true,
        ..server_params()
    };
    assert_eq!(
        exchange(client_params(), &server).unwrap_err(),
        NegotiationError::MissingKem
    );
}

#[test]
fn post_quantum_dialer_refuses_a_reply_without_ciphertext() {
    let mut rng = rng();
    let handshake = ClientHandshake::new(
        ClientLinkParams {
            post_quantum: true,
            ..client_params()
        },
        &mut rng,
    );
    let (_, mut reply) = respond(&server_params(), &handshake.request(), &mut rng).unwrap();
    payload_mut(&mut reply).link_kem_payload = None;
    assert_eq!(
        handshake.finish(&reply).unwrap_err(),
        NegotiationError::MissingKem
    );
}

#[test]
fn classical_dialer_refuses_an_unasked_ciphertext() {
    let mut rng = rng();
    let handshake = ClientHandshake::new(client_params(), &mut rng);
    let (_, mut reply) = respond(&server_params(), &handshake.request(), &mut rng).unwrap();
    payload_mut(&mut reply).link_kem_payload = Some(vec![0u8; MLKEM768_CT_LEN].into());
    assert!(matches!(
        handshake.finish(&reply),
        Err(NegotiationError::BadKem { .. })
    ));
}

#[test]
fn strict_listener_refuses_a_legacy_dialer_and_lenient_one_accepts_unsigned() {
    let mut rng = rng();
    let mut request = ClientHandshake::new(client_params(), &mut rng).request();
    payload_mut(&mut request).link_ecdh_public_key = bytes::Bytes::new();
    assert_eq!(
        respond(&server_params(), &request, &mut rng).unwrap_err(),
        NegotiationError::MissingKey
    );
    let lenient = ServerLinkParams {
        require_header_mac: false,
        ..server_params()
    };
    let (negotiated, _) = respond(&lenient, &request, &mut rng).unwrap();
    assert!(negotiated.mac_key.is_none());
}

#[test]
fn strict_dialer_refuses_a_legacy_listener_and_lenient_one_accepts_unsigned() {
    for strict in [true, false] {
        let mut rng = rng();
        let handshake = ClientHandshake::new(
            ClientLinkParams {
                require_header_mac: strict,
                ..client_params()
            },
            &mut rng,
        );
        let (_, mut reply) = respond(&server_params(), &handshake.request(), &mut rng).unwrap();
        payload_mut(&mut reply).link_ecdh_public_key = bytes::Bytes::new();
        let outcome = handshake.finish(&reply);
        if strict {
            assert_eq!(outcome.unwrap_err(), NegotiationError::MissingKey);
        } else {
            assert!(outcome.unwrap().mac_key.is_none());
        }
    }
}

/// Each mutation of a valid request and the error the listener must answer with.
#[test]
fn listener_validates_every_request_field() {
    type Mutation = fn(&mut proto::LinkNegotiationPayload);
    let cases: Vec<(Mutation, NegotiationError)> = vec![
        (
            |p| p.is_reply = true,
            NegotiationError::WrongDirection { is_reply: true },
        ),
        (|p| p.link_id.clear(), NegotiationError::EmptyLinkId),
        (
            |p| p.slim_version = "two".into(),
            NegotiationError::BadVersion("two".into()),
        ),
        (
            |p| p.connection_type = 9,
            NegotiationError::UnknownConnectionType(9),
        ),
        (
            |p| p.link_ecdh_public_key = vec![1u8; 31].into(),
            NegotiationError::BadKey { len: 31 },
        ),
        (
            // The identity point: a low-order key gives an all-zero secret.
            |p| p.link_ecdh_public_key = vec![0u8; 32].into(),
            NegotiationError::BadKey { len: 32 },
        ),
        (
            |p| p.link_kem_payload = Some(vec![0u8; 100].into()),
            NegotiationError::BadKem { len: 100 },
        ),
        (
            |p| {
                p.connection_type = proto::LinkConnectionType::Peer as i32;
                p.node_id = "server-node".into();
            },
            NegotiationError::SelfLink("server-node".into()),
        ),
        (
            |p| {
                p.connection_type = proto::LinkConnectionType::Peer as i32;
                p.deployment_name = "elsewhere".into();
            },
            NegotiationError::DeploymentMismatch {
                ours: "dep".into(),
                theirs: "elsewhere".into(),
            },
        ),
    ];
    for (mutate, expected) in cases {
        let mut rng = rng();
        let mut request = ClientHandshake::new(client_params(), &mut rng).request();
        mutate(payload_mut(&mut request));
        assert_eq!(
            respond(&server_params(), &request, &mut rng).unwrap_err(),
            expected
        );
    }
}

#[test]
fn peer_refusals_are_permission_denied_and_others_are_not() {
    assert!(NegotiationError::SelfLink("x".into()).is_permission_denied());
    assert!(
        NegotiationError::DeploymentMismatch {
            ours: "a".into(),
            theirs: "b".into()
        }
        .is_permission_denied()
    );
    assert!(!NegotiationError::MissingKey.is_permission_denied());
}

#[test]
fn non_link_messages_are_refused_on_both_sides() {
    let name = slim_wire::Name::new("a", "b", "c").unwrap();
    let subscribe = slim_wire::builders::subscribe(&name, &name, 1);
    let mut rng = rng();
    assert_eq!(
        respond(&server_params(), &subscribe, &mut rng).unwrap_err(),
        NegotiationError::NotNegotiation
    );
    let handshake = ClientHandshake::new(client_params(), &mut rng);
    assert_eq!(
        handshake.finish(&subscribe).unwrap_err(),
        NegotiationError::NotNegotiation
    );
}

#[test]
fn dialer_checks_the_reply_direction_and_echo() {
    let mut rng = rng();
    let handshake = ClientHandshake::new(client_params(), &mut rng);
    let request = handshake.request();
    // Our own request reflected back is not a reply.
    assert_eq!(
        ClientHandshake::new(client_params(), &mut rng)
            .finish(&request)
            .unwrap_err(),
        NegotiationError::WrongDirection { is_reply: false }
    );
    let (_, mut reply) = respond(&server_params(), &request, &mut rng).unwrap();
    payload_mut(&mut reply).link_id = "other".into();
    assert!(matches!(
        handshake.finish(&reply),
        Err(NegotiationError::LinkIdMismatch { .. })
    ));
}

#[test]
fn dialer_refuses_to_peer_with_itself() {
    let mut rng = rng();
    let params = ClientLinkParams {
        connection_type: ConnectionType::Peer,
        node_id: "server-node".into(),
        ..client_params()
    };
    let handshake = ClientHandshake::new(params, &mut rng);
    // A listener that does not check (e.g. another implementation) answers anyway.
    let lenient = ServerLinkParams {
        node_id: "someone".into(),
        ..server_params()
    };
    let (_, mut reply) = respond(&lenient, &handshake.request(), &mut rng).unwrap();
    payload_mut(&mut reply).node_id = "server-node".into();
    assert_eq!(
        handshake.finish(&reply).unwrap_err(),
        NegotiationError::SelfLink("server-node".into())
    );
}

proptest! {
    /// Arbitrary bytes decoded as a message never panic the listener.
    #[test]
    fn listener_never_panics_on_arbitrary_input(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        use prost::Message as _;
        if let Ok(message) = proto::Message::decode(bytes.as_slice()) {
            let _ = respond(&server_params(), &message, &mut rng());
        }
    }

    /// Arbitrary field values in an otherwise valid request never panic the listener.
    #[test]
    fn listener_never_panics_on_arbitrary_fields(
        key in proptest::collection::vec(any::<u8>(), 0..40),
        kem in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..1300)),
        connection_type in any::<i32>(),
        version in ".{0,12}",
    ) {
        let mut r = rng();
        let mut request = ClientHandshake::new(client_params(), &mut r).request();
        let p = payload_mut(&mut request);
        p.link_ecdh_public_key = key.into();
        p.link_kem_payload = kem.map(Into::into);
        p.connection_type = connection_type;
        p.slim_version = version;
        let _ = respond(&server_params(), &request, &mut r);
    }
}
