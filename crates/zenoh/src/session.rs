//! A Zenoh session configured explicitly: peer mode, the endpoints given, multicast
//! scouting off unless asked for.

use std::fmt;

use crate::error::BridgeError;

/// How a bridge's Zenoh session is set up. Nothing is left to Zenoh's defaults that
/// decides who talks to whom: the session is a peer, it listens on the endpoints of
/// [`listen`](Self::listen) and connects to those of [`connect`](Self::connect), and it
/// looks for other peers by multicast only if [`multicast_scouting`](Self::multicast_scouting)
/// says so (off by default).
///
/// # Examples
///
/// ```
/// use shmkit_zenoh::SessionConfig;
///
/// let cfg = SessionConfig::peer().listen("tcp/127.0.0.1:7447").connect("tcp/10.0.0.2:7447");
/// assert_eq!(cfg.listen_endpoints(), ["tcp/127.0.0.1:7447"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionConfig {
    listen: Vec<String>,
    connect: Vec<String>,
    multicast_scouting: bool,
}

impl SessionConfig {
    /// A peer with no endpoints and multicast scouting off.
    pub fn peer() -> Self {
        Self::default()
    }

    /// Adds an endpoint to listen on, such as `tcp/0.0.0.0:7447`.
    pub fn listen(mut self, endpoint: impl Into<String>) -> Self {
        self.listen.push(endpoint.into());
        self
    }

    /// Adds an endpoint to connect to, such as `tcp/10.0.0.2:7447`.
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.connect.push(endpoint.into());
        self
    }

    /// Whether to find peers by multicast scouting on the local network (default: no).
    pub fn multicast_scouting(mut self, on: bool) -> Self {
        self.multicast_scouting = on;
        self
    }

    /// The endpoints to listen on.
    pub fn listen_endpoints(&self) -> &[String] {
        &self.listen
    }

    /// The endpoints to connect to.
    pub fn connect_endpoints(&self) -> &[String] {
        &self.connect
    }

    fn to_zenoh(&self) -> Result<zenoh::Config, BridgeError> {
        let mut cfg = zenoh::Config::default();
        let mut set = |key: &'static str, value: String| {
            cfg.insert_json5(key, &value).map_err(|e| BridgeError::Config {
                key,
                value,
                reason: e.to_string(),
            })
        };
        set("mode", "\"peer\"".into())?;
        set("listen/endpoints", json_list(&self.listen))?;
        set("connect/endpoints", json_list(&self.connect))?;
        set("scouting/multicast/enabled", self.multicast_scouting.to_string())?;
        // Peers learn of each other through the ones they connect to.
        set("scouting/gossip/enabled", "true".into())?;
        Ok(cfg)
    }
}

fn json_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(","))
}

/// An open Zenoh session, shared by the bridges that use it (cloning is cheap: all clones
/// are the same session). Closed when the last clone and the last exporter using it are
/// dropped (an importer does not keep it open).
///
/// # Examples
///
/// ```no_run
/// use shmkit_zenoh::{Session, SessionConfig};
///
/// let session = Session::open(&SessionConfig::peer().listen("tcp/127.0.0.1:7447"))?;
/// # Ok::<(), shmkit_zenoh::BridgeError>(())
/// ```
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: zenoh::Session,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("id", &self.inner.zid().to_string()).finish()
    }
}

impl Session {
    /// Opens a session as `config` says.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Config`] for an endpoint Zenoh does not accept,
    /// [`BridgeError::Open`] if a listen endpoint is taken or the session cannot start.
    pub fn open(config: &SessionConfig) -> Result<Self, BridgeError> {
        use zenoh::Wait;
        let cfg = config.to_zenoh()?;
        let inner = zenoh::open(cfg).wait().map_err(|e| BridgeError::Open(e.to_string()))?;
        Ok(Self { inner })
    }

    /// This session's Zenoh id, as text.
    pub fn id(&self) -> String {
        self.inner.zid().to_string()
    }
}
