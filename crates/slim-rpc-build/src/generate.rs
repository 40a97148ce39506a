//! [`ServiceGenerator`]: writes the Rust code of one protobuf service — client, server
//! trait, server wrapper — as text into the file prost-build writes the messages to.
//!
//! The code goes at the level of the package's messages (no submodule), so the message types
//! prost-build names for a method's input and output resolve as they are. Every path into
//! other crates is absolute (`::slim_rpc::...`), so the generated code compiles wherever it
//! is included.

use std::fmt::Write as _;

use prost_build::{Method, Service};

/// Generates clients and server traits; plug it into your own `prost_build::Config` with
/// `config.service_generator(Box::new(ServiceGenerator::new(true, true)))`.
#[derive(Debug, Clone)]
pub struct ServiceGenerator {
    client: bool,
    server: bool,
}

impl ServiceGenerator {
    /// Generates clients and/or servers.
    pub fn new(client: bool, server: bool) -> Self {
        ServiceGenerator { client, server }
    }
}

impl prost_build::ServiceGenerator for ServiceGenerator {
    fn generate(&mut self, service: Service, buf: &mut String) {
        let spec = Spec::new(&service);
        if self.client {
            client(&spec, &service, buf);
        }
        if self.server {
            server_trait(&spec, &service, buf);
            server_wrapper(&spec, &service, buf);
        }
    }
}

/// Names shared by the pieces of one service.
struct Spec {
    /// `example.tools.Tools`: the service's name on the wire.
    full_name: String,
    /// `Tools`: the trait.
    trait_name: String,
}

impl Spec {
    fn new(service: &Service) -> Spec {
        let full_name = if service.package.is_empty() {
            service.proto_name.clone()
        } else {
            format!("{}.{}", service.package, service.proto_name)
        };
        Spec {
            full_name,
            trait_name: service.name.clone(),
        }
    }
}

/// `/// line` for each comment line, at `indent`.
fn doc(lines: &[String], indent: &str, buf: &mut String) {
    for line in lines {
        let line = line.strip_prefix(' ').unwrap_or(line);
        let _ = writeln!(buf, "{indent}/// {line}");
    }
}

fn method_doc(method: &Method, indent: &str, buf: &mut String) {
    doc(&method.comments.leading, indent, buf);
    if !method.comments.leading.is_empty() {
        let _ = writeln!(buf, "{indent}///");
    }
    let pattern = match (method.client_streaming, method.server_streaming) {
        (false, false) => "unary",
        (false, true) => "server streaming",
        (true, false) => "client streaming",
        (true, true) => "bidirectional streaming",
    };
    let _ = writeln!(
        buf,
        "{indent}/// `{}` ({pattern}: {} → {}).",
        method.proto_name, method.input_proto_type, method.output_proto_type
    );
}

fn method_const(spec: &Spec, method: &Method) -> String {
    format!(
        "::slim_rpc::Method::from_static({:?}, {:?})",
        spec.full_name, method.proto_name
    )
}

fn client(spec: &Spec, service: &Service, buf: &mut String) {
    let name = format!("{}Client", spec.trait_name);
    let _ = writeln!(buf, "/// A client of `{}`.", spec.full_name);
    if !service.comments.leading.is_empty() {
        buf.push_str("///\n");
        doc(&service.comments.leading, "", buf);
    }
    let _ = write!(
        buf,
        r#"#[derive(Clone, Debug)]
pub struct {name} {{
    channel: ::slim_rpc::Channel,
    options: ::slim_rpc::CallOptions,
}}

impl {name} {{
    /// The service's name on the wire.
    pub const SERVICE: &'static str = {full:?};

    /// A client calling through `channel`, with default call options.
    pub fn new(channel: ::slim_rpc::Channel) -> Self {{
        {name} {{ channel, options: ::slim_rpc::CallOptions::new() }}
    }}

    /// The same client whose calls without options of their own use `options`.
    pub fn with_options(mut self, options: ::slim_rpc::CallOptions) -> Self {{
        self.options = options;
        self
    }}

    /// The same client whose calls time out after `timeout` by default.
    pub fn with_timeout(mut self, timeout: ::core::time::Duration) -> Self {{
        self.options = self.options.with_timeout(timeout);
        self
    }}

    /// The channel the calls go through.
    pub fn channel(&self) -> &::slim_rpc::Channel {{
        &self.channel
    }}
"#,
        full = spec.full_name
    );
    for method in &service.methods {
        client_method(spec, method, buf);
    }
    buf.push_str("}\n\n");
}

fn client_method(spec: &Spec, method: &Method, buf: &mut String) {
    let (input, output) = (&method.input_type, &method.output_type);
    let codec = format!("::slim_rpc::ProstCodec<{input}, {output}>");
    let target = method_const(spec, method);
    let name = &method.name;
    let (request_param, request_arg, request_type, call, result) = match (
        method.client_streaming,
        method.server_streaming,
    ) {
        (false, false) => (
            format!("request: {input}"),
            "request",
            String::new(),
            format!("unary::<{codec}>(&{target}, &request, options)"),
            output.to_string(),
        ),
        (false, true) => (
            format!("request: {input}"),
            "request",
            String::new(),
            format!("server_streaming::<{codec}>(&{target}, &request, options)"),
            format!("::slim_rpc::Streaming<{output}>"),
        ),
        (true, false) => (
            "requests: S".to_owned(),
            "requests",
            format!(
                "<S: ::slim_rpc::__private::Stream<Item = {input}> + ::core::marker::Send + 'static>"
            ),
            format!("client_streaming::<{codec}, S>(&{target}, requests, options)"),
            output.to_string(),
        ),
        (true, true) => (
            "requests: S".to_owned(),
            "requests",
            format!(
                "<S: ::slim_rpc::__private::Stream<Item = {input}> + ::core::marker::Send + 'static>"
            ),
            format!("streaming::<{codec}, S>(&{target}, requests, options)"),
            format!("::slim_rpc::Streaming<{output}>"),
        ),
    };
    buf.push('\n');
    method_doc(method, "    ", buf);
    let _ = write!(
        buf,
        r#"    pub async fn {name}{request_type}(&self, {request_param}) -> ::core::result::Result<{result}, ::slim_rpc::Status> {{
        let options = self.options.clone();
        self.{name}_with({request_arg}, &options).await
    }}

    /// [`Self::{name}`] with options of its own (timeout, metadata, idempotency key).
    pub async fn {name}_with{request_type}(&self, {request_param}, options: &::slim_rpc::CallOptions) -> ::core::result::Result<{result}, ::slim_rpc::Status> {{
        self.channel.{call}.await
    }}
"#
    );
}

fn server_trait(spec: &Spec, service: &Service, buf: &mut String) {
    let _ = writeln!(
        buf,
        "/// The server side of `{}`: implement it, then serve it with `ServerBuilder::add_service({}Server::new(implementation))`.",
        spec.full_name, spec.trait_name
    );
    if !service.comments.leading.is_empty() {
        buf.push_str("///\n");
        doc(&service.comments.leading, "", buf);
    }
    let _ = writeln!(
        buf,
        "pub trait {}: ::core::marker::Send + ::core::marker::Sync + 'static {{",
        spec.trait_name
    );
    for (index, method) in service.methods.iter().enumerate() {
        if index > 0 {
            buf.push('\n');
        }
        method_doc(method, "    ", buf);
        let (input, output) = (&method.input_type, &method.output_type);
        let (params, result) = match (method.client_streaming, method.server_streaming) {
            (false, false) => (format!("request: {input}"), output.to_string()),
            (false, true) => (
                format!(
                    "request: {input}, context: ::slim_rpc::Context, sink: ::slim_rpc::ResponseSink<{output}>"
                ),
                "()".to_owned(),
            ),
            (true, false) => (
                format!("requests: ::slim_rpc::Streaming<{input}>"),
                output.to_string(),
            ),
            (true, true) => (
                format!(
                    "requests: ::slim_rpc::Streaming<{input}>, context: ::slim_rpc::Context, sink: ::slim_rpc::ResponseSink<{output}>"
                ),
                "()".to_owned(),
            ),
        };
        let params = if method.server_streaming {
            params
        } else {
            format!("{params}, context: ::slim_rpc::Context")
        };
        let _ = writeln!(
            buf,
            "    fn {}(&self, {params}) -> impl ::core::future::Future<Output = ::core::result::Result<{result}, ::slim_rpc::Status>> + ::core::marker::Send;",
            method.name
        );
    }
    buf.push_str("}\n\n");
}

fn server_wrapper(spec: &Spec, service: &Service, buf: &mut String) {
    let trait_name = &spec.trait_name;
    let _ = write!(
        buf,
        r#"/// Serves an implementation of [`{trait_name}`]: `Server::builder().add_service({trait_name}Server::new(implementation))`.
#[derive(Debug)]
pub struct {trait_name}Server<T> {{
    inner: ::std::sync::Arc<T>,
}}

impl<T: {trait_name}> {trait_name}Server<T> {{
    /// Wraps an implementation.
    pub fn new(implementation: T) -> Self {{
        Self::from_arc(::std::sync::Arc::new(implementation))
    }}

    /// Wraps a shared implementation.
    pub fn from_arc(inner: ::std::sync::Arc<T>) -> Self {{
        {trait_name}Server {{ inner }}
    }}
}}

impl<T: {trait_name}> ::slim_rpc::Service for {trait_name}Server<T> {{
    fn register(self, server: ::slim_rpc::ServerBuilder) -> ::slim_rpc::ServerBuilder {{
"#
    );
    for method in &service.methods {
        let (input, output) = (&method.input_type, &method.output_type);
        let codec = format!("::slim_rpc::ProstCodec<{output}, {input}>");
        let target = method_const(spec, method);
        let name = &method.name;
        let (register, params, args) = match (method.client_streaming, method.server_streaming) {
            (false, false) => ("unary", "request, context", "request, context"),
            (false, true) => (
                "server_streaming",
                "request, context, sink",
                "request, context, sink",
            ),
            (true, false) => ("client_streaming", "requests, context", "requests, context"),
            (true, true) => (
                "streaming",
                "requests, context, sink",
                "requests, context, sink",
            ),
        };
        let _ = write!(
            buf,
            r#"        let server = {{
            let inner = self.inner.clone();
            server.{register}::<{codec}, _, _>({target}, move |{params}| {{
                let inner = inner.clone();
                async move {{ inner.{name}({args}).await }}
            }})
        }};
"#
        );
    }
    buf.push_str("        server\n    }\n}\n\n");
}

#[cfg(test)]
mod tests;
