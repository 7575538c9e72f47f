//! What drivers' `state` and `agents` imports read and write: the database.
//!
//! [`DbHost`] reads and writes state directly (postcommit, bind-port, initialize).
//! [`StagedHost`] is for precommit hooks: reads go through the request's transaction
//! ([`StagedHost::with_tx`]), writes are held back and written by the caller inside it
//! ([`StagedHost::flush`]), so a rollback discards them too and concurrent read-modify-writes
//! of one key never lose an update.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use neutrino_runtime::{
    self as rt, HostError, HostServices, StateChange, StateModifier, async_trait,
};
use neutrino_store::{Backend, Store, StoreError, Tx, agents, drivers};
use tokio::sync::{mpsc, oneshot};

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
    /// One transaction of its own: the key read for update (locked on PostgreSQL; SQLite's
    /// writer serializes), the change written, committed; a conflict (the key created
    /// meanwhile, a deadlock) runs it again.
    async fn state_modify(
        &self,
        driver: &str,
        key: &str,
        change: StateModifier<'_>,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let lock = self.store.backend() == Backend::Postgres;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match modify_once(&self.store, lock, driver, key, change).await {
                Err(e) if e.is_retriable() && attempt < MODIFY_ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt))).await;
                }
                other => return other.map_err(host_error),
            }
        }
    }
    async fn agents(
        &self,
        agent_type: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<rt::Agent>, HostError> {
        agent_view(&self.store, agent_type, host).await
    }
}

/// How often [`DbHost::state_modify`] tries before giving up on conflicts.
const MODIFY_ATTEMPTS: u32 = 50;

async fn modify_once(
    store: &Store,
    lock: bool,
    driver: &str,
    key: &str,
    change: StateModifier<'_>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut tx = store.begin().await?;
    let read = drivers::state_get_for_update(&mut tx, lock, driver, key).await?;
    match change(read.as_deref()) {
        StateChange::Keep => {}
        StateChange::Set(v) if read.is_none() => {
            drivers::state_insert_new(&mut tx, driver, key, &v).await?
        }
        StateChange::Set(v) => drivers::state_set(&mut tx, driver, key, &v).await?,
        StateChange::Delete => drivers::state_delete(&mut tx, driver, key).await?,
    }
    tx.commit().await.map_err(StoreError::classify)?;
    Ok(read)
}

/// State writes held back until the transaction: `None` deletes the key.
type Staged = BTreeMap<(String, String), Option<Vec<u8>>>;

/// A read a precommit hook asks of the request's transaction.
enum TxRead {
    Get {
        driver: String,
        key: String,
        reply: oneshot::Sender<Result<Option<Vec<u8>>, StoreError>>,
    },
    Keys {
        driver: String,
        prefix: String,
        reply: oneshot::Sender<Result<Vec<String>, StoreError>>,
    },
}

/// What the hooks of one transaction share.
#[derive(Default)]
struct Shared {
    /// Writes waiting for [`StagedHost::flush`].
    staged: Staged,
    /// Keys read from the transaction, and whether they existed then.
    seen: BTreeMap<(String, String), bool>,
    /// The first store error a hook's read ran into (the driver saw `unavailable`): the
    /// transaction's outcome, whatever the driver made of it.
    failure: Option<StoreError>,
    /// Where reads go while a hook runs inside [`StagedHost::with_tx`].
    reads: Option<mpsc::UnboundedSender<TxRead>>,
    /// Journal entries of journaled drivers' postcommits, written by [`StagedHost::flush`].
    journal: Vec<neutrino_store::journal::NewEntry>,
}

/// Host services for precommit hooks: state reads go through the request's transaction
/// (on PostgreSQL locking the key's row until it ends) and see this request's own writes;
/// writes wait for [`StagedHost::flush`] inside the transaction. Per key this is
/// serializable: a read-modify-write holds the row (PostgreSQL) or the writer (SQLite),
/// and a key read as absent is created only if nobody created it meanwhile, otherwise the
/// transaction is retried from the start.
#[derive(Clone)]
pub struct StagedHost {
    db: DbHost,
    lock_rows: bool,
    shared: Arc<Mutex<Shared>>,
}

impl std::fmt::Debug for StagedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedHost").finish_non_exhaustive()
    }
}

impl StagedHost {
    /// Staged services on `store`.
    pub fn new(store: Store) -> StagedHost {
        StagedHost {
            lock_rows: store.backend() == Backend::Postgres,
            db: DbHost::new(store),
            shared: Arc::default(),
        }
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// These services as the runtime takes them (sharing the staged writes).
    pub fn services(&self) -> Arc<dyn HostServices> {
        Arc::new(self.clone())
    }

    /// Run `hooks` (precommit calls using [`StagedHost::services`]) with their state reads
    /// answered by `tx`. A store error met by a read (a conflict, a deferred statement's
    /// unique collision) is returned instead of the hooks' outcome, so the transaction is
    /// retried or fails as the store says, whatever the driver made of it.
    pub async fn with_tx<T>(
        &self,
        tx: &mut Tx,
        hooks: impl std::future::Future<Output = T>,
    ) -> Result<T, StoreError> {
        let (send, mut recv) = mpsc::unbounded_channel();
        self.shared().reads = Some(send);
        let lock = self.lock_rows;
        let mut hooks = std::pin::pin!(hooks);
        let out = loop {
            tokio::select! {
                biased;
                out = &mut hooks => break out,
                Some(read) = recv.recv() => serve(tx, lock, read).await,
            }
        };
        let mut shared = self.shared();
        shared.reads = None;
        match shared.failure.take() {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> TxRead,
    ) -> Result<T, HostError> {
        let (reply, answer) = oneshot::channel();
        let sent = match &self.shared().reads {
            Some(reads) => reads.send(make(reply)).is_ok(),
            None => false,
        };
        if !sent {
            return Err(HostError(
                "state is only available while the hook runs".into(),
            ));
        }
        match answer.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let seen = HostError(e.to_string());
                self.shared().failure.get_or_insert(e);
                Err(seen)
            }
            Err(_) => Err(HostError("the transaction ended".into())),
        }
    }

    /// Stage journal entries (see [`super::journal`]): written by [`StagedHost::flush`], in
    /// the transaction of the change they follow.
    pub fn journal(&self, entries: Vec<neutrino_store::journal::NewEntry>) {
        if !entries.is_empty() {
            self.shared().journal.extend(entries);
        }
    }

    /// Write the staged state changes and journal entries in the caller's transaction.
    pub async fn flush(&self, conn: &mut Tx) -> Result<(), StoreError> {
        let (changes, seen, journal) = {
            let mut shared = self.shared();
            let changes: Vec<_> = std::mem::take(&mut shared.staged).into_iter().collect();
            let journal = std::mem::take(&mut shared.journal);
            (changes, shared.seen.clone(), journal)
        };
        if !changes.is_empty() || !journal.is_empty() {
            conn.flush().await.map_err(StoreError::classify)?;
        }
        for entry in &journal {
            neutrino_store::journal::insert(conn, entry).await?;
        }
        for ((driver, key), value) in changes {
            let seen_absent = seen.get(&(driver.clone(), key.clone())) == Some(&false);
            match value {
                Some(v) if seen_absent => {
                    drivers::state_insert_new(conn, &driver, &key, &v).await?
                }
                Some(v) => drivers::state_set(conn, &driver, &key, &v).await?,
                None => drivers::state_delete(conn, &driver, &key).await?,
            }
        }
        Ok(())
    }
}

/// Answer one read from the transaction.
async fn serve(tx: &mut Tx, lock: bool, read: TxRead) {
    match read {
        TxRead::Get { driver, key, reply } => {
            let value = match tx.flush().await {
                Ok(()) => drivers::state_get_for_update(tx, lock, &driver, &key).await,
                Err(e) => Err(StoreError::classify(e)),
            };
            let _ = reply.send(value);
        }
        TxRead::Keys {
            driver,
            prefix,
            reply,
        } => {
            let keys = match tx.flush().await {
                Ok(()) => drivers::state_keys(tx, &driver, &prefix).await,
                Err(e) => Err(StoreError::classify(e)),
            };
            let _ = reply.send(keys);
        }
    }
}

#[async_trait]
impl HostServices for StagedHost {
    async fn state_get(&self, driver: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        let id = (driver.to_string(), key.to_string());
        if let Some(v) = self.shared().staged.get(&id) {
            return Ok(v.clone());
        }
        let value = self
            .ask(|reply| TxRead::Get {
                driver: driver.to_string(),
                key: key.to_string(),
                reply,
            })
            .await?;
        self.shared().seen.entry(id).or_insert(value.is_some());
        Ok(value)
    }
    async fn state_set(&self, driver: &str, key: &str, value: Vec<u8>) -> Result<(), HostError> {
        self.shared()
            .staged
            .insert((driver.to_string(), key.to_string()), Some(value));
        Ok(())
    }
    async fn state_delete(&self, driver: &str, key: &str) -> Result<(), HostError> {
        self.shared()
            .staged
            .insert((driver.to_string(), key.to_string()), None);
        Ok(())
    }
    /// The key is read through the transaction like [`state_get`](Self::state_get) (locked
    /// on PostgreSQL, under the writer on SQLite, created only if still absent at flush)
    /// and the change staged: atomic per key as part of the request's transaction.
    async fn state_modify(
        &self,
        driver: &str,
        key: &str,
        change: StateModifier<'_>,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let read = self.state_get(driver, key).await?;
        let staged = match change(read.as_deref()) {
            StateChange::Keep => return Ok(read),
            StateChange::Set(v) => Some(v),
            StateChange::Delete => None,
        };
        self.shared()
            .staged
            .insert((driver.to_string(), key.to_string()), staged);
        Ok(read)
    }
    async fn state_list_keys(&self, driver: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        let mut keys: std::collections::BTreeSet<String> = self
            .ask(|reply| TxRead::Keys {
                driver: driver.to_string(),
                prefix: prefix.to_string(),
                reply,
            })
            .await?
            .into_iter()
            .collect();
        for ((d, k), v) in self.shared().staged.iter() {
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

/// Host services for probing a quarantined driver outside any transaction: reads go to the
/// read pool, writes are kept for the probe's own reads and then discarded.
#[derive(Debug)]
pub struct ProbeHost {
    db: DbHost,
    staged: Mutex<Staged>,
}

impl ProbeHost {
    /// Probe services on `store`.
    pub fn new(store: Store) -> ProbeHost {
        ProbeHost {
            db: DbHost::new(store),
            staged: Mutex::default(),
        }
    }

    fn staged(&self) -> std::sync::MutexGuard<'_, Staged> {
        self.staged.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl HostServices for ProbeHost {
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
        self.db.state_list_keys(driver, prefix).await
    }
    async fn state_modify(
        &self,
        driver: &str,
        key: &str,
        change: StateModifier<'_>,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let read = self.state_get(driver, key).await?;
        let staged = match change(read.as_deref()) {
            StateChange::Keep => return Ok(read),
            StateChange::Set(v) => Some(v),
            StateChange::Delete => None,
        };
        self.staged()
            .insert((driver.to_string(), key.to_string()), staged);
        Ok(read)
    }
    async fn agents(
        &self,
        agent_type: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<rt::Agent>, HostError> {
        self.db.agents(agent_type, host).await
    }
}
