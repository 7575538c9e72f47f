//! Auto-allocated topologies (`auto_allocated_topologies`): one row per project, claimed
//! before its network and router are built and completed with their ids afterwards.

use sqlx::AnyConnection;

use crate::error::{Result, StoreError};
use crate::row::{opt_text, text};

/// A project's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The project.
    pub project_id: String,
    /// Its network, once built.
    pub network_id: Option<String>,
    /// Its router, once built.
    pub router_id: Option<String>,
    /// When the row was claimed (`YYYY-MM-DDTHH:MM:SSZ`).
    pub claimed_at: String,
}

/// The row of `project_id`, if any.
pub async fn get(conn: &mut AnyConnection, project_id: &str) -> Result<Option<Topology>> {
    let row = sqlx::query(
        "SELECT project_id, network_id, router_id, claimed_at FROM auto_allocated_topologies \
         WHERE project_id = $1",
    )
    .bind(project_id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    row.map(|r| {
        Ok(Topology {
            project_id: text(&r, 0)?,
            network_id: opt_text(&r, 1)?,
            router_id: opt_text(&r, 2)?,
            claimed_at: text(&r, 3)?,
        })
    })
    .transpose()
}

/// Claim `project_id`'s row (no network yet). False when a row exists already.
pub async fn claim(conn: &mut AnyConnection, project_id: &str, now: &str) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO auto_allocated_topologies (project_id, claimed_at) VALUES ($1, $2) \
         ON CONFLICT (project_id) DO NOTHING",
    )
    .bind(project_id.to_string())
    .bind(now.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Take over an unfinished claim last made at `claimed_at` (its builder is gone). False
/// when someone else did first, or the topology got built.
pub async fn take_over(
    conn: &mut AnyConnection,
    project_id: &str,
    claimed_at: &str,
    now: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE auto_allocated_topologies SET claimed_at = $1 \
         WHERE project_id = $2 AND claimed_at = $3 AND network_id IS NULL",
    )
    .bind(now.to_string())
    .bind(project_id.to_string())
    .bind(claimed_at.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Record the built network and router in the claimed row.
pub async fn complete(
    conn: &mut AnyConnection,
    project_id: &str,
    network_id: &str,
    router_id: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE auto_allocated_topologies SET network_id = $1, router_id = $2 \
         WHERE project_id = $3 AND network_id IS NULL",
    )
    .bind(network_id.to_string())
    .bind(router_id.to_string())
    .bind(project_id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Remove `project_id`'s row.
pub async fn delete(conn: &mut AnyConnection, project_id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM auto_allocated_topologies WHERE project_id = $1")
        .bind(project_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}
