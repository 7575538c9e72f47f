//! Address groups and their addresses (canonical CIDRs).

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::db::numbered;
use crate::error::{Result, StoreError};
use crate::query::{self, ListQuery, SqlValue};
use crate::row::{fetch_in, group_text, int, text};

/// An address group.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressGroup {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Revision.
    pub revision_number: i64,
    /// Canonical CIDRs, sorted (loaded).
    pub addresses: Vec<String>,
    /// Its RBAC entries, read with the row.
    pub rbac: Vec<crate::model::RbacGrant>,
    /// Shared with the reader's project or every project (set by the plugin per reader).
    pub shared: bool,
}

/// Columns selected for a group.
/// The last one is the group's RBAC entries (`action:target,…`).
pub const COLUMNS: &str = "id, project_id, name, description, created_at, updated_at, \
    revision_number, (SELECT string_agg(r.action || ':' || r.target_project, ',') \
    FROM rbac_policies r WHERE r.object_id = address_groups.id \
    AND r.object_type = 'address_group') AS rbac";

fn from_row(row: &AnyRow) -> Result<AddressGroup> {
    Ok(AddressGroup {
        id: text(row, 0)?,
        project_id: text(row, 1)?,
        name: text(row, 2)?,
        description: text(row, 3)?,
        created_at: text(row, 4)?,
        updated_at: text(row, 5)?,
        revision_number: int(row, 6)?,
        addresses: Vec::new(),
        rbac: crate::rbac::parse_grants(crate::row::opt_text(row, 7)?),
        shared: false,
    })
}

/// Insert a group (without addresses).
pub async fn insert(conn: &mut AnyConnection, g: &AddressGroup) -> Result<()> {
    sqlx::query(
        "INSERT INTO address_groups (id, project_id, name, description, created_at, updated_at, \
         revision_number) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(g.id.clone())
    .bind(g.project_id.clone())
    .bind(g.name.clone())
    .bind(g.description.clone())
    .bind(g.created_at.clone())
    .bind(g.updated_at.clone())
    .bind(g.revision_number)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Write name, description, `updated_at` and the revision if it is still `expected`.
pub async fn update(conn: &mut AnyConnection, g: &AddressGroup, expected: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE address_groups SET name = $1, description = $2, updated_at = $3, \
         revision_number = $4 WHERE id = $5 AND revision_number = $6",
    )
    .bind(g.name.clone())
    .bind(g.description.clone())
    .bind(g.updated_at.clone())
    .bind(g.revision_number)
    .bind(g.id.clone())
    .bind(expected)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Delete a group and its addresses (refused by the database while a rule names it).
pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM address_groups WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// One group with its addresses.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<AddressGroup>> {
    let sql = numbered(&format!(
        "SELECT {COLUMNS} FROM address_groups WHERE id = ?"
    ));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let Some(row) = row else { return Ok(None) };
    let mut groups = vec![from_row(&row)?];
    load_addresses(conn, &mut groups).await?;
    Ok(groups.pop())
}

/// A page of groups with their addresses.
pub async fn list(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<AddressGroup>> {
    let rows = query::list(conn, "address_groups", COLUMNS, q).await?;
    let mut groups = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    load_addresses(conn, &mut groups).await?;
    Ok(groups)
}

async fn load_addresses(conn: &mut AnyConnection, groups: &mut [AddressGroup]) -> Result<()> {
    let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    let rows = fetch_in(
        conn,
        "SELECT address_group_id, address FROM address_group_addresses WHERE address_group_id IN ",
        &[] as &[SqlValue],
        &ids,
        " ORDER BY address",
    )
    .await?;
    let mut map = group_text(&rows)?;
    for g in groups.iter_mut() {
        g.addresses = map.remove(&g.id).unwrap_or_default();
    }
    Ok(())
}

/// Add one address; false when the group has it already.
pub async fn add_address(conn: &mut AnyConnection, id: &str, address: &str) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO address_group_addresses (address_group_id, address) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(id.to_string())
    .bind(address.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Remove one address; false when the group does not have it.
pub async fn remove_address(conn: &mut AnyConnection, id: &str, address: &str) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM address_group_addresses WHERE address_group_id = $1 AND address = $2",
    )
    .bind(id.to_string())
    .bind(address.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Whether any security group rule names the group as its remote.
pub async fn in_use(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 FROM security_group_rules WHERE remote_address_group_id = $1 LIMIT 1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(row.is_some())
}
