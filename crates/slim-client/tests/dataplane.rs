//! The data-plane client against a small fake node built on the transport: acknowledges
//! subscriptions (refusing service "refused"), records them, and echoes publishes back.

// A test crate: helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use slim_client::dataplane::{
    DataPlaneClient, DataPlaneConfig, SendError, SubscribeError, app_payload,
};
use slim_transport::config::BackoffConfig;
use slim_transport::{Link, LinkHandler, LinkWork, LocalNode, OutFrame, Server, ServerConfig};
use slim_wire::{Frame, FrameKind, Name, builders};
use tokio::task::JoinHandle;

/// What the fake node saw: (kind, subscribed service) per subscription frame.
type Log = Arc<Mutex<Vec<(FrameKind, String)>>>;

struct FakeNode {
    log: Log,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl LinkHandler for FakeNode {
    fn on_link(&self, link: Link) -> LinkWork {
        let log = self.log.clone();
        let task = tokio::spawn(async move {
            let Link {
                sender,
                mut receiver,
                ..
            } = link;
            while let Ok(frame) = receiver.recv().await {
                match frame.kind() {
                    FrameKind::Subscribe | FrameKind::Unsubscribe => {
                        let name = frame.destination_name().unwrap();
                        let service = name.components().unwrap()[2].to_owned();
                        log.lock().unwrap().push((frame.kind(), service.clone()));
                        let error = (service == "refused").then(|| "not allowed".to_owned());
                        let ack = builders::subscription_ack(frame.subscription_id(), error);
                        let ack = Frame::from_message(&ack).unwrap();
                        sender.send(OutFrame::as_is(ack)).await.unwrap();
                    }
                    FrameKind::Publish => sender.send(OutFrame::as_is(frame)).await.unwrap(),
                    _ => {}
                }
            }
        });
        self.tasks.lock().unwrap().push(task);
        Box::pin(async {})
    }
}

struct Running {
    endpoint: String,
    log: Log,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    stop: tokio::sync::oneshot::Sender<()>,
    serve: JoinHandle<()>,
}

async fn start(endpoint: &str) -> Running {
    let log = Log::default();
    let tasks = Arc::new(Mutex::new(Vec::new()));
    let handler = FakeNode {
        log: log.clone(),
        tasks: tasks.clone(),
    };
    let server = Server::bind(
        ServerConfig::with_endpoint(endpoint),
        LocalNode {
            node_id: "fake".into(),
            ..LocalNode::default()
        },
        Arc::new(handler),
    )
    .await
    .unwrap();
    let endpoint = server.local_endpoint().to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve = tokio::spawn(async move {
        server
            .serve(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Running {
        endpoint,
        log,
        tasks,
        stop,
        serve,
    }
}

impl Running {
    /// Stops accepting, closes every link and waits until the port is free.
    async fn kill(self) {
        let _ = self.stop.send(());
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        tokio::time::timeout(Duration::from_secs(10), self.serve)
            .await
            .expect("server did not stop")
            .unwrap();
    }

    fn seen(&self) -> Vec<(FrameKind, String)> {
        self.log.lock().unwrap().clone()
    }
}

fn name(service: &str) -> Name {
    Name::new("org", "ns", service).unwrap()
}

fn config(endpoint: &str) -> DataPlaneConfig {
    let mut config = DataPlaneConfig::new(endpoint, name("me"));
    config.link.backoff = BackoffConfig::Fixed {
        interval: Duration::from_millis(50),
        max_attempts: None,
    };
    config
}

#[tokio::test]
async fn subscribe_waits_for_the_ack_and_publishes_come_back() {
    let node = start("127.0.0.1:0").await;
    let (client, mut inbox) = DataPlaneClient::connect(config(&node.endpoint))
        .await
        .unwrap();
    assert!(client.is_connected());
    assert_eq!(client.generation(), 1);
    let id = client.subscribe(&name("topic")).await.unwrap();
    assert_ne!(id, 0);
    assert_eq!(node.seen(), [(FrameKind::Subscribe, "topic".to_owned())]);

    client
        .publish(&name("topic"), 1, Bytes::from_static(b"hello"))
        .await
        .unwrap();
    let frame = inbox.recv().await.unwrap();
    assert_eq!(app_payload(&frame).unwrap(), "hello");
    assert_eq!(frame.source().unwrap(), name("me").key());
}

#[tokio::test]
async fn refused_subscriptions_fail_and_unknown_unsubscribes_are_errors() {
    let node = start("127.0.0.1:0").await;
    let (client, _inbox) = DataPlaneClient::connect(config(&node.endpoint))
        .await
        .unwrap();
    assert_eq!(
        client.subscribe(&name("refused")).await,
        Err(SubscribeError::Refused("not allowed".into()))
    );
    assert_eq!(
        client.unsubscribe(&name("refused")).await,
        Err(SubscribeError::NotSubscribed)
    );
}

#[tokio::test]
async fn subscriptions_are_restored_after_the_node_restarts() {
    let node = start("127.0.0.1:0").await;
    let endpoint = node.endpoint.clone();
    let (client, mut inbox) = DataPlaneClient::connect(config(&endpoint)).await.unwrap();
    client.subscribe(&name("kept")).await.unwrap();
    client.subscribe(&name("dropped")).await.unwrap();
    client.unsubscribe(&name("dropped")).await.unwrap();

    let port_endpoint = endpoint.trim_start_matches("http://").to_owned();
    node.kill().await;
    // While the node is down, publishing fails fast instead of queueing forever.
    let mut saw_disconnected = false;
    for _ in 0..200 {
        if client.publish(&name("kept"), 1, Bytes::new()).await == Err(SendError::Disconnected) {
            saw_disconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(saw_disconnected);

    let node = start(&port_endpoint).await;
    assert_eq!(client.wait_generation(2, Duration::from_secs(20)).await, 2);
    // Only what is still subscribed comes back, without any call from the application.
    assert_eq!(node.seen(), [(FrameKind::Subscribe, "kept".to_owned())]);
    client
        .publish(&name("kept"), 1, Bytes::from_static(b"again"))
        .await
        .unwrap();
    let frame = loop {
        let frame = inbox.recv().await.unwrap();
        if app_payload(&frame).as_deref() == Some(b"again".as_slice()) {
            break frame;
        }
    };
    assert_eq!(frame.kind(), FrameKind::Publish);
}

#[tokio::test]
async fn closing_the_client_ends_the_inbox() {
    let node = start("127.0.0.1:0").await;
    let (client, mut inbox) = DataPlaneClient::connect(config(&node.endpoint))
        .await
        .unwrap();
    client.close();
    assert!(
        tokio::time::timeout(Duration::from_secs(10), inbox.recv())
            .await
            .unwrap()
            .is_none()
    );
}
