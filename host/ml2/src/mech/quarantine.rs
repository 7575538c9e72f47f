//! Quarantine: one driver never stalls other writes.
//!
//! Precommit hooks run inside the request's transaction, and on SQLite that transaction
//! holds the one writer connection: a precommit that spins to its CPU budget makes every
//! other write wait that long. So a driver whose precommit runs out of time is
//! *quarantined*: its precommit hooks are not called inside transactions any more and fail
//! at once (`MechanismDriverError`, 503, or skipped under the `skip` failure policy), while
//! a background task probes it *outside* any transaction (the hook that timed out, again,
//! with its state reads on the read pool and its writes discarded), 1 s after the timeout
//! and then backing off to 30 s. The first probe that finishes in time (success or the
//! driver's own refusal) lifts the quarantine; so does serving a new version of the driver.
//! A misbehaving driver thus costs the other writes one budget, once, and then nothing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use neutrino_runtime::{self as rt, CallError, Hook, HostServices};

use super::{Call, Entry, MechanismManager};

/// Delay before the first probe.
pub const FIRST_PROBE: Duration = Duration::from_secs(1);
/// Longest delay between probes.
pub const MAX_PROBE_INTERVAL: Duration = Duration::from_secs(30);

/// Why and since when a driver is quarantined.
#[derive(Debug, Clone)]
pub struct Held {
    /// The serving version's sha256 when the quarantine began.
    pub sha256: String,
    /// The fault that began it (for the log and admins).
    pub reason: String,
    /// When it began.
    pub since: Instant,
    /// Probes that faulted again.
    pub failed_probes: u32,
}

/// The quarantine state of one driver.
#[derive(Debug, Default)]
pub struct Quarantine {
    held: Mutex<Option<Held>>,
}

impl Quarantine {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The quarantine holding the version `sha256`, if any (a new version is free).
    pub fn holding(&self, sha256: &str) -> Option<Held> {
        let mut held = self.lock();
        match &*held {
            Some(h) if h.sha256 == sha256 => Some(h.clone()),
            Some(_) => {
                *held = None;
                None
            }
            None => None,
        }
    }

    /// Begin a quarantine; false if one already holds (so only one probe task runs).
    pub fn enter(&self, sha256: &str, reason: String) -> bool {
        let mut held = self.lock();
        if held.as_ref().is_some_and(|h| h.sha256 == sha256) {
            return false;
        }
        *held = Some(Held {
            sha256: sha256.to_string(),
            reason,
            since: Instant::now(),
            failed_probes: 0,
        });
        true
    }

    fn probe_failed(&self) {
        if let Some(h) = self.lock().as_mut() {
            h.failed_probes += 1;
        }
    }

    /// End the quarantine.
    pub fn lift(&self) {
        *self.lock() = None;
    }

    /// The current quarantine, whatever version it holds.
    pub fn status(&self) -> Option<Held> {
        self.lock().clone()
    }
}

/// A hook call with owned contexts, kept to probe a quarantined driver with.
#[derive(Debug, Clone)]
pub enum OwnedCall {
    /// Network hook.
    Network(Hook, Box<rt::NetworkContext>),
    /// Subnet hook.
    Subnet(Hook, Box<rt::SubnetContext>),
    /// Port hook.
    Port(Hook, Box<rt::PortContext>),
    /// Security group hook.
    SecurityGroup(Hook, Box<rt::SecurityGroupContext>),
    /// Security group rule hook.
    SecurityGroupRule(Hook, Box<rt::SecurityGroupRuleContext>),
}

impl OwnedCall {
    /// A copy of `call`.
    pub fn of(call: Call<'_>) -> OwnedCall {
        match call {
            Call::Network(h, c) => OwnedCall::Network(h, Box::new(c.clone())),
            Call::Subnet(h, c) => OwnedCall::Subnet(h, Box::new(c.clone())),
            Call::Port(h, c) => OwnedCall::Port(h, Box::new(c.clone())),
            Call::SecurityGroup(h, c) => OwnedCall::SecurityGroup(h, Box::new(c.clone())),
            Call::SecurityGroupRule(h, c) => OwnedCall::SecurityGroupRule(h, Box::new(c.clone())),
        }
    }

    /// The call it copies.
    pub fn as_call(&self) -> Call<'_> {
        match self {
            OwnedCall::Network(h, c) => Call::Network(*h, c),
            OwnedCall::Subnet(h, c) => Call::Subnet(*h, c),
            OwnedCall::Port(h, c) => Call::Port(*h, c),
            OwnedCall::SecurityGroup(h, c) => Call::SecurityGroup(*h, c),
            OwnedCall::SecurityGroupRule(h, c) => Call::SecurityGroupRule(*h, c),
        }
    }
}

/// Whether a precommit fault quarantines its driver: running out of time (CPU or wall
/// clock) is what holds the writer; other faults end at once.
pub fn quarantines(e: &CallError) -> bool {
    matches!(e, CallError::Timeout { .. })
}

/// Probe `entry` with `call` outside any transaction until a probe finishes in time or the
/// quarantine ends otherwise.
pub fn spawn_probe(
    entry: Arc<Entry>,
    quarantine: Arc<Quarantine>,
    call: OwnedCall,
    host: Arc<dyn HostServices>,
) {
    tokio::spawn(async move {
        let mut wait = FIRST_PROBE;
        loop {
            tokio::time::sleep(wait).await;
            let sha = entry.slot.current().meta().sha256.clone();
            if quarantine.holding(&sha).is_none() {
                return;
            }
            match MechanismManager::call_one(&entry, call.as_call(), &host).await {
                Err(e) if e.is_fault() => {
                    quarantine.probe_failed();
                    tracing::warn!(driver = %entry.name, error = %e, "quarantined driver failed its probe");
                    wait = (wait * 2).min(MAX_PROBE_INTERVAL);
                }
                _ => {
                    quarantine.lift();
                    tracing::info!(driver = %entry.name, "quarantined driver passed its probe; serving again");
                    return;
                }
            }
        }
    });
}
