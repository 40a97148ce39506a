//! A raw gRPC peer on `OpenChannel` that sends arbitrary bytes: what a broken or hostile
//! client can put on the wire.

use bytes::{Buf, BufMut, Bytes};
use prost::Message as _;
use slim_wire::proto;
use tokio::sync::mpsc;

/// Passes message bytes through untouched.
#[derive(Debug, Clone, Default)]
pub struct RawCodec;

/// Encoder half of [`RawCodec`].
#[derive(Debug)]
pub struct RawEncoder;

/// Decoder half of [`RawCodec`].
#[derive(Debug)]
pub struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// An open raw stream.
#[derive(Debug)]
pub struct RawPeer {
    /// Messages to send.
    pub tx: mpsc::Sender<Bytes>,
    /// Messages received.
    pub rx: tonic::Streaming<Bytes>,
}

/// Opens `OpenChannel` on a plaintext `endpoint` with `first` already queued and waits for
/// the response headers. `Err` = the server refused the stream with that status.
pub async fn open(
    endpoint: &str,
    first: Vec<Bytes>,
) -> anyhow::Result<Result<RawPeer, tonic::Status>> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())?
        .connect()
        .await?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await?;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    for bytes in first {
        tx.send(bytes).await?;
    }
    let response = grpc
        .streaming(
            tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
            http::uri::PathAndQuery::from_static(slim_transport::codec::OPEN_CHANNEL_PATH),
            RawCodec,
        )
        .await;
    Ok(response.map(|r| RawPeer {
        tx,
        rx: r.into_inner(),
    }))
}

/// How a server refused a stream: the response status, or (servers answer headers first and
/// negotiate afterwards, as upstream's do) the status that ends the response stream before any
/// message. Panics when the stream was not refused.
pub async fn refusal(opened: Result<RawPeer, tonic::Status>) -> tonic::Status {
    match opened {
        Err(status) => status,
        Ok(mut peer) => match peer.rx.message().await {
            Err(status) => status,
            Ok(message) => panic!("stream was not refused: got {message:?}"),
        },
    }
}

/// A prost message as bytes.
pub fn encode(message: &proto::Message) -> Bytes {
    Bytes::from(message.encode_to_vec())
}
