//! Periodic calls (contract 0.2's optional `periodic` export): every driver whose manifest
//! sets `periodic_interval` and whose component exports `periodic` is called that often,
//! once per interval for the whole deployment however many servers share the database (the
//! due time lives in the database, `neutrino_store::periodic`: a server calls the driver only
//! after moving it forward), outside any transaction, with network access like a postcommit;
//! its state writes commit at once ([`super::DbHost`]). A call still running when the next is
//! due is not doubled: the next starts an interval after it ended. A failure is logged and
//! counted in the driver's stats; the next call comes all the same.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use neutrino_store::journal::now_ms;
use neutrino_store::periodic as db;

use super::MechanismManager;

/// How often the scheduler looks at the driver list.
const TICK: Duration = Duration::from_millis(250);

/// Start the periodic scheduler of this server (until the task is aborted).
pub fn spawn_scheduler(mech: Arc<MechanismManager>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let holder = format!("{}", uuid::Uuid::new_v4().simple());
        // Per driver: when this server looks at it next, and whether a call is running here.
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
                let next = *due.entry(entry.name.clone()).or_insert(now);
                let busy = running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&entry.name)
                    .copied()
                    .unwrap_or(false);
                if next > now || busy {
                    continue;
                }
                // Held past the longest a call may take, so no other server starts one
                // meanwhile; set an interval after its end when it ends.
                let hold = interval + entry.settings.limits.postcommit_wall;
                let wall = now_ms();
                match take(&mech, &entry.name, wall, ms(interval), ms(hold), &holder).await {
                    Ok(None) => {}
                    Ok(Some(due_ms)) => {
                        // Another server's, or not due yet: look again when it is.
                        let wait = u64::try_from(due_ms.saturating_sub(wall)).unwrap_or(0);
                        due.insert(entry.name.clone(), now + Duration::from_millis(wait));
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(driver = %entry.name, error = %e, "cannot take the periodic call; trying again shortly");
                        continue;
                    }
                }
                running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(entry.name.clone(), true);
                due.insert(entry.name.clone(), now + interval);
                let entry = entry.clone();
                let host = mech.db_host();
                let running = running.clone();
                let mech = mech.clone();
                let holder = holder.clone();
                tokio::spawn(async move {
                    if let Err(e) = entry.slot.call_periodic(&host).await {
                        tracing::warn!(driver = %entry.name, error = %e, "periodic call failed");
                    }
                    if let Err(e) = done(&mech, &entry.name, &holder, now_ms() + ms(interval)).await
                    {
                        tracing::warn!(driver = %entry.name, error = %e, "cannot record the end of a periodic call");
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

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

async fn take(
    mech: &MechanismManager,
    driver: &str,
    now_ms: i64,
    interval_ms: i64,
    hold_ms: i64,
    holder: &str,
) -> neutrino_store::Result<Option<i64>> {
    let mut tx = mech.store().begin().await?;
    let taken = db::take(
        &mut tx,
        driver,
        now_ms,
        now_ms + interval_ms,
        now_ms + hold_ms,
        holder,
    )
    .await?;
    tx.commit()
        .await
        .map_err(neutrino_store::StoreError::classify)?;
    Ok(taken)
}

async fn done(
    mech: &MechanismManager,
    driver: &str,
    holder: &str,
    next_due_ms: i64,
) -> neutrino_store::Result<()> {
    let mut tx = mech.store().begin().await?;
    db::done(&mut tx, driver, holder, next_due_ms).await?;
    tx.commit()
        .await
        .map_err(neutrino_store::StoreError::classify)
}
