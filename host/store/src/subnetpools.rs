//! Subnet pools.

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::db::numbered;
use crate::error::{Result, StoreError};
use crate::model::SubnetPool;
use crate::query::{self, ListQuery};
use crate::row::{boolean, int, json, opt_int, opt_text, text, to_json};
use crate::tags;

/// Columns selected for a pool, in `from_row` order.
pub const COLUMNS: &str = "id, project_id, name, description, ip_version, default_prefixlen, \
    min_prefixlen, max_prefixlen, default_quota, is_default, shared, address_scope_id, prefixes, \
    hash, created_at, updated_at, revision_number";

fn from_row(row: &AnyRow) -> Result<SubnetPool> {
    Ok(SubnetPool {
        id: text(row, 0)?,
        project_id: text(row, 1)?,
        name: text(row, 2)?,
        description: text(row, 3)?,
        ip_version: int(row, 4)?,
        default_prefixlen: int(row, 5)?,
        min_prefixlen: int(row, 6)?,
        max_prefixlen: int(row, 7)?,
        default_quota: opt_int(row, 8)?,
        is_default: boolean(row, 9)?,
        shared: boolean(row, 10)?,
        address_scope_id: opt_text(row, 11)?,
        prefixes: json(row, 12)?,
        hash: text(row, 13)?,
        created_at: text(row, 14)?,
        updated_at: text(row, 15)?,
        revision_number: int(row, 16)?,
        tags: Vec::new(),
    })
}

/// Insert a pool.
pub async fn insert(conn: &mut AnyConnection, p: &SubnetPool) -> Result<()> {
    sqlx::query(
        "INSERT INTO subnetpools (id, project_id, name, description, ip_version, \
         default_prefixlen, min_prefixlen, max_prefixlen, default_quota, is_default, shared, \
         address_scope_id, prefixes, hash, created_at, updated_at, revision_number) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(p.id.clone())
    .bind(p.project_id.clone())
    .bind(p.name.clone())
    .bind(p.description.clone())
    .bind(p.ip_version)
    .bind(p.default_prefixlen)
    .bind(p.min_prefixlen)
    .bind(p.max_prefixlen)
    .bind(p.default_quota)
    .bind(i64::from(p.is_default))
    .bind(i64::from(p.shared))
    .bind(p.address_scope_id.clone())
    .bind(to_json(&p.prefixes))
    .bind(p.hash.clone())
    .bind(p.created_at.clone())
    .bind(p.updated_at.clone())
    .bind(p.revision_number)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Write the mutable columns of `p` if both the stored revision and hash are unchanged; a new
/// hash in `p` serialises concurrent prefix allocations from one pool.
pub async fn update(
    conn: &mut AnyConnection,
    p: &SubnetPool,
    expected_revision: i64,
    expected_hash: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE subnetpools SET name = $1, description = $2, default_prefixlen = $3, \
         min_prefixlen = $4, max_prefixlen = $5, default_quota = $6, is_default = $7, \
         address_scope_id = $8, prefixes = $9, hash = $10, updated_at = $11, \
         revision_number = $12 WHERE id = $13 AND revision_number = $14 AND hash = $15",
    )
    .bind(p.name.clone())
    .bind(p.description.clone())
    .bind(p.default_prefixlen)
    .bind(p.min_prefixlen)
    .bind(p.max_prefixlen)
    .bind(p.default_quota)
    .bind(i64::from(p.is_default))
    .bind(p.address_scope_id.clone())
    .bind(to_json(&p.prefixes))
    .bind(p.hash.clone())
    .bind(p.updated_at.clone())
    .bind(p.revision_number)
    .bind(p.id.clone())
    .bind(expected_revision)
    .bind(expected_hash.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Take the pool's allocation lock: change its hash if it is still `expected_hash`.
pub async fn swap_hash(
    conn: &mut AnyConnection,
    id: &str,
    expected_hash: &str,
    new_hash: &str,
) -> Result<bool> {
    let done = sqlx::query("UPDATE subnetpools SET hash = $1 WHERE id = $2 AND hash = $3")
        .bind(new_hash.to_string())
        .bind(id.to_string())
        .bind(expected_hash.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Delete a pool and its tags.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    tags::clear(conn, "subnetpools", id).await?;
    let done = sqlx::query("DELETE FROM subnetpools WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// One pool with its tags.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<SubnetPool>> {
    let sql = numbered(&format!("SELECT {COLUMNS} FROM subnetpools WHERE id = ?"));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    match row {
        None => Ok(None),
        Some(row) => {
            let mut p = from_row(&row)?;
            p.tags = tags::get(conn, "subnetpools", &p.id).await?;
            Ok(Some(p))
        }
    }
}

/// A page of pools with their tags.
pub async fn list(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<SubnetPool>> {
    let rows = query::list(conn, "subnetpools", COLUMNS, q).await?;
    let mut pools = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let ids: Vec<String> = pools.iter().map(|p| p.id.clone()).collect();
    let mut tag_map = tags::load(conn, "subnetpools", &ids).await?;
    for p in &mut pools {
        p.tags = tag_map.remove(&p.id).unwrap_or_default();
    }
    Ok(pools)
}

/// The default pool of an IP version, if any.
pub async fn default_for(conn: &mut AnyConnection, ip_version: i64) -> Result<Option<SubnetPool>> {
    let sql = numbered(&format!(
        "SELECT {COLUMNS} FROM subnetpools WHERE is_default = 1 AND ip_version = ?"
    ));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(ip_version)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(from_row).transpose()
}
