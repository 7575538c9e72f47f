//! Address scopes (`address_scopes`) and the subnet pools that name them.

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::error::{Result, StoreError};
use crate::model::RbacGrant;
use crate::query::{self, ListQuery};
use crate::row::{boolean, int, opt_text, text};

/// An address scope.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressScope {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// A wildcard `access_as_shared` entry exists.
    pub shared: bool,
    /// 4 or 6.
    pub ip_version: i64,
    /// Its RBAC entries, read with the row.
    pub rbac: Vec<RbacGrant>,
}

/// Columns selected for a scope, in `from_row` order; the last one is its RBAC entries.
pub const COLUMNS: &str = "id, project_id, name, shared, ip_version, \
    (SELECT string_agg(r.action || ':' || r.target_project, ',') FROM rbac_policies r \
    WHERE r.object_id = address_scopes.id AND r.object_type = 'address_scope') AS rbac";

fn from_row(row: &AnyRow) -> Result<AddressScope> {
    Ok(AddressScope {
        id: text(row, 0)?,
        project_id: text(row, 1)?,
        name: text(row, 2)?,
        shared: boolean(row, 3)?,
        ip_version: int(row, 4)?,
        rbac: crate::rbac::parse_grants(opt_text(row, 5)?),
    })
}

/// Insert a scope (its RBAC entries are inserted separately).
pub async fn insert(conn: &mut AnyConnection, a: &AddressScope) -> Result<()> {
    sqlx::query(
        "INSERT INTO address_scopes (id, project_id, name, shared, ip_version) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(a.id.clone())
    .bind(a.project_id.clone())
    .bind(a.name.clone())
    .bind(i64::from(a.shared))
    .bind(a.ip_version)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// One scope.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<AddressScope>> {
    let sql = format!("SELECT {COLUMNS} FROM address_scopes WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(from_row).transpose()
}

/// One scope, its row locked until the transaction ends on PostgreSQL (SQLite has one
/// writer), so that associating a pool and deleting the scope take turns.
pub async fn get_locked(conn: &mut AnyConnection, id: &str) -> Result<Option<AddressScope>> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT 1 FROM address_scopes WHERE id = $1 FOR UPDATE")
            .bind(id.to_string())
            .execute(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
    }
    get(conn, id).await
}

/// A page of scopes.
pub async fn list(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<AddressScope>> {
    let rows = query::list(conn, "address_scopes", COLUMNS, q).await?;
    rows.iter().map(from_row).collect()
}

/// Write name and `shared`.
pub async fn update(conn: &mut AnyConnection, a: &AddressScope) -> Result<()> {
    sqlx::query("UPDATE address_scopes SET name = $1, shared = $2 WHERE id = $3")
        .bind(a.name.clone())
        .bind(i64::from(a.shared))
        .bind(a.id.clone())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Delete a scope and its RBAC entries.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    crate::rbac::delete_of_object(conn, "address_scope", id).await?;
    let done = sqlx::query("DELETE FROM address_scopes WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// The pools in a scope: `(id, project_id, prefixes)`.
pub async fn pools(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Vec<(String, String, Vec<String>)>> {
    let rows = sqlx::query(
        "SELECT id, project_id, prefixes FROM subnetpools WHERE address_scope_id = $1 ORDER BY id",
    )
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?, crate::row::json(r, 2)?)))
        .collect()
}

/// The subnets of one family on a network: `(subnetpool_id, the pool's address_scope_id)`.
pub async fn network_subnet_pools(
    conn: &mut AnyConnection,
    network_id: &str,
    ip_version: i64,
) -> Result<Vec<(Option<String>, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT s.subnetpool_id, p.address_scope_id FROM subnets s \
         LEFT JOIN subnetpools p ON p.id = s.subnetpool_id \
         WHERE s.network_id = $1 AND s.ip_version = $2",
    )
    .bind(network_id.to_string())
    .bind(ip_version)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| Ok((opt_text(r, 0)?, opt_text(r, 1)?)))
        .collect()
}
