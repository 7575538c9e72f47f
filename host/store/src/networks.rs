//! Networks and their segments.

use std::collections::HashMap;

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::numbered;
use crate::error::{Result, StoreError};
use crate::model::{Network, Segment};
use crate::query::{self, ListQuery, SqlValue};
use crate::row::{boolean, fetch_in, group_text, int, json, opt_int, opt_text, text, to_json};
use crate::tags;

/// Columns selected for a network, in `from_row` order.
/// Column 15 is the network's RBAC entries (`action:target,…`), 16 `is_default`; statements
/// that add columns after these read them from [`COLUMN_COUNT`] on.
pub const COLUMNS: &str = "id, project_id, name, description, admin_state_up, status, shared, \
    router_external, mtu, port_security_enabled, availability_zone_hints, dns_domain, created_at, \
    updated_at, revision_number, (SELECT string_agg(r.action || ':' || r.target_project, ',') \
    FROM rbac_policies r WHERE r.object_id = networks.id AND r.object_type = 'network') AS rbac, \
    is_default";

/// How many columns [`COLUMNS`] selects.
pub const COLUMN_COUNT: usize = 17;

fn from_row(row: &AnyRow) -> Result<Network> {
    Ok(Network {
        id: text(row, 0)?,
        project_id: text(row, 1)?,
        name: text(row, 2)?,
        description: text(row, 3)?,
        admin_state_up: boolean(row, 4)?,
        status: text(row, 5)?,
        shared: boolean(row, 6)?,
        router_external: boolean(row, 7)?,
        mtu: int(row, 8)?,
        port_security_enabled: boolean(row, 9)?,
        availability_zone_hints: json(row, 10)?,
        dns_domain: text(row, 11)?,
        created_at: text(row, 12)?,
        updated_at: text(row, 13)?,
        revision_number: int(row, 14)?,
        rbac: opt_text(row, 15)?
            .map(|s| {
                s.split(',')
                    .filter_map(|e| e.split_once(':'))
                    .map(|(a, t)| crate::model::RbacGrant {
                        action: a.to_string(),
                        target: t.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        is_default: boolean(row, 16)?,
        subnets: Vec::new(),
        tags: Vec::new(),
        segments: Vec::new(),
        address_scopes: [None, None],
    })
}

/// Insert a network row (segments are inserted separately).
pub async fn insert(conn: &mut AnyConnection, n: &Network) -> Result<()> {
    sqlx::query(
        "INSERT INTO networks (id, project_id, name, description, admin_state_up, status, shared, \
         router_external, mtu, port_security_enabled, availability_zone_hints, dns_domain, \
         created_at, updated_at, revision_number, is_default) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(n.id.clone())
    .bind(n.project_id.clone())
    .bind(n.name.clone())
    .bind(n.description.clone())
    .bind(i64::from(n.admin_state_up))
    .bind(n.status.clone())
    .bind(i64::from(n.shared))
    .bind(i64::from(n.router_external))
    .bind(n.mtu)
    .bind(i64::from(n.port_security_enabled))
    .bind(to_json(&n.availability_zone_hints))
    .bind(n.dns_domain.clone())
    .bind(n.created_at.clone())
    .bind(n.updated_at.clone())
    .bind(n.revision_number)
    .bind(i64::from(n.is_default))
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Write every column of `n`, provided the stored revision is still `expected_revision`.
/// Returns false when the row changed meanwhile (or is gone).
pub async fn update(conn: &mut AnyConnection, n: &Network, expected_revision: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE networks SET name = $1, description = $2, admin_state_up = $3, status = $4, \
         shared = $5, router_external = $6, mtu = $7, port_security_enabled = $8, \
         availability_zone_hints = $9, dns_domain = $10, updated_at = $11, revision_number = $12, \
         is_default = $13 WHERE id = $14 AND revision_number = $15",
    )
    .bind(n.name.clone())
    .bind(n.description.clone())
    .bind(i64::from(n.admin_state_up))
    .bind(n.status.clone())
    .bind(i64::from(n.shared))
    .bind(i64::from(n.router_external))
    .bind(n.mtu)
    .bind(i64::from(n.port_security_enabled))
    .bind(to_json(&n.availability_zone_hints))
    .bind(n.dns_domain.clone())
    .bind(n.updated_at.clone())
    .bind(n.revision_number)
    .bind(i64::from(n.is_default))
    .bind(n.id.clone())
    .bind(expected_revision)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// The default external network (`is_default`), if any.
pub async fn default_external(conn: &mut AnyConnection) -> Result<Option<String>> {
    let row = sqlx::query("SELECT id FROM networks WHERE is_default <> 0 ORDER BY created_at, id")
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(|r| text(r, 0)).transpose()
}

/// Delete a network row (and, by cascade, its segments); its tags too.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    tags::clear(conn, "networks", id).await?;
    let done = sqlx::query("DELETE FROM networks WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// The subnet ids, tags and segments of a network as JSON arrays, computed in the same
/// statement as the network row (one round trip instead of four; used for single networks).
fn children_columns(conn: &AnyConnection) -> &'static str {
    if conn.backend_name() == "PostgreSQL" {
        ", (SELECT COALESCE(json_agg(s.id ORDER BY s.created_at, s.id), '[]'::json)::text \
             FROM subnets s WHERE s.network_id = networks.id), \
           (SELECT COALESCE(json_agg(t.tag ORDER BY t.tag), '[]'::json)::text FROM tags t \
             WHERE t.resource = 'networks' AND t.resource_id = networks.id), \
           (SELECT COALESCE(json_agg(json_build_object('id', g.id, 'network_id', g.network_id, \
             'network_type', g.network_type, 'physical_network', g.physical_network, \
             'segmentation_id', g.segmentation_id, 'is_dynamic', g.is_dynamic <> 0, \
             'segment_index', g.segment_index, 'name', g.name, 'description', g.description, \
             'created_at', g.created_at, 'updated_at', g.updated_at, \
             'revision_number', g.revision_number) ORDER BY g.segment_index), '[]'::json)::text \
             FROM network_segments g WHERE g.network_id = networks.id)"
    } else {
        ", (SELECT json_group_array(s.id) FROM (SELECT id FROM subnets \
             WHERE network_id = networks.id ORDER BY created_at, id) s), \
           (SELECT json_group_array(t.tag) FROM (SELECT tag FROM tags \
             WHERE resource = 'networks' AND resource_id = networks.id ORDER BY tag) t), \
           (SELECT json_group_array(json_object('id', g.id, 'network_id', g.network_id, \
             'network_type', g.network_type, 'physical_network', g.physical_network, \
             'segmentation_id', g.segmentation_id, \
             'is_dynamic', json(CASE WHEN g.is_dynamic <> 0 THEN 'true' ELSE 'false' END), \
             'segment_index', g.segment_index, 'name', g.name, 'description', g.description, \
             'created_at', g.created_at, 'updated_at', g.updated_at, \
             'revision_number', g.revision_number)) FROM (SELECT * FROM network_segments \
             WHERE network_id = networks.id ORDER BY segment_index) g)"
    }
}

/// One network with its subnets, tags and segments.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Network>> {
    let sql = numbered(&format!(
        "SELECT {COLUMNS}{} FROM networks WHERE id = ?",
        children_columns(conn)
    ));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    match row {
        None => Ok(None),
        Some(row) => {
            let mut n = from_row(&row)?;
            n.subnets = json(&row, COLUMN_COUNT)?;
            n.tags = json(&row, COLUMN_COUNT + 1)?;
            n.segments = json(&row, COLUMN_COUNT + 2)?;
            load_address_scopes(conn, std::slice::from_mut(&mut n)).await?;
            Ok(Some(n))
        }
    }
}

/// What creating a port on a network needs, in one statement: the network (with its subnet
/// ids, tags and segments, as [`get`] reads it), its subnets (oldest first, without tags) and
/// the default security group of `project_id` if it has one.
pub async fn port_context(
    tx: &mut crate::Tx,
    id: &str,
    project_id: &str,
) -> Result<Option<PortContext>> {
    let conn: &AnyConnection = tx;
    let conn_is_pg = conn.backend_name() == "PostgreSQL";
    // SQLite: also the lowest free range of each subnet, so that taking an address needs no
    // statement of its own (see `ipam::take_any`). PostgreSQL locks that row when it reads it,
    // which this statement does not do.
    let first_free = if conn.backend_name() == "PostgreSQL" {
        "NULL"
    } else {
        "(SELECT json_group_array(json_array(r.subnet_id, r.first_ip, r.last_ip)) \
           FROM subnets s JOIN ipam_ranges r ON r.subnet_id = s.id \
           AND r.first_ip = (SELECT min(first_ip) FROM ipam_ranges WHERE subnet_id = s.id) \
           WHERE s.network_id = networks.id)"
    };
    // SQLite: also the owner's port usage and own limit (the transaction holds the writer,
    // so they stay exact until it ends); PostgreSQL locks the usage row with a statement of
    // its own (`quotas::usage_for_update`).
    let quota = if conn_is_pg {
        "NULL, NULL"
    } else {
        "(SELECT in_use FROM quota_usages WHERE project_id = ? AND resource = 'port'), \
         (SELECT hard_limit FROM quotas WHERE project_id = ? AND resource = 'port')"
    };
    let sql = format!(
        "SELECT {COLUMNS}{}, {}, (SELECT security_group_id FROM default_security_groups \
         WHERE project_id = ?), {first_free}, {quota} FROM networks WHERE id = ?",
        children_columns(conn),
        crate::subnets::json_array_of_network(conn)
    );
    let binds = if conn_is_pg {
        vec![project_id.into(), id.into()]
    } else {
        vec![
            project_id.into(),
            project_id.into(),
            project_id.into(),
            id.into(),
        ]
    };
    // In a batched transaction on SQLite this is the statement that carries `BEGIN`.
    let rows = tx
        .fetch_all(&sql, binds)
        .await
        .map_err(StoreError::classify)?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let first_free = match opt_text(&row, COLUMN_COUNT + 5)? {
        Some(json) => serde_json::from_str::<Vec<(String, String, String)>>(&json)
            .map_err(|e| StoreError::Corrupt(format!("free ranges of a network: {e}")))?
            .into_iter()
            .map(|(subnet, first, last)| (subnet, (first, last)))
            .collect(),
        None => HashMap::new(),
    };
    let mut network = from_row(&row)?;
    network.subnets = json(&row, COLUMN_COUNT)?;
    network.tags = json(&row, COLUMN_COUNT + 1)?;
    network.segments = json(&row, COLUMN_COUNT + 2)?;
    let port_quota = if conn_is_pg {
        None
    } else {
        let used: Option<i64> = row
            .try_get(COLUMN_COUNT + 6)
            .map_err(StoreError::classify)?;
        let own: Option<i64> = row
            .try_get(COLUMN_COUNT + 7)
            .map_err(StoreError::classify)?;
        Some((used.unwrap_or(0), own))
    };
    let mut subnets = crate::subnets::from_json_array(&text(&row, COLUMN_COUNT + 3)?)?;
    for s in &mut subnets {
        s.router_external = network.router_external;
    }
    Ok(Some(PortContext {
        network,
        subnets,
        default_security_group: opt_text(&row, COLUMN_COUNT + 4)?,
        first_free,
        port_quota,
    }))
}

/// What creating a port on a network needs to know, read in one statement.
#[derive(Debug)]
pub struct PortContext {
    /// The network, with its children.
    pub network: Network,
    /// Its subnets, oldest first.
    pub subnets: Vec<crate::model::Subnet>,
    /// The project's default security group, when it has one yet.
    pub default_security_group: Option<String>,
    /// SQLite only: the owner's ports in use and its own port limit, if any.
    pub port_quota: Option<(i64, Option<i64>)>,
    /// SQLite only: the lowest free range (first, last; hex) of each subnet by id, as a hint
    /// for [`crate::ipam::take_any`].
    pub first_free: HashMap<String, (String, String)>,
}

/// One network row without children (cheap; for the port path).
pub async fn get_row(conn: &mut AnyConnection, id: &str) -> Result<Option<Network>> {
    let sql = numbered(&format!("SELECT {COLUMNS} FROM networks WHERE id = ?"));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(from_row).transpose()
}

/// The segments of a network, in index order.
pub async fn segments_of(conn: &mut AnyConnection, network_id: &str) -> Result<Vec<Segment>> {
    let sql = numbered(&format!(
        "SELECT {SEGMENT_COLUMNS} FROM network_segments WHERE network_id = ? ORDER BY segment_index"
    ));
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(network_id.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter().map(segment_from_row).collect()
}

/// A page of networks with their children.
pub async fn list(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<Network>> {
    let rows = query::list(conn, "networks", COLUMNS, q).await?;
    let mut nets = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    load_children(conn, &mut nets).await?;
    Ok(nets)
}

async fn load_children(conn: &mut AnyConnection, nets: &mut [Network]) -> Result<()> {
    if nets.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = nets.iter().map(|n| n.id.clone()).collect();
    let subnet_rows = fetch_in(
        conn,
        "SELECT network_id, id FROM subnets WHERE network_id IN ",
        &[],
        &ids,
        " ORDER BY created_at, id",
    )
    .await?;
    let mut subnets = group_text(&subnet_rows)?;
    let mut tag_map = tags::load(conn, "networks", &ids).await?;
    let seg_rows = fetch_in(
        conn,
        &format!("SELECT {SEGMENT_COLUMNS} FROM network_segments WHERE network_id IN "),
        &[],
        &ids,
        " ORDER BY segment_index",
    )
    .await?;
    let mut segs: std::collections::HashMap<String, Vec<Segment>> = Default::default();
    for row in &seg_rows {
        let s = segment_from_row(row)?;
        segs.entry(s.network_id.clone()).or_default().push(s);
    }
    for n in nets.iter_mut() {
        n.subnets = subnets.remove(&n.id).unwrap_or_default();
        n.tags = tag_map.remove(&n.id).unwrap_or_default();
        n.segments = segs.remove(&n.id).unwrap_or_default();
    }
    load_address_scopes(conn, nets).await?;
    Ok(())
}

/// Fill `address_scopes`: a network's IPv4 (IPv6) scope is the scope of the pool of its IPv4
/// (IPv6) subnets, which Neutron keeps to one per family.
async fn load_address_scopes(conn: &mut AnyConnection, nets: &mut [Network]) -> Result<()> {
    let ids: Vec<String> = nets.iter().map(|n| n.id.clone()).collect();
    let rows = fetch_in(
        conn,
        "SELECT DISTINCT s.network_id, p.ip_version, p.address_scope_id FROM subnets s \
         JOIN subnetpools p ON p.id = s.subnetpool_id \
         WHERE p.address_scope_id IS NOT NULL AND s.network_id IN ",
        &[],
        &ids,
        "",
    )
    .await?;
    let mut scopes: HashMap<String, [Option<String>; 2]> = HashMap::new();
    for row in &rows {
        let slot = usize::from(int(row, 1)? == 6);
        scopes.entry(text(row, 0)?).or_default()[slot] = opt_text(row, 2)?;
    }
    for n in nets.iter_mut() {
        n.address_scopes = scopes.remove(&n.id).unwrap_or_default();
    }
    Ok(())
}

/// Columns selected for a segment.
pub const SEGMENT_COLUMNS: &str = "id, network_id, network_type, physical_network, \
    segmentation_id, is_dynamic, segment_index, name, description, created_at, updated_at, \
    revision_number";

/// Decode a segment row selected with [`SEGMENT_COLUMNS`].
pub fn segment_from_row(row: &AnyRow) -> Result<Segment> {
    Ok(Segment {
        id: text(row, 0)?,
        network_id: text(row, 1)?,
        network_type: text(row, 2)?,
        physical_network: opt_text(row, 3)?,
        segmentation_id: opt_int(row, 4)?,
        is_dynamic: boolean(row, 5)?,
        segment_index: int(row, 6)?,
        name: text(row, 7)?,
        description: text(row, 8)?,
        created_at: text(row, 9)?,
        updated_at: text(row, 10)?,
        revision_number: int(row, 11)?,
    })
}

/// Insert a segment.
pub async fn insert_segment(conn: &mut AnyConnection, s: &Segment) -> Result<()> {
    sqlx::query(
        "INSERT INTO network_segments (id, network_id, network_type, physical_network, \
         segmentation_id, is_dynamic, segment_index, name, description, created_at, updated_at, \
         revision_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(s.id.clone())
    .bind(s.network_id.clone())
    .bind(s.network_type.clone())
    .bind(s.physical_network.clone())
    .bind(s.segmentation_id)
    .bind(i64::from(s.is_dynamic))
    .bind(s.segment_index)
    .bind(s.name.clone())
    .bind(s.description.clone())
    .bind(s.created_at.clone())
    .bind(s.updated_at.clone())
    .bind(s.revision_number)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Ids of networks matching a raw condition (used for visibility subqueries).
pub fn visible_to(project_id: &str) -> query::Condition {
    query::Condition::raw(
        "project_id = ? OR id IN (SELECT object_id FROM rbac_policies \
         WHERE object_type = 'network' AND target_project IN (?, '*'))",
        vec![SqlValue::from(project_id), SqlValue::from(project_id)],
    )
}
