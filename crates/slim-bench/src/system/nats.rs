//! NATS through `async-nats`, driven with the same patterns as SLIM (see the table in the
//! parent module): queue groups for anycast, plain subscriptions for broadcast, a per-client
//! subject for replies.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use anyhow::{Context as _, Result};
use async_nats::{Subject, Subscriber};
use bytes::Bytes;
use tokio_stream::{Stream, StreamExt};

use super::{Address, Delivery};

/// Messages a subscription buffers before async-nats drops them as a slow consumer (they are
/// then reported as lost, as they are).
const SUBSCRIPTION_CAPACITY: usize = 1 << 16;

/// How long the subscription barrier waits for its probe.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(10);

/// Probe subjects must differ between clients of one run.
static PROBES: AtomicU64 = AtomicU64::new(0);

fn subject(address: &Address) -> String {
    match address.id {
        Some(id) => format!("bench.{}.{}.{id}", address.run, address.service),
        None => format!("bench.{}.{}", address.run, address.service),
    }
}

/// A connected NATS client.
pub struct NatsClient {
    client: async_nats::Client,
    me: Address,
    /// Every subscription made; the first is the one scenarios read, the others only hold
    /// names (dropping a subscriber unsubscribes it).
    subscribers: Vec<Subscriber>,
    taken: bool,
}

impl NatsClient {
    pub(super) async fn connect(endpoint: &str, me: Address) -> Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .connect(endpoint)
            .await
            .with_context(|| format!("connecting to {endpoint}"))?;
        Ok(NatsClient {
            client,
            me,
            subscribers: Vec::new(),
            taken: false,
        })
    }

    pub(super) async fn subscribe_self(&mut self, delivery: Delivery) -> Result<()> {
        let subscriber = match delivery {
            Delivery::Anycast => {
                self.client
                    .queue_subscribe(subject(&self.me.any()), "bench".to_owned())
                    .await
            }
            Delivery::Broadcast => self.client.subscribe(subject(&self.me.any())).await,
            Delivery::Unicast => self.client.subscribe(subject(&self.me)).await,
        }
        .context("subscribing")?;
        self.subscribers.push(subscriber);
        self.barrier().await
    }

    pub(super) async fn subscribe_many(&mut self, prefix: &str, count: u32) -> Result<()> {
        for k in 0..count {
            let other = Address::instance(&self.me.run, &format!("{prefix}{k}"), u64::from(k));
            let subscriber = self
                .client
                .subscribe(subject(&other))
                .await
                .context("subscribing")?;
            self.subscribers.push(subscriber);
        }
        self.barrier().await
    }

    /// Returns once the server has processed every subscription made so far: it handles a
    /// connection's commands in order, so a probe published after them and received back
    /// proves they are in place (`flush` only empties the client's socket buffer).
    async fn barrier(&mut self) -> Result<()> {
        let probe = format!(
            "bench.{}.probe.{}",
            self.me.run,
            PROBES.fetch_add(1, Ordering::Relaxed)
        );
        let mut subscriber = self.client.subscribe(probe.clone()).await?;
        self.client.publish(probe, Bytes::new()).await?;
        tokio::time::timeout(BARRIER_TIMEOUT, subscriber.next())
            .await
            .context("the NATS server did not echo the subscription probe")?
            .context("connection closed during the subscription probe")?;
        Ok(())
    }

    pub(super) fn take_receiver(&mut self) -> Option<NatsReceiver> {
        if self.taken || self.subscribers.is_empty() {
            return None;
        }
        self.taken = true;
        Some(NatsReceiver {
            subscriber: self.subscribers.remove(0),
        })
    }

    pub(super) fn publisher(
        &self,
        to: &Address,
        delivery: Delivery,
        payload: Bytes,
        wants_reply: bool,
    ) -> NatsPublisher {
        let to = match delivery {
            Delivery::Anycast | Delivery::Broadcast => to.any(),
            Delivery::Unicast => to.clone(),
        };
        NatsPublisher {
            client: self.client.clone(),
            subject: Subject::from(subject(&to)),
            reply: wants_reply.then(|| Subject::from(subject(&self.me))),
            payload,
        }
    }

    pub(super) async fn reply(
        &mut self,
        request: &async_nats::Message,
        payload: &Bytes,
    ) -> Result<()> {
        let reply = request
            .reply
            .clone()
            .context("request without a reply subject")?;
        self.client
            .publish(reply, payload.clone())
            .await
            .context("replying")
    }

    pub(super) async fn flush(&self) -> Result<()> {
        self.client.flush().await.context("flushing")
    }
}

/// A prepared NATS publish; replies, if asked for, go to the publishing client's own subject.
pub struct NatsPublisher {
    client: async_nats::Client,
    subject: Subject,
    reply: Option<Subject>,
    payload: Bytes,
}

impl NatsPublisher {
    pub(super) async fn send(&self) -> Result<()> {
        let subject = self.subject.clone();
        let payload = self.payload.clone();
        match &self.reply {
            Some(reply) => {
                self.client
                    .publish_with_reply(subject, reply.clone(), payload)
                    .await
            }
            None => self.client.publish(subject, payload).await,
        }
        .context("publishing")
    }
}

/// The first subscription of a NATS client.
pub struct NatsReceiver {
    subscriber: Subscriber,
}

impl NatsReceiver {
    pub(super) async fn count_some(&mut self) -> usize {
        match self.subscriber.next().await {
            None => 0,
            Some(_) => {
                // Take what is already buffered without another wake-up.
                let mut n = 1;
                while n < 1024 {
                    let step = std::future::poll_fn(|cx| {
                        Poll::Ready(Pin::new(&mut self.subscriber).poll_next(cx))
                    })
                    .await;
                    match step {
                        Poll::Ready(Some(_)) => n += 1,
                        _ => break,
                    }
                }
                n
            }
        }
    }

    pub(super) async fn next(&mut self) -> Option<async_nats::Message> {
        self.subscriber.next().await
    }
}
