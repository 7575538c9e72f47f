//! Service flavors, service profiles and the bindings between them.

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::db::numbered;
use crate::error::{Result, StoreError};
use crate::query::{self, ListQuery, SqlValue};
use crate::row::{boolean, fetch_in, group_text, text};

/// A flavor.
#[derive(Debug, Clone, PartialEq)]
pub struct Flavor {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The service plugin type it applies to (`L3_ROUTER_NAT`, …).
    pub service_type: String,
    /// Usable.
    pub enabled: bool,
    /// Ids of the bound service profiles (loaded).
    pub service_profiles: Vec<String>,
}

/// A service profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceProfile {
    /// UUID.
    pub id: String,
    /// Description.
    pub description: String,
    /// Driver of a configured service provider, or empty.
    pub driver: String,
    /// Usable.
    pub enabled: bool,
    /// Free-form text for the driver.
    pub metainfo: String,
}

/// Columns selected for a flavor.
pub const FLAVOR_COLUMNS: &str = "id, name, description, service_type, enabled";

/// Columns selected for a service profile.
pub const PROFILE_COLUMNS: &str = "id, description, driver, enabled, metainfo";

fn flavor_from_row(row: &AnyRow) -> Result<Flavor> {
    Ok(Flavor {
        id: text(row, 0)?,
        name: text(row, 1)?,
        description: text(row, 2)?,
        service_type: text(row, 3)?,
        enabled: boolean(row, 4)?,
        service_profiles: Vec::new(),
    })
}

fn profile_from_row(row: &AnyRow) -> Result<ServiceProfile> {
    Ok(ServiceProfile {
        id: text(row, 0)?,
        description: text(row, 1)?,
        driver: text(row, 2)?,
        enabled: boolean(row, 3)?,
        metainfo: text(row, 4)?,
    })
}

/// Insert a flavor (its profiles are bound with [`bind`]).
pub async fn insert_flavor(conn: &mut AnyConnection, f: &Flavor) -> Result<()> {
    sqlx::query(
        "INSERT INTO flavors (id, name, description, service_type, enabled) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(f.id.clone())
    .bind(f.name.clone())
    .bind(f.description.clone())
    .bind(f.service_type.clone())
    .bind(i64::from(f.enabled))
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Write a flavor's name, description and `enabled`.
pub async fn update_flavor(conn: &mut AnyConnection, f: &Flavor) -> Result<bool> {
    let done =
        sqlx::query("UPDATE flavors SET name = $1, description = $2, enabled = $3 WHERE id = $4")
            .bind(f.name.clone())
            .bind(f.description.clone())
            .bind(i64::from(f.enabled))
            .bind(f.id.clone())
            .execute(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Delete a flavor (its bindings go with it).
pub async fn delete_flavor(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM flavors WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// One flavor with its profiles.
pub async fn get_flavor(conn: &mut AnyConnection, id: &str) -> Result<Option<Flavor>> {
    let sql = numbered(&format!(
        "SELECT {FLAVOR_COLUMNS} FROM flavors WHERE id = ?"
    ));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let Some(row) = row else { return Ok(None) };
    let mut flavors = vec![flavor_from_row(&row)?];
    load_profiles(conn, &mut flavors).await?;
    Ok(flavors.pop())
}

/// A page of flavors with their profiles.
pub async fn list_flavors(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<Flavor>> {
    let rows = query::list(conn, "flavors", FLAVOR_COLUMNS, q).await?;
    let mut flavors = rows
        .iter()
        .map(flavor_from_row)
        .collect::<Result<Vec<_>>>()?;
    load_profiles(conn, &mut flavors).await?;
    Ok(flavors)
}

async fn load_profiles(conn: &mut AnyConnection, flavors: &mut [Flavor]) -> Result<()> {
    let ids: Vec<String> = flavors.iter().map(|f| f.id.clone()).collect();
    let rows = fetch_in(
        conn,
        "SELECT flavor_id, service_profile_id FROM flavor_service_profile_bindings \
         WHERE flavor_id IN ",
        &[] as &[SqlValue],
        &ids,
        " ORDER BY service_profile_id",
    )
    .await?;
    let mut map = group_text(&rows)?;
    for f in flavors.iter_mut() {
        f.service_profiles = map.remove(&f.id).unwrap_or_default();
    }
    Ok(())
}

/// Insert a service profile.
pub async fn insert_profile(conn: &mut AnyConnection, p: &ServiceProfile) -> Result<()> {
    sqlx::query(
        "INSERT INTO service_profiles (id, description, driver, enabled, metainfo) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(p.id.clone())
    .bind(p.description.clone())
    .bind(p.driver.clone())
    .bind(i64::from(p.enabled))
    .bind(p.metainfo.clone())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Write every mutable column of a profile.
pub async fn update_profile(conn: &mut AnyConnection, p: &ServiceProfile) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE service_profiles SET description = $1, driver = $2, enabled = $3, metainfo = $4 \
         WHERE id = $5",
    )
    .bind(p.description.clone())
    .bind(p.driver.clone())
    .bind(i64::from(p.enabled))
    .bind(p.metainfo.clone())
    .bind(p.id.clone())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Delete a profile (a bound one is refused by the database's foreign key).
pub async fn delete_profile(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM service_profiles WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// One profile.
pub async fn get_profile(conn: &mut AnyConnection, id: &str) -> Result<Option<ServiceProfile>> {
    let sql = numbered(&format!(
        "SELECT {PROFILE_COLUMNS} FROM service_profiles WHERE id = ?"
    ));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(profile_from_row).transpose()
}

/// A page of profiles.
pub async fn list_profiles(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<ServiceProfile>> {
    let rows = query::list(conn, "service_profiles", PROFILE_COLUMNS, q).await?;
    rows.iter().map(profile_from_row).collect()
}

/// Bind a profile to a flavor; false when they were bound already.
pub async fn bind(conn: &mut AnyConnection, flavor_id: &str, profile_id: &str) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO flavor_service_profile_bindings (flavor_id, service_profile_id) \
         VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(flavor_id.to_string())
    .bind(profile_id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Unbind a profile from a flavor; false when they were not bound.
pub async fn unbind(conn: &mut AnyConnection, flavor_id: &str, profile_id: &str) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM flavor_service_profile_bindings WHERE flavor_id = $1 \
         AND service_profile_id = $2",
    )
    .bind(flavor_id.to_string())
    .bind(profile_id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Whether a profile is bound to any flavor.
pub async fn profile_in_use(conn: &mut AnyConnection, profile_id: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 FROM flavor_service_profile_bindings WHERE service_profile_id = $1 LIMIT 1",
    )
    .bind(profile_id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(row.is_some())
}

/// Whether a flavor and a profile are bound.
pub async fn bound(conn: &mut AnyConnection, flavor_id: &str, profile_id: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 FROM flavor_service_profile_bindings WHERE flavor_id = $1 \
         AND service_profile_id = $2",
    )
    .bind(flavor_id.to_string())
    .bind(profile_id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(row.is_some())
}

/// Lock row `id` of `flavors` or `service_profiles` until the transaction ends, on
/// PostgreSQL (SQLite has one writer), so that a concurrent binding, whose foreign key takes
/// a share lock on the profile, waits for the check-then-change of the caller.
pub async fn lock(conn: &mut AnyConnection, table: &'static str, id: &str) -> Result<()> {
    if conn.backend_name() != "PostgreSQL" {
        return Ok(());
    }
    sqlx::query(AssertSqlSafe(format!(
        "SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE"
    )))
    .bind(id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}
