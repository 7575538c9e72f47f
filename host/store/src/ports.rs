//! Ports, their fixed IPs (see [`crate::ipam`]) and security group bindings.

use sqlx::AnyConnection;

use crate::error::{Result, StoreError};
use crate::model::Port;
use crate::query::{self, ListQuery, SqlValue};
use crate::row::{text, to_json};
use crate::tags;

/// The insert of a port row (`?` placeholders, values from `port_row_values`).
const INSERT_PORT_Q: &str = "INSERT INTO ports (id, project_id, network_id, name, description, \
     mac_address, admin_state_up, status, device_id, device_owner, port_security_enabled, \
     allowed_address_pairs, binding_host_id, binding_vnic_type, binding_profile, \
     binding_vif_type, binding_vif_details, created_at, updated_at, revision_number, \
     device_profile, numa_affinity_policy, extra_dhcp_opts) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The values of a port row, in column order.
fn port_row_values(p: &Port) -> Vec<SqlValue> {
    vec![
        p.id.as_str().into(),
        p.project_id.as_str().into(),
        p.network_id.as_str().into(),
        p.name.as_str().into(),
        p.description.as_str().into(),
        p.mac_address.as_str().into(),
        p.admin_state_up.into(),
        p.status.as_str().into(),
        p.device_id.as_str().into(),
        p.device_owner.as_str().into(),
        p.port_security_enabled.into(),
        to_json(&p.allowed_address_pairs).into(),
        p.binding_host_id.as_str().into(),
        p.binding_vnic_type.as_str().into(),
        to_json(&p.binding_profile).into(),
        p.binding_vif_type.as_str().into(),
        to_json(&p.binding_vif_details).into(),
        p.created_at.as_str().into(),
        p.updated_at.as_str().into(),
        p.revision_number.into(),
        p.device_profile.clone().into(),
        p.numa_affinity_policy.clone().into(),
        to_json(&p.extra_dhcp_opts).into(),
    ]
}

/// Insert a new port with its fixed IPs (`p.fixed_ips`, in order) and its security groups
/// (`p.security_groups`); tags are written separately.
///
/// Every hand-off to the database costs more than the inserts, so they travel together. On
/// SQLite they are one batch, [deferred](crate::Tx::defer): in a batched transaction they
/// reach the database with its next statement or its `COMMIT`; the batch ends by rendering
/// the port's document, once its children are in. PostgreSQL takes one statement per query,
/// so there the inserts are one statement of data-modifying `WITH` clauses (foreign keys
/// are checked at the end of the statement, when the port row is there), and the document
/// is rendered at commit by a deferred trigger.
pub async fn insert_with_children(tx: &mut crate::Tx, p: &Port) -> Result<()> {
    let mut inserts = vec![INSERT_PORT_Q.to_string()];
    let mut values = port_row_values(p);
    for (position, ip) in p.fixed_ips.iter().enumerate() {
        inserts.push(
            "INSERT INTO ip_allocations (subnet_id, ip_address, port_id, network_id, position) \
             VALUES (?, ?, ?, ?, ?)"
                .into(),
        );
        values.extend([
            ip.subnet_id.as_str().into(),
            ip.ip_address.as_str().into(),
            p.id.as_str().into(),
            p.network_id.as_str().into(),
            (position as i64).into(),
        ]);
    }
    for g in &p.security_groups {
        inserts.push(
            "INSERT INTO port_security_groups (port_id, security_group_id) VALUES (?, ?)".into(),
        );
        values.extend([p.id.as_str().into(), g.as_str().into()]);
    }
    if tx.backend_name() == "PostgreSQL" {
        let mut sql = String::from("WITH ");
        for (i, insert) in inserts.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("i{i} AS ({insert})"));
        }
        sql.push_str(" SELECT 1");
        let conn: &mut AnyConnection = tx;
        query::bind_all(
            sqlx::query(sqlx::AssertSqlSafe(crate::db::numbered(&sql))),
            &values,
        )
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
        return Ok(());
    }
    // The children cleared the port's stored document; render it once, now they are all in.
    inserts.push(RENDER_DOC_Q.into());
    values.extend([p.id.as_str().into(), p.id.as_str().into()]);
    tx.defer(&inserts.join("; "), values)
        .await
        .map_err(StoreError::classify)
}

/// Lock port `id`'s row until the transaction ends, on PostgreSQL (SQLite has one writer
/// and no row locks). Transactions that change an existing port call this first, so that
/// they take the port's row before any free-range row: the triggers that keep `ports.doc`
/// lock the port when one of its fixed IPs changes, and taking the two in the other order
/// in two transactions would deadlock.
pub async fn lock(conn: &mut AnyConnection, id: &str) -> Result<()> {
    if conn.backend_name() != "PostgreSQL" {
        return Ok(());
    }
    sqlx::query("SELECT 1 FROM ports WHERE id = $1 FOR NO KEY UPDATE")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Write the mutable columns of `p` if the stored revision is still `expected_revision`.
pub async fn update(conn: &mut AnyConnection, p: &Port, expected_revision: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE ports SET name = $1, description = $2, mac_address = $3, admin_state_up = $4, \
         status = $5, device_id = $6, device_owner = $7, port_security_enabled = $8, \
         allowed_address_pairs = $9, binding_host_id = $10, binding_vnic_type = $11, \
         binding_profile = $12, binding_vif_type = $13, binding_vif_details = $14, \
         updated_at = $15, revision_number = $16, device_profile = $17, \
         numa_affinity_policy = $18, extra_dhcp_opts = $19 \
         WHERE id = $20 AND revision_number = $21",
    )
    .bind(p.name.clone())
    .bind(p.description.clone())
    .bind(p.mac_address.clone())
    .bind(i64::from(p.admin_state_up))
    .bind(p.status.clone())
    .bind(p.device_id.clone())
    .bind(p.device_owner.clone())
    .bind(i64::from(p.port_security_enabled))
    .bind(to_json(&p.allowed_address_pairs))
    .bind(p.binding_host_id.clone())
    .bind(p.binding_vnic_type.clone())
    .bind(to_json(&p.binding_profile))
    .bind(p.binding_vif_type.clone())
    .bind(to_json(&p.binding_vif_details))
    .bind(p.updated_at.clone())
    .bind(p.revision_number)
    .bind(p.device_profile.clone())
    .bind(p.numa_affinity_policy.clone())
    .bind(to_json(&p.extra_dhcp_opts))
    .bind(p.id.clone())
    .bind(expected_revision)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Delete a port (allocations and security group bindings cascade) and its tags.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    tags::clear(conn, "ports", id).await?;
    let done = sqlx::query("DELETE FROM ports WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// A port as the database renders it (see [`SQLITE_DOC`]): one JSON text per row instead
/// of two dozen columns, which is what makes long lists cheap (the per-column cost of the
/// driver dominates otherwise).
#[derive(serde::Deserialize)]
struct PortJson {
    id: String,
    project_id: String,
    network_id: String,
    name: String,
    description: String,
    mac_address: String,
    admin_state_up: i64,
    status: String,
    device_id: String,
    device_owner: String,
    port_security_enabled: i64,
    allowed_address_pairs: Vec<crate::model::AddressPair>,
    binding_host_id: String,
    binding_vnic_type: String,
    binding_profile: serde_json::Value,
    binding_vif_type: String,
    binding_vif_details: serde_json::Value,
    created_at: String,
    updated_at: String,
    revision_number: i64,
    #[serde(default)]
    device_profile: Option<String>,
    #[serde(default)]
    numa_affinity_policy: Option<String>,
    #[serde(default)]
    extra_dhcp_opts: Vec<crate::model::ExtraDhcpOpt>,
    #[serde(default)]
    fixed_ips: Vec<crate::model::FixedIp>,
    #[serde(default)]
    security_groups: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
}

impl From<PortJson> for Port {
    fn from(p: PortJson) -> Port {
        Port {
            id: p.id,
            project_id: p.project_id,
            network_id: p.network_id,
            name: p.name,
            description: p.description,
            mac_address: p.mac_address,
            admin_state_up: p.admin_state_up != 0,
            status: p.status,
            device_id: p.device_id,
            device_owner: p.device_owner,
            port_security_enabled: p.port_security_enabled != 0,
            allowed_address_pairs: p.allowed_address_pairs,
            binding_host_id: p.binding_host_id,
            binding_vnic_type: p.binding_vnic_type,
            binding_profile: p.binding_profile,
            binding_vif_type: p.binding_vif_type,
            binding_vif_details: p.binding_vif_details,
            created_at: p.created_at,
            updated_at: p.updated_at,
            revision_number: p.revision_number,
            fixed_ips: p.fixed_ips,
            security_groups: p.security_groups,
            tags: p.tags,
            binding_levels: Vec::new(),
            device_profile: p.device_profile,
            numa_affinity_policy: p.numa_affinity_policy,
            extra_dhcp_opts: p.extra_dhcp_opts,
        }
    }
}

/// Store the document of port `?` (twice the id), on SQLite.
const RENDER_DOC_Q: &str =
    "UPDATE ports SET doc = (SELECT d.doc FROM port_documents d WHERE d.id = ?) WHERE id = ?";

/// The JSON document of a port on SQLite: the stored `doc` column or, while it is NULL, the
/// same rendering done now (see `migrations/sqlite/0004_port_documents.sql`).
const SQLITE_DOC: &str =
    "COALESCE(doc, (SELECT d.doc FROM port_documents d WHERE d.id = ports.id))";

/// The same on PostgreSQL (see `migrations/postgres/0004_port_documents.sql`).
const PG_DOC: &str = "COALESCE(doc, port_document(ports))";

/// Ports selected by `q`, with every child, in `q`'s order.
async fn select(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<Port>> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("ports: {e}"));
    let mut ports: Vec<Port> = if conn.backend_name() == "PostgreSQL" {
        // One row per port: PostgreSQL streams the rows of one response, decoded as they come.
        query::list_map(conn, "ports", PG_DOC, q, |row| {
            let doc = text(row, 0)?;
            serde_json::from_str::<PortJson>(&doc)
                .map(Port::from)
                .map_err(corrupt)
        })
        .await?
    } else {
        let text = query::list_json_array(conn, "ports", SQLITE_DOC, q).await?;
        let mut items: Vec<PortJson> = serde_json::from_str(&text).map_err(corrupt)?;
        if q.page_reverse {
            items.reverse();
        }
        items.into_iter().map(Port::from).collect()
    };
    if ports.is_empty() {
        return Ok(ports);
    }
    // Only bound ports have binding levels; most listed ports are not (yet) bound.
    let bound: Vec<String> = ports
        .iter()
        .filter(|p| p.binding_vif_type != "unbound")
        .map(|p| p.id.clone())
        .collect();
    if !bound.is_empty() {
        let mut levels = crate::bindings::levels_of(conn, &bound).await?;
        for p in ports.iter_mut() {
            p.binding_levels = levels.remove(&p.id).unwrap_or_default();
        }
    }
    Ok(ports)
}

/// One port with fixed IPs, security groups and tags.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Port>> {
    let q = ListQuery {
        conditions: vec![query::Condition::eq("id", id)],
        ..Default::default()
    };
    Ok(select(conn, &q).await?.pop())
}

/// A page of ports with their children.
pub async fn list(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<Port>> {
    select(conn, q).await
}

/// Ports of a network (with children).
pub async fn of_network(conn: &mut AnyConnection, network_id: &str) -> Result<Vec<Port>> {
    let q = ListQuery {
        conditions: vec![query::Condition::eq("network_id", network_id)],
        ..Default::default()
    };
    list(conn, &q).await
}

/// Replace the security groups bound to a port.
pub async fn set_security_groups(
    conn: &mut AnyConnection,
    port_id: &str,
    groups: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM port_security_groups WHERE port_id = $1")
        .bind(port_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    for g in groups {
        sqlx::query(
            "INSERT INTO port_security_groups (port_id, security_group_id) VALUES ($1, $2)",
        )
        .bind(port_id.to_string())
        .bind(g.clone())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    }
    Ok(())
}

/// Bind security groups to a new port (which has none yet).
pub async fn add_security_groups(
    conn: &mut AnyConnection,
    port_id: &str,
    groups: &[String],
) -> Result<()> {
    for g in groups {
        sqlx::query(
            "INSERT INTO port_security_groups (port_id, security_group_id) VALUES ($1, $2)",
        )
        .bind(port_id.to_string())
        .bind(g.clone())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    }
    Ok(())
}

/// Whether a MAC address is used on a network (optionally by a port other than `except`).
pub async fn mac_in_use(
    conn: &mut AnyConnection,
    network_id: &str,
    mac: &str,
    except: Option<&str>,
) -> Result<bool> {
    let row = sqlx::query("SELECT id FROM ports WHERE network_id = $1 AND mac_address = $2")
        .bind(network_id.to_string())
        .bind(mac.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    match row {
        None => Ok(false),
        Some(r) => Ok(Some(text(&r, 0)?.as_str()) != except),
    }
}

/// Ids and device owners of the ports of a network.
pub async fn owners_on_network(
    conn: &mut AnyConnection,
    network_id: &str,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT id, device_owner FROM ports WHERE network_id = $1")
        .bind(network_id.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?)))
        .collect()
}

/// Ids of the ports whose id starts with `prefix` (at most two: enough to tell whether a
/// device name such as `tap<first 11 chars of the id>` names one port).
pub async fn ids_with_prefix(conn: &mut AnyConnection, prefix: &str) -> Result<Vec<String>> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT id FROM ports WHERE id LIKE $1 ORDER BY id LIMIT 2")
        .bind(format!("{}%", prefix.replace(['%', '_'], "")))
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
}

/// Ports that use a device (`device_id`) on a network.
pub async fn of_device(
    conn: &mut AnyConnection,
    network_id: &str,
    device_id: &str,
) -> Result<Vec<Port>> {
    let q = ListQuery {
        conditions: vec![
            query::Condition::eq("network_id", network_id),
            query::Condition::eq("device_id", device_id),
        ],
        ..Default::default()
    };
    list(conn, &q).await
}
