//! The scenarios, and what they share: the run's identity and endpoints, the clients held
//! only to load the server (scaling), the phases of publishing and of waiting for delivery.
//!
//! Every scenario runs the same way: connect and subscribe everything (the node's memory is
//! read before and after), warm up with traffic that is not counted, then measure, then wait
//! until every expected delivery arrived or delivery stalled for `--drain-timeout`.
//!
//! Files: `stream.rs` runs the one-way scenarios (`pubsub`, `fanout`), `rtt.rs` the round
//! trips, `session/` the scenarios over `slim-client` sessions, `rpc.rs` SLIM RPC calls and
//! streams (`slim-rpc`).

mod rpc;
mod rtt;
mod session;
mod stream;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use rand::Rng as _;
use tokio::task::JoinSet;

use crate::cli::{Amount, Common, Scenario};
use crate::node_memory::{NodeMemory, Sampler};
use crate::report::{Report, loadavg};
use crate::system::{Address, Client, Delivery, Publisher};

/// Connections opened at once when many idle clients are wanted.
const CONNECTS_IN_FLIGHT: usize = 64;

/// How often the measuring loop updates the progress bar and samples memory.
const TICK: Duration = Duration::from_millis(50);

/// Publishers add to the shared sent counter every this many messages.
const COUNT_EVERY: u64 = 256;

/// Runs the scenario the command line asked for.
pub async fn run(scenario: &Scenario) -> Result<Report> {
    match scenario {
        Scenario::Pubsub(args) => {
            let run = Run::new(&args.common);
            let shape = stream::Shape {
                scenario: "pubsub",
                publishers: args.publishers.max(1),
                subscribers: args.subscribers.max(1),
                delivery: Delivery::Anycast,
            };
            stream::run(&run, shape).await
        }
        Scenario::Fanout(args) => {
            let run = Run::new(&args.common);
            let shape = stream::Shape {
                scenario: "fanout",
                publishers: 1,
                subscribers: args.subscribers.max(1),
                delivery: Delivery::Broadcast,
            };
            stream::run(&run, shape).await
        }
        Scenario::Rtt(args) => rtt::run(&Run::new(&args.common), args).await,
        Scenario::Session(args) => session::run(&Run::new(&args.common), args).await,
        Scenario::Rpc(args) => rpc::run(&Run::new(&args.common), args).await,
    }
}

/// One run: its random namespace, endpoints and options.
pub struct Run {
    /// The command-line options.
    pub common: Common,
    /// Namespace of every name and subject of this run.
    pub id: String,
    endpoints: Vec<String>,
    sub_endpoints: Vec<String>,
    started_load: String,
}

impl Run {
    fn new(common: &Common) -> Run {
        Run {
            common: common.clone(),
            id: format!("r{:08x}", rand::thread_rng().r#gen::<u32>()),
            endpoints: common.endpoints(),
            sub_endpoints: common.sub_endpoints(),
            started_load: loadavg(),
        }
    }

    /// Connects publishing client number `index` as instance `index + 1` of `service`.
    async fn connect_publisher(&self, service: &str, index: usize) -> Result<Client> {
        let endpoint = &self.endpoints[index % self.endpoints.len()];
        let me = Address::instance(&self.id, service, index as u64 + 1);
        Client::connect(self.common.system, endpoint, me).await
    }

    /// Connects receiving client number `index` as instance `index + 1` of `service`.
    async fn connect_subscriber(&self, service: &str, index: usize) -> Result<Client> {
        let endpoint = &self.sub_endpoints[index % self.sub_endpoints.len()];
        let me = Address::instance(&self.id, service, index as u64 + 1);
        Client::connect(self.common.system, endpoint, me).await
    }

    /// Connects the idle clients and the holder of extra subscriptions asked for; they stay
    /// connected as long as the returned clients live.
    async fn hold_extras(&self) -> Result<Vec<Client>> {
        let mut held = Vec::new();
        let mut connecting = JoinSet::new();
        for index in 0..self.common.idle_clients as usize {
            while connecting.len() >= CONNECTS_IN_FLIGHT {
                held.push(joined(connecting.join_next().await)?);
            }
            let endpoint = self.sub_endpoints[index % self.sub_endpoints.len()].clone();
            let me = Address::instance(&self.id, "idle", index as u64 + 1);
            let system = self.common.system;
            connecting.spawn(async move {
                let mut client = Client::connect(system, &endpoint, me).await?;
                client.subscribe(Delivery::Unicast).await?;
                anyhow::Ok(client)
            });
        }
        while let Some(result) = connecting.join_next().await {
            held.push(joined(Some(result))?);
        }
        if self.common.extra_subscriptions > 0 {
            let mut holder = self.connect_subscriber("holder", 0).await?;
            holder
                .subscribe_many("fill", self.common.extra_subscriptions)
                .await?;
            held.push(holder);
        }
        Ok(held)
    }

    /// A report with what every scenario fills the same way.
    fn report(&self, scenario: &'static str, memory: Option<NodeMemory>) -> Report {
        Report {
            scenario,
            system: self.common.system.as_str(),
            label: self.common.label.clone(),
            endpoints: self.endpoints.clone(),
            payload_bytes: self.common.size,
            publishers: 0,
            subscribers: 0,
            idle_clients: self.common.idle_clients,
            extra_subscriptions: self.common.extra_subscriptions,
            sent: 0,
            expected: 0,
            delivered: 0,
            lost: 0,
            elapsed_s: 0.0,
            msgs_per_s: 0.0,
            bytes_per_s: 0.0,
            publish_rate: 0.0,
            latency_us: None,
            session: None,
            rpc: None,
            node_memory: memory,
            loadavg: [self.started_load.clone(), loadavg()],
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            unix_time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

fn joined<T>(result: Option<Result<Result<T>, tokio::task::JoinError>>) -> Result<T> {
    match result {
        Some(Ok(result)) => result,
        Some(Err(error)) => Err(anyhow::anyhow!("task failed: {error}")),
        None => Err(anyhow::anyhow!("no task to join")),
    }
}

/// Publishes `amount` (split over the publishers when it is a count) from every publisher at
/// once. Returns what was sent and how long publishing took; `sent` is kept current for
/// progress, and `tick` is called every [`TICK`] meanwhile.
async fn publish_all(
    publishers: &[Arc<Publisher>],
    amount: Amount,
    sent: &Arc<AtomicU64>,
    mut tick: impl FnMut(),
) -> Result<(u64, Duration)> {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let workers = publishers.len() as u64;
    for (worker, publisher) in publishers.iter().enumerate() {
        let publisher = publisher.clone();
        let share = amount.share(worker as u64, workers);
        let sent = sent.clone();
        tasks.spawn(async move { publish_loop(&publisher, share, &sent).await });
    }
    let mut total = 0;
    let mut ticker = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(result) => total += result.context("publisher task failed")??,
            },
            _ = ticker.tick() => tick(),
        }
    }
    Ok((total, started.elapsed()))
}

async fn publish_loop(publisher: &Publisher, amount: Amount, sent: &AtomicU64) -> Result<u64> {
    let mut n = 0u64;
    match amount {
        Amount::Count(count) => {
            while n < count {
                let burst = COUNT_EVERY.min(count - n);
                for _ in 0..burst {
                    publisher.send().await?;
                }
                n += burst;
                sent.fetch_add(burst, Ordering::Relaxed);
            }
        }
        Amount::Duration(duration) => {
            let end = Instant::now() + duration;
            while Instant::now() < end {
                for _ in 0..COUNT_EVERY {
                    publisher.send().await?;
                }
                n += COUNT_EVERY;
                sent.fetch_add(COUNT_EVERY, Ordering::Relaxed);
            }
        }
    }
    Ok(n)
}

/// Deliveries counted by the receiving tasks.
#[derive(Debug)]
struct Deliveries {
    /// Every delivery since the receivers started (warm-up included).
    total: AtomicU64,
    /// When the last one arrived, in nanoseconds since `epoch`.
    last_ns: AtomicU64,
    epoch: Instant,
}

impl Deliveries {
    fn new() -> Arc<Deliveries> {
        Arc::new(Deliveries {
            total: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn add(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_ns.fetch_max(now, Ordering::Relaxed);
    }

    fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// When the last delivery arrived.
    fn last(&self) -> Instant {
        self.epoch + Duration::from_nanos(self.last_ns.load(Ordering::Relaxed))
    }

    /// Waits until `target` deliveries in total, or until none arrived for `stall`.
    /// `tick` is called every [`TICK`] with the total so far.
    async fn wait_for(&self, target: u64, stall: Duration, mut tick: impl FnMut(u64)) {
        let mut seen = self.total();
        let mut last_change = Instant::now();
        let mut ticker = tokio::time::interval(TICK);
        loop {
            let now_total = self.total();
            tick(now_total);
            if now_total >= target {
                return;
            }
            if now_total != seen {
                seen = now_total;
                last_change = Instant::now();
            } else if last_change.elapsed() >= stall {
                return;
            }
            ticker.tick().await;
        }
    }
}

/// Memory sampling that is a no-op without a node pid.
struct Memory(Option<Sampler>);

impl Memory {
    fn start(pid: Option<u32>) -> Memory {
        Memory(Sampler::start(pid))
    }
    fn loaded(&mut self) {
        if let Some(s) = &mut self.0 {
            s.loaded();
        }
    }
    fn tick(&mut self) {
        if let Some(s) = &mut self.0 {
            s.tick();
        }
    }
    fn finish(self) -> Option<NodeMemory> {
        self.0.map(Sampler::finish)
    }
}
