//! Periodic calls (contract 0.2's optional `periodic` export): every driver whose manifest
//! sets `periodic_interval` and whose component exports `periodic` is called that often by
//! each server, outside any transaction, with network access like a postcommit; its state
//! writes commit at once ([`super::DbHost`]). A call still running when the next is due is
//! not doubled: the next starts an interval after it ended. A failure is logged and counted
//! in the driver's stats; the next call comes all the same.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::MechanismManager;

/// How often the scheduler looks at the driver list.
const TICK: Duration = Duration::from_millis(250);

/// Start the periodic scheduler of this server (until the task is aborted).
pub fn spawn_scheduler(mech: Arc<MechanismManager>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Per driver: when its next call is due, and whether one is running.
        let mut due: BTreeMap<String, Instant> = BTreeMap::new();
        let running: Arc<std::sync::Mutex<BTreeMap<String, bool>>> = Arc::default();
        loop {
            tokio::time::sleep(TICK).await;
            let now = Instant::now();
            for entry in mech.entries().iter().filter(|e| e.enabled) {
                let current = entry.slot.current();
                let Some(interval) = current.meta().periodic_interval else {
                    due.remove(&entry.name);
                    continue;
                };
                let next = *due.entry(entry.name.clone()).or_insert(now + interval);
                let busy = running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&entry.name)
                    .copied()
                    .unwrap_or(false);
                if next > now || busy {
                    continue;
                }
                running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(entry.name.clone(), true);
                due.insert(entry.name.clone(), now + interval);
                let entry = entry.clone();
                let host = mech.db_host();
                let running = running.clone();
                tokio::spawn(async move {
                    if let Err(e) = entry.slot.call_periodic(&host).await {
                        tracing::warn!(driver = %entry.name, error = %e, "periodic call failed");
                    }
                    running
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(entry.name.clone(), false);
                });
            }
        }
    })
}
