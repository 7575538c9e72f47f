//! What the server provides to drivers' imports: each driver's state store
//! and the agent table. The server implements [`HostServices`] on its
//! database (passing one per call, so precommit state writes can join the
//! transaction); [`MemoryHost`] is an in-memory implementation for tests and
//! the SDK harness.

use crate::types::{Agent, LogLevel};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A host service failed (database down, ...); the driver sees it as
/// `state-error.unavailable` or an empty agent list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

/// What [`HostServices::state_modify`] does with the value it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    /// Leave the key as it is.
    Keep,
    /// Store this value.
    Set(Vec<u8>),
    /// Remove the key.
    Delete,
}

/// The function [`HostServices::state_modify`] applies to the value it read
/// (`None`: absent). It may be called more than once (a retried
/// transaction), so it must be pure.
pub type StateModifier<'a> = &'a (dyn Fn(Option<&[u8]>) -> StateChange + Send + Sync);

/// Host services for drivers. Keys and prefixes are already validated and
/// namespaced by `driver`, the calling driver's name.
#[async_trait]
pub trait HostServices: Send + Sync {
    /// The value of `key` in `driver`'s state.
    async fn state_get(&self, driver: &str, key: &str) -> Result<Option<Vec<u8>>, HostError>;
    /// Set `key` in `driver`'s state.
    async fn state_set(&self, driver: &str, key: &str, value: Vec<u8>) -> Result<(), HostError>;
    /// Remove `key` from `driver`'s state (no error if absent).
    async fn state_delete(&self, driver: &str, key: &str) -> Result<(), HostError>;
    /// The keys of `driver`'s state starting with `prefix`, sorted.
    async fn state_list_keys(&self, driver: &str, prefix: &str) -> Result<Vec<String>, HostError>;
    /// Read `key` and replace it with what `change` makes of the value,
    /// atomically: no other change of the key (from any call or server)
    /// comes between the read and the write. Returns the value read. In a
    /// precommit this is part of the request's transaction. The atomic
    /// `increment` and `compare-and-set` imports are built on it.
    async fn state_modify(
        &self,
        driver: &str,
        key: &str,
        change: StateModifier<'_>,
    ) -> Result<Option<Vec<u8>>, HostError>;
    /// The agents of `agent_type` on `host` (`None` matches any).
    async fn agents(
        &self,
        agent_type: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<Agent>, HostError>;
    /// A line the driver logged. The runtime already sends it to `tracing`
    /// (target `neutrino_runtime::guest`, field `driver`); implement this to
    /// record it elsewhere too.
    fn log(&self, driver: &str, level: LogLevel, message: &str) {
        let _ = (driver, level, message);
    }
}

/// Host services that have nothing: state and agents fail as unavailable.
/// Used for `initialize` when the caller gives no host.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoServices;

#[async_trait]
impl HostServices for NoServices {
    async fn state_get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, HostError> {
        Err(unavailable())
    }
    async fn state_set(&self, _: &str, _: &str, _: Vec<u8>) -> Result<(), HostError> {
        Err(unavailable())
    }
    async fn state_delete(&self, _: &str, _: &str) -> Result<(), HostError> {
        Err(unavailable())
    }
    async fn state_list_keys(&self, _: &str, _: &str) -> Result<Vec<String>, HostError> {
        Err(unavailable())
    }
    async fn state_modify(
        &self,
        _: &str,
        _: &str,
        _: StateModifier<'_>,
    ) -> Result<Option<Vec<u8>>, HostError> {
        Err(unavailable())
    }
    async fn agents(&self, _: Option<&str>, _: Option<&str>) -> Result<Vec<Agent>, HostError> {
        Err(unavailable())
    }
}

fn unavailable() -> HostError {
    HostError("no host services in this call".into())
}

/// In-memory host services: a state map per driver and an agent list.
#[derive(Debug, Default)]
pub struct MemoryHost {
    state: Mutex<BTreeMap<(String, String), Vec<u8>>>,
    agents: Mutex<Vec<Agent>>,
}

impl MemoryHost {
    /// An empty host.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an agent.
    pub fn add_agent(&self, agent: Agent) {
        lock(&self.agents).push(agent);
    }

    /// Replace all agents.
    pub fn set_agents(&self, agents: Vec<Agent>) {
        *lock(&self.agents) = agents;
    }

    /// The value of `key` in `driver`'s state.
    pub fn state(&self, driver: &str, key: &str) -> Option<Vec<u8>> {
        lock(&self.state)
            .get(&(driver.to_string(), key.to_string()))
            .cloned()
    }

    /// Set `key` in `driver`'s state.
    pub fn set_state(&self, driver: &str, key: &str, value: impl Into<Vec<u8>>) {
        lock(&self.state).insert((driver.to_string(), key.to_string()), value.into());
    }

    /// All of `driver`'s state.
    pub fn state_of(&self, driver: &str) -> BTreeMap<String, Vec<u8>> {
        lock(&self.state)
            .iter()
            .filter(|((d, _), _)| d == driver)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Lock a mutex, ignoring poisoning: the maps stay consistent because every
/// critical section is a single insert/remove/clone.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl HostServices for MemoryHost {
    async fn state_get(&self, driver: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.state(driver, key))
    }

    async fn state_set(&self, driver: &str, key: &str, value: Vec<u8>) -> Result<(), HostError> {
        self.set_state(driver, key, value);
        Ok(())
    }

    async fn state_delete(&self, driver: &str, key: &str) -> Result<(), HostError> {
        lock(&self.state).remove(&(driver.to_string(), key.to_string()));
        Ok(())
    }

    async fn state_list_keys(&self, driver: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        Ok(lock(&self.state)
            .keys()
            .filter(|(d, k)| d == driver && k.starts_with(prefix))
            .map(|(_, k)| k.clone())
            .collect())
    }

    async fn state_modify(
        &self,
        driver: &str,
        key: &str,
        change: StateModifier<'_>,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let mut state = lock(&self.state);
        let id = (driver.to_string(), key.to_string());
        let read = state.get(&id).cloned();
        match change(read.as_deref()) {
            StateChange::Keep => {}
            StateChange::Set(v) => {
                state.insert(id, v);
            }
            StateChange::Delete => {
                state.remove(&id);
            }
        }
        Ok(read)
    }

    async fn agents(
        &self,
        agent_type: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<Agent>, HostError> {
        Ok(lock(&self.agents)
            .iter()
            .filter(|a| agent_type.is_none_or(|t| a.agent_type == t))
            .filter(|a| host.is_none_or(|h| a.host == h))
            .cloned()
            .collect())
    }
}
