//! What changed, for whoever must tell the agents: the server's RPC layer subscribes and
//! turns each event into Neutron's notifications (port update/delete fanouts, the DHCP
//! agents' `*_end` casts). Events are sent after the change committed, in commit order per
//! caller, and never dropped (each subscriber has an unbounded queue).

use std::sync::Mutex;

use neutrino_store::model::Port;
use tokio::sync::mpsc;

/// One committed change.
#[derive(Debug, Clone)]
pub enum Event {
    /// A port was created (and bound, if it had a host).
    PortCreated(Box<Port>),
    /// A port changed (attributes, binding or admin state).
    PortUpdated(Box<Port>),
    /// A port was deleted.
    PortDeleted(Box<Port>),
    /// A network changed.
    NetworkUpdated(String),
    /// A network was deleted.
    NetworkDeleted(String),
    /// A subnet of a network was created, changed or deleted: `(network_id, subnet_id)`.
    SubnetChanged(String, String),
    /// An admin bound a network to the DHCP agent of a host (`true`) or unbound it:
    /// `(host, network_id, bound)`.
    DhcpBindingChanged(String, String, bool),
}

/// The subscribers.
#[derive(Debug, Default)]
pub(crate) struct Events {
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Event>>>,
}

impl Events {
    pub(crate) fn subscribe(&self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().push(tx);
        rx
    }

    pub(crate) fn emit(&self, e: Event) {
        let mut subs = self.lock();
        if subs.is_empty() {
            return;
        }
        subs.retain(|s| s.send(e.clone()).is_ok());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::UnboundedSender<Event>>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }
}
