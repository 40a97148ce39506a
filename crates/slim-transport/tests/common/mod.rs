//! Shared helpers of the transport's in-process tests: a server whose links arrive on a
//! channel, frame builders, a raw gRPC client that speaks prost messages or arbitrary bytes,
//! and a throwaway PKI.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use slim_transport::codec::OPEN_CHANNEL_PATH;
use slim_transport::negotiate::ConnectionType;
use slim_transport::{
    ClientConfig, Link, LinkHandler, LinkWork, LocalNode, OutFrame, Server, ServerConfig, dial,
};
use slim_wire::{Frame, Name, builders, proto};
use tokio::sync::mpsc;

/// Hands accepted links to the test.
pub struct Collect(pub mpsc::UnboundedSender<Link>);

impl LinkHandler for Collect {
    fn on_link(&self, link: Link) -> LinkWork {
        let _ = self.0.send(link);
        Box::pin(async {})
    }
}

/// A running server and the links it accepts.
pub struct TestServer {
    pub endpoint: String,
    pub links: mpsc::UnboundedReceiver<Link>,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(config: ServerConfig, local: LocalNode) -> TestServer {
        let (tx, links) = mpsc::unbounded_channel();
        let server = Server::bind(config, local, Arc::new(Collect(tx)))
            .await
            .expect("bind");
        let endpoint = server.local_endpoint().to_owned();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            server
                .serve(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        TestServer {
            endpoint,
            links,
            stop: Some(stop),
            task,
        }
    }

    pub async fn plain() -> TestServer {
        TestServer::start(ServerConfig::with_endpoint("127.0.0.1:0"), node("server")).await
    }

    /// The next accepted link, within a bounded wait.
    pub async fn accept(&mut self) -> Link {
        tokio::time::timeout(Duration::from_secs(10), self.links.recv())
            .await
            .expect("no link accepted in time")
            .expect("server gone")
    }
}

/// Dials an edge link (the kind applications open).
pub async fn dial_edge(config: &ClientConfig, local: &LocalNode) -> Link {
    dial(config, local, ConnectionType::Edge)
        .await
        .expect("dial")
}

/// Sends a publish carrying `payload` on `from` and checks that `to` receives it, within a
/// bounded wait.
pub async fn carries(from: &Link, to: &mut Link, payload: &'static [u8]) {
    from.sender
        .send(OutFrame::as_is(publish(payload)))
        .await
        .expect("send");
    let frame = tokio::time::timeout(Duration::from_secs(10), to.receiver.recv())
        .await
        .expect("nothing received in time")
        .expect("link ended");
    assert_eq!(payload_of(&frame), Bytes::from_static(payload));
}

pub fn node(id: &str) -> LocalNode {
    LocalNode {
        node_id: id.into(),
        deployment_name: "test".into(),
        post_quantum: false,
    }
}

pub fn name(service: &str) -> Name {
    Name::new("org", "ns", service).unwrap()
}

pub fn publish_message(payload: &'static [u8]) -> proto::Message {
    builders::publish(
        &name("src"),
        &name("dst"),
        1,
        "msg",
        Bytes::from_static(payload),
    )
}

pub fn publish(payload: &'static [u8]) -> Frame {
    Frame::from_message(&publish_message(payload)).unwrap()
}

/// The application payload of a publish frame.
pub fn payload_of(frame: &Frame) -> Bytes {
    match frame.decode().unwrap().message_type {
        Some(proto::message::MessageType::Publish(p)) => match p.msg.unwrap().content_type {
            Some(proto::content::ContentType::AppPayload(app)) => app.blob,
            other => panic!("unexpected content {other:?}"),
        },
        other => panic!("not a publish: {other:?}"),
    }
}

/// A codec for raw message bytes: what an arbitrary (or broken) peer can put on the wire.
#[derive(Clone, Default)]
pub struct RawCodec;

pub struct RawEncoder;
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
        use bytes::BufMut;
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
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// A hand-driven gRPC stream: send raw bytes, read raw bytes.
pub struct RawPeer {
    pub tx: mpsc::Sender<Bytes>,
    pub rx: tonic::Streaming<Bytes>,
}

/// Opens `OpenChannel` on `endpoint` (h2c) after queueing `first` messages, and waits for
/// the response headers. Err = the server refused the stream.
pub async fn raw_open(endpoint: &str, first: Vec<Bytes>) -> Result<RawPeer, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    for bytes in first {
        tx.send(bytes).await.unwrap();
    }
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let response = grpc
        .streaming(
            tonic::Request::new(stream),
            http::uri::PathAndQuery::from_static(OPEN_CHANNEL_PATH),
            RawCodec,
        )
        .await?;
    Ok(RawPeer {
        tx,
        rx: response.into_inner(),
    })
}

/// The status a server refused a stream with: the response status, or the one ending the
/// stream before any message (servers send headers first and negotiate afterwards).
pub async fn refusal(opened: Result<RawPeer, tonic::Status>) -> tonic::Status {
    match opened {
        Err(status) => status,
        Ok(mut peer) => match peer.rx.message().await {
            Err(status) => status,
            Ok(message) => panic!("stream was not refused: got {message:?}"),
        },
    }
}

pub fn encode(message: &proto::Message) -> Bytes {
    Bytes::from(message.encode_to_vec())
}

/// A CA and certificates it signed, as PEM files in a temporary directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let write = |file: &str, text: String| std::fs::write(dir.path().join(file), text).unwrap();

        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "slim test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        write("ca.pem", ca.pem());

        for (stem, names) in [
            (
                "server",
                vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            ),
            ("client", vec!["client.test".to_owned()]),
        ] {
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(names).unwrap();
            let cert = params.signed_by(&key, &ca).unwrap();
            write(&format!("{stem}.pem"), cert.pem());
            write(&format!("{stem}.key"), key.serialize_pem());
        }
        Pki { dir }
    }

    pub fn path(&self, file: &str) -> std::path::PathBuf {
        self.dir.path().join(file)
    }
}
