//! The mock host: in-memory state and agents, recording logs and state
//! writes.

use neutrino_runtime::{
    Agent, HostError, HostServices, LogLevel, MemoryHost, StateChange, StateModifier, async_trait,
};
use std::sync::Mutex;

/// A line a driver logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: LogLevel,
    /// Its text.
    pub message: String,
}

/// A state write a driver made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    /// The key.
    pub key: String,
    /// The new value; `None` for a delete.
    pub value: Option<Vec<u8>>,
}

#[derive(Default)]
pub(crate) struct MockHost {
    pub(crate) memory: MemoryHost,
    logs: Mutex<Vec<LogLine>>,
    writes: Mutex<Vec<StateWrite>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MockHost {
    pub(crate) fn logs(&self) -> Vec<LogLine> {
        lock(&self.logs).clone()
    }

    pub(crate) fn writes(&self) -> Vec<StateWrite> {
        lock(&self.writes).clone()
    }

    pub(crate) fn clear(&self) {
        lock(&self.logs).clear();
        lock(&self.writes).clear();
    }
}

#[async_trait]
impl HostServices for MockHost {
    async fn state_get(&self, driver: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.memory.state_get(driver, key).await
    }

    async fn state_set(&self, driver: &str, key: &str, value: Vec<u8>) -> Result<(), HostError> {
        lock(&self.writes).push(StateWrite {
            key: key.to_string(),
            value: Some(value.clone()),
        });
        self.memory.state_set(driver, key, value).await
    }

    async fn state_delete(&self, driver: &str, key: &str) -> Result<(), HostError> {
        lock(&self.writes).push(StateWrite {
            key: key.to_string(),
            value: None,
        });
        self.memory.state_delete(driver, key).await
    }

    async fn state_list_keys(&self, driver: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        self.memory.state_list_keys(driver, prefix).await
    }

    async fn state_modify(
        &self,
        driver: &str,
        key: &str,
        change: StateModifier<'_>,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let read = self.memory.state_modify(driver, key, change).await?;
        let value = match change(read.as_deref()) {
            StateChange::Keep => return Ok(read),
            StateChange::Set(v) => Some(v),
            StateChange::Delete => None,
        };
        lock(&self.writes).push(StateWrite {
            key: key.to_string(),
            value,
        });
        Ok(read)
    }

    async fn agents(
        &self,
        agent_type: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<Agent>, HostError> {
        self.memory.agents(agent_type, host).await
    }

    fn log(&self, _driver: &str, level: LogLevel, message: &str) {
        lock(&self.logs).push(LogLine {
            level,
            message: message.to_string(),
        });
    }
}
