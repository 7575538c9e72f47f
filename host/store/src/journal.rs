//! The journal of postcommit work of drivers whose manifest says `journal = true`
//! (migration `0015_driver_journal.sql`): entries written in the transaction that changed the
//! resource, claimed by one server at a time with a lease, and deleted once delivered (a
//! per-driver counter keeps how many were). What is delivered when is decided by
//! `neutrino_ml2::mech::journal`; this module only reads and writes rows.
//!
//! Claims are conditional updates (`… WHERE claim_until_ms < now`): on PostgreSQL the row
//! lock taken by the update makes a second claimer wait and then see the row claimed; on
//! SQLite the single writer serializes them. Every later change of a claimed entry names the
//! claim (`claimed_by`), so a server whose lease ran out changes nothing.

use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::error::{Result, StoreError};
use crate::row::{int, opt_text, text};

/// An entry waiting to be delivered (`state = 'pending'`).
pub const PENDING: &str = "pending";
/// An entry the driver refused permanently (`state = 'failed'`); delivered only after an
/// operator's retry.
pub const FAILED: &str = "failed";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What a transaction records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Driver name.
    pub driver: String,
    /// `network`, `subnet`, `port`, `security_group`, `security_group_rule`.
    pub resource_type: String,
    /// The resource's id.
    pub resource_id: String,
    /// Ids of the resources it depends on (a port's network and subnets, a rule's group).
    pub parents: Vec<String>,
    /// The hook to call, e.g. `create_port_postcommit`.
    pub operation: String,
    /// The hook's context, JSON.
    pub context: String,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Sequence number and id.
    pub id: i64,
    /// Driver name.
    pub driver: String,
    /// Resource type.
    pub resource_type: String,
    /// Resource id.
    pub resource_id: String,
    /// Ids of the resources it depends on.
    pub parents: Vec<String>,
    /// The hook to call.
    pub operation: String,
    /// The hook's context, JSON (empty when listed without it).
    pub context: String,
    /// [`PENDING`] or [`FAILED`].
    pub state: String,
    /// Deliveries tried so far.
    pub attempts: i64,
    /// Not tried again before this time.
    pub next_attempt_ms: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The claim holding it, if any.
    pub claimed_by: Option<String>,
    /// Until when the claim holds.
    pub claim_until_ms: i64,
    /// When it was recorded.
    pub created_ms: i64,
    /// Last change.
    pub updated_ms: i64,
}

const COLUMNS: &str = "id, driver, resource_type, resource_id, parents, operation, context, \
     state, attempts, next_attempt_ms, last_error, claimed_by, claim_until_ms, created_ms, \
     updated_ms";
const COLUMNS_NO_CONTEXT: &str = "id, driver, resource_type, resource_id, parents, operation, \
     '', state, attempts, next_attempt_ms, last_error, claimed_by, claim_until_ms, created_ms, \
     updated_ms";

fn entry(r: &AnyRow) -> Result<Entry> {
    Ok(Entry {
        id: int(r, 0)?,
        driver: text(r, 1)?,
        resource_type: text(r, 2)?,
        resource_id: text(r, 3)?,
        parents: text(r, 4)?.split_whitespace().map(String::from).collect(),
        operation: text(r, 5)?,
        context: text(r, 6)?,
        state: text(r, 7)?,
        attempts: int(r, 8)?,
        next_attempt_ms: int(r, 9)?,
        last_error: opt_text(r, 10)?,
        claimed_by: opt_text(r, 11)?,
        claim_until_ms: int(r, 12)?,
        created_ms: int(r, 13)?,
        updated_ms: int(r, 14)?,
    })
}

/// Record an entry (in the caller's transaction).
pub async fn insert(conn: &mut AnyConnection, e: &NewEntry) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO driver_journal (driver, resource_type, resource_id, parents, operation, \
         context, state, attempts, next_attempt_ms, claim_until_ms, created_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, 0, 0, $7, $7)",
    )
    .bind(e.driver.clone())
    .bind(e.resource_type.clone())
    .bind(e.resource_id.clone())
    .bind(e.parents.join(" "))
    .bind(e.operation.clone())
    .bind(e.context.clone())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Drivers with pending entries.
pub async fn drivers_with_pending(conn: &mut AnyConnection) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT DISTINCT driver FROM driver_journal WHERE state = 'pending'")
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter().map(|r| text(r, 0)).collect()
}

/// The oldest `limit` pending entries of `driver`, without their contexts, in sequence order.
pub async fn pending(conn: &mut AnyConnection, driver: &str, limit: i64) -> Result<Vec<Entry>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS_NO_CONTEXT} FROM driver_journal WHERE driver = $1 AND state = 'pending' \
         ORDER BY id LIMIT $2"
    )))
    .bind(driver.to_string())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter().map(entry).collect()
}

/// Claim entry `id` for `claim` until `until_ms`, if it is pending and nobody holds it.
/// Returns the entry (with its context) when claimed.
pub async fn claim(
    conn: &mut AnyConnection,
    id: i64,
    claim: &str,
    until_ms: i64,
) -> Result<Option<Entry>> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE driver_journal SET claimed_by = $1, claim_until_ms = $2, updated_ms = $3 \
         WHERE id = $4 AND state = 'pending' AND claim_until_ms < $3",
    )
    .bind(claim.to_string())
    .bind(until_ms)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM driver_journal WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    row.as_ref().map(entry).transpose()
}

/// The entry was delivered under `claim`: delete it and count it, if the claim still holds.
pub async fn delivered(
    conn: &mut AnyConnection,
    id: i64,
    driver: &str,
    claim: &str,
) -> Result<bool> {
    let done = sqlx::query("DELETE FROM driver_journal WHERE id = $1 AND claimed_by = $2")
        .bind(id)
        .bind(claim.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO driver_journal_counts (driver, delivered) VALUES ($1, 1) \
         ON CONFLICT (driver) DO UPDATE SET delivered = driver_journal_counts.delivered + 1",
    )
    .bind(driver.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(true)
}

/// The attempt under `claim` failed: count it, keep the error, release the claim, and set
/// the next attempt (`state` stays pending) or fail the entry (`failed = true`).
pub async fn attempt_failed(
    conn: &mut AnyConnection,
    id: i64,
    claim: &str,
    next_attempt_ms: i64,
    error: &str,
    failed: bool,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE driver_journal SET attempts = attempts + 1, next_attempt_ms = $1, \
         last_error = $2, state = $3, claimed_by = NULL, claim_until_ms = 0, updated_ms = $4 \
         WHERE id = $5 AND claimed_by = $6",
    )
    .bind(next_attempt_ms)
    .bind(error.to_string())
    .bind(if failed { FAILED } else { PENDING })
    .bind(now_ms())
    .bind(id)
    .bind(claim.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Give a claimed entry back untried (the driver is not serving here).
pub async fn release(conn: &mut AnyConnection, id: i64, claim: &str) -> Result<()> {
    sqlx::query(
        "UPDATE driver_journal SET claimed_by = NULL, claim_until_ms = 0 \
         WHERE id = $1 AND claimed_by = $2",
    )
    .bind(id)
    .bind(claim.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// A driver's journal in figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Entries waiting.
    pub pending: i64,
    /// Entries refused permanently.
    pub failed: i64,
    /// Entries delivered since the driver was first journaled.
    pub delivered: i64,
    /// When the oldest pending entry was recorded.
    pub oldest_pending_ms: Option<i64>,
}

/// The figures of `driver`'s journal.
pub async fn summary(conn: &mut AnyConnection, driver: &str) -> Result<Summary> {
    let rows = sqlx::query(
        "SELECT state, COUNT(*), MIN(created_ms) FROM driver_journal WHERE driver = $1 \
         GROUP BY state",
    )
    .bind(driver.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    let mut s = Summary::default();
    for r in &rows {
        match text(r, 0)?.as_str() {
            PENDING => {
                s.pending = int(r, 1)?;
                s.oldest_pending_ms = crate::row::opt_int(r, 2)?;
            }
            FAILED => s.failed = int(r, 1)?,
            _ => {}
        }
    }
    let delivered = sqlx::query("SELECT delivered FROM driver_journal_counts WHERE driver = $1")
        .bind(driver.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    if let Some(r) = delivered {
        s.delivered = int(&r, 0)?;
    }
    Ok(s)
}

/// `driver`'s entries (in `state`, or all), oldest first, with their contexts.
pub async fn list(
    conn: &mut AnyConnection,
    driver: &str,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<Entry>> {
    let rows = match state {
        Some(state) => sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM driver_journal WHERE driver = $1 AND state = $2 \
             ORDER BY id LIMIT $3"
        )))
        .bind(driver.to_string())
        .bind(state.to_string())
        .bind(limit),
        None => sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM driver_journal WHERE driver = $1 ORDER BY id LIMIT $2"
        )))
        .bind(driver.to_string())
        .bind(limit),
    }
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter().map(entry).collect()
}

/// Make entry `id` of `driver` due now (a failed one pending again). False if there is none.
pub async fn retry(conn: &mut AnyConnection, driver: &str, id: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE driver_journal SET state = 'pending', next_attempt_ms = 0, updated_ms = $1 \
         WHERE id = $2 AND driver = $3",
    )
    .bind(now_ms())
    .bind(id)
    .bind(driver.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Drop entry `id` of `driver` undelivered. False if there is none.
pub async fn drop_entry(conn: &mut AnyConnection, driver: &str, id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM driver_journal WHERE id = $1 AND driver = $2")
        .bind(id)
        .bind(driver.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}
