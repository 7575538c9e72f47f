//! Typed, versioned RPC over any transport. A [`Method`] names an RPC method, the version a
//! caller speaks and the shapes of its keyword arguments and reply; an [`Endpoint`] is a set
//! of handlers implementing one version (oslo's `target.version`); a [`Dispatcher`] picks the
//! endpoint as oslo.messaging does (`UnsupportedVersion` when no endpoint speaks a compatible
//! version, `NoSuchMethod` when the compatible ones lack the method); a [`Client`] sends.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::Bus;
use crate::error::{Error, RemoteError, Result};
use crate::message::{Context, Message, Target};
use crate::transport::DEFAULT_CALL_TIMEOUT;

/// One RPC method: its name, the version callers send, its arguments and its reply.
pub trait Method {
    /// Method name on the wire, e.g. `report_state`.
    const NAME: &'static str;
    /// Version the caller sends, e.g. `1.4`.
    const VERSION: &'static str;
    /// Keyword arguments (serialises to a JSON object).
    type Args: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Reply (`()` for casts).
    type Reply: Serialize + DeserializeOwned + Send + 'static;
}

type Handler = Arc<
    dyn Fn(Context, Map<String, Value>) -> BoxFuture<'static, Result<Value, RemoteError>>
        + Send
        + Sync,
>;

/// `major.minor` of an RPC version.
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next().map(|m| m.parse().ok()).unwrap_or(Some(0))?;
    Some((major, minor))
}

/// oslo's `version_is_compatible(implemented, requested)`: same major, minor not higher.
pub fn version_is_compatible(implemented: &str, requested: &str) -> bool {
    match (parse_version(implemented), parse_version(requested)) {
        (Some((im, imin)), Some((rm, rmin))) => im == rm && rmin <= imin,
        _ => false,
    }
}

/// Handlers implementing one RPC version.
#[derive(Clone)]
pub struct Endpoint {
    version: String,
    handlers: HashMap<&'static str, Handler>,
}

impl Endpoint {
    /// An endpoint implementing `version` (e.g. `1.9`).
    pub fn new(version: &str) -> Endpoint {
        Endpoint {
            version: version.to_string(),
            handlers: HashMap::new(),
        }
    }

    /// Handle method `M`; arguments that do not fit `M::Args` fail with `TypeError`, as a
    /// Python endpoint's would.
    pub fn on<M, F, Fut>(mut self, f: F) -> Endpoint
    where
        M: Method,
        F: Fn(Context, M::Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<M::Reply, RemoteError>> + Send + 'static,
    {
        let f = Arc::new(f);
        let handler: Handler = Arc::new(move |ctx, args| {
            let f = f.clone();
            async move {
                let args: M::Args = serde_json::from_value(Value::Object(args)).map_err(|e| {
                    RemoteError::new(
                        "TypeError",
                        "builtins",
                        format!("{}() got bad arguments: {e}", M::NAME),
                    )
                })?;
                let reply = f(ctx, args).await?;
                serde_json::to_value(reply)
                    .map_err(|e| RemoteError::handler("ValueError", e.to_string()))
            }
            .boxed()
        });
        self.handlers.insert(M::NAME, handler);
        self
    }
}

/// The endpoints behind one listener.
#[derive(Clone, Default)]
pub struct Dispatcher {
    endpoints: Vec<Endpoint>,
}

impl Dispatcher {
    /// A dispatcher over endpoints (tried in order).
    pub fn new(endpoints: Vec<Endpoint>) -> Dispatcher {
        Dispatcher { endpoints }
    }

    /// Add an endpoint.
    pub fn with(mut self, endpoint: Endpoint) -> Dispatcher {
        self.endpoints.push(endpoint);
        self
    }

    /// Run the handler for a message.
    pub fn dispatch(&self, msg: Message) -> BoxFuture<'static, Result<Value, RemoteError>> {
        let mut compatible = false;
        for ep in &self.endpoints {
            if !version_is_compatible(&ep.version, &msg.version) {
                continue;
            }
            compatible = true;
            if let Some(h) = ep.handlers.get(msg.method.as_str()) {
                return h(msg.context, msg.args);
            }
        }
        let err = if compatible {
            RemoteError::no_such_method(&msg.method)
        } else {
            RemoteError::unsupported_version(&msg.version, &msg.method)
        };
        async move { Err(err) }.boxed()
    }
}

/// Sends typed messages to one target.
#[derive(Clone, Debug)]
pub struct Client {
    bus: Bus,
    target: Target,
    timeout: Duration,
    context: Context,
}

impl Client {
    /// A client of a target (calls time out after 60 s, oslo's `rpc_response_timeout`).
    pub fn new(bus: Bus, target: Target) -> Client {
        Client {
            bus,
            target,
            timeout: DEFAULT_CALL_TIMEOUT,
            context: Context::admin(),
        }
    }

    /// The same client, directed at the listener on `server`.
    pub fn to_server(&self, server: &str) -> Client {
        let mut c = self.clone();
        c.target = Target::server(&self.target.topic, server);
        c
    }

    /// The same client, to every listener of the topic.
    pub fn to_all(&self) -> Client {
        let mut c = self.clone();
        c.target = Target::fanout(&self.target.topic);
        c
    }

    /// The same client with another call timeout.
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        let mut c = self.clone();
        c.timeout = timeout;
        c
    }

    /// The same client with another request context.
    pub fn with_context(&self, context: Context) -> Client {
        let mut c = self.clone();
        c.context = context;
        c
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn message<M: Method>(&self, args: &M::Args) -> Result<Message> {
        let args = match serde_json::to_value(args)? {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => return Err(Error::BadMessage("arguments must be an object".into())),
        };
        Ok(Message::new(
            M::NAME,
            M::VERSION,
            args,
            self.context.clone(),
        ))
    }

    /// Call `M` and wait for its reply.
    pub async fn call<M: Method>(&self, args: &M::Args) -> Result<M::Reply> {
        if self.target.fanout {
            return Err(Error::BadMessage("a call cannot be a fanout".into()));
        }
        let msg = self.message::<M>(args)?;
        let value = self
            .bus
            .transport()
            .call(self.target.clone(), msg, self.timeout)
            .await?;
        Ok(serde_json::from_value(value)?)
    }

    /// Send `M` without waiting for a reply (to all listeners for a fanout client).
    pub async fn cast<M: Method>(&self, args: &M::Args) -> Result<()> {
        let msg = self.message::<M>(args)?;
        self.bus.transport().send(self.target.clone(), msg).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_at_1_9_accepts_1_0_to_1_9_and_refuses_1_10_and_2_0() {
        assert!(version_is_compatible("1.9", "1.0"));
        assert!(version_is_compatible("1.9", "1.9"));
        assert!(version_is_compatible("1.9", "1"));
        assert!(!version_is_compatible("1.9", "1.10"));
        assert!(!version_is_compatible("1.9", "2.0"));
        assert!(!version_is_compatible("1.9", "x"));
    }
}
