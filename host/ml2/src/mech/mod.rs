//! The mechanism manager: the ordered list of mechanism drivers (WebAssembly components run by
//! `neutrino-runtime`) and how ML2 calls them.
//!
//! Semantics follow Neutron's `MechanismManager`:
//! - precommit hooks run in order inside the transaction and stop at the first failure, which
//!   aborts the request (a driver whose failure policy is `skip` has its faults recorded and
//!   skipped; its own refusals always fail);
//! - create postcommit failures undo the create; update and delete postcommit failures are
//!   logged and counted, the request succeeds;
//! - delete hooks run in reverse order.
//!
//! The list itself is swapped atomically ([`arc_swap`]); each driver's version is swapped
//! inside its [`DriverSlot`], so calls in flight finish on what they started with.

pub mod contexts;
pub mod hooks;
pub mod host;
pub mod journal;
pub mod operator_state;
pub mod periodic;
pub mod quarantine;
pub mod registry;

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use neutrino_runtime::{
    self as rt, CallError, DriverSettings, DriverSlot, FailurePolicy, Hook, HostServices, Runtime,
    RuntimeConfig,
};
use neutrino_store::Store;
use tokio::sync::OnceCell;

pub use contexts::{Contexts, NoRenderer, Renderer};
pub use host::{DbHost, ProbeHost, StagedHost};
pub use quarantine::Quarantine;

use crate::error::Error;

/// A driver in the list.
#[derive(Debug)]
pub struct Entry {
    /// Driver name.
    pub name: String,
    /// Call order.
    pub position: i64,
    /// Whether ML2 calls it.
    pub enabled: bool,
    /// The serving version and counters (shared by successive entries of one driver).
    pub slot: Arc<DriverSlot>,
    /// Database id of the serving version.
    pub version_id: String,
    /// Generation of the database row this entry reflects.
    pub generation: String,
    /// Version a rollback returns to.
    pub previous_version_id: Option<String>,
    /// Operator settings of the serving version.
    pub settings: DriverSettings,
}

/// Settings of the driver machinery (from the server configuration).
#[derive(Debug, Clone)]
pub struct MechConfig {
    /// Drivers to load at start-up, in call order (Neutron's `[ml2] mechanism_drivers`).
    pub mechanism_drivers: Vec<String>,
    /// Where `<name>.wasm` (and `<name>.toml`) files are looked for.
    pub directory: Option<std::path::PathBuf>,
    /// Where compiled components are cached.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Operator settings per driver.
    pub settings: BTreeMap<String, DriverSettings>,
    /// Stored versions kept per driver besides the serving one and its rollback target
    /// (`[drivers] keep_versions`).
    pub keep_versions: usize,
}

/// Default of [`MechConfig::keep_versions`].
pub const DEFAULT_KEEP_VERSIONS: usize = 5;

impl Default for MechConfig {
    fn default() -> Self {
        MechConfig {
            mechanism_drivers: Vec::new(),
            directory: None,
            cache_dir: None,
            settings: BTreeMap::new(),
            keep_versions: DEFAULT_KEEP_VERSIONS,
        }
    }
}

/// The mechanism manager.
pub struct MechanismManager {
    runtime: OnceCell<Runtime>,
    runtime_config: RuntimeConfig,
    entries: ArcSwap<Vec<Arc<Entry>>>,
    store: Store,
    contexts: Contexts,
    config: MechConfig,
    ops: tokio::sync::Mutex<()>,
    fingerprint: std::sync::Mutex<String>,
    quarantines: std::sync::Mutex<BTreeMap<(String, String), Arc<Quarantine>>>,
    journal_wake: tokio::sync::Notify,
}

impl std::fmt::Debug for MechanismManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MechanismManager")
            .field(
                "drivers",
                &self
                    .entries
                    .load()
                    .iter()
                    .map(|e| e.name.clone())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Neutron's `MechanismDriverError`, with the status the driver's classification asks for.
pub fn driver_error(e: &CallError) -> Error {
    let status = match e {
        CallError::Driver { kind, .. } => match kind {
            rt::ErrorKind::InvalidInput => 400,
            rt::ErrorKind::Conflict => 409,
            rt::ErrorKind::NotFound => 404,
            rt::ErrorKind::Unavailable => 503,
            rt::ErrorKind::Internal => 500,
        },
        CallError::Busy { .. } => 503,
        _ => 500,
    };
    if e.is_fault() {
        // A fault's message carries the driver's panic text (with file and line), a trap's
        // backtrace or a limit's figures: for the log and the driver's stats (admins read
        // them as `stats.last_fault`), never for the caller.
        return Error::neutron(
            "MechanismDriverError",
            status,
            format!(
                "Mechanism driver `{}` failed in {}. The server log and the driver's statistics \
                 have the details.",
                e.driver(),
                e.hook()
            ),
        );
    }
    Error::neutron("MechanismDriverError", status, e.to_string())
}

/// A call target: which resource hook.
#[derive(Debug, Clone, Copy)]
pub enum Call<'a> {
    /// Network hook.
    Network(Hook, &'a rt::NetworkContext),
    /// Subnet hook.
    Subnet(Hook, &'a rt::SubnetContext),
    /// Port hook.
    Port(Hook, &'a rt::PortContext),
    /// Security group hook (contract 0.2 drivers only).
    SecurityGroup(Hook, &'a rt::SecurityGroupContext),
    /// Security group rule hook (contract 0.2 drivers only; create and delete).
    SecurityGroupRule(Hook, &'a rt::SecurityGroupRuleContext),
}

impl Call<'_> {
    fn hook(&self) -> Hook {
        match self {
            Call::Network(h, _)
            | Call::Subnet(h, _)
            | Call::Port(h, _)
            | Call::SecurityGroup(h, _)
            | Call::SecurityGroupRule(h, _) => *h,
        }
    }

    /// The driver function called, e.g. `create_port_precommit`.
    pub fn name(&self) -> &'static str {
        match *self {
            Call::Network(h, c) => rt::call::Op::Network(h, c).name(),
            Call::Subnet(h, c) => rt::call::Op::Subnet(h, c).name(),
            Call::Port(h, c) => rt::call::Op::Port(h, c).name(),
            Call::SecurityGroup(h, c) => rt::call::Op::SecurityGroup(h, c).name(),
            Call::SecurityGroupRule(h, c) => rt::call::Op::SecurityGroupRule(h, c).name(),
        }
    }
}

impl MechanismManager {
    /// A manager with no drivers loaded yet (see [`registry`] to load them).
    pub fn new(
        store: Store,
        contexts: Contexts,
        config: MechConfig,
        runtime_config: RuntimeConfig,
    ) -> MechanismManager {
        MechanismManager {
            runtime: OnceCell::new(),
            runtime_config,
            entries: ArcSwap::from_pointee(Vec::new()),
            store,
            contexts,
            config,
            ops: tokio::sync::Mutex::new(()),
            fingerprint: std::sync::Mutex::new(String::new()),
            quarantines: std::sync::Mutex::default(),
            journal_wake: tokio::sync::Notify::new(),
        }
    }

    /// The context builder.
    pub fn contexts(&self) -> &Contexts {
        &self.contexts
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every driver in the list (enabled or not), in call order.
    pub fn entries(&self) -> Arc<Vec<Arc<Entry>>> {
        self.entries.load_full()
    }

    /// Whether any enabled driver is loaded (callers skip building contexts otherwise).
    pub fn has_drivers(&self) -> bool {
        self.entries.load().iter().any(|e| e.enabled)
    }

    fn enabled(&self, reverse: bool) -> Vec<Arc<Entry>> {
        let mut v: Vec<Arc<Entry>> = self
            .entries
            .load()
            .iter()
            .filter(|e| e.enabled)
            .cloned()
            .collect();
        if reverse {
            v.reverse();
        }
        v
    }

    /// Host services on the database.
    pub fn db_host(&self) -> Arc<dyn HostServices> {
        Arc::new(DbHost::new(self.store.clone()))
    }

    /// The quarantine state of driver `name`'s hook `hook` (`create_port_precommit`; see
    /// [`quarantine`]).
    pub fn quarantine(&self, name: &str, hook: &str) -> Arc<Quarantine> {
        self.quarantines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((name.to_string(), hook.to_string()))
            .or_default()
            .clone()
    }

    /// The hooks of driver `name` (version `sha256`) in quarantine, with why.
    pub fn quarantined(&self, name: &str, sha256: &str) -> BTreeMap<String, String> {
        let all: Vec<(String, Arc<Quarantine>)> = self
            .quarantines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, hook), q)| (hook.clone(), q.clone()))
            .collect();
        all.into_iter()
            .filter_map(|(hook, q)| Some((hook, q.holding(sha256)?.reason)))
            .collect()
    }

    pub(crate) async fn call_one(
        entry: &Entry,
        call: Call<'_>,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        match call {
            Call::Network(h, c) => entry.slot.call_network(h, c, host).await,
            Call::Subnet(h, c) => entry.slot.call_subnet(h, c, host).await,
            Call::Port(h, c) => entry.slot.call_port(h, c, host).await,
            Call::SecurityGroup(h, c) => entry.slot.call_security_group(h, c, host).await,
            Call::SecurityGroupRule(h, c) => entry.slot.call_security_group_rule(h, c, host).await,
        }
    }

    /// Run a precommit hook on every enabled driver, in order (reverse for deletes); the first
    /// failure aborts, unless it is a fault of a driver whose policy is `skip`.
    pub async fn precommit(
        &self,
        call: Call<'_>,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), Error> {
        let reverse = matches!(call.hook(), Hook::DeletePrecommit);
        for entry in self.enabled(reverse) {
            let quarantine = self.quarantine(&entry.name, call.name());
            let current = entry.slot.current();
            let sha = &current.meta().sha256;
            if quarantine.holding(sha).is_some() {
                if current.meta().failure_policy == FailurePolicy::Skip {
                    tracing::debug!(driver = %entry.name, "quarantined driver skipped by its failure policy");
                    continue;
                }
                return Err(Error::neutron(
                    "MechanismDriverError",
                    503,
                    format!(
                        "Mechanism driver `{}` is quarantined for {}: it ran out of time. \
                         It serves again once a background probe succeeds.",
                        entry.name,
                        call.name()
                    ),
                ));
            }
            if let Err(e) = Self::call_one(&entry, call, host).await {
                if quarantine::quarantines(&e) && quarantine.enter(sha, e.to_string()) {
                    tracing::error!(driver = %entry.name, error = %e, "precommit ran out of time: driver quarantined, probing it in the background");
                    quarantine::spawn_probe(
                        entry.clone(),
                        quarantine.clone(),
                        quarantine::OwnedCall::of(call),
                        Arc::new(ProbeHost::new(self.store.clone())),
                    );
                }
                if e.is_fault() && entry.slot.current().meta().failure_policy == FailurePolicy::Skip
                {
                    tracing::warn!(driver = %entry.name, error = %e, "driver fault skipped by its failure policy");
                    continue;
                }
                tracing::warn!(driver = %entry.name, error = %e, "precommit failed; rolling back");
                return Err(driver_error(&e));
            }
        }
        Ok(())
    }

    /// Run a postcommit hook. For creates the first failure stops and is returned (the caller
    /// undoes the create); for updates and deletes every driver is called and failures are
    /// logged and returned for the record. Journaled drivers are not called here: their
    /// entry was committed with the change, and the delivery worker is woken instead
    /// ([`journal`]).
    pub async fn postcommit(&self, call: Call<'_>) -> Result<(), Error> {
        let host = self.db_host();
        let hook = call.hook();
        let stop_at_first = matches!(hook, Hook::CreatePostcommit);
        let mut first: Option<Error> = None;
        for entry in self.enabled(matches!(hook, Hook::DeletePostcommit)) {
            if Self::is_journaled(&entry) {
                self.wake_journal();
                continue;
            }
            if let Err(e) = Self::call_one(&entry, call, &host).await {
                if e.is_fault() && entry.slot.current().meta().failure_policy == FailurePolicy::Skip
                {
                    tracing::warn!(driver = %entry.name, error = %e, "driver fault skipped by its failure policy");
                    continue;
                }
                tracing::error!(driver = %entry.name, error = %e, "postcommit failed");
                if stop_at_first {
                    return Err(driver_error(&e));
                }
                first.get_or_insert(driver_error(&e));
            }
        }
        match first {
            Some(e) if stop_at_first => Err(e),
            _ => Ok(()),
        }
    }

    /// The enabled drivers for binding, in order.
    pub fn binders(&self) -> Vec<Arc<Entry>> {
        self.enabled(false)
    }
}
