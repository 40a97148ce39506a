//! `rpc`: SLIM RPC (`slim-rpc`) through a node — unary calls (calls/s, latency) and a
//! server stream (items/s) — between two applications, each with its own connection.
//!
//! The session is the one RPC channels use by default: reliable, with MLS (`--no-mls` to
//! measure without). Unary calls run
//! `--concurrency` at a time on one channel (so on one session), each timed from the call to
//! its decoded reply; the stream is one server-streaming call of `--items` messages of
//! `--size` bytes, timed from the call to the end of the stream. The JSON line's `msgs_per_s`
//! and `latency_us` are the unary figures; `rpc` holds both.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use slim_client::{App, AppConfig, Name, SessionConfig};
use slim_rpc::{
    CallOptions, Channel, ChannelConfig, Method, RawCodec, ResponseSink, Server, Status,
};

use super::{Memory, Run};
use crate::cli::{RpcArgs, System};
use crate::report::{Latency, Report, RpcFigures};

/// Histogram range: 1 ns to 60 s, three significant digits.
const HISTOGRAM_MAX_NS: u64 = 60_000_000_000;
/// Shared secret of the two applications (a benchmark, not a deployment).
const SECRET: &str = "slim-bench-rpc-shared-secret-of-at-least-32-bytes";
const SERVICE: &str = "bench.Rpc";

fn say() -> Method {
    Method::from_static(SERVICE, "Say")
}

fn count() -> Method {
    Method::from_static(SERVICE, "Count")
}

/// The server: `Say` echoes, `Count` streams N items of the request's size.
fn server(size: usize) -> Server {
    let item = Bytes::from(vec![0x5au8; size]);
    Server::builder()
        .unary::<RawCodec, _, _>(say(), |request: Bytes, _ctx| async move {
            Ok::<_, Status>(request)
        })
        .server_streaming::<RawCodec, _, _>(
            count(),
            move |request: Bytes, _ctx, mut sink: ResponseSink<Bytes>| {
                let item = item.clone();
                async move {
                    let n: u64 = std::str::from_utf8(&request)
                        .ok()
                        .and_then(|text| text.parse().ok())
                        .ok_or_else(|| Status::invalid_argument("expected a count"))?;
                    for _ in 0..n {
                        sink.send(item.clone()).await?;
                    }
                    Ok(())
                }
            },
        )
        .build()
}

async fn connect(endpoint: &str, name: Name) -> Result<App> {
    App::builder(name.clone())
        .shared_secret(SECRET)
        .config(AppConfig::new(endpoint.to_owned()))
        .connect()
        .await
        .with_context(|| format!("{name} cannot connect to {endpoint}"))
}

/// Runs the RPC scenario.
pub async fn run(run: &Run, args: &RpcArgs) -> Result<Report> {
    let common = &run.common;
    if common.system != System::Slim {
        bail!("the rpc scenario runs on SLIM only");
    }
    let mut memory = Memory::start(common.node_pid);
    let server_name = Name::new("bench", &run.id, "rpc-server")?;
    let server_app = connect(&run.sub_endpoints[0], server_name.clone()).await?;
    let server = server(common.size);
    {
        let server = server.clone();
        tokio::spawn(async move { server.serve(server_app).await });
    }
    let client_app = connect(
        &run.endpoints[0],
        Name::new("bench", &run.id, "rpc-client")?,
    )
    .await?;
    let mut config = ChannelConfig::default();
    if args.no_mls {
        config.session = SessionConfig::point_to_point();
    }
    let channel = Channel::with_config(client_app, server_name, config);
    let options = CallOptions::new().with_timeout(Duration::from_secs(30));
    channel.connect().await.context("RPC session")?;
    memory.loaded();
    let request = Bytes::from(vec![0x5au8; common.size]);

    // Warm-up: the session's round-trip estimate, allocator, caches.
    for _ in 0..args.warmup_calls {
        channel
            .unary::<RawCodec>(&say(), &request, &options)
            .await?;
    }

    let concurrency = args.concurrency.max(1);
    let per_worker = args.calls.div_ceil(concurrency as u64);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (channel, request, options) = (channel.clone(), request.clone(), options.clone());
        workers.spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_NS, 3)?;
            for _ in 0..per_worker {
                let call = Instant::now();
                let reply = channel
                    .unary::<RawCodec>(&say(), &request, &options)
                    .await?;
                histogram.saturating_record(call.elapsed().as_nanos() as u64);
                if reply.len() != request.len() {
                    bail!("reply of {} bytes to {}", reply.len(), request.len());
                }
            }
            anyhow::Ok(histogram)
        });
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_NS, 3)?;
    while let Some(joined) = workers.join_next().await {
        histogram.add(joined??)?;
    }
    let unary_elapsed = started.elapsed().as_secs_f64().max(f64::MIN_POSITIVE);
    memory.tick();

    let started = Instant::now();
    let mut stream = channel
        .server_streaming::<RawCodec>(&count(), &Bytes::from(args.items.to_string()), &options)
        .await?;
    let mut items = 0u64;
    while let Some(item) = stream.message().await? {
        if item.len() != common.size {
            bail!("stream item of {} bytes", item.len());
        }
        items += 1;
    }
    let stream_elapsed = started.elapsed().as_secs_f64().max(f64::MIN_POSITIVE);
    if items != args.items {
        bail!("stream ended after {items} of {} items", args.items);
    }
    channel.close().await;
    server.shutdown().await;

    let calls = histogram.len();
    let mut report = run.report("rpc", memory.finish());
    report.publishers = concurrency;
    report.subscribers = 1;
    report.sent = calls;
    report.expected = calls;
    report.delivered = calls;
    report.elapsed_s = unary_elapsed;
    report.msgs_per_s = calls as f64 / unary_elapsed;
    report.bytes_per_s = (calls * common.size as u64) as f64 / unary_elapsed;
    report.publish_rate = report.msgs_per_s;
    report.latency_us = (!histogram.is_empty()).then(|| Latency::from_nanos(&histogram));
    report.rpc = Some(RpcFigures {
        unary_calls: calls,
        unary_calls_per_s: calls as f64 / unary_elapsed,
        concurrency,
        stream_items: items,
        stream_elapsed_s: stream_elapsed,
        stream_items_per_s: items as f64 / stream_elapsed,
    });
    Ok(report)
}
