//! The bus's errors, and the failure a remote endpoint sends back (oslo.messaging's shape).

use serde::{Deserialize, Serialize};

/// A result on the bus.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong sending or serving a message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No reply within the call's timeout (oslo's `MessagingTimeout`).
    #[error("timed out after {timeout_ms} ms waiting for a reply to {method} on {topic}")]
    Timeout {
        /// Method called.
        method: String,
        /// Topic it was sent to.
        topic: String,
        /// The call's timeout.
        timeout_ms: u128,
    },
    /// The remote endpoint failed; its failure as it sent it.
    #[error("{0}")]
    Remote(Box<RemoteError>),
    /// The `transport_url` cannot be used.
    #[error("{0}")]
    InvalidUrl(String),
    /// The broker refused or lost something and the send could not be completed.
    #[error("transport: {0}")]
    Transport(String),
    /// A message or reply did not have the expected shape.
    #[error("bad message: {0}")]
    BadMessage(String),
    /// The bus was closed.
    #[error("the bus is closed")]
    Closed,
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::BadMessage(e.to_string())
    }
}

impl From<lapin::Error> for Error {
    fn from(e: lapin::Error) -> Self {
        Error::Transport(e.to_string())
    }
}

/// A failure sent back for a call: oslo.messaging's `{"class", "module", "message", "tb",
/// "args", "kwargs"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{class}: {message}")]
pub struct RemoteError {
    /// Exception class, e.g. `UnsupportedVersion`, `NoSuchMethod`, `PortNotFound`.
    pub class: String,
    /// Module it comes from, e.g. `oslo_messaging.rpc.dispatcher`.
    pub module: String,
    /// Human-readable message.
    pub message: String,
    /// Traceback lines (none from Neutrino).
    #[serde(default)]
    pub tb: Vec<String>,
    /// Positional arguments of the exception.
    #[serde(default)]
    pub args: Vec<serde_json::Value>,
    /// Keyword arguments of the exception.
    #[serde(default)]
    pub kwargs: serde_json::Map<String, serde_json::Value>,
}

impl RemoteError {
    /// A failure of a given class with a message.
    pub fn new(class: &str, module: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        RemoteError {
            class: class.to_string(),
            module: module.to_string(),
            args: vec![serde_json::Value::String(message.clone())],
            message,
            tb: Vec::new(),
            kwargs: serde_json::Map::new(),
        }
    }

    /// oslo.messaging's `UnsupportedVersion`.
    pub fn unsupported_version(version: &str, method: &str) -> Self {
        RemoteError::new(
            "UnsupportedVersion",
            "oslo_messaging.rpc.dispatcher",
            format!("Endpoint does not support RPC version {version}. Attempted method: {method}"),
        )
    }

    /// oslo.messaging's `NoSuchMethod`.
    pub fn no_such_method(method: &str) -> Self {
        RemoteError::new(
            "NoSuchMethod",
            "oslo_messaging.rpc.dispatcher",
            format!("Endpoint does not support RPC method {method}"),
        )
    }

    /// A handler's own failure (bad arguments, a missing resource, …).
    pub fn handler(class: &str, message: impl Into<String>) -> Self {
        RemoteError::new(class, "neutrino", message)
    }
}
