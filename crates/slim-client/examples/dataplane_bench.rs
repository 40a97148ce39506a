//! A quick load check of a running node with the data-plane client (not a test; the
//! project's benchmarks live in `slim-bench`).
//!
//! ```text
//! cargo run --release -p slim-client --example dataplane_bench -- http://127.0.0.1:46357 64 1000000
//! ```
//! Arguments: endpoint, payload size in bytes, message count. Prints forwarded messages per
//! second and bytes per second for one publisher and one subscriber through the node, then
//! round-trip latency percentiles of 10 000 64-byte ping-pongs.

use std::time::{Duration, Instant};

use bytes::Bytes;
use slim_client::dataplane::{DataPlaneClient, DataPlaneConfig};
use slim_wire::{Frame, InstanceId, Name, builders};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:46357".into());
    let size: usize = args.next().map_or(Ok(64), |s| s.parse())?;
    let count: usize = args.next().map_or(Ok(1_000_000), |s| s.parse())?;

    let sink = Name::new("bench", "ns", "sink")?.with_id(InstanceId(1));
    let source = Name::new("bench", "ns", "source")?.with_id(InstanceId(2));
    let mut config = DataPlaneConfig::new(&endpoint, sink.clone());
    config.inbox_capacity = 4096;
    let (subscriber, mut inbox) = DataPlaneClient::connect(config).await?;
    subscriber.subscribe(&sink).await?;
    let (publisher, mut replies) =
        DataPlaneClient::connect(DataPlaneConfig::new(&endpoint, source.clone())).await?;
    publisher.subscribe(&source).await?;

    let message = builders::publish(&source, &sink, 1, "msg", Bytes::from(vec![7u8; size]));
    let frame = Frame::from_message(&message)?;
    let receiver = tokio::spawn(async move {
        let mut got = 0usize;
        let mut batch = Vec::with_capacity(1024);
        let mut first = None;
        while got < count {
            batch.clear();
            let n = inbox.recv_many(&mut batch, 1024).await;
            if n == 0 {
                break;
            }
            first.get_or_insert_with(Instant::now);
            got += n;
        }
        (got, first.map(|f| f.elapsed()))
    });
    let start = Instant::now();
    for _ in 0..count {
        publisher.send_frame(frame.clone()).await?;
    }
    let (got, receiving) = receiver.await?;
    let elapsed = start.elapsed();
    let rate = got as f64 / elapsed.as_secs_f64();
    println!(
        "{size} B x {got}: {:.0} msg/s, {:.1} MB/s ({elapsed:?}; receiving {receiving:?})",
        rate,
        rate * size as f64 / 1e6
    );

    // Round trips: the subscriber echoes to the publisher.
    let (echo, mut echo_inbox) =
        DataPlaneClient::connect(DataPlaneConfig::new(&endpoint, sink.clone())).await?;
    drop(subscriber);
    echo.subscribe(&sink).await?;
    let ping = Frame::from_message(&builders::publish(
        &source,
        &sink,
        1,
        "msg",
        Bytes::from(vec![1u8; 64]),
    ))?;
    let pong = Frame::from_message(&builders::publish(
        &sink,
        &source,
        1,
        "msg",
        Bytes::from(vec![2u8; 64]),
    ))?;
    tokio::spawn(async move {
        while echo_inbox.recv().await.is_some() {
            if echo.send_frame(pong.clone()).await.is_err() {
                break;
            }
        }
    });
    // Wait until the echo subscription routes.
    loop {
        publisher.send_frame(ping.clone()).await?;
        if tokio::time::timeout(Duration::from_millis(200), replies.recv())
            .await
            .is_ok()
        {
            break;
        }
    }
    while replies.try_recv().is_some() {}
    let mut samples = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let sent = Instant::now();
        publisher.send_frame(ping.clone()).await?;
        replies.recv().await;
        samples.push(sent.elapsed());
    }
    samples.sort();
    println!(
        "64 B round trip: p50 {:?}, p99 {:?}",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100]
    );
    Ok(())
}
