//! What a transport does: deliver a message to a target (cast or fanout), deliver a call and
//! wait for its reply, and serve a topic through a [`Dispatcher`].

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::Result;
use crate::message::{Message, Target};
use crate::rpc::Dispatcher;

/// A way of carrying messages (in-process or AMQP).
pub trait Transport: Send + Sync {
    /// Deliver without waiting for a reply: to one listener of the topic (or of
    /// `topic.server`), or to all of them for a fanout target. Returns once the message is
    /// safely handed over (AMQP: confirmed by the broker).
    fn send(&self, target: Target, msg: Message) -> BoxFuture<'_, Result<()>>;

    /// Deliver to one listener and wait up to `timeout` for its reply.
    fn call(&self, target: Target, msg: Message, timeout: Duration)
    -> BoxFuture<'_, Result<Value>>;

    /// Serve `topic` as `server` with a dispatcher; messages are handled concurrently.
    fn listen(
        &self,
        topic: &str,
        server: &str,
        dispatcher: Arc<Dispatcher>,
    ) -> BoxFuture<'_, Result<Box<dyn Listener>>>;

    /// Stop everything (pending calls fail with [`crate::Error::Closed`]).
    fn close(&self) -> BoxFuture<'_, ()>;

    /// One line naming the transport (passwords hidden), for logs.
    fn describe(&self) -> String;
}

/// A running listener; stopping it stops consuming (messages in shared queues stay there).
pub trait Listener: Send + Sync {
    /// Stop consuming.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Default reply timeout of calls: oslo.messaging's `rpc_response_timeout` (60 s).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
