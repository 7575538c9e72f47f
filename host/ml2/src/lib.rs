//! The core plugin (ML2): networks, subnets, ports, subnet pools and security groups, with
//! IPAM, type drivers and (through the driver runtime) mechanism drivers.
//!
//! It knows the rules of Neutron's resources and nothing of HTTP: the API layer hands it typed
//! requests and a [`RequestContext`], and gets back stored records or a Neutron [`Error`].
//!
//! Invariants:
//! - Every change runs in one store transaction that is retried from the start on conflicts;
//!   an error leaves nothing written.
//! - Visibility: a non-admin sees its project's resources plus shared networks (and their
//!   subnets); anything else is "not found", never "forbidden".

pub mod address_groups;
pub mod address_scopes;
pub mod agent_rpc;
pub mod agents;
pub mod auto_allocate;
pub mod availability_zones;
pub mod binding;
pub mod checks;
pub mod config;
pub mod context;
pub mod dhcp_scheduler;
pub mod error;
pub mod events;
pub mod flavors;
pub mod ip_availability;
pub mod ipam;
pub mod l3;
pub mod mech;
pub mod networks;
pub mod port_bindings;
pub mod ports;
pub mod provisioning;
pub mod quotas;
pub mod rbac;
pub mod security_groups;
pub mod sg_defaults;
pub mod subnetpool_ops;
pub mod subnetpools;
pub mod subnets;
pub mod tags;
pub mod tunnels;
pub mod types;

use std::sync::Arc;

pub use config::CoreConfig;
pub use context::RequestContext;
pub use error::{Error, Result};
use mech::{MechConfig, MechanismManager};
pub use neutrino_store as store;
use neutrino_store::Store;
use types::{TypeConfig, TypeManager};

/// The core plugin. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Plugin {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    core: CoreConfig,
    types: TypeManager,
    mech: Arc<MechanismManager>,
    events: events::Events,
}

impl Plugin {
    /// A plugin over `store` with these settings and no mechanism drivers.
    pub fn new(store: Store, core: CoreConfig, types: TypeConfig) -> Plugin {
        Self::with_drivers(
            store,
            core,
            types,
            MechConfig::default(),
            neutrino_runtime::RuntimeConfig::default(),
            Arc::new(mech::NoRenderer),
        )
    }

    /// A plugin whose mechanism drivers are described by `mech` (call [`Plugin::start`] to
    /// load them); `renderer` gives drivers the API representation of resources.
    pub fn with_drivers(
        store: Store,
        core: CoreConfig,
        types: TypeConfig,
        mech: MechConfig,
        runtime: neutrino_runtime::RuntimeConfig,
        renderer: Arc<dyn mech::Renderer>,
    ) -> Plugin {
        let types = TypeManager::new(types);
        let mtu_types = types.clone();
        let contexts = mech::Contexts::new(
            renderer,
            Arc::new(move |s: &neutrino_store::model::Segment| {
                mtu_types.mtu(&s.network_type, s.physical_network.as_deref())
            }),
        );
        let manager = MechanismManager::new(store.clone(), contexts, mech, runtime);
        Plugin {
            inner: Arc::new(Inner {
                store,
                core,
                types,
                mech: Arc::new(manager),
                events: events::Events::default(),
            }),
        }
    }

    /// Load the configured mechanism drivers (and those the database lists).
    pub async fn start(&self) -> Result<()> {
        self.mech().start().await
    }

    /// The mechanism manager.
    pub fn mech(&self) -> &Arc<MechanismManager> {
        &self.inner.mech
    }

    /// Staged host services for precommit hooks (see [`mech::StagedHost`]).
    pub(crate) fn staged_host(&self) -> mech::StagedHost {
        mech::StagedHost::new(self.store().clone())
    }

    /// Committed changes from now on, for the agents' notifications.
    pub fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<events::Event> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, e: events::Event) {
        self.inner.events.emit(e);
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Core settings.
    pub fn core(&self) -> &CoreConfig {
        &self.inner.core
    }

    /// The type manager.
    pub fn types(&self) -> &TypeManager {
        &self.inner.types
    }

    /// A read connection from the pool.
    pub(crate) async fn read(&self) -> Result<sqlx_conn::PoolConn> {
        self.store()
            .reader()
            .acquire()
            .await
            .map_err(|e| Error::Store(neutrino_store::StoreError::classify(e)))
    }
}

/// The pooled connection type, named once.
pub(crate) mod sqlx_conn {
    /// A connection borrowed from the read pool.
    pub type PoolConn = neutrino_store::PoolConnection;
}

/// Run `$body` (an expression that may use `$tx: &mut Tx` and `?`) in a write transaction,
/// commit, and run it again from the start while it fails with a retriable error.
#[macro_export]
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        $crate::in_tx!(@run begin, $store, std::convert::identity, |$tx| $body)
    };
    // A batched transaction (see `neutrino_store::tx`): its deferred writes run with the
    // commit, so their errors come from the commit, through `$commit_errors`.
    (batched $store:expr, commit_errors: $commit_errors:expr, |$tx:ident| $body:expr) => {
        $crate::in_tx!(@run begin_batched, $store, $commit_errors, |$tx| $body)
    };
    (@run $begin:ident, $store:expr, $commit_errors:expr, |$tx:ident| $body:expr) => {{
        let store = $store;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let outcome = async {
                let mut owned = store.$begin().await?;
                let $tx = &mut owned;
                // Deferred statements may also run inside the body (a flush before a direct
                // read, e.g. a driver's state read): their errors get the same treatment.
                let value = $crate::pin_result(async { $body }).await.map_err($commit_errors)?;
                owned
                    .commit()
                    .await
                    .map_err(|e| $commit_errors($crate::Error::from($crate::store::StoreError::classify(e))))?;
                Ok::<_, $crate::Error>(value)
            }
            .await;
            match outcome {
                Err(e)
                    if $crate::store::RetryableError::is_retriable(&e)
                        && attempt < $crate::store::db::MAX_ATTEMPTS =>
                {
                    $crate::store::db::backoff(attempt).await;
                }
                other => break other,
            }
        }
    }};
}

/// Fix the error type of an async block to [`Error`] (used by [`in_tx!`]).
pub async fn pin_result<T, F: std::future::Future<Output = Result<T>>>(f: F) -> Result<T> {
    f.await
}

/// Check an `If-Match: revision_number=N` constraint against the current revision.
pub fn check_revision(expected: Option<i64>, current: i64) -> Result<()> {
    match expected {
        Some(e) if e != current => Err(Error::revision_mismatch(e, current)),
        _ => Ok(()),
    }
}
