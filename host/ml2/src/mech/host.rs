//! What drivers' `state` and `agents` imports read and write: the database.
//!
//! [`DbHost`] reads and writes state directly (postcommit, bind-port, initialize).
//! [`StagedHost`] is for precommit hooks: writes are held back and written by the caller
//! inside the request's transaction ([`StagedHost::flush`]), so a rollback discards them too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use neutrino_runtime::{self as rt, HostError, HostServices, async_trait};
use neutrino_store::{Store, StoreError, Tx, agents, drivers};

/// Seconds after its last report an agent counts as dead (Neutron's `agent_down_time`).
pub const AGENT_DOWN_TIME_SECS: i64 = 75;

fn host_error(e: StoreError) -> HostError {
    HostError(e.to_string())
}

/// Whether a heartbeat (`YYYY-MM-DDTHH:MM:SSZ`) is recent.
pub fn alive(heartbeat: &str) -> bool {
    let fmt = time::format_description::well_known::Rfc3339;
    match time::OffsetDateTime::parse(heartbeat, &fmt) {
        Ok(t) => (time::OffsetDateTime::now_utc() - t).whole_seconds() <= AGENT_DOWN_TIME_SECS,
        Err(_) => false,
    }
}

/// Agents as drivers see them.
pub async fn agent_view(
    store: &Store,
    agent_type: Option<&str>,
    host: Option<&str>,
) -> Result<Vec<rt::Agent>, HostError> {
    let mut conn = store
        .reader()
        .acquire()
        .await
        .map_err(|e| HostError(e.to_string()))?;
    let mut q = neutrino_store::query::ListQuery::default();
    if let Some(t) = agent_type {
        q.conditions
            .push(neutrino_store::query::Condition::eq("agent_type", t));
    }
    if let Some(h) = host {
        q.conditions
            .push(neutrino_store::query::Condition::eq("host", h));
    }
    let rows = agents::list(&mut conn, &q).await.map_err(host_error)?;
    Ok(rows
        .into_iter()
        .map(|a| rt::Agent {
            alive: alive(&a.heartbeat_timestamp),
            id: a.id,
            agent_type: a.agent_type,
            binary: a.binary,
            host: a.host,
            admin_state_up: a.admin_state_up,
            configurations: a.configurations,
        })
        .collect())
}

/// Host services straight on the database.
#[derive(Debug, Clone)]
pub struct DbHost {
    store: Store,
}

impl DbHost {
    /// Services on `store`.
    pub fn new(store: Store) -> DbHost {
        DbHost { store }
    }

    async fn conn(&self) -> Result<neutrino_store::PoolConnection, HostError> {
        self.store
            .reader()
            .acquire()
            .await
            .map_err(|e| HostError(e.to_string()))
    }
}

#[async_trait]
impl HostServices for DbHost {
    async fn state_get(&self, driver: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        let mut c = self.conn().await?;
        drivers::state_get(&mut c, driver, key)
            .await
            .map_err(host_error)
    }
    async fn state_set(&self, driver: &str, key: &str, value: Vec<u8>) -> Result<(), HostError> {
        let mut tx = self.store.begin().await.map_err(host_error)?;
        drivers::state_set(&mut tx, driver, key, &value)
            .await
            .map_err(host_error)?;
        tx.commit().await.map_err(|e| HostError(e.to_string()))
    }
    async fn state_delete(&self, driver: &str, key: &str) -> Result<(), HostError> {
        let mut tx = self.store.begin().await.map_err(host_error)?;
        drivers::state_delete(&mut tx, driver, key)
            .await
            .map_err(host_error)?;
        tx.commit().await.map_err(|e| HostError(e.to_string()))
    }
    async fn state_list_keys(&self, driver: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        let mut c = self.conn().await?;
        drivers::state_keys(&mut c, driver, prefix)
            .await
            .map_err(host_error)
    }
    async fn agents(
        &self,
        agent_type: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<rt::Agent>, HostError> {
        agent_view(&self.store, agent_type, host).await
    }
}

/// State writes held back until the transaction: `None` deletes the key.
type Staged = BTreeMap<(String, String), Option<Vec<u8>>>;

/// Host services for precommit hooks: reads see committed state plus this request's own
/// writes; writes wait for [`StagedHost::flush`] inside the transaction.
#[derive(Debug, Clone)]
pub struct StagedHost {
    db: DbHost,
    staged: Arc<Mutex<Staged>>,
}

impl StagedHost {
    /// Staged services on `store`.
    pub fn new(store: Store) -> StagedHost {
        StagedHost {
            db: DbHost::new(store),
            staged: Arc::default(),
        }
    }

    fn staged(&self) -> std::sync::MutexGuard<'_, Staged> {
        self.staged.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// These services as the runtime takes them (sharing the staged writes).
    pub fn services(&self) -> Arc<dyn HostServices> {
        Arc::new(self.clone())
    }

    /// Write the staged state changes in the caller's transaction.
    pub async fn flush(&self, conn: &mut Tx) -> Result<(), StoreError> {
        let changes: Vec<_> = std::mem::take(&mut *self.staged()).into_iter().collect();
        if !changes.is_empty() {
            conn.flush().await.map_err(StoreError::classify)?;
        }
        for ((driver, key), value) in changes {
            match value {
                Some(v) => drivers::state_set(conn, &driver, &key, &v).await?,
                None => drivers::state_delete(conn, &driver, &key).await?,
            }
        }
        Ok(())
    }
}

#[async_trait]
impl HostServices for StagedHost {
    async fn state_get(&self, driver: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        if let Some(v) = self.staged().get(&(driver.to_string(), key.to_string())) {
            return Ok(v.clone());
        }
        self.db.state_get(driver, key).await
    }
    async fn state_set(&self, driver: &str, key: &str, value: Vec<u8>) -> Result<(), HostError> {
        self.staged()
            .insert((driver.to_string(), key.to_string()), Some(value));
        Ok(())
    }
    async fn state_delete(&self, driver: &str, key: &str) -> Result<(), HostError> {
        self.staged()
            .insert((driver.to_string(), key.to_string()), None);
        Ok(())
    }
    async fn state_list_keys(&self, driver: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        let mut keys: std::collections::BTreeSet<String> = self
            .db
            .state_list_keys(driver, prefix)
            .await?
            .into_iter()
            .collect();
        for ((d, k), v) in self.staged().iter() {
            if d == driver && k.starts_with(prefix) {
                if v.is_some() {
                    keys.insert(k.clone());
                } else {
                    keys.remove(k);
                }
            }
        }
        Ok(keys.into_iter().collect())
    }
    async fn agents(
        &self,
        agent_type: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<rt::Agent>, HostError> {
        self.db.agents(agent_type, host).await
    }
}
