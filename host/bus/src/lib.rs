//! The message bus between the server and its agents, modelled on oslo.messaging as Neutron
//! uses it: typed, versioned RPC messages ([`rpc`]) sent as casts, fanouts or calls with a
//! reply and a timeout, over one of two transports chosen by `transport_url`:
//!
//! * in-process ([`memory`], the default, `memory://`): server and agents in one process;
//! * AMQP ([`amqp`], `amqp://user:pass@host:port/vhost`): RabbitMQ through lapin, with
//!   oslo.messaging's exchange and queue layout, publisher confirms, durable topic queues
//!   and reconnection after the broker restarts.
//!
//! Neutron's topic and method names live in [`neutron`], so an operator reading RabbitMQ's
//! management view recognises them.

pub mod amqp;
pub mod error;
pub mod memory;
pub mod message;
pub mod neutron;
pub mod rpc;
pub mod transport;

use std::sync::Arc;

pub use error::{Error, RemoteError, Result};
pub use message::{Context, Message, Target};
pub use rpc::{Client, Dispatcher, Endpoint, Method};
pub use transport::{Listener, Transport};

/// The environment variable that overrides `transport_url`.
pub const TRANSPORT_URL_ENV: &str = "NEUTRINO_TRANSPORT_URL";

/// A handle on a transport, cheap to clone; everything that talks on the bus holds one.
#[derive(Clone)]
pub struct Bus {
    transport: Arc<dyn Transport>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("transport", &self.transport.describe())
            .finish()
    }
}

impl Bus {
    /// Open the transport a `transport_url` names: empty or `memory://` for a new in-process
    /// bus, `amqp://…` for RabbitMQ (connecting in the background; sends wait for it).
    pub async fn connect(transport_url: &str) -> Result<Bus> {
        let url = transport_url.trim();
        if url.is_empty() || url.starts_with("memory:") {
            return Ok(Bus::memory());
        }
        if url.starts_with("amqp://") || url.starts_with("rabbit://") {
            let amqp = amqp::AmqpTransport::connect(url).await?;
            return Ok(Bus {
                transport: Arc::new(amqp),
            });
        }
        Err(Error::InvalidUrl(format!(
            "unsupported transport_url {:?}: use memory:// or amqp://user:pass@host:port/vhost",
            amqp::redact(url)
        )))
    }

    /// A new in-process bus.
    pub fn memory() -> Bus {
        Bus {
            transport: Arc::new(memory::MemoryTransport::default()),
        }
    }

    /// A bus over a given transport.
    pub fn with_transport(transport: Arc<dyn Transport>) -> Bus {
        Bus { transport }
    }

    /// The transport (for listeners and raw sends).
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// A client for a topic.
    pub fn client(&self, topic: &str) -> Client {
        Client::new(self.clone(), Target::topic(topic))
    }

    /// Serve a topic as `server` (the host name): consumes the shared queue `topic` (competing
    /// with other servers), the directed queue `topic.server`, and the topic's fanout.
    pub async fn serve(
        &self,
        topic: &str,
        server: &str,
        dispatcher: Dispatcher,
    ) -> Result<Box<dyn Listener>> {
        self.transport
            .listen(topic, server, Arc::new(dispatcher))
            .await
    }

    /// Close the transport (AMQP: the connection).
    pub async fn close(&self) {
        self.transport.close().await;
    }
}
