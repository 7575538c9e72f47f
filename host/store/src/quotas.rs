//! Quotas: each project's own limits (`quotas`) and what it uses (`quota_usages`, counted by
//! triggers on the resource tables, so it is exact in every transaction; on PostgreSQL spread
//! over shards, see [`reserve`]).

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

/// What a project uses, by resource (on PostgreSQL the sum of the resource's shards).
pub async fn usage(conn: &mut AnyConnection, project_id: &str) -> Result<BTreeMap<String, i64>> {
    let rows = sqlx::query(
        "SELECT resource, CAST(sum(in_use) AS BIGINT) FROM quota_usages \
         WHERE project_id = $1 GROUP BY resource",
    )
    .bind(project_id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(StoreError::classify)
}

/// In a write transaction, before the rows are written: whether `project_id` may create `n`
/// more of `resource` under its own limit (`default_limit` for a project without one; -1 is
/// unlimited). When it may, the rows the transaction then writes are counted within the
/// limit, whatever other transactions (on any server) do meanwhile; when it may not, the
/// caller refuses the request.
///
/// SQLite: the transaction holds the one writer, so reading usage and limit is enough.
///
/// PostgreSQL (see migration 0021): the limit is split into per-shard allowances; the
/// transaction locks its connection's shard and is done when that shard's allowance covers
/// `n` (concurrent creators in the project lock different shards). Otherwise it takes the
/// (project, resource) advisory lock, locks every shard, refuses if the sum plus `n` is over
/// the limit, and else splits what is free again: `n` plus an equal share to its own shard,
/// an equal share to each of the others. The sum of the allowances never exceeds the limit.
pub async fn reserve(
    conn: &mut AnyConnection,
    project_id: &str,
    resource: &str,
    n: i64,
    default_limit: i64,
) -> Result<bool> {
    if conn.backend_name() != "PostgreSQL" {
        let row = sqlx::query(
            "SELECT (SELECT CAST(sum(in_use) AS BIGINT) FROM quota_usages \
               WHERE project_id = $1 AND resource = $2), \
             (SELECT hard_limit FROM quotas WHERE project_id = $1 AND resource = $2)",
        )
        .bind(project_id.to_string())
        .bind(resource.to_string())
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
        let used: Option<i64> = row.try_get(0).map_err(StoreError::classify)?;
        let limit: Option<i64> = row.try_get(1).map_err(StoreError::classify)?;
        let limit = limit.unwrap_or(default_limit);
        return Ok(limit < 0 || used.unwrap_or(0) + n <= limit);
    }
    // The fast path: one statement that reads the limit and locks this connection's shard
    // only when its allowance (split for this very limit) covers `n`. It never waits: a
    // shard another transaction holds (two connections whose pids share a shard) sends it
    // to the slow path. Waiting here and then failing the check would keep the row locked
    // into the slow path, where it would deadlock with another transaction's rebalance.
    // A connection's shard is `pg_backend_pid() % 64`, as in migration 0021's trigger.
    let fast = "WITH lim AS (SELECT coalesce((SELECT hard_limit FROM quotas \
           WHERE project_id = $1 AND resource = $2), $3) AS l), \
         mine AS (SELECT 1 FROM quota_usages u, lim WHERE u.project_id = $1 \
           AND u.resource = $2 AND u.shard = pg_backend_pid() % 64 AND lim.l >= 0 \
           AND u.for_limit = lim.l AND u.in_use + $4 <= u.allowance \
           FOR UPDATE OF u SKIP LOCKED) \
         SELECT (SELECT l FROM lim), EXISTS (SELECT 1 FROM mine)";
    let row = sqlx::query(fast)
        .bind(project_id.to_string())
        .bind(resource.to_string())
        .bind(default_limit)
        .bind(n)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let limit: i64 = row.try_get(0).map_err(StoreError::classify)?;
    let granted: bool = row.try_get(1).map_err(StoreError::classify)?;
    if limit < 0 || granted {
        return Ok(true);
    }
    rebalance(conn, project_id, resource, n, default_limit).await
}

/// [`reserve`]'s slow path on PostgreSQL: under the (project, resource) advisory lock, with
/// every shard locked, refuse or split the free remainder of the limit again.
async fn rebalance(
    conn: &mut AnyConnection,
    project_id: &str,
    resource: &str,
    n: i64,
    default_limit: i64,
) -> Result<bool> {
    sqlx::query("SELECT pg_advisory_xact_lock(21, hashtext($1 || '/' || $2))")
        .bind(project_id.to_string())
        .bind(resource.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    sqlx::query(
        "INSERT INTO quota_usages (project_id, resource, shard, in_use) \
         VALUES ($1, $2, pg_backend_pid() % 64, 0) ON CONFLICT DO NOTHING",
    )
    .bind(project_id.to_string())
    .bind(resource.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    // Read after the advisory lock: a limit set meanwhile is seen (each statement has its
    // own snapshot), and the rows come as their latest versions once locked.
    let row = sqlx::query(
        "SELECT coalesce((SELECT hard_limit FROM quotas WHERE project_id = $1 \
           AND resource = $2), $3), CAST(coalesce(sum(in_use), 0) AS BIGINT), count(*), \
           coalesce(string_agg(CAST(shard AS TEXT), ','), '') \
         FROM (SELECT shard, in_use FROM quota_usages WHERE project_id = $1 AND resource = $2 \
           ORDER BY shard FOR UPDATE) locked",
    )
    .bind(project_id.to_string())
    .bind(resource.to_string())
    .bind(default_limit)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    let limit: i64 = row.try_get(0).map_err(StoreError::classify)?;
    let used: i64 = row.try_get(1).map_err(StoreError::classify)?;
    let shards: i64 = row.try_get(2).map_err(StoreError::classify)?;
    let locked: String = row.try_get(3).map_err(StoreError::classify)?;
    if limit < 0 {
        return Ok(true);
    }
    if used + n > limit {
        return Ok(false);
    }
    let free = limit - used - n;
    let share = free / shards.max(1);
    let rest = free - share * shards.max(1);
    // Only the shards locked above: a shard another transaction inserted since (counting
    // without a check) is not part of `used` and gets no allowance.
    sqlx::query(
        "UPDATE quota_usages SET for_limit = $3, allowance = in_use + $4 + \
           CASE WHEN shard = pg_backend_pid() % 64 THEN $5 ELSE 0 END \
         WHERE project_id = $1 AND resource = $2 \
           AND shard = ANY (CAST(string_to_array($6, ',') AS INTEGER[]))",
    )
    .bind(project_id.to_string())
    .bind(resource.to_string())
    .bind(limit)
    .bind(share)
    .bind(n + rest)
    .bind(locked)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(true)
}
