//! The generated client and server trait of `example.tools.v1.Tools`, end to end through a
//! real `slim` node: every pattern, typed messages, errors, and the wire names.
//!
//! The node binary is `$SLIM_NODE_BIN`, or `slim` next to this test's deps folder (build it
//! with `cargo build -p slim-node --bin slim`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::StreamExt;
use slim_client::{App, AppConfig, Name};
use slim_rpc::{Channel, Code, Context, ResponseSink, Server, Status, Streaming};
use slim_rpc_example::tools::{
    ExecuteToolRequest, ExecuteToolResponse, Number, OutputLine, Tools, ToolsClient, ToolsServer,
};
use slim_testkit::{NodeProcess, NodeSpec};

const SECRET: &str = "rpc-codegen-test-secret-of-at-least-32-bytes";
const WAIT: Duration = Duration::from_secs(60);

/// The server side: an implementation of the generated trait.
struct ToolBox;

impl Tools for ToolBox {
    async fn execute_tool(
        &self,
        request: ExecuteToolRequest,
        context: Context,
    ) -> Result<ExecuteToolResponse, Status> {
        match request.tool.as_str() {
            "echo" => Ok(ExecuteToolResponse {
                exit_code: 0,
                output: request.args.join(" "),
            }),
            "whoami" => Ok(ExecuteToolResponse {
                exit_code: 0,
                output: format!("{} via {}", context.caller(), context.method()),
            }),
            other => Err(Status::not_found(format!("no such tool: {other}"))),
        }
    }

    async fn tail(
        &self,
        request: ExecuteToolRequest,
        _context: Context,
        mut sink: ResponseSink<OutputLine>,
    ) -> Result<(), Status> {
        let lines: u64 = request
            .args
            .first()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Status::invalid_argument("args[0] = number of lines"))?;
        for index in 0..lines {
            let text = format!("{} line {index}", request.tool);
            sink.send(OutputLine { index, text }).await?;
        }
        Ok(())
    }

    async fn sum(
        &self,
        mut requests: Streaming<Number>,
        _context: Context,
    ) -> Result<Number, Status> {
        let mut value = 0i64;
        while let Some(number) = requests.message().await? {
            value = value
                .checked_add(number.value)
                .ok_or_else(|| Status::out_of_range("sum overflows"))?;
        }
        Ok(Number { value })
    }

    async fn shout(
        &self,
        mut requests: Streaming<OutputLine>,
        _context: Context,
        mut sink: ResponseSink<OutputLine>,
    ) -> Result<(), Status> {
        while let Some(line) = requests.message().await? {
            sink.send(OutputLine {
                index: line.index,
                text: line.text.to_uppercase(),
            })
            .await?;
        }
        Ok(())
    }
}

async fn app(node: &NodeProcess, service: &str) -> App {
    let mut config = AppConfig::new(node.endpoint());
    config.link.backoff = slim_transport::config::BackoffConfig::Fixed {
        interval: Duration::from_millis(100),
        max_attempts: None,
    };
    App::builder(Name::new("org", "codegen", service).unwrap())
        .shared_secret(SECRET)
        .config(config)
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_client_calls_the_generated_server_in_every_pattern() {
    let mut spec = NodeSpec::new("rpc-codegen");
    spec.log_level = "warn".into();
    let node = NodeProcess::start(slim_testkit::slim_node_binary(), spec).unwrap();
    let server_app = app(&node, "tools").await;
    let server = Server::builder()
        .add_service(ToolsServer::new(ToolBox))
        .build();
    {
        let server = server.clone();
        tokio::spawn(async move { server.serve(server_app).await });
    }
    let client_app = app(&node, "agent").await;
    let channel = Channel::new(client_app, Name::new("org", "codegen", "tools").unwrap());
    let client = ToolsClient::new(channel).with_timeout(WAIT);
    assert_eq!(ToolsClient::SERVICE, "example.tools.v1.Tools");

    let response = client
        .execute_tool(ExecuteToolRequest {
            tool: "echo".into(),
            args: vec!["hello".into(), "world".into()],
        })
        .await
        .unwrap();
    assert_eq!(response.output, "hello world");
    let whoami = client
        .execute_tool(ExecuteToolRequest {
            tool: "whoami".into(),
            args: vec![],
        })
        .await
        .unwrap();
    assert!(
        whoami
            .output
            .ends_with("via example.tools.v1.Tools/ExecuteTool"),
        "{}",
        whoami.output
    );
    let missing = client
        .execute_tool(ExecuteToolRequest {
            tool: "rm".into(),
            args: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(missing.message(), "no such tool: rm");

    let mut lines = client
        .tail(ExecuteToolRequest {
            tool: "build".into(),
            args: vec!["25".into()],
        })
        .await
        .unwrap();
    let mut seen = 0u64;
    while let Some(line) = lines.message().await.unwrap() {
        assert_eq!(line.index, seen);
        assert_eq!(line.text, format!("build line {seen}"));
        seen += 1;
    }
    assert_eq!(seen, 25);

    let numbers = futures_util::stream::iter((1..=100).map(|value| Number { value }));
    assert_eq!(client.sum(numbers).await.unwrap().value, 5050);

    let shouts: Vec<OutputLine> = client
        .shout(futures_util::stream::iter((0..10).map(|index| {
            OutputLine {
                index,
                text: format!("quiet {index}"),
            }
        })))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(shouts.len(), 10);
    assert_eq!(shouts[3].text, "QUIET 3");

    // Per-call options override the client's defaults.
    let options = slim_rpc::CallOptions::new().with_timeout(Duration::from_secs(30));
    let echoed = client
        .execute_tool_with(
            ExecuteToolRequest {
                tool: "echo".into(),
                args: vec!["again".into()],
            },
            &options,
        )
        .await
        .unwrap();
    assert_eq!(echoed.output, "again");
}
