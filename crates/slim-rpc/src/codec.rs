//! [`Codec`]: how typed messages become frame payloads and back.
//!
//! Upstream SlimRPC puts protobuf-encoded messages in the payload, so generated code uses
//! [`ProstCodec`]; [`RawCodec`] passes bytes through (upstream's generic byte handlers, and
//! the interop role apps). A codec is a type, not a value: calls and handlers name it as a
//! type parameter and the library calls its associated functions.

use std::marker::PhantomData;

use bytes::Bytes;

use crate::status::Status;

/// Encodes the messages one side sends and decodes the ones it receives.
///
/// A client uses a codec whose `Encode` is the request and `Decode` the response; a server
/// the other way round.
pub trait Codec: Send + Sync + 'static {
    /// What this side sends.
    type Encode: Send + 'static;
    /// What this side receives.
    type Decode: Send + 'static;

    /// Encodes one outgoing message.
    fn encode(message: &Self::Encode) -> Result<Bytes, Status>;

    /// Decodes one incoming message; a payload that does not decode is
    /// [`crate::Code::InvalidArgument`] on a server and [`crate::Code::Internal`] on a client.
    fn decode(payload: Bytes) -> Result<Self::Decode, Status>;
}

/// Protobuf messages through prost.
pub struct ProstCodec<E, D>(PhantomData<fn(E) -> D>);

impl<E, D> Codec for ProstCodec<E, D>
where
    E: prost::Message + Send + 'static,
    D: prost::Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;

    fn encode(message: &E) -> Result<Bytes, Status> {
        Ok(Bytes::from(message.encode_to_vec()))
    }

    fn decode(payload: Bytes) -> Result<D, Status> {
        D::decode(payload).map_err(Status::from)
    }
}

/// Payloads as raw bytes, unchanged.
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;

    fn encode(message: &Bytes) -> Result<Bytes, Status> {
        Ok(message.clone())
    }

    fn decode(payload: Bytes) -> Result<Bytes, Status> {
        Ok(payload)
    }
}

/// A decoding function, kept by streams so they need not be generic over the codec.
pub(crate) type DecodeFn<T> = fn(Bytes) -> Result<T, Status>;
/// An encoding function, kept by sinks.
pub(crate) type EncodeFn<T> = fn(&T) -> Result<Bytes, Status>;
