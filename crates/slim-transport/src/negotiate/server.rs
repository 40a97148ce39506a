//! The listener's side of link negotiation.

use ml_kem::kem::{Encapsulate, EncapsulationKey};
use ml_kem::{EncodedSizeUser, MlKem768Params};
use rand_core::CryptoRngCore;
use slim_wire::proto;

use super::{
    ConnectionType, MLKEM768_EK_LEN, Negotiated, NegotiationError, PeerInfo, derive_mac_key,
    payload_of, x25519_public, x25519_shared,
};

/// What the listener announces and requires.
#[derive(Debug, Clone)]
pub struct ServerLinkParams {
    /// Our node id; a peer link claiming it is refused.
    pub node_id: String,
    /// Our deployment name; a peer link from another deployment is refused.
    pub deployment_name: String,
    /// Require a hybrid X25519 + ML-KEM-768 key (refuse classical dialers).
    pub post_quantum: bool,
    /// Refuse a dialer that sends no X25519 key (strict mode, the default).
    pub require_header_mac: bool,
}

/// Validates a dialer's request and builds the reply. On success both the outcome and the
/// reply to send are returned; on error nothing is sent but the error (the async layer turns
/// it into a gRPC status, `PermissionDenied` when [`NegotiationError::is_permission_denied`]).
pub fn respond(
    params: &ServerLinkParams,
    request: &proto::Message,
    rng: &mut impl CryptoRngCore,
) -> Result<(Negotiated, proto::Message), NegotiationError> {
    let payload = payload_of(request).ok_or(NegotiationError::NotNegotiation)?;
    if payload.is_reply {
        return Err(NegotiationError::WrongDirection { is_reply: true });
    }
    if payload.link_id.is_empty() {
        return Err(NegotiationError::EmptyLinkId);
    }
    if semver::Version::parse(&payload.slim_version).is_err() {
        return Err(NegotiationError::BadVersion(payload.slim_version.clone()));
    }
    let connection_type = ConnectionType::from_wire(payload.connection_type).ok_or(
        NegotiationError::UnknownConnectionType(payload.connection_type),
    )?;
    if connection_type == ConnectionType::Peer {
        if payload.node_id == params.node_id {
            return Err(NegotiationError::SelfLink(payload.node_id.clone()));
        }
        if payload.deployment_name != params.deployment_name {
            return Err(NegotiationError::DeploymentMismatch {
                ours: params.deployment_name.clone(),
                theirs: payload.deployment_name.clone(),
            });
        }
    }
    let peer = PeerInfo {
        node_id: payload.node_id.clone(),
        deployment_name: payload.deployment_name.clone(),
        slim_version: payload.slim_version.clone(),
        nodelay: payload.tcp_nodelay,
    };

    let secret = x25519_dalek::EphemeralSecret::random_from_rng(&mut *rng);
    let public = x25519_dalek::PublicKey::from(&secret);
    let kem_payload = payload.link_kem_payload.as_deref();

    let (mac_key, hybrid, ciphertext) = if payload.link_ecdh_public_key.is_empty() {
        // A legacy dialer: no key, so no MAC. Only acceptable when not strict.
        if params.require_header_mac {
            return Err(NegotiationError::MissingKey);
        }
        if params.post_quantum {
            return Err(NegotiationError::MissingKem);
        }
        (None, false, None)
    } else {
        let their_public = x25519_public(&payload.link_ecdh_public_key)?;
        let x25519 = x25519_shared(secret, &their_public)?;
        match kem_payload {
            None if params.post_quantum => return Err(NegotiationError::MissingKem),
            None => (
                Some(derive_mac_key(&payload.link_id, &x25519, None)),
                false,
                None,
            ),
            // The dialer chose hybrid: follow it even when we do not require it.
            Some(ek_bytes) => {
                if ek_bytes.len() != MLKEM768_EK_LEN {
                    return Err(NegotiationError::BadKem {
                        len: ek_bytes.len(),
                    });
                }
                let encoded =
                    ml_kem::Encoded::<EncapsulationKey<MlKem768Params>>::try_from(ek_bytes)
                        .map_err(|_| NegotiationError::BadKem {
                            len: ek_bytes.len(),
                        })?;
                let ek = EncapsulationKey::<MlKem768Params>::from_bytes(&encoded);
                let (ct, shared) = ek.encapsulate(rng).map_err(|()| NegotiationError::BadKem {
                    len: ek_bytes.len(),
                })?;
                (
                    Some(derive_mac_key(
                        &payload.link_id,
                        &x25519,
                        Some(shared.as_slice()),
                    )),
                    true,
                    Some(bytes::Bytes::copy_from_slice(ct.as_slice())),
                )
            }
        }
    };

    let reply = slim_wire::builders::link_negotiation(proto::LinkNegotiationPayload {
        link_id: payload.link_id.clone(),
        slim_version: slim_wire::WIRE_VERSION.to_owned(),
        is_reply: true,
        link_ecdh_public_key: bytes::Bytes::copy_from_slice(public.as_bytes()),
        connection_type: payload.connection_type,
        node_id: params.node_id.clone(),
        deployment_name: params.deployment_name.clone(),
        link_kem_payload: ciphertext,
        tcp_nodelay: true,
    });
    let negotiated = Negotiated {
        link_id: payload.link_id.clone(),
        connection_type,
        mac_key,
        hybrid,
        peer,
    };
    Ok((negotiated, reply))
}
