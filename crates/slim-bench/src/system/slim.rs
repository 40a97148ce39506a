//! SLIM through this project's data-plane client (`slim_client::dataplane`), the code an
//! application runs. The same adapter drives our node and upstream's: they speak one wire.
//!
//! Messages are prepared once as [`Frame`]s and sent with `DataPlaneClient::send_frame`
//! (a shared-bytes clone per send), as an application that repeats a message would; the
//! link's writer still signs every frame with the hop's header MAC.

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use slim_client::dataplane::{DataPlaneClient, DataPlaneConfig, Inbox};
use slim_wire::{Frame, FrameKind, InstanceId, Name, NameKey, builders};
use tokio::task::JoinSet;

use super::{Address, Delivery};

/// Fanout that asks a node to deliver to every match (what upstream's sessions use for
/// group traffic).
const BROADCAST_FANOUT: u32 = 256;

/// Frames the client buffers for the scenario before it stops reading its link.
const INBOX_CAPACITY: usize = 8192;

/// Frames taken from the inbox per wake-up.
const RECV_BATCH: usize = 1024;

/// Subscriptions waiting for their acknowledgements at once while filling tables.
const SUBSCRIBES_IN_FLIGHT: usize = 256;

type Joined = Option<Result<Result<u64>, tokio::task::JoinError>>;

fn joined(result: Joined) -> Result<()> {
    match result {
        None => Ok(()),
        Some(Ok(Ok(_))) => Ok(()),
        Some(Ok(Err(error))) => Err(error),
        Some(Err(error)) => Err(anyhow::anyhow!("subscription task failed: {error}")),
    }
}

fn name(address: &Address) -> Result<Name> {
    let name = Name::new("bench", &address.run, &address.service)
        .with_context(|| format!("invalid name for service `{}`", address.service))?;
    Ok(match address.id {
        Some(id) => name.with_id(InstanceId(u128::from(id))),
        None => name,
    })
}

/// A connected SLIM client.
pub struct SlimClient {
    client: DataPlaneClient,
    inbox: Option<Inbox>,
    me: Name,
    /// Reply frames by requester, built on first use (replies repeat the same bytes).
    replies: HashMap<NameKey, Frame>,
}

impl SlimClient {
    pub(super) async fn connect(endpoint: &str, me: Address) -> Result<Self> {
        let me = name(&me)?;
        let mut config = DataPlaneConfig::new(endpoint, me.clone());
        config.inbox_capacity = INBOX_CAPACITY;
        // A benchmark reports a lost link instead of hiding it behind a reconnect.
        config.reconnect = false;
        let (client, inbox) = DataPlaneClient::connect(config)
            .await
            .with_context(|| format!("connecting to {endpoint}"))?;
        Ok(SlimClient {
            client,
            inbox: Some(inbox),
            me,
            replies: HashMap::new(),
        })
    }

    pub(super) async fn subscribe_self(&mut self) -> Result<()> {
        self.client
            .subscribe(&self.me)
            .await
            .with_context(|| format!("subscribing {}", self.me))?;
        Ok(())
    }

    pub(super) async fn subscribe_many(&mut self, prefix: &str, count: u32) -> Result<()> {
        let [_, run, _] = self.me.components().unwrap_or(["", "", ""]);
        let mut pending = JoinSet::new();
        for k in 0..count {
            while pending.len() >= SUBSCRIBES_IN_FLIGHT {
                joined(pending.join_next().await)?;
            }
            let name = name(&Address::instance(
                run,
                &format!("{prefix}{k}"),
                u64::from(k),
            ))?;
            let client = self.client.clone();
            pending.spawn(async move {
                client
                    .subscribe(&name)
                    .await
                    .with_context(|| format!("subscribing {name}"))
            });
        }
        while let Some(result) = pending.join_next().await {
            joined(Some(result))?;
        }
        Ok(())
    }

    pub(super) fn take_receiver(&mut self) -> Option<SlimReceiver> {
        self.inbox.take().map(|inbox| SlimReceiver {
            inbox,
            batch: Vec::with_capacity(RECV_BATCH),
        })
    }

    /// Replies need nothing extra: they go to the publish's source, this client's name.
    pub(super) fn publisher(
        &self,
        to: &Address,
        delivery: Delivery,
        payload: Bytes,
    ) -> Result<SlimPublisher> {
        let (destination, fanout) = match delivery {
            Delivery::Anycast => (name(&to.any())?, 1),
            Delivery::Broadcast => (name(&to.any())?, BROADCAST_FANOUT),
            Delivery::Unicast => (name(to)?, 1),
        };
        let message = builders::publish(&self.me, &destination, fanout, "msg", payload);
        let frame = Frame::from_message(&message).context("building the publish frame")?;
        Ok(SlimPublisher {
            client: self.client.clone(),
            frame,
        })
    }

    pub(super) async fn reply(&mut self, request: &Frame, payload: &Bytes) -> Result<()> {
        let source = request.source().context("request without a source")?;
        let frame = match self.replies.get(&source) {
            Some(frame) => frame.clone(),
            None => {
                let to = request.source_name().context("request without a source")?;
                let message = builders::publish(&self.me, &to, 1, "msg", payload.clone());
                let frame = Frame::from_message(&message).context("building the reply")?;
                self.replies.insert(source, frame.clone());
                frame
            }
        };
        self.client.send_frame(frame).await.context("replying")
    }

    pub(super) fn close(self) {
        self.client.close();
    }
}

/// A prepared SLIM publish.
pub struct SlimPublisher {
    client: DataPlaneClient,
    frame: Frame,
}

impl SlimPublisher {
    pub(super) async fn send(&self) -> Result<()> {
        self.client
            .send_frame(self.frame.clone())
            .await
            .context("publishing")
    }
}

/// The inbox of a SLIM client.
pub struct SlimReceiver {
    inbox: Inbox,
    batch: Vec<Frame>,
}

impl SlimReceiver {
    pub(super) async fn count_some(&mut self) -> usize {
        // 0 means closed, so a batch without publishes is not returned as a count.
        loop {
            self.batch.clear();
            if self.inbox.recv_many(&mut self.batch, RECV_BATCH).await == 0 {
                return 0;
            }
            let publishes = self
                .batch
                .iter()
                .filter(|f| f.kind() == FrameKind::Publish)
                .count();
            if publishes > 0 {
                return publishes;
            }
        }
    }

    pub(super) async fn next(&mut self) -> Option<Frame> {
        loop {
            let frame = self.inbox.recv().await?;
            if frame.kind() == FrameKind::Publish {
                return Some(frame);
            }
        }
    }
}
