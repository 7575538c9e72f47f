//! Quotas: each project's own limits (`quotas`) and what it uses (`quota_usages`, counted by
//! triggers on the resource tables, so it is exact in every transaction).

use std::collections::BTreeMap;

use sqlx::AnyConnection;
use sqlx::Row;

use crate::error::{Result, StoreError};

/// A project's own limits, by resource.
pub async fn limits(conn: &mut AnyConnection, project_id: &str) -> Result<BTreeMap<String, i64>> {
    let rows = sqlx::query("SELECT resource, hard_limit FROM quotas WHERE project_id = $1")
        .bind(project_id.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(StoreError::classify)
}

/// The projects that have limits of their own.
pub async fn projects(conn: &mut AnyConnection) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT DISTINCT project_id FROM quotas ORDER BY project_id")
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<std::result::Result<_, _>>()
        .map_err(StoreError::classify)
}

/// Set one limit of a project.
pub async fn set(
    conn: &mut AnyConnection,
    project_id: &str,
    resource: &str,
    limit: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3) \
         ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
    )
    .bind(project_id.to_string())
    .bind(resource.to_string())
    .bind(limit)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Remove a project's own limits; whether it had any.
pub async fn delete(conn: &mut AnyConnection, project_id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM quotas WHERE project_id = $1")
        .bind(project_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(r.rows_affected() > 0)
}

/// What a project uses, by resource.
pub async fn usage(conn: &mut AnyConnection, project_id: &str) -> Result<BTreeMap<String, i64>> {
    let rows = sqlx::query("SELECT resource, in_use FROM quota_usages WHERE project_id = $1")
        .bind(project_id.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(StoreError::classify)
}

/// In a write transaction: what the project uses of `resource`, and its own limit if it has
/// one (`default_limit` is the limit of a project without one). On PostgreSQL the usage row
/// is locked until the transaction ends, so concurrent creators of the resource in the
/// project (on any server) take turns from here; on SQLite the transaction holds the one
/// writer already. When the project's limit is -1 (its own, or the default when it has none;
/// both are known in this one statement), nothing is checked, so PostgreSQL neither writes
/// nor locks the usage row here (the counting trigger locks it when the row is inserted) and
/// the usage reads 0.
pub async fn usage_for_update(
    conn: &mut AnyConnection,
    project_id: &str,
    resource: &str,
    default_limit: i64,
) -> Result<(i64, Option<i64>)> {
    let postgres = conn.backend_name() == "PostgreSQL";
    let sql = if postgres {
        "WITH own AS (SELECT hard_limit FROM quotas WHERE project_id = $1 AND resource = $2), \
         locked AS (INSERT INTO quota_usages (project_id, resource, in_use) \
           SELECT $1, $2, 0 WHERE coalesce((SELECT hard_limit FROM own), $3) >= 0 \
           ON CONFLICT (project_id, resource) DO UPDATE SET in_use = quota_usages.in_use \
           RETURNING in_use) \
         SELECT (SELECT in_use FROM locked), (SELECT hard_limit FROM own)"
    } else {
        "SELECT (SELECT in_use FROM quota_usages WHERE project_id = $1 AND resource = $2), \
         (SELECT hard_limit FROM quotas WHERE project_id = $1 AND resource = $2)"
    };
    let mut query = sqlx::query(sql)
        .bind(project_id.to_string())
        .bind(resource.to_string());
    if postgres {
        query = query.bind(default_limit);
    }
    let row = query
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let used: Option<i64> = row.try_get(0).map_err(StoreError::classify)?;
    let limit: Option<i64> = row.try_get(1).map_err(StoreError::classify)?;
    Ok((used.unwrap_or(0), limit))
}
