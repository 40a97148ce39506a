//! Round trips over a point-to-point session through a running node: one application
//! echoes, the other sends one message at a time and waits for its echo. Prints p50/p99 for
//! reliable sessions with MLS off and on, and fire-and-forget.
//!
//! ```text
//! target/release/slim &        # a node on 127.0.0.1:46357
//! cargo run --release -p slim-client --example session_rtt -- http://127.0.0.1:46357 2000
//! ```

use std::time::{Duration, Instant};

use slim_client::{App, SessionConfig};

const SECRET: &str = "session-rtt-example-secret-of-32-bytes!";

async fn measure(
    endpoint: &str,
    label: &str,
    config: SessionConfig,
    rounds: usize,
) -> anyhow::Result<()> {
    let tag = format!("{:x}", rand_tag());
    let bob_name = slim_client::Name::new("rtt", &tag, "bob")?;
    let bob = App::builder(bob_name.clone())
        .shared_secret(SECRET)
        .endpoint(endpoint)
        .connect()
        .await?;
    let alice = App::builder(slim_client::Name::new("rtt", &tag, "alice")?)
        .shared_secret(SECRET)
        .endpoint(endpoint)
        .connect()
        .await?;
    let echo = tokio::spawn(async move {
        let session = bob.accept().await?;
        while let Some(Ok(message)) = session.recv().await {
            session.publish_detached(message.payload).await?;
        }
        anyhow::Ok(())
    });
    let session = alice.create_session(config, bob_name).await?;
    let payload = bytes::Bytes::from(vec![7u8; 64]);
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + 100 {
        let start = Instant::now();
        session.publish_detached(payload.clone()).await?;
        let reply = session
            .recv()
            .await
            .ok_or_else(|| anyhow::anyhow!("closed"))??;
        if round >= 100 {
            samples.push(start.elapsed());
        }
        drop(reply);
    }
    samples.sort();
    let pick = |q: f64| samples[((q * samples.len() as f64) as usize).min(samples.len() - 1)];
    println!(
        "{label:<32} p50 {:>8.1} µs   p99 {:>8.1} µs   ({rounds} round trips, 64 B)",
        micros(pick(0.50)),
        micros(pick(0.99))
    );
    session.close().await?;
    alice.close().await;
    let _ = echo.await;
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn rand_tag() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:46357".into());
    let rounds: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(2000);
    measure(
        &endpoint,
        "reliable, MLS off",
        SessionConfig::point_to_point(),
        rounds,
    )
    .await?;
    measure(
        &endpoint,
        "reliable, MLS on",
        SessionConfig::point_to_point().with_mls(),
        rounds,
    )
    .await?;
    measure(
        &endpoint,
        "fire-and-forget, MLS off",
        SessionConfig::point_to_point().with_reliability(None),
        rounds,
    )
    .await?;
    Ok(())
}
