//! Security groups, their rules and each project's default group.

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::db::numbered;
use crate::error::{Result, StoreError};
use crate::model::{SecurityGroup, SecurityGroupRule};
use crate::query::{self, ListQuery, SqlValue};
use crate::row::{boolean, fetch_in, int, opt_int, opt_text, text};
use crate::tags;

/// Columns selected for a group.
/// The last one is the group's RBAC entries (`action:target,…`).
pub const COLUMNS: &str = "id, project_id, name, description, stateful, created_at, \
    updated_at, revision_number, (SELECT string_agg(r.action || ':' || r.target_project, ',') \
    FROM rbac_policies r WHERE r.object_id = security_groups.id \
    AND r.object_type = 'security_group') AS rbac";

/// Columns selected for a rule.
pub const RULE_COLUMNS: &str = "id, project_id, security_group_id, direction, ethertype, \
    protocol, port_range_min, port_range_max, remote_ip_prefix, remote_group_id, description, \
    created_at, updated_at, revision_number, remote_address_group_id, \
    CAST(CASE WHEN EXISTS (SELECT 1 FROM default_security_groups d \
    WHERE d.security_group_id = security_group_rules.security_group_id) THEN 1 ELSE 0 END \
    AS BIGINT)";

fn from_row(row: &AnyRow) -> Result<SecurityGroup> {
    Ok(SecurityGroup {
        id: text(row, 0)?,
        project_id: text(row, 1)?,
        name: text(row, 2)?,
        description: text(row, 3)?,
        stateful: boolean(row, 4)?,
        created_at: text(row, 5)?,
        updated_at: text(row, 6)?,
        revision_number: int(row, 7)?,
        rules: Vec::new(),
        tags: Vec::new(),
        rbac: crate::rbac::parse_grants(opt_text(row, 8)?),
        shared: false,
    })
}

fn rule_from_row(row: &AnyRow) -> Result<SecurityGroupRule> {
    Ok(SecurityGroupRule {
        id: text(row, 0)?,
        project_id: text(row, 1)?,
        security_group_id: text(row, 2)?,
        direction: text(row, 3)?,
        ethertype: text(row, 4)?,
        protocol: opt_text(row, 5)?,
        port_range_min: opt_int(row, 6)?,
        port_range_max: opt_int(row, 7)?,
        remote_ip_prefix: opt_text(row, 8)?,
        remote_group_id: opt_text(row, 9)?,
        remote_address_group_id: opt_text(row, 14)?,
        belongs_to_default_sg: boolean(row, 15)?,
        description: text(row, 10)?,
        created_at: text(row, 11)?,
        updated_at: text(row, 12)?,
        revision_number: int(row, 13)?,
    })
}

/// Insert a group (rules are inserted with [`insert_rule`]).
pub async fn insert(conn: &mut AnyConnection, g: &SecurityGroup) -> Result<()> {
    sqlx::query(
        "INSERT INTO security_groups (id, project_id, name, description, stateful, created_at, \
         updated_at, revision_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(g.id.clone())
    .bind(g.project_id.clone())
    .bind(g.name.clone())
    .bind(g.description.clone())
    .bind(i64::from(g.stateful))
    .bind(g.created_at.clone())
    .bind(g.updated_at.clone())
    .bind(g.revision_number)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Write the mutable columns of a group if its revision is unchanged.
pub async fn update(
    conn: &mut AnyConnection,
    g: &SecurityGroup,
    expected_revision: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE security_groups SET name = $1, description = $2, stateful = $3, updated_at = $4, \
         revision_number = $5 WHERE id = $6 AND revision_number = $7",
    )
    .bind(g.name.clone())
    .bind(g.description.clone())
    .bind(i64::from(g.stateful))
    .bind(g.updated_at.clone())
    .bind(g.revision_number)
    .bind(g.id.clone())
    .bind(expected_revision)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Delete a group (its rules cascade) and its tags.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    tags::clear(conn, "security-groups", id).await?;
    sqlx::query("DELETE FROM default_security_groups WHERE security_group_id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let done = sqlx::query("DELETE FROM security_groups WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// One group with rules and tags.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<SecurityGroup>> {
    let sql = numbered(&format!(
        "SELECT {COLUMNS} FROM security_groups WHERE id = ?"
    ));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    match row {
        None => Ok(None),
        Some(row) => {
            let mut groups = vec![from_row(&row)?];
            load_children(conn, &mut groups).await?;
            Ok(groups.pop())
        }
    }
}

/// A page of groups with rules and tags.
pub async fn list(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<SecurityGroup>> {
    let rows = query::list(conn, "security_groups", COLUMNS, q).await?;
    let mut groups = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    load_children(conn, &mut groups).await?;
    Ok(groups)
}

async fn load_children(conn: &mut AnyConnection, groups: &mut [SecurityGroup]) -> Result<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    let rows = fetch_in(
        conn,
        &format!("SELECT {RULE_COLUMNS} FROM security_group_rules WHERE security_group_id IN "),
        &[] as &[SqlValue],
        &ids,
        " ORDER BY created_at, id",
    )
    .await?;
    let mut rules: std::collections::HashMap<String, Vec<SecurityGroupRule>> = Default::default();
    for r in &rows {
        let rule = rule_from_row(r)?;
        rules
            .entry(rule.security_group_id.clone())
            .or_default()
            .push(rule);
    }
    let mut tag_map = tags::load(conn, "security-groups", &ids).await?;
    for g in groups.iter_mut() {
        g.rules = rules.remove(&g.id).unwrap_or_default();
        g.tags = tag_map.remove(&g.id).unwrap_or_default();
    }
    Ok(())
}

/// Insert a rule.
pub async fn insert_rule(conn: &mut AnyConnection, r: &SecurityGroupRule) -> Result<()> {
    sqlx::query(
        "INSERT INTO security_group_rules (id, project_id, security_group_id, direction, \
         ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix, remote_group_id, \
         description, created_at, updated_at, revision_number, remote_address_group_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(r.id.clone())
    .bind(r.project_id.clone())
    .bind(r.security_group_id.clone())
    .bind(r.direction.clone())
    .bind(r.ethertype.clone())
    .bind(r.protocol.clone())
    .bind(r.port_range_min)
    .bind(r.port_range_max)
    .bind(r.remote_ip_prefix.clone())
    .bind(r.remote_group_id.clone())
    .bind(r.description.clone())
    .bind(r.created_at.clone())
    .bind(r.updated_at.clone())
    .bind(r.revision_number)
    .bind(r.remote_address_group_id.clone())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// One rule.
pub async fn get_rule(conn: &mut AnyConnection, id: &str) -> Result<Option<SecurityGroupRule>> {
    let sql = numbered(&format!(
        "SELECT {RULE_COLUMNS} FROM security_group_rules WHERE id = ?"
    ));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(rule_from_row).transpose()
}

/// A page of rules.
pub async fn list_rules(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<SecurityGroupRule>> {
    let rows = query::list(conn, "security_group_rules", RULE_COLUMNS, q).await?;
    rows.iter().map(rule_from_row).collect()
}

/// Delete a rule.
pub async fn delete_rule(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM security_group_rules WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// The id of a project's default group, if it has one.
pub async fn default_of(conn: &mut AnyConnection, project_id: &str) -> Result<Option<String>> {
    let row =
        sqlx::query("SELECT security_group_id FROM default_security_groups WHERE project_id = $1")
            .bind(project_id.to_string())
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
    row.map(|r| text(&r, 0)).transpose()
}

/// Record `group_id` as the project's default group; false if another one won the race.
pub async fn set_default(
    conn: &mut AnyConnection,
    project_id: &str,
    group_id: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO default_security_groups (project_id, security_group_id) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(project_id.to_string())
    .bind(group_id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Number of ports bound to a group.
pub async fn port_count(conn: &mut AnyConnection, group_id: &str) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) FROM port_security_groups WHERE security_group_id = $1")
        .bind(group_id.to_string())
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    int(&row, 0)
}

/// Which of `ids` exist, with their project and whether they are stateful.
pub async fn owners(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<(String, String, bool)>> {
    let rows = fetch_in(
        conn,
        "SELECT id, project_id, stateful FROM security_groups WHERE id IN ",
        &[] as &[SqlValue],
        ids,
        "",
    )
    .await?;
    rows.iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?, boolean(r, 2)?)))
        .collect()
}
