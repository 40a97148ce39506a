//! The dialer's side of link negotiation.

use ml_kem::kem::{Decapsulate, DecapsulationKey};
use ml_kem::{EncodedSizeUser, KemCore, MlKem768, MlKem768Params};
use rand_core::CryptoRngCore;
use slim_wire::proto;

use super::{
    ConnectionType, MLKEM768_CT_LEN, Negotiated, NegotiationError, PeerInfo, derive_mac_key,
    payload_of, x25519_public, x25519_shared,
};

/// What the dialer announces and requires.
#[derive(Debug, Clone)]
pub struct ClientLinkParams {
    /// The link id to propose; `None` picks a random UUIDv4.
    pub link_id: Option<String>,
    /// The connection type to ask for.
    pub connection_type: ConnectionType,
    /// Our node id (empty for applications).
    pub node_id: String,
    /// Our deployment name.
    pub deployment_name: String,
    /// Offer (and require) a hybrid X25519 + ML-KEM-768 key.
    pub post_quantum: bool,
    /// Refuse a listener that sends no X25519 key (strict mode, the default).
    pub require_header_mac: bool,
}

/// A negotiation in progress on the dialing side: [`ClientHandshake::request`] goes out first,
/// [`ClientHandshake::finish`] consumes the listener's reply.
pub struct ClientHandshake {
    params: ClientLinkParams,
    link_id: String,
    secret: x25519_dalek::EphemeralSecret,
    public: x25519_dalek::PublicKey,
    kem: Option<(DecapsulationKey<MlKem768Params>, Vec<u8>)>,
}

impl std::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("link_id", &self.link_id)
            .field("post_quantum", &self.kem.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Generates the ephemeral keys (and the link id when none is configured).
    pub fn new(params: ClientLinkParams, rng: &mut impl CryptoRngCore) -> Self {
        let link_id = params.link_id.clone().unwrap_or_else(|| {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .to_string()
        });
        let secret = x25519_dalek::EphemeralSecret::random_from_rng(&mut *rng);
        let public = x25519_dalek::PublicKey::from(&secret);
        let kem = params.post_quantum.then(|| {
            let (dk, ek) = MlKem768::generate(rng);
            (dk, ek.as_bytes().to_vec())
        });
        ClientHandshake {
            params,
            link_id,
            secret,
            public,
            kem,
        }
    }

    /// The link id this handshake proposes.
    pub fn link_id(&self) -> &str {
        &self.link_id
    }

    /// The request to send as the first message of the link.
    pub fn request(&self) -> proto::Message {
        slim_wire::builders::link_negotiation(proto::LinkNegotiationPayload {
            link_id: self.link_id.clone(),
            slim_version: slim_wire::WIRE_VERSION.to_owned(),
            is_reply: false,
            link_ecdh_public_key: bytes::Bytes::copy_from_slice(self.public.as_bytes()),
            connection_type: self.params.connection_type.to_proto() as i32,
            node_id: self.params.node_id.clone(),
            deployment_name: self.params.deployment_name.clone(),
            link_kem_payload: self
                .kem
                .as_ref()
                .map(|(_, ek)| bytes::Bytes::copy_from_slice(ek)),
            tcp_nodelay: true,
        })
    }

    /// Checks the listener's reply and derives the MAC key.
    pub fn finish(self, reply: &proto::Message) -> Result<Negotiated, NegotiationError> {
        let payload = payload_of(reply).ok_or(NegotiationError::NotNegotiation)?;
        if !payload.is_reply {
            return Err(NegotiationError::WrongDirection { is_reply: false });
        }
        if payload.link_id != self.link_id {
            return Err(NegotiationError::LinkIdMismatch {
                expected: self.link_id,
                got: payload.link_id.clone(),
            });
        }
        if self.params.connection_type == ConnectionType::Peer
            && !self.params.node_id.is_empty()
            && payload.node_id == self.params.node_id
        {
            return Err(NegotiationError::SelfLink(payload.node_id.clone()));
        }
        let peer = PeerInfo {
            node_id: payload.node_id.clone(),
            deployment_name: payload.deployment_name.clone(),
            slim_version: payload.slim_version.clone(),
            nodelay: payload.tcp_nodelay,
        };
        let kem_payload = payload.link_kem_payload.as_deref();

        if payload.link_ecdh_public_key.is_empty() {
            if self.params.require_header_mac {
                return Err(NegotiationError::MissingKey);
            }
            if self.kem.is_some() {
                return Err(NegotiationError::MissingKem);
            }
            return Ok(self.negotiated(None, false, peer));
        }
        let their_public = x25519_public(&payload.link_ecdh_public_key)?;
        let x25519 = x25519_shared(self.secret, &their_public)?;

        let key = match (&self.kem, kem_payload) {
            (None, None) => derive_mac_key(&self.link_id, &x25519, None),
            (None, Some(unasked)) => return Err(NegotiationError::BadKem { len: unasked.len() }),
            (Some(_), None) => return Err(NegotiationError::MissingKem),
            (Some((dk, _)), Some(ct)) => {
                if ct.len() != MLKEM768_CT_LEN {
                    return Err(NegotiationError::BadKem { len: ct.len() });
                }
                let ciphertext = ml_kem::Ciphertext::<MlKem768>::try_from(ct)
                    .map_err(|_| NegotiationError::BadKem { len: ct.len() })?;
                let shared = dk
                    .decapsulate(&ciphertext)
                    .map_err(|()| NegotiationError::BadKem { len: ct.len() })?;
                derive_mac_key(&self.link_id, &x25519, Some(shared.as_slice()))
            }
        };
        let hybrid = self.kem.is_some();
        Ok(Negotiated {
            link_id: self.link_id,
            connection_type: self.params.connection_type,
            mac_key: Some(key),
            hybrid,
            peer,
        })
    }

    fn negotiated(
        self,
        mac_key: Option<crate::mac::MacKey>,
        hybrid: bool,
        peer: PeerInfo,
    ) -> Negotiated {
        Negotiated {
            link_id: self.link_id,
            connection_type: self.params.connection_type,
            mac_key,
            hybrid,
            peer,
        }
    }
}
