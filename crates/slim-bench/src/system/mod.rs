//! One vocabulary over two messaging systems, so every scenario drives SLIM and NATS with
//! the same message pattern.
//!
//! Scenarios speak of [`Address`]es (a service name plus an optional instance) and of a
//! [`Delivery`] (one subscriber, every subscriber, or one exact client). Each system maps them
//! to its own terms:
//!
//! | pattern | SLIM | NATS |
//! |---|---|---|
//! | subscriber address | its own name `bench/<run>/<service>` with its instance id | subject `bench.<run>.<service>` |
//! | [`Delivery::Anycast`] | publish to the any-instance name, fanout 1 | queue group `bench` |
//! | [`Delivery::Broadcast`] | publish to the any-instance name, fanout 256 | plain subscriptions |
//! | [`Delivery::Unicast`] | publish to the exact name | subject `bench.<run>.<service>.<id>` |
//! | reply | publish to the request's source name | publish to the request's reply subject |
//!
//! Files: this one holds the shared types and the enum dispatch; `slim.rs` and `nats.rs` the
//! two adapters.

mod nats;
mod slim;

use anyhow::Result;
use bytes::Bytes;

use crate::cli::System;

/// Where a client lives and what it subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Random per run, so runs against a long-lived node never see each other's traffic.
    pub run: String,
    /// The service (SLIM) or subject token (NATS).
    pub service: String,
    /// The client's instance; `None` addresses any instance.
    pub id: Option<u64>,
}

impl Address {
    /// The address of instance `id` of `service` in `run`.
    pub fn instance(run: &str, service: &str, id: u64) -> Self {
        Address {
            run: run.to_owned(),
            service: service.to_owned(),
            id: Some(id),
        }
    }

    /// The same service, any instance.
    pub fn any(&self) -> Self {
        Address {
            id: None,
            ..self.clone()
        }
    }
}

/// Who receives a message published to an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// One of the subscribers of the service.
    Anycast,
    /// Every subscriber of the service.
    Broadcast,
    /// Exactly the addressed instance.
    Unicast,
}

/// A connected client of either system.
pub enum Client {
    /// Through `slim_client::dataplane`.
    Slim(slim::SlimClient),
    /// Through `async_nats`.
    Nats(nats::NatsClient),
}

/// A prepared publish: the same message sent again and again.
pub enum Publisher {
    /// A SLIM frame built once; each send is a cheap clone.
    Slim(slim::SlimPublisher),
    /// A NATS subject and payload (boxed: a SLIM frame is one pointer, so this variant would
    /// size the enum).
    Nats(Box<nats::NatsPublisher>),
}

/// The receiving end of a client.
pub enum Receiver {
    /// The SLIM client's inbox.
    Slim(slim::SlimReceiver),
    /// The NATS subscription.
    Nats(nats::NatsReceiver),
}

/// A received message, kept only as long as it takes to answer it.
pub enum Incoming {
    /// A SLIM publish frame.
    Slim(slim_wire::Frame),
    /// A NATS message.
    Nats(async_nats::Message),
}

impl Client {
    /// Connects to `endpoint` as the client at `me`.
    pub async fn connect(system: System, endpoint: &str, me: Address) -> Result<Client> {
        Ok(match system {
            System::Slim => Client::Slim(slim::SlimClient::connect(endpoint, me).await?),
            System::Nats => Client::Nats(nats::NatsClient::connect(endpoint, me).await?),
        })
    }

    /// Subscribes to this client's own address, receiving publishes made with `delivery`,
    /// and returns once the server has the subscription (SLIM: acknowledged; NATS: flushed).
    pub async fn subscribe(&mut self, delivery: Delivery) -> Result<()> {
        match self {
            Client::Slim(c) => c.subscribe_self().await,
            Client::Nats(c) => c.subscribe_self(delivery).await,
        }
    }

    /// Subscribes to `count` further names (`<prefix>0`, `<prefix>1`, ...), only to fill the
    /// server's tables; returns once all are in place.
    pub async fn subscribe_many(&mut self, prefix: &str, count: u32) -> Result<()> {
        match self {
            Client::Slim(c) => c.subscribe_many(prefix, count).await,
            Client::Nats(c) => c.subscribe_many(prefix, count).await,
        }
    }

    /// The receiving end, once (later calls return `None`).
    pub fn take_receiver(&mut self) -> Option<Receiver> {
        match self {
            Client::Slim(c) => c.take_receiver().map(Receiver::Slim),
            Client::Nats(c) => c.take_receiver().map(Receiver::Nats),
        }
    }

    /// A publisher of `payload` to `to` with `delivery`. With `wants_reply`, answers come
    /// back to this client (SLIM always knows the source; NATS needs a reply subject).
    pub fn publisher(
        &self,
        to: &Address,
        delivery: Delivery,
        payload: Bytes,
        wants_reply: bool,
    ) -> Result<Publisher> {
        Ok(match self {
            Client::Slim(c) => Publisher::Slim(c.publisher(to, delivery, payload)?),
            Client::Nats(c) => {
                Publisher::Nats(Box::new(c.publisher(to, delivery, payload, wants_reply)))
            }
        })
    }

    /// Answers `request` with `payload` (to its sender).
    pub async fn reply(&mut self, request: &Incoming, payload: &Bytes) -> Result<()> {
        match (self, request) {
            (Client::Slim(c), Incoming::Slim(frame)) => c.reply(frame, payload).await,
            (Client::Nats(c), Incoming::Nats(message)) => c.reply(message, payload).await,
            _ => anyhow::bail!("a message of one system cannot be answered on another"),
        }
    }

    /// Waits until everything published so far has left this client.
    pub async fn flush(&self) -> Result<()> {
        match self {
            // The link's writer drains its queue on its own; nothing is held client-side
            // beyond that bounded queue.
            Client::Slim(_) => Ok(()),
            Client::Nats(c) => c.flush().await,
        }
    }

    /// Closes the connection.
    pub fn close(self) {
        match self {
            Client::Slim(c) => c.close(),
            Client::Nats(c) => drop(c),
        }
    }
}

impl Publisher {
    /// Sends the message once, waiting while the connection's queue is full.
    pub async fn send(&self) -> Result<()> {
        match self {
            Publisher::Slim(p) => p.send().await,
            Publisher::Nats(p) => p.send().await,
        }
    }
}

impl Receiver {
    /// Waits for messages and returns how many arrived (0 = the connection closed).
    pub async fn count_some(&mut self) -> usize {
        match self {
            Receiver::Slim(r) => r.count_some().await,
            Receiver::Nats(r) => r.count_some().await,
        }
    }

    /// The next message (`None` = the connection closed).
    pub async fn next(&mut self) -> Option<Incoming> {
        match self {
            Receiver::Slim(r) => r.next().await.map(Incoming::Slim),
            Receiver::Nats(r) => r.next().await.map(Incoming::Nats),
        }
    }
}
