//! Mechanism drivers as the database keeps them: every uploaded version (with its `.wasm`),
//! which version each driver serves, an action log, and each driver's key-value state.

use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::error::{Result, StoreError};
use crate::row::{boolean, int, opt_text, text};

/// One uploaded version of a driver.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverVersion {
    /// Row id (UUID).
    pub id: String,
    /// Driver name.
    pub name: String,
    /// Version from its manifest.
    pub version: String,
    /// sha256 of the `.wasm`, hex.
    pub sha256: String,
    /// Contract it was built for.
    pub contract: String,
    /// Size of the `.wasm`.
    pub size: i64,
    /// The `.wasm` itself (empty when listed without it).
    pub wasm: Vec<u8>,
    /// `driver.toml`, when one came with it.
    pub manifest: Option<String>,
    /// Operator settings used with this version (TOML).
    pub settings: String,
    /// When it was uploaded.
    pub created_at: String,
    /// Project that uploaded it.
    pub created_by: String,
}

/// A driver ML2 calls.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverRow {
    /// Name.
    pub name: String,
    /// Call order.
    pub position: i64,
    /// Called at all.
    pub enabled: bool,
    /// Version serving.
    pub current_version_id: String,
    /// Version a rollback returns to.
    pub previous_version_id: Option<String>,
    /// Changes on every change.
    pub generation: String,
    /// Last change.
    pub updated_at: String,
}

/// One entry of a driver's history.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverEvent {
    /// Driver.
    pub name: String,
    /// `load`, `upgrade`, `rollback`, `disable`, `enable`, `remove`, `failed`.
    pub action: String,
    /// Version concerned.
    pub version_id: Option<String>,
    /// Free text (e.g. why an upgrade failed).
    pub detail: String,
    /// When.
    pub at: String,
    /// Who.
    pub by_project: String,
}

const VERSION_COLUMNS: &str =
    "id, name, version, sha256, contract, size, manifest, settings, created_at, created_by";

fn version_from_row(row: &AnyRow, with_wasm: bool) -> Result<DriverVersion> {
    use sqlx::Row;
    Ok(DriverVersion {
        id: text(row, 0)?,
        name: text(row, 1)?,
        version: text(row, 2)?,
        sha256: text(row, 3)?,
        contract: text(row, 4)?,
        size: int(row, 5)?,
        manifest: opt_text(row, 6)?,
        settings: text(row, 7)?,
        created_at: text(row, 8)?,
        created_by: text(row, 9)?,
        wasm: if with_wasm {
            row.try_get::<Vec<u8>, _>(10)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
        } else {
            Vec::new()
        },
    })
}

/// Store a new version.
pub async fn insert_version(conn: &mut AnyConnection, v: &DriverVersion) -> Result<()> {
    sqlx::query(
        "INSERT INTO driver_versions (id, name, version, sha256, contract, size, wasm, manifest, \
         settings, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(v.id.clone())
    .bind(v.name.clone())
    .bind(v.version.clone())
    .bind(v.sha256.clone())
    .bind(v.contract.clone())
    .bind(v.size)
    .bind(v.wasm.clone())
    .bind(v.manifest.clone())
    .bind(v.settings.clone())
    .bind(v.created_at.clone())
    .bind(v.created_by.clone())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// One version, with its `.wasm`.
pub async fn get_version(conn: &mut AnyConnection, id: &str) -> Result<Option<DriverVersion>> {
    let sql = format!("SELECT {VERSION_COLUMNS}, wasm FROM driver_versions WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.map(|r| version_from_row(&r, true)).transpose()
}

/// Every version of a driver, oldest first, without the `.wasm`.
pub async fn versions_of(conn: &mut AnyConnection, name: &str) -> Result<Vec<DriverVersion>> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM driver_versions WHERE name = $1 ORDER BY created_at, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter().map(|r| version_from_row(r, false)).collect()
}

/// Versions by id, without the `.wasm`.
pub async fn version_meta(conn: &mut AnyConnection, id: &str) -> Result<Option<DriverVersion>> {
    let sql = format!("SELECT {VERSION_COLUMNS} FROM driver_versions WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.map(|r| version_from_row(&r, false)).transpose()
}

const DRIVER_COLUMNS: &str =
    "name, position, enabled, current_version_id, previous_version_id, generation, updated_at";

fn driver_from_row(row: &AnyRow) -> Result<DriverRow> {
    Ok(DriverRow {
        name: text(row, 0)?,
        position: int(row, 1)?,
        enabled: boolean(row, 2)?,
        current_version_id: text(row, 3)?,
        previous_version_id: opt_text(row, 4)?,
        generation: text(row, 5)?,
        updated_at: text(row, 6)?,
    })
}

/// Every driver, in call order.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<DriverRow>> {
    let sql = format!("SELECT {DRIVER_COLUMNS} FROM mechanism_drivers ORDER BY position, name");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter().map(driver_from_row).collect()
}

/// One driver.
pub async fn get(conn: &mut AnyConnection, name: &str) -> Result<Option<DriverRow>> {
    let sql = format!("SELECT {DRIVER_COLUMNS} FROM mechanism_drivers WHERE name = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(driver_from_row).transpose()
}

/// Insert or replace a driver row.
pub async fn upsert(conn: &mut AnyConnection, d: &DriverRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO mechanism_drivers (name, position, enabled, current_version_id, \
         previous_version_id, generation, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, enabled = excluded.enabled, \
         current_version_id = excluded.current_version_id, \
         previous_version_id = excluded.previous_version_id, generation = excluded.generation, \
         updated_at = excluded.updated_at",
    )
    .bind(d.name.clone())
    .bind(d.position)
    .bind(i64::from(d.enabled))
    .bind(d.current_version_id.clone())
    .bind(d.previous_version_id.clone())
    .bind(d.generation.clone())
    .bind(d.updated_at.clone())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Remove a driver (its versions and state stay, for the record and a later reload).
pub async fn delete(conn: &mut AnyConnection, name: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM mechanism_drivers WHERE name = $1")
        .bind(name.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// A fingerprint of the whole driver table: changes whenever any driver changes.
pub async fn fingerprint(conn: &mut AnyConnection) -> Result<String> {
    let rows = sqlx::query("SELECT name, generation FROM mechanism_drivers ORDER BY name")
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let mut out = String::new();
    for r in &rows {
        out.push_str(&text(r, 0)?);
        out.push('=');
        out.push_str(&text(r, 1)?);
        out.push(';');
    }
    Ok(out)
}

/// Record an action.
pub async fn log_event(conn: &mut AnyConnection, e: &DriverEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO driver_events (id, name, action, version_id, detail, at, by_project) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(e.name.clone())
    .bind(e.action.clone())
    .bind(e.version_id.clone())
    .bind(e.detail.clone())
    .bind(e.at.clone())
    .bind(e.by_project.clone())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// A driver's actions, oldest first.
pub async fn events_of(conn: &mut AnyConnection, name: &str) -> Result<Vec<DriverEvent>> {
    let rows = sqlx::query(
        "SELECT name, action, version_id, detail, at, by_project FROM driver_events \
         WHERE name = $1 ORDER BY at, id",
    )
    .bind(name.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| {
            Ok(DriverEvent {
                name: text(r, 0)?,
                action: text(r, 1)?,
                version_id: opt_text(r, 2)?,
                detail: text(r, 3)?,
                at: text(r, 4)?,
                by_project: text(r, 5)?,
            })
        })
        .collect()
}

/// A value of a driver's state.
pub async fn state_get(
    conn: &mut AnyConnection,
    driver: &str,
    key: &str,
) -> Result<Option<Vec<u8>>> {
    state_get_for_update(conn, false, driver, key).await
}

/// A value of a driver's state, read for a change in the caller's transaction: on
/// PostgreSQL the row is locked (`FOR UPDATE`) until the transaction ends, so concurrent
/// read-modify-writes of one key take turns; SQLite's single writer already serializes them.
pub async fn state_get_for_update(
    conn: &mut AnyConnection,
    lock: bool,
    driver: &str,
    key: &str,
) -> Result<Option<Vec<u8>>> {
    use sqlx::Row;
    let sql = if lock {
        "SELECT value FROM driver_state WHERE driver = $1 AND key = $2 FOR UPDATE"
    } else {
        "SELECT value FROM driver_state WHERE driver = $1 AND key = $2"
    };
    let row = sqlx::query(sql)
        .bind(driver.to_string())
        .bind(key.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.map(|r| {
        r.try_get::<Vec<u8>, _>(0)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    })
    .transpose()
}

/// Create a key of a driver's state that the transaction saw absent. If another
/// transaction created it meanwhile, the write would overwrite a value this one never saw:
/// that is a [`StoreError::Retry`], and the whole transaction runs again.
pub async fn state_insert_new(
    conn: &mut AnyConnection,
    driver: &str,
    key: &str,
    value: &[u8],
) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO driver_state (driver, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (driver, key) DO NOTHING",
    )
    .bind(driver.to_string())
    .bind(key.to_string())
    .bind(value.to_vec())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Retry(format!(
            "driver `{driver}` state key `{key}` was created by a concurrent transaction"
        )));
    }
    Ok(())
}

/// Set a value of a driver's state.
pub async fn state_set(
    conn: &mut AnyConnection,
    driver: &str,
    key: &str,
    value: &[u8],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO driver_state (driver, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (driver, key) DO UPDATE SET value = excluded.value",
    )
    .bind(driver.to_string())
    .bind(key.to_string())
    .bind(value.to_vec())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Delete a value of a driver's state.
pub async fn state_delete(conn: &mut AnyConnection, driver: &str, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM driver_state WHERE driver = $1 AND key = $2")
        .bind(driver.to_string())
        .bind(key.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Keys of a driver's state starting with `prefix`, sorted.
pub async fn state_keys(
    conn: &mut AnyConnection,
    driver: &str,
    prefix: &str,
) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT key FROM driver_state WHERE driver = $1 ORDER BY key")
        .bind(driver.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let mut out = Vec::new();
    for r in &rows {
        let k = text(r, 0)?;
        if k.starts_with(prefix) {
            out.push(k);
        }
    }
    Ok(out)
}

/// Keys and values of a driver's state whose key starts with `prefix`, sorted by key (the
/// operator's view: `GET /v2.0/mechanism-drivers/{name}/state`).
pub async fn state_entries(
    conn: &mut AnyConnection,
    driver: &str,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT key, value FROM driver_state WHERE driver = $1 ORDER BY key")
        .bind(driver.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let mut out = Vec::new();
    for r in &rows {
        let k = text(r, 0)?;
        if k.starts_with(prefix) {
            let v = r
                .try_get::<Vec<u8>, _>(1)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push((k, v));
        }
    }
    Ok(out)
}

/// Delete one key of a driver's state; whether it existed.
pub async fn state_remove(conn: &mut AnyConnection, driver: &str, key: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM driver_state WHERE driver = $1 AND key = $2")
        .bind(driver.to_string())
        .bind(key.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() > 0)
}

/// Delete the stored versions of a driver whose ids are not in `keep`; how many went.
pub async fn prune_versions(conn: &mut AnyConnection, name: &str, keep: &[String]) -> Result<u64> {
    let versions = versions_of(conn, name).await?;
    let mut removed = 0;
    for v in versions.iter().filter(|v| !keep.contains(&v.id)) {
        let done = sqlx::query("DELETE FROM driver_versions WHERE id = $1")
            .bind(v.id.clone())
            .execute(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
        removed += done.rows_affected();
    }
    Ok(removed)
}

/// A driver's secret configuration values (a JSON object of only those values), if stored.
pub async fn secrets_get(conn: &mut AnyConnection, driver: &str) -> Result<Option<String>> {
    use sqlx::Row;
    let row = sqlx::query("SELECT config FROM driver_secrets WHERE driver = $1")
        .bind(driver.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.map(|r| {
        r.try_get::<String, _>(0)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    })
    .transpose()
}

/// Replace a driver's secret configuration values (kept once, not per version).
pub async fn secrets_set(conn: &mut AnyConnection, driver: &str, config: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO driver_secrets (driver, config) VALUES ($1, $2) \
         ON CONFLICT (driver) DO UPDATE SET config = excluded.config",
    )
    .bind(driver.to_string())
    .bind(config.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}
