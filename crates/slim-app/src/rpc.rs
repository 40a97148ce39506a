//! The RPC roles of the interop scenario (d): `rpc-server` and `rpc-client`, on `slim-rpc`.
//!
//! Both speak the service `interop.Echo` on raw bytes (`tests/interop/README.md`): `Say`
//! unary → `echo:` + request; `Count` server streaming, request = decimal N → `0` … `N-1`;
//! `Sum` client streaming → `<items>:<total bytes>`; `Chat` bidirectional echo; `Fail`
//! unary, request = gRPC code C → error C with message `interop failure C`.
//!
//! The server serves until SIGTERM/SIGINT or `--serve-for`, then reports its call counts
//! per method (`done` {`calls`}). It reports the first call of each method (`call`
//! {`method`, `metadata`, `deadline_remaining_s`}), or every call with `--report-each`.
//! The client runs the checks in the order of upstream's role app and exits 0 only if every
//! one passed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use slim_rpc::{
    CallOptions, Channel, Code, Context, Method, RawCodec, ResponseSink, Server, Status, Streaming,
};

use crate::common::{self, CommonArgs};
use crate::events::{self, emit};

/// Arguments of `rpc-server`.
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The RPC service name.
    #[arg(long, default_value = "interop.Echo")]
    pub service: String,
    /// Stop after this many seconds (default: until SIGTERM/SIGINT).
    #[arg(long)]
    pub serve_for: Option<f64>,
    /// Report every call, not only the first of each method.
    #[arg(long)]
    pub report_each: bool,
}

/// Arguments of `rpc-client` (0 disables a check).
#[derive(clap::Args, Debug)]
pub struct ClientArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The RPC server's name, org/ns/app.
    #[arg(long)]
    pub server: String,
    /// The RPC service name.
    #[arg(long, default_value = "interop.Echo")]
    pub service: String,
    /// Sequential `Say` calls (latency p50/p99).
    #[arg(long, default_value_t = 20)]
    pub unary: usize,
    /// `Say` calls at once on the same channel.
    #[arg(long, default_value_t = 20)]
    pub concurrent: usize,
    /// Items of the `Count` server stream.
    #[arg(long, default_value_t = 1000)]
    pub stream: usize,
    /// Items sent to `Sum`.
    #[arg(long, default_value_t = 100)]
    pub client_stream: usize,
    /// Items of the `Chat` bidirectional stream.
    #[arg(long, default_value_t = 100)]
    pub bidi: usize,
    /// gRPC code `Fail` must fail with (0 skips the check).
    #[arg(long, default_value_t = 5)]
    pub fail_code: i32,
    /// Timeout of each call, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub call_timeout: f64,
}

/// Caller metadata the client sends (the scenario checks it reaches the server).
const METADATA: (&str, &str) = ("x-interop", "slim-rs");

/// Counts calls per method and reports the first one of each (or all).
#[derive(Debug, Default)]
struct Calls {
    counts: Mutex<BTreeMap<String, u64>>,
    report_each: bool,
}

impl Calls {
    fn saw(&self, method: &str, context: &Context, fields: Value) {
        let n = {
            let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
            let n = counts.entry(method.to_owned()).or_default();
            *n += 1;
            *n
        };
        if !(self.report_each || n == 1) {
            return;
        }
        let metadata: Map<String, Value> = context
            .metadata()
            .iter()
            .filter(|(key, _)| !key.starts_with("slim"))
            .map(|(key, value)| (key.clone(), json!(value)))
            .collect();
        let mut event = json!({
            "method": method,
            "n": n,
            "metadata": metadata,
            "deadline_remaining_s": events::round(context.remaining().as_secs_f64(), 3),
        });
        if let (Value::Object(event), Value::Object(fields)) = (&mut event, fields) {
            event.extend(fields);
        }
        emit("call", event);
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn decimal<T: std::str::FromStr>(request: &[u8]) -> Result<T, Status> {
    std::str::from_utf8(request)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| Status::invalid_argument("expected a decimal number"))
}

fn echo_server(service: &str, calls: Arc<Calls>) -> Server {
    let method = |name: &'static str| Method::new(service.to_owned(), name);
    let (say, count, sum, chat, fail) = (
        calls.clone(),
        calls.clone(),
        calls.clone(),
        calls.clone(),
        calls,
    );
    Server::builder()
        .unary::<RawCodec, _, _>(method("Say"), move |request: Bytes, ctx: Context| {
            say.saw("Say", &ctx, json!({"size": request.len()}));
            async move { Ok(Bytes::from([&b"echo:"[..], &request].concat())) }
        })
        .server_streaming::<RawCodec, _, _>(
            method("Count"),
            move |request: Bytes, ctx: Context, mut sink: ResponseSink<Bytes>| {
                let calls = count.clone();
                async move {
                    let n: u64 = decimal(&request)?;
                    calls.saw("Count", &ctx, json!({"items": n}));
                    for i in 0..n {
                        sink.send(Bytes::from(i.to_string())).await?;
                    }
                    Ok(())
                }
            },
        )
        .client_streaming::<RawCodec, _, _>(
            method("Sum"),
            move |mut requests: Streaming<Bytes>, ctx: Context| {
                let calls = sum.clone();
                async move {
                    let (mut items, mut total) = (0usize, 0usize);
                    while let Some(item) = requests.message().await? {
                        items += 1;
                        total += item.len();
                    }
                    calls.saw("Sum", &ctx, json!({"items": items}));
                    Ok(Bytes::from(format!("{items}:{total}")))
                }
            },
        )
        .streaming::<RawCodec, _, _>(
            method("Chat"),
            move |mut requests: Streaming<Bytes>, ctx: Context, mut sink: ResponseSink<Bytes>| {
                let calls = chat.clone();
                async move {
                    let mut items = 0usize;
                    while let Some(item) = requests.message().await? {
                        items += 1;
                        sink.send(item).await?;
                    }
                    calls.saw("Chat", &ctx, json!({"items": items}));
                    Ok(())
                }
            },
        )
        .unary::<RawCodec, _, _>(method("Fail"), move |request: Bytes, ctx: Context| {
            let calls = fail.clone();
            async move {
                let number: i32 = decimal(&request)?;
                let code = Code::from_i32(number).unwrap_or(Code::Unknown);
                calls.saw("Fail", &ctx, json!({"code": code.name()}));
                Err::<Bytes, _>(Status::new(
                    code,
                    format!("interop failure {}", code.as_i32()),
                ))
            }
        })
        .build()
}

/// `rpc-server`: serves `interop.Echo` until told to stop.
pub async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let app = common::connect(&args.common).await?;
    let calls = Arc::new(Calls {
        report_each: args.report_each,
        ..Calls::default()
    });
    let server = echo_server(&args.service, calls.clone());
    let serving = {
        let (server, app) = (server.clone(), app.clone());
        tokio::spawn(async move { server.serve(app).await })
    };
    let mut ready = common::ready_fields(&app);
    if let Value::Object(fields) = &mut ready {
        fields.insert("service".into(), json!(args.service));
    }
    emit("ready", ready);

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    let serve_for = args.serve_for.map(common::secs);
    let stop_after = async {
        match serve_for {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        () = stop_after => {}
        served = serving => bail!("server stopped on its own: {served:?}"),
    }
    // Running calls are cancelled; a handler that ignores it must not hold the exit.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), server.shutdown()).await;
    let counts = calls.snapshot();
    let total: u64 = counts.values().sum();
    emit("done", json!({"calls": counts, "count": total}));
    app.close().await;
    Ok(())
}

/// `rpc-client`: calls every method of the server and checks the answers.
pub async fn client(args: ClientArgs) -> anyhow::Result<()> {
    let app = common::connect(&args.common).await?;
    let server = common::parse_name(&args.server)?;
    emit("ready", common::ready_fields(&app));
    let channel = Channel::new(app.clone(), server);
    let options = CallOptions::new()
        .with_timeout(common::secs(args.call_timeout))
        .with_metadata(METADATA.0, METADATA.1);
    let checks = Checks {
        channel: &channel,
        args: &args,
        options,
    };
    let mut ran = Vec::new();
    if args.unary > 0 {
        emit("unary", checks.unary().await?);
        ran.push("unary");
    }
    if args.concurrent > 0 {
        emit("concurrent", checks.concurrent().await?);
        ran.push("concurrent");
    }
    if args.stream > 0 {
        emit("stream", checks.stream().await?);
        ran.push("stream");
    }
    if args.client_stream > 0 {
        emit("client_stream", checks.client_stream().await?);
        ran.push("client_stream");
    }
    if args.bidi > 0 {
        emit("bidi", checks.bidi().await?);
        ran.push("bidi");
    }
    if args.fail_code != 0 {
        emit("fail", checks.fail().await?);
        ran.push("fail");
    }
    channel.close().await;
    app.close().await;
    emit("done", json!({"ok": true, "checks": ran}));
    Ok(())
}

struct Checks<'a> {
    channel: &'a Channel,
    args: &'a ClientArgs,
    options: CallOptions,
}

impl Checks<'_> {
    fn method(&self, name: &'static str) -> Method {
        Method::new(self.args.service.clone(), name)
    }

    async fn unary(&self) -> anyhow::Result<Value> {
        let say = self.method("Say");
        let mut latencies = Vec::with_capacity(self.args.unary);
        for i in 0..self.args.unary {
            let request = Bytes::from(format!("hello-{i}"));
            let started = Instant::now();
            let reply = self
                .channel
                .unary::<RawCodec>(&say, &request, &self.options)
                .await
                .with_context(|| format!("unary call {i}"))?;
            latencies.push(started.elapsed().as_secs_f64());
            if reply != [&b"echo:"[..], &request].concat() {
                bail!("unary reply mismatch: {reply:?} for {request:?}");
            }
        }
        // The first call also pays for the session setup: reported apart.
        let first = latencies.first().copied().unwrap_or_default();
        let mut rest = if latencies.len() > 1 {
            latencies[1..].to_vec()
        } else {
            latencies.clone()
        };
        let mut fields = events::percentiles(&mut rest);
        fields.insert("ok".into(), json!(true));
        fields.insert("count".into(), json!(self.args.unary));
        fields.insert("first_call_ms".into(), json!(events::round(first * 1e3, 3)));
        Ok(Value::Object(fields))
    }

    async fn concurrent(&self) -> anyhow::Result<Value> {
        let say = self.method("Say");
        let started = Instant::now();
        let calls = (0..self.args.concurrent).map(|i| {
            let say = &say;
            async move {
                let request = Bytes::from(format!("parallel-{i}"));
                let reply = self
                    .channel
                    .unary::<RawCodec>(say, &request, &self.options)
                    .await;
                (i, request, reply)
            }
        });
        let results = futures_util::future::join_all(calls).await;
        let elapsed = started.elapsed().as_secs_f64();
        for (i, request, reply) in results {
            let reply = reply.with_context(|| format!("concurrent call {i}"))?;
            if reply != [&b"echo:"[..], &request].concat() {
                bail!("concurrent reply {i} mismatch: {reply:?}");
            }
        }
        Ok(json!({"ok": true, "count": self.args.concurrent,
                  "elapsed_s": events::round(elapsed, 3)}))
    }

    async fn stream(&self) -> anyhow::Result<Value> {
        let n = self.args.stream;
        let started = Instant::now();
        let mut stream = self
            .channel
            .server_streaming::<RawCodec>(
                &self.method("Count"),
                &Bytes::from(n.to_string()),
                &self.options,
            )
            .await
            .context("Count")?;
        let mut items = 0usize;
        while let Some(item) = stream
            .message()
            .await
            .with_context(|| format!("stream failed after {items} items"))?
        {
            if item != items.to_string().as_bytes() {
                bail!("stream item {items} is {item:?}");
            }
            items += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        if items != n {
            bail!("stream ended after {items} of {n} items");
        }
        Ok(json!({"ok": true, "items": items, "in_order": true,
                  "elapsed_s": events::round(elapsed, 3),
                  "items_per_s": (elapsed > 0.0).then(|| events::round(items as f64 / elapsed, 1))}))
    }

    async fn client_stream(&self) -> anyhow::Result<Value> {
        let n = self.args.client_stream;
        let items: Vec<Bytes> = (0..n).map(|i| Bytes::from(format!("item-{i}"))).collect();
        let total: usize = items.iter().map(Bytes::len).sum();
        let reply = self
            .channel
            .client_streaming::<RawCodec, _>(
                &self.method("Sum"),
                futures_util::stream::iter(items),
                &self.options,
            )
            .await
            .context("Sum")?;
        let expected = format!("{n}:{total}");
        if reply != expected.as_bytes() {
            bail!("client-stream result {reply:?}, expected {expected}");
        }
        Ok(json!({"ok": true, "items": n, "reply": expected}))
    }

    async fn bidi(&self) -> anyhow::Result<Value> {
        let n = self.args.bidi;
        let sent: Vec<Bytes> = (0..n).map(|i| Bytes::from(format!("chat-{i}"))).collect();
        let mut replies = self
            .channel
            .streaming::<RawCodec, _>(
                &self.method("Chat"),
                futures_util::stream::iter(sent.clone()),
                &self.options,
            )
            .await
            .context("Chat")?;
        let mut got = Vec::with_capacity(n);
        while let Some(item) = replies.next().await {
            got.push(item.with_context(|| format!("bidi failed after {} items", got.len()))?);
        }
        if got != sent {
            bail!("bidi echoes missing or out of order: {} of {n}", got.len());
        }
        Ok(json!({"ok": true, "items": got.len(), "in_order": true}))
    }

    async fn fail(&self) -> anyhow::Result<Value> {
        let code = Code::from_i32(self.args.fail_code)
            .with_context(|| format!("--fail-code {} is not a gRPC code", self.args.fail_code))?;
        let result = self
            .channel
            .unary::<RawCodec>(
                &self.method("Fail"),
                &Bytes::from(code.as_i32().to_string()),
                &self.options,
            )
            .await;
        let error = match result {
            Ok(reply) => bail!("Fail call succeeded: {reply:?}"),
            Err(error) => error,
        };
        let expected = format!("interop failure {}", code.as_i32());
        if error.code() != code || error.message() != expected {
            bail!("wrong error from Fail: {error} (expected {code}: {expected})");
        }
        Ok(json!({"ok": true, "code": code.name(), "message": error.message()}))
    }
}
