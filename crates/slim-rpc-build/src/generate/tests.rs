//! The generated text for a service with one method of each pattern.

use prost_build::{Comments, Method, Service, ServiceGenerator as _};

use super::ServiceGenerator;

fn method(name: &str, proto: &str, client_streaming: bool, server_streaming: bool) -> Method {
    Method {
        name: name.into(),
        proto_name: proto.into(),
        comments: Comments::default(),
        input_type: "Request".into(),
        output_type: "Reply".into(),
        input_proto_type: ".demo.Request".into(),
        output_proto_type: ".demo.Reply".into(),
        options: Default::default(),
        client_streaming,
        server_streaming,
    }
}

fn service() -> Service {
    Service {
        name: "Tools".into(),
        proto_name: "Tools".into(),
        package: "demo.v1".into(),
        comments: Comments {
            leading: vec![" Tools an agent can run.".into()],
            ..Comments::default()
        },
        methods: vec![
            method("execute_tool", "ExecuteTool", false, false),
            method("watch", "Watch", false, true),
            method("upload", "Upload", true, false),
            method("chat", "Chat", true, true),
        ],
        options: Default::default(),
    }
}

fn generate(client: bool, server: bool) -> String {
    let mut buf = String::new();
    ServiceGenerator::new(client, server).generate(service(), &mut buf);
    buf
}

#[test]
fn the_client_has_a_method_per_rpc_with_wire_names_from_the_proto() {
    let code = generate(true, false);
    assert!(code.contains("pub struct ToolsClient"));
    assert!(code.contains("pub const SERVICE: &'static str = \"demo.v1.Tools\";"));
    assert!(code.contains("pub async fn execute_tool(&self, request: Request)"));
    assert!(code.contains("Method::from_static(\"demo.v1.Tools\", \"ExecuteTool\")"));
    assert!(code.contains("pub async fn watch_with(&self, request: Request, options"));
    assert!(code.contains("Result<::slim_rpc::Streaming<Reply>, ::slim_rpc::Status>"));
    assert!(code.contains("pub async fn upload<S: ::slim_rpc::__private::Stream<Item = Request>"));
    assert!(code.contains("client_streaming::<::slim_rpc::ProstCodec<Request, Reply>, S>"));
    assert!(code.contains("/// Tools an agent can run."));
    assert!(!code.contains("pub trait Tools"));
}

#[test]
fn the_server_trait_and_wrapper_register_every_pattern() {
    let code = generate(false, true);
    assert!(!code.contains("ToolsClient"));
    assert!(code.contains("pub trait Tools: ::core::marker::Send"));
    assert!(
        code.contains("fn execute_tool(&self, request: Request, context: ::slim_rpc::Context)")
    );
    assert!(code.contains(
        "fn chat(&self, requests: ::slim_rpc::Streaming<Request>, context: ::slim_rpc::Context, sink: ::slim_rpc::ResponseSink<Reply>)"
    ));
    assert!(code.contains("impl<T: Tools> ::slim_rpc::Service for ToolsServer<T>"));
    for register in ["unary", "server_streaming", "client_streaming", "streaming"] {
        assert!(
            code.contains(&format!(
                "server.{register}::<::slim_rpc::ProstCodec<Reply, Request>, _, _>"
            )),
            "{register}"
        );
    }
}

#[test]
fn a_service_without_a_package_is_named_by_itself() {
    let mut service = service();
    service.package.clear();
    let mut buf = String::new();
    ServiceGenerator::new(true, true).generate(service, &mut buf);
    assert!(buf.contains("from_static(\"Tools\", \"Chat\")"));
}
