//! What new security groups start with: the default rule templates and the default of
//! `stateful` (per project or system-wide).

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::db::numbered;
use crate::error::{Result, StoreError};
use crate::query::{self, ListQuery};
use crate::row::{boolean, int, opt_int, opt_text, text};

/// A default security group rule (a template).
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultRule {
    /// UUID.
    pub id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// Protocol name or number, none for any.
    pub protocol: Option<String>,
    /// Lowest port (or ICMP type).
    pub port_range_min: Option<i64>,
    /// Highest port (or ICMP code).
    pub port_range_max: Option<i64>,
    /// Remote CIDR.
    pub remote_ip_prefix: Option<String>,
    /// Remote group: a group id, or `PARENT` for the new group itself.
    pub remote_group_id: Option<String>,
    /// Remote address group.
    pub remote_address_group_id: Option<String>,
    /// Description.
    pub description: String,
    /// Applied to each project's default group.
    pub used_in_default_sg: bool,
    /// Applied to every other new group.
    pub used_in_non_default_sg: bool,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Revision.
    pub revision_number: i64,
}

/// Columns selected for a template.
pub const RULE_COLUMNS: &str = "id, direction, ethertype, protocol, port_range_min, \
    port_range_max, remote_ip_prefix, remote_group_id, remote_address_group_id, description, \
    used_in_default_sg, used_in_non_default_sg, created_at, updated_at, revision_number";

fn rule_from_row(row: &AnyRow) -> Result<DefaultRule> {
    Ok(DefaultRule {
        id: text(row, 0)?,
        direction: text(row, 1)?,
        ethertype: text(row, 2)?,
        protocol: opt_text(row, 3)?,
        port_range_min: opt_int(row, 4)?,
        port_range_max: opt_int(row, 5)?,
        remote_ip_prefix: opt_text(row, 6)?,
        remote_group_id: opt_text(row, 7)?,
        remote_address_group_id: opt_text(row, 8)?,
        description: text(row, 9)?,
        used_in_default_sg: boolean(row, 10)?,
        used_in_non_default_sg: boolean(row, 11)?,
        created_at: text(row, 12)?,
        updated_at: text(row, 13)?,
        revision_number: int(row, 14)?,
    })
}

/// Insert a template.
pub async fn insert_rule(conn: &mut AnyConnection, r: &DefaultRule) -> Result<()> {
    sqlx::query(
        "INSERT INTO default_security_group_rules (id, direction, ethertype, protocol, \
         port_range_min, port_range_max, remote_ip_prefix, remote_group_id, \
         remote_address_group_id, description, used_in_default_sg, used_in_non_default_sg, \
         created_at, updated_at, revision_number) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(r.id.clone())
    .bind(r.direction.clone())
    .bind(r.ethertype.clone())
    .bind(r.protocol.clone())
    .bind(r.port_range_min)
    .bind(r.port_range_max)
    .bind(r.remote_ip_prefix.clone())
    .bind(r.remote_group_id.clone())
    .bind(r.remote_address_group_id.clone())
    .bind(r.description.clone())
    .bind(i64::from(r.used_in_default_sg))
    .bind(i64::from(r.used_in_non_default_sg))
    .bind(r.created_at.clone())
    .bind(r.updated_at.clone())
    .bind(r.revision_number)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Delete a template.
pub async fn delete_rule(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM default_security_group_rules WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// One template.
pub async fn get_rule(conn: &mut AnyConnection, id: &str) -> Result<Option<DefaultRule>> {
    let sql = numbered(&format!(
        "SELECT {RULE_COLUMNS} FROM default_security_group_rules WHERE id = ?"
    ));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(rule_from_row).transpose()
}

/// A page of templates.
pub async fn list_rules(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<DefaultRule>> {
    let rows = query::list(conn, "default_security_group_rules", RULE_COLUMNS, q).await?;
    rows.iter().map(rule_from_row).collect()
}

/// The templates for a project's default group (`default`) or for other groups, oldest
/// first.
pub async fn templates(conn: &mut AnyConnection, default: bool) -> Result<Vec<DefaultRule>> {
    let column = if default {
        "used_in_default_sg"
    } else {
        "used_in_non_default_sg"
    };
    let q = ListQuery {
        conditions: vec![query::Condition::eq(column, 1)],
        sorts: vec![query::Sort {
            column: "created_at".into(),
            ascending: true,
        }],
        ..Default::default()
    };
    list_rules(conn, &q).await
}

/// A default of `stateful`: for one project, or system-wide (`project_id` none).
#[derive(Debug, Clone, PartialEq)]
pub struct Statefulness {
    /// UUID.
    pub id: String,
    /// The project it applies to; none: every project without its own.
    pub project_id: Option<String>,
    /// The default.
    pub stateful: bool,
}

/// Columns selected for a statefulness default.
pub const STATEFULNESS_COLUMNS: &str = "id, project_id, stateful";

fn statefulness_from_row(row: &AnyRow) -> Result<Statefulness> {
    Ok(Statefulness {
        id: text(row, 0)?,
        project_id: opt_text(row, 1)?,
        stateful: boolean(row, 2)?,
    })
}

/// Insert a statefulness default (a second one for the same scope is refused by the
/// database's unique index).
pub async fn insert_statefulness(conn: &mut AnyConnection, s: &Statefulness) -> Result<()> {
    sqlx::query(
        "INSERT INTO security_groups_default_statefulness (id, project_id, stateful) \
         VALUES ($1, $2, $3)",
    )
    .bind(s.id.clone())
    .bind(s.project_id.clone())
    .bind(i64::from(s.stateful))
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Change a statefulness default.
pub async fn update_statefulness(
    conn: &mut AnyConnection,
    id: &str,
    stateful: bool,
) -> Result<bool> {
    let done =
        sqlx::query("UPDATE security_groups_default_statefulness SET stateful = $1 WHERE id = $2")
            .bind(i64::from(stateful))
            .bind(id.to_string())
            .execute(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Delete a statefulness default.
pub async fn delete_statefulness(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM security_groups_default_statefulness WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// One statefulness default.
pub async fn get_statefulness(conn: &mut AnyConnection, id: &str) -> Result<Option<Statefulness>> {
    let sql = numbered(&format!(
        "SELECT {STATEFULNESS_COLUMNS} FROM security_groups_default_statefulness WHERE id = ?"
    ));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(statefulness_from_row).transpose()
}

/// A page of statefulness defaults.
pub async fn list_statefulness(
    conn: &mut AnyConnection,
    q: &ListQuery,
) -> Result<Vec<Statefulness>> {
    let rows = query::list(
        conn,
        "security_groups_default_statefulness",
        STATEFULNESS_COLUMNS,
        q,
    )
    .await?;
    rows.iter().map(statefulness_from_row).collect()
}

/// The default of `stateful` for new groups of `project_id`: its own setting, else the
/// system-wide one, else true.
pub async fn effective_stateful(conn: &mut AnyConnection, project_id: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT stateful FROM security_groups_default_statefulness \
         WHERE project_id = $1 OR project_id IS NULL \
         ORDER BY CASE WHEN project_id IS NULL THEN 1 ELSE 0 END LIMIT 1",
    )
    .bind(project_id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    match row {
        Some(r) => boolean(&r, 0),
        None => Ok(true),
    }
}

/// Take the template table's write lock until the transaction ends, on PostgreSQL (SQLite
/// has one writer): template writers run one at a time; readers never wait.
pub async fn lock_templates(conn: &mut AnyConnection) -> Result<()> {
    if conn.backend_name() != "PostgreSQL" {
        return Ok(());
    }
    sqlx::query("LOCK TABLE default_security_group_rules IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}
