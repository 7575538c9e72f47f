//! The operator's view of a driver's state (`GET /v2.0/mechanism-drivers/{name}/state`,
//! `DELETE …/state/{key}`): read every key under a prefix, and reset one key, e.g. a counter a
//! bug left wrong. A reset is recorded in the driver's history.

use neutrino_store::drivers::{self as db, DriverEvent};

use super::MechanismManager;
use crate::error::{Error, Result};

/// One key of a driver's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    /// The key.
    pub key: String,
    /// The value as stored.
    pub value: Vec<u8>,
}

impl MechanismManager {
    /// The keys (with values) of driver `name`'s state that start with `prefix`, sorted. A
    /// driver that is neither loaded nor has any state or history is not found.
    pub async fn state_entries(&self, name: &str, prefix: &str) -> Result<Vec<StateEntry>> {
        let mut conn = self
            .store
            .reader()
            .acquire()
            .await
            .map_err(|e| Error::Store(neutrino_store::StoreError::classify(e)))?;
        let entries = db::state_entries(&mut conn, name, prefix).await?;
        if entries.is_empty() && !self.known(&mut conn, name).await? {
            return Err(super::registry::not_found(name));
        }
        Ok(entries
            .into_iter()
            .map(|(key, value)| StateEntry { key, value })
            .collect())
    }

    /// Delete one key of driver `name`'s state (404 `DriverStateKeyNotFound` when absent),
    /// recorded in the driver's history as `state-reset` by `by`.
    pub async fn delete_state_key(&self, name: &str, key: &str, by: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        if !db::state_remove(&mut tx, name, key).await? {
            if !self.known(&mut tx, name).await? {
                return Err(super::registry::not_found(name));
            }
            return Err(Error::neutron(
                "DriverStateKeyNotFound",
                404,
                format!("Mechanism driver {name} has no state key {key:?}."),
            ));
        }
        db::log_event(
            &mut tx,
            &DriverEvent {
                name: name.to_string(),
                action: "state-reset".into(),
                version_id: None,
                detail: format!("deleted state key {key:?}"),
                at: neutrino_store::now_precise(),
                by_project: by.to_string(),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(neutrino_store::StoreError::classify)?;
        tracing::info!(
            driver = name,
            key,
            by,
            "driver state key deleted by an operator"
        );
        Ok(())
    }

    /// Whether a driver is loaded or on record (versions or history).
    async fn known(&self, conn: &mut neutrino_store::Conn, name: &str) -> Result<bool> {
        if self.info(name).is_some() {
            return Ok(true);
        }
        Ok(!db::versions_of(conn, name).await?.is_empty()
            || !db::events_of(conn, name).await?.is_empty())
    }
}
