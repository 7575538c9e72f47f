//! RBAC policies: which other projects may use an object (`rbac_policies`).

use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::error::{Result, StoreError};
use crate::query::{self, ListQuery};
use crate::row::text;

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacPolicy {
    /// UUID.
    pub id: String,
    /// Owner of the entry.
    pub project_id: String,
    /// `network`.
    pub object_type: String,
    /// The object.
    pub object_id: String,
    /// `access_as_shared` or `access_as_external`.
    pub action: String,
    /// A project id, or `*` for every project.
    pub target_project: String,
}

/// Columns selected for an entry, in `from_row` order.
pub const COLUMNS: &str = "id, project_id, object_type, object_id, action, target_project";

fn from_row(row: &AnyRow) -> Result<RbacPolicy> {
    Ok(RbacPolicy {
        id: text(row, 0)?,
        project_id: text(row, 1)?,
        object_type: text(row, 2)?,
        object_id: text(row, 3)?,
        action: text(row, 4)?,
        target_project: text(row, 5)?,
    })
}

/// Insert an entry (a duplicate of (object, action, target) is a unique violation).
pub async fn insert(conn: &mut AnyConnection, p: &RbacPolicy) -> Result<()> {
    sqlx::query(
        "INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, \
         target_project) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(p.id.clone())
    .bind(p.project_id.clone())
    .bind(p.object_type.clone())
    .bind(p.object_id.clone())
    .bind(p.action.clone())
    .bind(p.target_project.clone())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// One entry.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<RbacPolicy>> {
    let sql = format!("SELECT {COLUMNS} FROM rbac_policies WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(from_row).transpose()
}

/// The entries of one object.
pub async fn of_object(
    conn: &mut AnyConnection,
    object_type: &str,
    object_id: &str,
) -> Result<Vec<RbacPolicy>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM rbac_policies WHERE object_type = $1 AND object_id = $2 ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(object_type.to_string())
        .bind(object_id.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter().map(from_row).collect()
}

/// Entries matching a list query.
pub async fn list(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<RbacPolicy>> {
    let rows = query::list(conn, "rbac_policies", COLUMNS, q).await?;
    rows.iter().map(from_row).collect()
}

/// Point an entry at another project.
pub async fn set_target(conn: &mut AnyConnection, id: &str, target: &str) -> Result<()> {
    sqlx::query("UPDATE rbac_policies SET target_project = $1 WHERE id = $2")
        .bind(target.to_string())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Delete an entry.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM rbac_policies WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Delete the entries of an object (when it is deleted).
pub async fn delete_of_object(
    conn: &mut AnyConnection,
    object_type: &str,
    object_id: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM rbac_policies WHERE object_type = $1 AND object_id = $2")
        .bind(object_type.to_string())
        .bind(object_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}
