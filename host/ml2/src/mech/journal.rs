//! The journal of postcommit work (manifest `journal = true`).
//!
//! Recording: when a resource operation's precommit hooks pass, every enabled journaled
//! driver gets an entry for the postcommit that would follow (the hook and its context as
//! JSON), staged in the [`StagedHost`](super::StagedHost) and written by its `flush` in the
//! request's transaction: the entry exists if and only if the change committed. The
//! postcommit itself then skips those drivers ([`MechanismManager::postcommit`]) and wakes
//! the worker, so the client's answer never waits for the backend.
//!
//! Delivery ([`spawn_worker`], one task per server): entries are claimed with a lease
//! (`neutrino_store::journal::claim`, one server at a time), the driver's postcommit is
//! called with the stored context on the version serving *now* (a hot swap or rollback in
//! between continues on the new version), and the entry is deleted and counted in a
//! transaction that names the claim (outcomes waiting together are recorded together). `unavailable`, a fault (trap, timeout, memory, busy)
//! or a refusal the host could not record sets the next attempt after an exponential
//! backoff (0.5 s doubling to 30 s); any other refusal fails the entry (kept, visible, until an
//! operator retries or drops it).
//!
//! Order ([`eligible`]): an entry waits while an older pending entry of the same driver
//! concerns the same resource, a resource it depends on (a port's network, subnets and security groups, a
//! subnet's network, a rule's security group), or a resource that depends on it. So a
//! network is created before its subnets and ports, and deleted after them; unrelated
//! resources are delivered in parallel. Failed entries no longer hold others back.
//!
//! Delivery is at least once: a server that dies after the driver's call returned and
//! before the entry was deleted leaves the claim to expire (postcommit wall budget + 10 s),
//! and the entry is delivered again. Every delivery is logged with the entry's id
//! (`journal entry <id>`), and drivers should make postcommit work idempotent (PUT rather
//! than POST, "exists" treated as success), as controller drivers do anyway.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use neutrino_runtime::{self as rt, CallError, Hook};
use neutrino_store::journal::{self as db, Entry as JournalEntry, NewEntry};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::quarantine::OwnedCall;
use super::{Call, Entry, MechanismManager};
use crate::error::{Error, Result};

/// First retry delay.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often the worker looks for due retries and other servers' entries without a wake-up.
pub const POLL: Duration = Duration::from_secs(1);
/// Pending entries of one driver the worker orders per pass (the oldest; enough to find
/// [`IN_FLIGHT`] deliverable ones unless a long run of them waits behind a retry).
const SCAN: i64 = 1000;
/// Entries of one driver delivered at once by one server.
const IN_FLIGHT: usize = 32;
/// Deliveries of one driver in flight at once: at most [`IN_FLIGHT`], and at most half the
/// driver's `max_concurrent_calls`, so that the journal never takes every call slot and the
/// request path's own hooks of the driver (precommit, `bind_port`) always find room instead of
/// failing as busy.
fn in_flight_limit(max_concurrent_calls: usize) -> usize {
    (max_concurrent_calls / 2).clamp(1, IN_FLIGHT)
}

/// How long a claim outlives the postcommit's wall-clock budget.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

/// The delay before attempt `attempts + 1` after `attempts` failed ones.
pub fn backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 16) - 1).unwrap_or(0);
    BACKOFF_FIRST.saturating_mul(1 << exp).min(BACKOFF_MAX)
}

/// The ids (at most `limit`) of `pending` (one driver's pending entries in sequence order)
/// that may be delivered at `now_ms`: due, unclaimed, and with no older pending entry on the
/// same resource, a resource it depends on, or a resource depending on it.
pub fn eligible(pending: &[JournalEntry], now_ms: i64, limit: usize) -> Vec<i64> {
    let mut resources: HashSet<&str> = HashSet::new();
    let mut parents: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for e in pending {
        if out.len() >= limit {
            break;
        }
        let blocked = resources.contains(e.resource_id.as_str())
            || parents.contains(e.resource_id.as_str())
            || e.parents.iter().any(|p| resources.contains(p.as_str()));
        if !blocked && e.next_attempt_ms <= now_ms && e.claim_until_ms < now_ms {
            out.push(e.id);
        }
        resources.insert(&e.resource_id);
        parents.extend(e.parents.iter().map(String::as_str));
    }
    out
}

/// The postcommit hook that follows precommit `hook`.
fn postcommit_of(hook: Hook) -> Hook {
    match hook {
        Hook::CreatePrecommit | Hook::CreatePostcommit => Hook::CreatePostcommit,
        Hook::UpdatePrecommit | Hook::UpdatePostcommit => Hook::UpdatePostcommit,
        Hook::DeletePrecommit | Hook::DeletePostcommit => Hook::DeletePostcommit,
    }
}

/// The hook an operation name (`create_port_postcommit`) calls.
fn hook_of(operation: &str) -> Option<Hook> {
    match operation.split('_').next()? {
        "create" => Some(Hook::CreatePostcommit),
        "update" => Some(Hook::UpdatePostcommit),
        "delete" => Some(Hook::DeletePostcommit),
        _ => None,
    }
}

/// What an entry for `call` records: resource type, id, the ids it depends on, the
/// context as JSON.
fn describe(call: Call<'_>) -> (&'static str, String, Vec<String>, String) {
    let json = |v: serde_json::Result<String>| v.unwrap_or_default();
    match call {
        Call::Network(_, c) => (
            "network",
            c.current.id.clone(),
            Vec::new(),
            json(serde_json::to_string(c)),
        ),
        Call::Subnet(_, c) => (
            "subnet",
            c.current.id.clone(),
            vec![c.current.network_id.clone()],
            json(serde_json::to_string(c)),
        ),
        Call::Port(_, c) => {
            let mut parents = vec![c.current.network_id.clone()];
            for ip in &c.current.fixed_ips {
                if !parents.contains(&ip.subnet_id) {
                    parents.push(ip.subnet_id.clone());
                }
            }
            // Its security groups too (a controller must know a group before a port in it:
            // a project's default group is made in the port's own transaction).
            let dict: serde_json::Value = serde_json::from_str(&c.current.json).unwrap_or_default();
            let groups = dict["security_groups"].as_array().into_iter().flatten();
            for group in groups.filter_map(serde_json::Value::as_str) {
                if !parents.iter().any(|p| p == group) {
                    parents.push(group.to_string());
                }
            }
            (
                "port",
                c.current.id.clone(),
                parents,
                json(serde_json::to_string(c)),
            )
        }
        Call::SecurityGroup(_, c) => (
            "security_group",
            c.current.id.clone(),
            Vec::new(),
            json(serde_json::to_string(c)),
        ),
        Call::SecurityGroupRule(_, c) => (
            "security_group_rule",
            c.current.id.clone(),
            vec![c.current.security_group_id.clone()],
            json(serde_json::to_string(c)),
        ),
    }
}

/// The call an entry describes.
fn owned_call(e: &JournalEntry) -> std::result::Result<OwnedCall, String> {
    let hook = hook_of(&e.operation).ok_or_else(|| format!("unknown operation {}", e.operation))?;
    let bad = |err: serde_json::Error| format!("unreadable context: {err}");
    Ok(match e.resource_type.as_str() {
        "network" => OwnedCall::Network(
            hook,
            Box::new(serde_json::from_str(&e.context).map_err(bad)?),
        ),
        "subnet" => OwnedCall::Subnet(
            hook,
            Box::new(serde_json::from_str(&e.context).map_err(bad)?),
        ),
        "port" => OwnedCall::Port(
            hook,
            Box::new(serde_json::from_str(&e.context).map_err(bad)?),
        ),
        "security_group" => OwnedCall::SecurityGroup(
            hook,
            Box::new(serde_json::from_str(&e.context).map_err(bad)?),
        ),
        "security_group_rule" => OwnedCall::SecurityGroupRule(
            hook,
            Box::new(serde_json::from_str(&e.context).map_err(bad)?),
        ),
        other => return Err(format!("unknown resource type {other}")),
    })
}

/// Whether a failed delivery is tried again: the backend is unavailable or busy, or the
/// driver faulted (trap, timeout, memory, no free call slot).
pub fn retried(e: &CallError) -> bool {
    e.is_retryable()
}

/// A driver's journal as the management API shows it.
#[derive(Debug, Clone)]
pub struct JournalView {
    /// Counts.
    pub summary: db::Summary,
    /// Seconds since the oldest pending entry was recorded.
    pub oldest_pending_age: Option<f64>,
    /// Entries, oldest first.
    pub entries: Vec<JournalEntry>,
}

/// Entries listed by [`MechanismManager::journal`] at most.
pub const LIST_LIMIT: i64 = 1000;

fn journal_entry_not_found(name: &str, id: i64) -> Error {
    Error::neutron(
        "JournalEntryNotFound",
        404,
        format!("Journal entry {id} of mechanism driver {name} could not be found."),
    )
}

impl MechanismManager {
    /// Whether `entry`'s serving version journals its postcommit hooks.
    pub fn is_journaled(entry: &Entry) -> bool {
        entry.slot.current().meta().journal
    }

    /// The journal entries the postcommit following precommit `call` needs: one per enabled
    /// journaled driver (in reverse order for deletes, as the calls would be).
    pub fn journal_entries(&self, call: Call<'_>) -> Vec<NewEntry> {
        let operation = match call {
            Call::Network(h, c) => rt::call::Op::Network(postcommit_of(h), c).name(),
            Call::Subnet(h, c) => rt::call::Op::Subnet(postcommit_of(h), c).name(),
            Call::Port(h, c) => rt::call::Op::Port(postcommit_of(h), c).name(),
            Call::SecurityGroup(h, c) => rt::call::Op::SecurityGroup(postcommit_of(h), c).name(),
            Call::SecurityGroupRule(h, c) => {
                rt::call::Op::SecurityGroupRule(postcommit_of(h), c).name()
            }
        };
        // Drivers whose manifest leaves the postcommit out of its `hooks` get no entry.
        let drivers: Vec<String> = self
            .enabled(matches!(call.hook(), Hook::DeletePrecommit))
            .iter()
            .filter(|e| Self::is_journaled(e) && e.slot.current().meta().implements(operation))
            .map(|e| e.name.clone())
            .collect();
        if drivers.is_empty() {
            return Vec::new();
        }
        let (resource_type, resource_id, parents, context) = describe(call);
        drivers
            .into_iter()
            .map(|driver| NewEntry {
                driver,
                resource_type: resource_type.to_string(),
                resource_id: resource_id.clone(),
                parents: parents.clone(),
                operation: operation.to_string(),
                context: context.clone(),
            })
            .collect()
    }

    /// Tell the delivery worker that entries were committed.
    pub fn wake_journal(&self) {
        self.journal_wake.notify_one();
    }

    /// Whether `name` is a driver whose journal can be read: loaded here, or removed with
    /// entries left (they wait for it to be loaded again, and an operator may drop them).
    async fn journal_known(&self, name: &str) -> Result<()> {
        if self.entries().iter().any(|e| e.name == name) {
            return Ok(());
        }
        let mut conn = self
            .store()
            .reader()
            .acquire()
            .await
            .map_err(|e| Error::Store(neutrino_store::StoreError::classify(e)))?;
        let s = db::summary(&mut conn, name).await?;
        if s.pending + s.failed + s.delivered > 0 {
            return Ok(());
        }
        Err(Error::neutron(
            "MechanismDriverNotFound",
            404,
            format!("Mechanism driver {name} could not be found."),
        ))
    }

    /// Driver `name`'s journal: counts, the age of its oldest pending entry, and its entries
    /// (those in `state`, or all).
    pub async fn journal(&self, name: &str, state: Option<&str>) -> Result<JournalView> {
        self.journal_known(name).await?;
        if let Some(s) = state
            && s != db::PENDING
            && s != db::FAILED
        {
            return Err(Error::bad_request(format!(
                "Invalid state {s:?}: expected pending or failed (delivered entries are counted, not kept)."
            )));
        }
        let mut conn = self
            .store()
            .reader()
            .acquire()
            .await
            .map_err(|e| Error::Store(neutrino_store::StoreError::classify(e)))?;
        let summary = db::summary(&mut conn, name).await?;
        let entries = db::list(&mut conn, name, state, LIST_LIMIT).await?;
        let oldest_pending_age = summary
            .oldest_pending_ms
            .map(|t| (db::now_ms() - t).max(0) as f64 / 1000.0);
        Ok(JournalView {
            summary,
            oldest_pending_age,
            entries,
        })
    }

    /// Make entry `id` of driver `name` due now (a failed entry pending again).
    pub async fn journal_retry(&self, name: &str, id: i64) -> Result<()> {
        self.journal_known(name).await?;
        let mut tx = self.store().begin().await?;
        if !db::retry(&mut tx, name, id).await? {
            return Err(journal_entry_not_found(name, id));
        }
        tx.commit()
            .await
            .map_err(neutrino_store::StoreError::classify)?;
        tracing::info!(driver = %name, entry = id, "journal entry retried by an operator");
        self.wake_journal();
        Ok(())
    }

    /// Drop entry `id` of driver `name` undelivered.
    pub async fn journal_drop(&self, name: &str, id: i64) -> Result<()> {
        self.journal_known(name).await?;
        let mut tx = self.store().begin().await?;
        if !db::drop_entry(&mut tx, name, id).await? {
            return Err(journal_entry_not_found(name, id));
        }
        tx.commit()
            .await
            .map_err(neutrino_store::StoreError::classify)?;
        tracing::warn!(driver = %name, entry = id, "journal entry dropped by an operator");
        self.wake_journal();
        Ok(())
    }
}

/// Start the delivery worker of this server (until the task is aborted).
pub fn spawn_worker(mech: Arc<MechanismManager>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let worker = format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple());
        let (marks, recorder) = mpsc::unbounded_channel();
        // Ends with this task: it drops the last sender.
        spawn_recorder(mech.clone(), recorder);
        let mut in_flight: JoinSet<String> = JoinSet::new();
        let mut busy: BTreeMap<String, usize> = BTreeMap::new();
        let mut look = true;
        loop {
            if look && let Err(e) = pass(&mech, &worker, &mut in_flight, &mut busy, &marks).await {
                tracing::warn!(error = %e, "journal delivery pass failed; trying again shortly");
            }
            look = tokio::select! {
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Ok(driver) = done
                        && let Some(n) = busy.get_mut(&driver)
                    {
                        *n = n.saturating_sub(1);
                    }
                    // Look again once half the deliveries ended (at once when few run): a
                    // pass reads the oldest pending entries, so one per delivery would cost
                    // more than the deliveries under load.
                    in_flight.len() <= IN_FLIGHT / 2
                }
                _ = mech.journal_wake.notified() => true,
                _ = tokio::time::sleep(POLL) => true,
            };
            // Collect every other delivery that ended meanwhile.
            while let Some(done) = in_flight.try_join_next() {
                if let Ok(driver) = done
                    && let Some(n) = busy.get_mut(&driver)
                {
                    *n = n.saturating_sub(1);
                }
            }
        }
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "neutrino".into())
}

/// One look at every driver's pending entries: claim what may go now and start delivering.
async fn pass(
    mech: &Arc<MechanismManager>,
    worker: &str,
    in_flight: &mut JoinSet<String>,
    busy: &mut BTreeMap<String, usize>,
    marks: &mpsc::UnboundedSender<Mark>,
) -> std::result::Result<(), neutrino_store::StoreError> {
    let mut conn = mech
        .store()
        .reader()
        .acquire()
        .await
        .map_err(neutrino_store::StoreError::classify)?;
    let drivers = db::drivers_with_pending(&mut conn).await?;
    let entries = mech.entries();
    for name in drivers {
        // Entries of a driver not serving here (removed, disabled, failing to load) wait.
        let Some(entry) = entries
            .iter()
            .find(|e| e.name == name && e.enabled)
            .cloned()
        else {
            continue;
        };
        let running = busy.get(&name).copied().unwrap_or(0);
        let limit = in_flight_limit(entry.settings.limits.max_concurrent_calls);
        if running >= limit {
            continue;
        }
        let pending = db::pending(&mut conn, &name, SCAN).await?;
        let ids = eligible(&pending, db::now_ms(), limit - running);
        if ids.is_empty() {
            continue;
        }
        let lease = entry.settings.limits.postcommit_wall + LEASE_MARGIN;
        let claim = format!("{worker}/{}", uuid::Uuid::new_v4().simple());
        let until = db::now_ms() + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let mut tx = mech.store().begin().await?;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(e) = db::claim(&mut tx, id, &claim, until).await? {
                claimed.push(e);
            }
        }
        tx.commit()
            .await
            .map_err(neutrino_store::StoreError::classify)?;
        // Removed or disabled since the list was read: give the entries back untried (an
        // attempt that holds its claim when the driver goes finishes on its version).
        let serving = mech
            .entries()
            .iter()
            .any(|e| e.name == name && e.enabled && Arc::ptr_eq(&e.slot, &entry.slot));
        if !serving {
            let mut tx = mech.store().begin().await?;
            for e in &claimed {
                db::release(&mut tx, e.id, &claim).await?;
            }
            tx.commit()
                .await
                .map_err(neutrino_store::StoreError::classify)?;
            continue;
        }
        for e in claimed {
            *busy.entry(name.clone()).or_default() += 1;
            let mech = mech.clone();
            let entry = entry.clone();
            let claim = claim.clone();
            let marks = marks.clone();
            in_flight.spawn(async move {
                deliver(&mech, &entry, e, claim, &marks).await;
                entry.name.clone()
            });
        }
    }
    Ok(())
}

/// What a delivery ended in, waiting to be recorded.
struct Mark {
    entry: JournalEntry,
    claim: String,
    /// `Err((why, retried))`.
    outcome: std::result::Result<(), (String, bool)>,
}

/// Call the driver for one claimed entry and hand the outcome to the recorder.
async fn deliver(
    mech: &MechanismManager,
    entry: &Entry,
    e: JournalEntry,
    claim: String,
    marks: &mpsc::UnboundedSender<Mark>,
) {
    let outcome = match owned_call(&e) {
        Err(why) => Err((why, false)),
        Ok(call) => {
            tracing::debug!(driver = %e.driver, entry = e.id, operation = %e.operation, resource = %e.resource_id, attempt = e.attempts + 1, "delivering journal entry {}", e.id);
            let host = mech.db_host();
            match MechanismManager::call_one(entry, call.as_call(), &host).await {
                Ok(()) => Ok(()),
                Err(err) => Err((err.to_string(), retried(&err))),
            }
        }
    };
    // Until recorded the entry stays claimed, so nothing after it goes out yet.
    let _ = marks.send(Mark {
        entry: e,
        claim,
        outcome,
    });
}

/// Record delivery outcomes, as many as are waiting in one transaction (on SQLite one
/// writer serves the API too: a transaction per delivery would cost it), then wake the
/// worker for what they unblocked. Ends when the worker does.
fn spawn_recorder(
    mech: Arc<MechanismManager>,
    mut marks: mpsc::UnboundedReceiver<Mark>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(first) = marks.recv().await {
            let mut batch = vec![first];
            while batch.len() < RECORD_BATCH {
                match marks.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            let recorded = match record(&mech, &batch).await {
                Ok(held) => Ok(held),
                // A conflict: once more, then each on its own.
                Err(e) if e.is_retriable() => record(&mech, &batch).await,
                Err(e) => Err(e),
            };
            match recorded {
                Ok(held) => {
                    for (m, held) in batch.iter().zip(held) {
                        log_outcome(m, held);
                    }
                }
                Err(db_error) => {
                    for m in &batch {
                        tracing::warn!(driver = %m.entry.driver, entry = m.entry.id, error = %db_error, "could not record a journal delivery; the claim expires and the entry is delivered again");
                    }
                }
            }
            mech.wake_journal();
        }
    })
}

/// Entries recorded per transaction at most.
const RECORD_BATCH: usize = 128;

async fn record(
    mech: &MechanismManager,
    batch: &[Mark],
) -> std::result::Result<Vec<bool>, neutrino_store::StoreError> {
    let mut tx = mech.store().begin().await?;
    let mut held = Vec::with_capacity(batch.len());
    for m in batch {
        let e = &m.entry;
        held.push(match &m.outcome {
            Ok(()) => db::delivered(&mut tx, e.id, &e.driver, &m.claim).await?,
            Err((why, retry)) => {
                let next = db::now_ms()
                    + i64::try_from(backoff(e.attempts + 1).as_millis()).unwrap_or(i64::MAX / 2);
                db::attempt_failed(&mut tx, e.id, &m.claim, next, why, !retry).await?
            }
        });
    }
    tx.commit()
        .await
        .map_err(neutrino_store::StoreError::classify)?;
    Ok(held)
}

fn log_outcome(m: &Mark, held: bool) {
    let e = &m.entry;
    match (&m.outcome, held) {
        (_, false) => {
            tracing::warn!(driver = %e.driver, entry = e.id, "journal entry dropped by an operator, or its claim expired during delivery (then another server may deliver it again)")
        }
        (Ok(()), true) => {
            tracing::debug!(driver = %e.driver, entry = e.id, "journal entry {} delivered", e.id)
        }
        (Err((why, true)), true) => {
            tracing::info!(driver = %e.driver, entry = e.id, attempt = e.attempts + 1, error = %why, "journal entry {} not delivered; retrying after {:?}", e.id, backoff(e.attempts + 1))
        }
        (Err((why, false)), true) => {
            tracing::error!(driver = %e.driver, entry = e.id, error = %why, "journal entry {} failed permanently", e.id)
        }
    }
}

#[cfg(test)]
mod in_flight_tests {
    use super::in_flight_limit;

    #[test]
    fn the_journal_leaves_half_of_a_drivers_call_slots_to_requests() {
        assert_eq!(in_flight_limit(32), 16);
        assert_eq!(in_flight_limit(64), 32);
        assert_eq!(in_flight_limit(1000), 32);
        assert_eq!(in_flight_limit(1), 1);
        assert_eq!(in_flight_limit(3), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neutrino_runtime::ErrorKind;

    fn pending(id: i64, resource: &str, parents: &[&str]) -> JournalEntry {
        JournalEntry {
            id,
            driver: "d".into(),
            resource_type: "x".into(),
            resource_id: resource.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            operation: "create_port_postcommit".into(),
            context: String::new(),
            state: db::PENDING.into(),
            attempts: 0,
            next_attempt_ms: 0,
            last_error: None,
            claimed_by: None,
            claim_until_ms: 0,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn a_network_goes_before_its_subnets_and_ports_and_unrelated_work_goes_in_parallel() {
        let q = [
            pending(1, "net", &[]),
            pending(2, "sub", &["net"]),
            pending(3, "p1", &["net", "sub"]),
            pending(4, "other-net", &[]),
        ];
        assert_eq!(eligible(&q, 10, 100), vec![1, 4]);
        assert_eq!(eligible(&q[1..], 10, 100), vec![2, 4]);
        assert_eq!(eligible(&q[2..], 10, 100), vec![3, 4]);
    }

    #[test]
    fn one_resource_goes_in_order_and_a_delete_waits_for_its_children() {
        let q = [
            pending(1, "p1", &["net"]),
            pending(2, "p1", &["net"]),
            pending(3, "p2", &["net"]),
            pending(4, "net", &[]),
        ];
        assert_eq!(eligible(&q, 10, 100), vec![1, 3]);
        assert_eq!(eligible(&q[2..], 10, 100), vec![3]);
        assert_eq!(eligible(&q[3..], 10, 100), vec![4]);
    }

    #[test]
    fn an_entry_waiting_for_its_retry_or_claimed_elsewhere_still_holds_back_the_next() {
        let mut first = pending(1, "p1", &[]);
        first.next_attempt_ms = 50;
        let q = [first, pending(2, "p1", &[])];
        assert!(eligible(&q, 10, 100).is_empty());
        assert_eq!(eligible(&q, 60, 100), vec![1]);
        let mut claimed = pending(1, "p1", &[]);
        claimed.claim_until_ms = 100;
        assert!(eligible(&[claimed, pending(2, "p1", &[])], 60, 100).is_empty());
    }

    #[test]
    fn retries_back_off_from_half_a_second_to_thirty() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(7), Duration::from_secs(30));
        assert_eq!(backoff(1000), Duration::from_secs(30));
    }

    #[test]
    fn unavailable_and_faults_are_retried_other_refusals_are_not() {
        let refused = |kind| CallError::Driver {
            driver: "d".into(),
            hook: "create_port_postcommit",
            kind,
            message: String::new(),
        };
        assert!(retried(&refused(ErrorKind::Unavailable)));
        assert!(!retried(&refused(ErrorKind::Conflict)));
        assert!(!retried(&refused(ErrorKind::InvalidInput)));
        assert!(retried(&CallError::Trap {
            driver: "d".into(),
            hook: "create_port_postcommit",
            message: String::new(),
            stderr: String::new(),
        }));
    }
}
