//! What network IP availability is computed from: networks, their subnets, how many
//! addresses each subnet has handed out, and the free ranges left in its pools.
//!
//! Counting uses the primary key of `ip_allocations` (an index-only count per subnet); the
//! free ranges are few rows per subnet however many addresses are in use.

use std::collections::HashMap;

use sqlx::AnyConnection;

use crate::error::{Result, StoreError};
use crate::model::Subnet;
use crate::query::{self, Condition, ListQuery, SqlValue};
use crate::row::{fetch_in, int, text};

/// A network's identity, as the availability report names it.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkRow {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owner.
    pub project_id: String,
}

/// Everything an availability report reads, from one snapshot of the database.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The networks, in the query's order.
    pub networks: Vec<NetworkRow>,
    /// Their subnets, oldest first.
    pub subnets: Vec<Subnet>,
    /// Addresses handed out per subnet.
    pub used: HashMap<String, u64>,
    /// Free ranges per subnet.
    pub free: HashMap<String, Vec<(u128, u128)>>,
    /// Every address of the subnets `read_addresses` chose.
    pub addresses: HashMap<String, Vec<String>>,
}

/// Read the networks `q` selects, their subnets of `ip_versions` (all when empty), their
/// counts and free ranges, and the addresses of the subnets for which `read_addresses` says
/// so, in one read-only transaction (a repeatable-read snapshot on PostgreSQL, a WAL
/// snapshot on SQLite), so concurrent allocations never make the figures disagree.
pub async fn snapshot(
    conn: &mut AnyConnection,
    q: &ListQuery,
    ip_versions: &[i64],
    read_addresses: impl Fn(&Subnet) -> bool,
) -> Result<Snapshot> {
    use sqlx::Connection;
    let postgres = conn.backend_name() == "PostgreSQL";
    let mut tx = conn.begin().await.map_err(StoreError::classify)?;
    if postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
    }
    let networks = networks(&mut tx, q).await?;
    let ids: Vec<String> = networks.iter().map(|n| n.id.clone()).collect();
    let subnets = subnets(&mut tx, &ids, ip_versions).await?;
    let subnet_ids: Vec<String> = subnets.iter().map(|s| s.id.clone()).collect();
    let used = used_counts(&mut tx, &subnet_ids).await?;
    let mut free: HashMap<String, Vec<(u128, u128)>> = HashMap::new();
    for (id, a, b) in free_ranges(&mut tx, &subnet_ids).await? {
        free.entry(id).or_default().push((a, b));
    }
    let chosen: Vec<String> = subnets
        .iter()
        .filter(|s| read_addresses(s))
        .map(|s| s.id.clone())
        .collect();
    let mut by_subnet: HashMap<String, Vec<String>> = HashMap::new();
    for (id, ip) in addresses(&mut tx, &chosen).await? {
        by_subnet.entry(id).or_default().push(ip);
    }
    tx.commit().await.map_err(StoreError::classify)?;
    Ok(Snapshot {
        networks,
        subnets,
        used,
        free,
        addresses: by_subnet,
    })
}

/// Networks selected by `q` (conditions and order on the `networks` table).
pub async fn networks(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<NetworkRow>> {
    let rows = query::list(conn, "networks", "id, name, project_id", q).await?;
    rows.iter()
        .map(|r| {
            Ok(NetworkRow {
                id: text(r, 0)?,
                name: text(r, 1)?,
                project_id: text(r, 2)?,
            })
        })
        .collect()
}

/// The subnets of `network_ids` (of the given IP versions, all when empty), oldest first.
pub async fn subnets(
    conn: &mut AnyConnection,
    network_ids: &[String],
    ip_versions: &[i64],
) -> Result<Vec<Subnet>> {
    if network_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = if conn.backend_name() == "PostgreSQL" {
        "(SELECT json_array_elements_text(?::json))"
    } else {
        "(SELECT value FROM json_each(?))"
    };
    let mut conditions = vec![Condition::raw(
        format!("network_id IN {list}"),
        vec![SqlValue::Text(crate::row::to_json(&network_ids))],
    )];
    if !ip_versions.is_empty() {
        conditions.push(Condition::is_in(
            "ip_version",
            ip_versions.iter().map(|v| SqlValue::Int(*v)).collect(),
        ));
    }
    let q = ListQuery {
        conditions,
        sorts: vec![query::Sort {
            column: "created_at".into(),
            ascending: true,
        }],
        ..Default::default()
    };
    crate::subnets::list(conn, &q).await
}

/// How many addresses each of `subnet_ids` has handed out.
pub async fn used_counts(
    conn: &mut AnyConnection,
    subnet_ids: &[String],
) -> Result<HashMap<String, u64>> {
    let rows = fetch_in(
        conn,
        "SELECT subnet_id, COUNT(*) FROM ip_allocations WHERE subnet_id IN ",
        &[],
        subnet_ids,
        " GROUP BY subnet_id",
    )
    .await?;
    rows.iter()
        .map(|r| Ok((text(r, 0)?, int(r, 1)?.max(0) as u64)))
        .collect()
}

/// The free ranges (first, last; fixed-width hex) of each of `subnet_ids`.
pub async fn free_ranges(
    conn: &mut AnyConnection,
    subnet_ids: &[String],
) -> Result<Vec<(String, u128, u128)>> {
    let rows = fetch_in(
        conn,
        "SELECT subnet_id, first_ip, last_ip FROM ipam_ranges WHERE subnet_id IN ",
        &[],
        subnet_ids,
        "",
    )
    .await?;
    let hex = |h: String| {
        u128::from_str_radix(&h, 16)
            .map_err(|e| StoreError::Corrupt(format!("ipam address {h}: {e}")))
    };
    rows.iter()
        .map(|r| Ok((text(r, 0)?, hex(text(r, 1)?)?, hex(text(r, 2)?)?)))
        .collect()
}

/// Every address handed out by `subnet_ids`.
pub async fn addresses(
    conn: &mut AnyConnection,
    subnet_ids: &[String],
) -> Result<Vec<(String, String)>> {
    let rows = fetch_in(
        conn,
        "SELECT subnet_id, ip_address FROM ip_allocations WHERE subnet_id IN ",
        &[],
        subnet_ids,
        "",
    )
    .await?;
    rows.iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?)))
        .collect()
}
