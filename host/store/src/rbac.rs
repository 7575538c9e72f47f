//! RBAC policies: which other projects may use an object (`rbac_policies`).

use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::error::{Result, StoreError};
use crate::model::RbacGrant;
use crate::query::{self, Condition, ListQuery, SqlValue};
use crate::row::text;

/// Parse the `action:target,…` aggregate that readers select with an object's row.
pub fn parse_grants(aggregate: Option<String>) -> Vec<RbacGrant> {
    aggregate
        .map(|s| {
            s.split(',')
                .filter_map(|e| e.split_once(':'))
                .map(|(a, t)| RbacGrant {
                    action: a.to_string(),
                    target: t.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Rows of a table of `object_type` objects that `project_id` owns or that an entry shares
/// with it or with every project (the list filter of a non-admin).
pub fn visible_to(object_type: &'static str, project_id: &str) -> Condition {
    Condition::raw(
        format!(
            "project_id = ? OR id IN (SELECT object_id FROM rbac_policies \
             WHERE object_type = '{object_type}' AND target_project IN (?, '*'))"
        ),
        vec![SqlValue::from(project_id), SqlValue::from(project_id)],
    )
}

/// Rows of a table of `object_type` objects shared with `project_id` (or not, `negate`):
/// Neutron's translation of the `shared` list filter into the RBAC predicate.
pub fn shared_with(object_type: &'static str, project_id: &str, negate: bool) -> Condition {
    Condition::raw(
        format!(
            "{}id IN (SELECT object_id FROM rbac_policies WHERE object_type = '{object_type}' \
             AND action = 'access_as_shared' AND target_project IN (?, '*'))",
            if negate { "NOT " } else { "" }
        ),
        vec![SqlValue::from(project_id)],
    )
}

/// Set the `shared` column of row `id` of `table` (an object type with such a column:
/// `subnetpools`, `address_scopes`) from whether a wildcard `access_as_shared` entry exists.
pub async fn sync_shared(
    conn: &mut AnyConnection,
    table: &'static str,
    object_type: &'static str,
    id: &str,
) -> Result<()> {
    let sql = format!(
        "UPDATE {table} SET shared = (SELECT COUNT(*) FROM rbac_policies WHERE object_type = $1 \
         AND object_id = $2 AND action = 'access_as_shared' AND target_project = '*') \
         WHERE id = $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(object_type.to_string())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

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

/// The table of the objects of an RBAC object type.
pub fn table_of(object_type: &str) -> Option<&'static str> {
    Some(match object_type {
        "network" => "networks",
        "security_group" => "security_groups",
        "subnetpool" => "subnetpools",
        "address_scope" => "address_scopes",
        "address_group" => "address_groups",
        _ => return None,
    })
}

/// The owner of an object of an RBAC object type (`None`: no such object).
pub async fn owner_of(
    conn: &mut AnyConnection,
    object_type: &str,
    object_id: &str,
) -> Result<Option<String>> {
    let Some(table) = table_of(object_type) else {
        return Ok(None);
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT project_id FROM {table} WHERE id = $1"
    )))
    .bind(object_id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    row.as_ref().map(|r| text(r, 0)).transpose()
}

/// The projects whose resources use an object (Neutron's `get_bound_project_ids`): the
/// owners of the ports in a security group, of the subnets from a pool, of the pools in an
/// address scope, of the rules naming an address group.
pub async fn bound_projects(
    conn: &mut AnyConnection,
    object_type: &str,
    object_id: &str,
) -> Result<Vec<String>> {
    let sql = match object_type {
        "security_group" => {
            "SELECT DISTINCT p.project_id FROM port_security_groups b \
             JOIN ports p ON p.id = b.port_id WHERE b.security_group_id = $1"
        }
        "subnetpool" => "SELECT DISTINCT project_id FROM subnets WHERE subnetpool_id = $1",
        "address_scope" => {
            "SELECT DISTINCT project_id FROM subnetpools WHERE address_scope_id = $1"
        }
        "address_group" => {
            "SELECT DISTINCT project_id FROM security_group_rules \
             WHERE remote_address_group_id = $1"
        }
        _ => return Ok(Vec::new()),
    };
    let rows = sqlx::query(sql)
        .bind(object_id.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter().map(|r| text(r, 0)).collect()
}

/// An entry, locked until the transaction ends on PostgreSQL (SQLite has one writer): a
/// removal checks who depends on the entry while users of the entry wait (see
/// [`lock_grants`]).
pub async fn get_locked(conn: &mut AnyConnection, id: &str) -> Result<Option<RbacPolicy>> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT 1 FROM rbac_policies WHERE id = $1 FOR UPDATE")
            .bind(id.to_string())
            .execute(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
    }
    get(conn, id).await
}

/// Whether an `access_as_shared` entry gives `project_id` (or every project) the object, the
/// entries found share-locked on PostgreSQL until the transaction ends: a resource created
/// because of an entry is committed before the entry can be removed, and its removal then
/// sees it.
pub async fn lock_grants(
    conn: &mut AnyConnection,
    object_type: &str,
    object_id: &str,
    project_id: &str,
) -> Result<bool> {
    let lock = if conn.backend_name() == "PostgreSQL" {
        " FOR SHARE"
    } else {
        ""
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM rbac_policies WHERE object_type = $1 AND object_id = $2 \
         AND action = 'access_as_shared' AND target_project IN ($3, '*'){lock}"
    )))
    .bind(object_type.to_string())
    .bind(object_id.to_string())
    .bind(project_id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(!rows.is_empty())
}
