//! [`App`]: an application connected to a node, with a name and an identity, that creates
//! and accepts sessions; and [`AppBuilder`], how one is made.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use rand_core::RngCore;
use slim_auth::{SignatureScheme, SigningKey};
use slim_session::{AuthIdentity, SessionConfig, SessionLayer, SlimMls};
use slim_wire::{InstanceId, Name};
use tokio::sync::{mpsc, oneshot};

use crate::config::{AppConfig, AppIdentity};
use crate::connection::Connection;
use crate::dataplane::{DataPlaneClient, DataPlaneConfig, SubscribeError};
use crate::driver::{self, Command};
use crate::error::{ConnectError, SessionError};
use crate::session::Session;
use crate::uplink::{Intake, Uplink};

/// Builds an [`App`]: name, identity, node, settings.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use slim_client::App;
/// let app = App::builder("org/ns/alice".parse()?)
///     .shared_secret("a shared secret of at least 32 bytes!")
///     .endpoint("http://127.0.0.1:46357")
///     .connect()
///     .await?;
/// println!("connected as {}", app.name());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AppBuilder {
    name: Name,
    identity: Option<AppIdentity>,
    signing_key: Option<SigningKey>,
    config: AppConfig,
    connection: Option<Connection>,
}

impl AppBuilder {
    /// Identifies the application with upstream's shared-secret tokens (at least 32 bytes;
    /// every application with the same secret trusts the others).
    pub fn shared_secret(mut self, secret: impl Into<String>) -> Self {
        self.identity = Some(AppIdentity::SharedSecret(secret.into()));
        self
    }

    /// Any identity `slim-auth` can configure (JWT, static JWT, shared secret with custom
    /// claims).
    pub fn identity(mut self, identity: AppIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The application's signature key (default: a fresh key of the scheme the MLS suite
    /// needs). Its public key is bound into every identity token the application sends.
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// The node to connect to (`http://host:port`, `https://host:port`, `unix:///path`).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.config.link.endpoint = endpoint.into();
        self
    }

    /// Shares `connection` with other applications of this process instead of dialing a
    /// link of its own (see [`Connection`]); the link settings of [`AppConfig::link`] and
    /// [`AppConfig::post_quantum_link`] are then the connection's, not these.
    pub fn connection(mut self, connection: &Connection) -> Self {
        self.connection = Some(connection.clone());
        self
    }

    /// Replaces every setting (the endpoint included).
    pub fn config(mut self, config: AppConfig) -> Self {
        self.config = config;
        self
    }

    /// Changes settings in place.
    ///
    /// ```no_run
    /// # fn demo(builder: slim_client::AppBuilder) -> slim_client::AppBuilder {
    /// builder.configure(|c| c.layer.window = 1024)
    /// # }
    /// ```
    pub fn configure(mut self, change: impl FnOnce(&mut AppConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// Connects to the node (or attaches to the shared [`Connection`]), subscribes the
    /// application's name (with its instance id) and starts the application's driver task.
    /// Must run inside a tokio runtime.
    ///
    /// Without an identity set, fails with a configuration error: there is no safe default.
    pub async fn connect(self) -> Result<App, ConnectError> {
        let AppBuilder {
            name,
            identity,
            signing_key,
            config,
            connection,
        } = self;
        let identity = identity.ok_or(ConnectError::NoIdentity)?;
        let base = name.with_id(InstanceId::ANY);
        let (provider_config, verifier_config) = identity.configs(&base.to_string());
        let key = signing_key.unwrap_or_else(|| {
            SigningKey::generate(scheme_for(config.mls_suite), &mut rand_core::OsRng)
        });
        let provider = provider_config.build(key)?;
        let verifier = verifier_config.build(None)?;
        // Upstream derives the instance id from the identity; strict peers check it.
        let id = InstanceId(slim_wire::hash::instance_id_for(provider.token_id()));
        let me = base.with_id(id);

        let (uplink, intake) = match &connection {
            Some(connection) => {
                let (member, queue) = connection.attach(me.clone());
                (Uplink::shared(member), Intake::shared(queue))
            }
            None => {
                let mut data_plane = DataPlaneConfig::new(config.link.endpoint.clone(), me.clone());
                data_plane.link = config.link.clone();
                data_plane.post_quantum = config.post_quantum_link;
                data_plane.ack_timeout = config.subscription_timeout;
                // The driver reads the link itself; it runs before the application's own
                // subscription, so that the acknowledgement is read.
                let (client, reader) = DataPlaneClient::connect_direct(data_plane).await?;
                (Uplink::own(client), Intake::own(reader))
            }
        };

        let layer = SessionLayer::builder(
            me.clone(),
            AuthIdentity::new(provider.clone(), verifier.clone()),
        )
        .mls(SlimMls::new(provider, verifier, config.mls_suite))
        .config(config.layer.clone())
        .seed(rand_core::OsRng.next_u64())
        .build(Instant::now(), SystemTime::now())?;
        let commands = driver::spawn(layer, uplink.clone(), intake, config);
        // On failure, dropping `commands` stops the driver, which closes the link (or leaves
        // the shared connection).
        uplink.subscribe(&me).await?;
        Ok(App {
            inner: Arc::new(AppInner {
                name: me,
                commands,
                uplink,
            }),
        })
    }
}

fn scheme_for(suite: slim_mls::Suite) -> SignatureScheme {
    match suite {
        slim_mls::Suite::P256 => SignatureScheme::EcdsaP256Sha256,
        _ => SignatureScheme::Ed25519,
    }
}

/// An application connected to a node. Cheap to clone; the application closes (gracefully,
/// bounded by [`AppConfig::shutdown_timeout`]) when every clone and every session handle is
/// dropped, or on [`App::close`].
///
/// Everything an application does goes through one driver task that owns its session layer
/// and its connection; handles only send it commands.
#[derive(Clone, Debug)]
pub struct App {
    inner: Arc<AppInner>,
}

#[derive(Debug)]
struct AppInner {
    name: Name,
    commands: mpsc::UnboundedSender<Command>,
    uplink: Uplink,
}

impl App {
    /// Starts building an application named `name` (`org/namespace/service`; any instance id
    /// it carries is replaced by the one derived from the identity).
    pub fn builder(name: Name) -> AppBuilder {
        AppBuilder {
            name,
            identity: None,
            signing_key: None,
            config: AppConfig::default(),
            connection: None,
        }
    }

    /// The application's full name, with its instance id.
    pub fn name(&self) -> &Name {
        &self.inner.name
    }

    /// True while the link to the node is up (it redials by itself when lost).
    pub fn is_connected(&self) -> bool {
        self.inner.uplink.is_connected()
    }

    fn send(&self, command: Command) -> Result<(), SessionError> {
        self.inner
            .commands
            .send(command)
            .map_err(|_| SessionError::AppClosed)
    }

    /// Creates a session as its moderator.
    ///
    /// Point-to-point: `destination` is the peer's name (without instance id, any instance
    /// of that service answers); resolves once the handshake finished — discovery, join,
    /// welcome and, with MLS, the group — so the session is ready to carry data. Group:
    /// `destination` is the channel name; resolves at once, and members are added with
    /// [`Session::invite`].
    ///
    /// ```no_run
    /// # async fn demo(app: slim_client::App) -> Result<(), slim_client::SessionError> {
    /// use slim_client::SessionConfig;
    /// let chat = app
    ///     .create_session(SessionConfig::group().with_mls(), "org/ns/chat".parse().expect("name"))
    ///     .await?;
    /// chat.invite("org/ns/bob".parse().expect("name")).await?;
    /// chat.publish("welcome, bob").await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_session(
        &self,
        config: SessionConfig,
        destination: Name,
    ) -> Result<Session, SessionError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Create {
            config,
            destination,
            reply,
        })?;
        rx.await.unwrap_or(Err(SessionError::AppClosed))
    }

    /// The next session another application invited this one to (point-to-point or group),
    /// once its handshake finished (upstream's `listen_for_session`). Waits as long as it
    /// takes; wrap it in `tokio::time::timeout` to bound the wait.
    #[doc(alias = "listen_for_session")]
    pub async fn accept(&self) -> Result<Session, SessionError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Accept { reply })?;
        rx.await.unwrap_or(Err(SessionError::AppClosed))
    }

    /// Also answers invitations addressed to `name` (another service name this application
    /// serves, such as an RPC service name): subscribes it at the node.
    pub async fn add_name(&self, name: Name) -> Result<(), SubscribeError> {
        self.inner.uplink.subscribe(&name).await?;
        self.send(Command::LocalName { name, add: true })
            .map_err(|_| SubscribeError::Disconnected)
    }

    /// Stops answering for a name added with [`App::add_name`].
    pub async fn remove_name(&self, name: Name) -> Result<(), SubscribeError> {
        let _ = self.send(Command::LocalName {
            name: name.clone(),
            add: false,
        });
        self.inner.uplink.unsubscribe(&name).await
    }

    /// What the session layer counted so far: messages refused as invalid, undecryptable or
    /// replayed, retransmissions, overflows (see [`Stats`](crate::Stats)). Bad input is
    /// dropped and counted rather than reported per message; this is where it shows.
    pub async fn stats(&self) -> Result<crate::Stats, SessionError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Stats { reply })?;
        rx.await.map_err(|_| SessionError::AppClosed)
    }

    /// Closes every session gracefully and disconnects; resolves when done, at most
    /// [`AppConfig::shutdown_timeout`] later. Other handles see `AppClosed` afterwards.
    pub async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.send(Command::Shutdown { reply }).is_ok() {
            let _ = rx.await;
        }
    }
}
