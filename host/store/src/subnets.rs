//! Subnets.

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::db::numbered;
use crate::error::{Result, StoreError};
use crate::model::Subnet;
use crate::query::{self, ListQuery};
use crate::row::{boolean, int, json, opt_text, text, to_json};
use crate::tags;

/// Columns selected for a subnet, in `from_row` order.
pub const COLUMNS: &str = "id, project_id, network_id, name, description, ip_version, cidr, \
    gateway_ip, enable_dhcp, ipv6_ra_mode, ipv6_address_mode, subnetpool_id, segment_id, \
    dns_nameservers, host_routes, allocation_pools, service_types, created_at, updated_at, \
    revision_number, \
    COALESCE((SELECT n.router_external FROM networks n WHERE n.id = subnets.network_id), 0)";

fn from_row(row: &AnyRow) -> Result<Subnet> {
    Ok(Subnet {
        id: text(row, 0)?,
        project_id: text(row, 1)?,
        network_id: text(row, 2)?,
        name: text(row, 3)?,
        description: text(row, 4)?,
        ip_version: int(row, 5)?,
        cidr: text(row, 6)?,
        gateway_ip: opt_text(row, 7)?,
        enable_dhcp: boolean(row, 8)?,
        ipv6_ra_mode: opt_text(row, 9)?,
        ipv6_address_mode: opt_text(row, 10)?,
        subnetpool_id: opt_text(row, 11)?,
        segment_id: opt_text(row, 12)?,
        dns_nameservers: json(row, 13)?,
        host_routes: json(row, 14)?,
        allocation_pools: json(row, 15)?,
        service_types: json(row, 16)?,
        created_at: text(row, 17)?,
        updated_at: text(row, 18)?,
        revision_number: int(row, 19)?,
        tags: Vec::new(),
        router_external: boolean(row, 20)?,
    })
}

/// Insert a subnet row.
pub async fn insert(conn: &mut AnyConnection, s: &Subnet) -> Result<()> {
    sqlx::query(
        "INSERT INTO subnets (id, project_id, network_id, name, description, ip_version, cidr, \
         gateway_ip, enable_dhcp, ipv6_ra_mode, ipv6_address_mode, subnetpool_id, segment_id, \
         dns_nameservers, host_routes, allocation_pools, service_types, created_at, updated_at, \
         revision_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
         $15, $16, $17, $18, $19, $20)",
    )
    .bind(s.id.clone())
    .bind(s.project_id.clone())
    .bind(s.network_id.clone())
    .bind(s.name.clone())
    .bind(s.description.clone())
    .bind(s.ip_version)
    .bind(s.cidr.clone())
    .bind(s.gateway_ip.clone())
    .bind(i64::from(s.enable_dhcp))
    .bind(s.ipv6_ra_mode.clone())
    .bind(s.ipv6_address_mode.clone())
    .bind(s.subnetpool_id.clone())
    .bind(s.segment_id.clone())
    .bind(to_json(&s.dns_nameservers))
    .bind(to_json(&s.host_routes))
    .bind(to_json(&s.allocation_pools))
    .bind(to_json(&s.service_types))
    .bind(s.created_at.clone())
    .bind(s.updated_at.clone())
    .bind(s.revision_number)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Write the mutable columns of `s` if the stored revision is still `expected_revision`.
pub async fn update(conn: &mut AnyConnection, s: &Subnet, expected_revision: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE subnets SET name = $1, description = $2, gateway_ip = $3, enable_dhcp = $4, \
         dns_nameservers = $5, host_routes = $6, allocation_pools = $7, service_types = $8, \
         segment_id = $9, updated_at = $10, revision_number = $11 \
         WHERE id = $12 AND revision_number = $13",
    )
    .bind(s.name.clone())
    .bind(s.description.clone())
    .bind(s.gateway_ip.clone())
    .bind(i64::from(s.enable_dhcp))
    .bind(to_json(&s.dns_nameservers))
    .bind(to_json(&s.host_routes))
    .bind(to_json(&s.allocation_pools))
    .bind(to_json(&s.service_types))
    .bind(s.segment_id.clone())
    .bind(s.updated_at.clone())
    .bind(s.revision_number)
    .bind(s.id.clone())
    .bind(expected_revision)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Put a subnet into a subnet pool (`onboard_network_subnets`), bumping its revision.
pub async fn set_subnetpool(
    conn: &mut AnyConnection,
    subnet_id: &str,
    pool_id: &str,
    updated_at: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE subnets SET subnetpool_id = $1, updated_at = $2, \
         revision_number = revision_number + 1 WHERE id = $3",
    )
    .bind(pool_id.to_string())
    .bind(updated_at.to_string())
    .bind(subnet_id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Delete a subnet row (its IPAM ranges cascade) and its tags.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    tags::clear(conn, "subnets", id).await?;
    let done = sqlx::query("DELETE FROM subnets WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// One subnet with its tags.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Subnet>> {
    let sql = numbered(&format!("SELECT {COLUMNS} FROM subnets WHERE id = ?"));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    match row {
        None => Ok(None),
        Some(row) => {
            let mut s = from_row(&row)?;
            s.tags = tags::get(conn, "subnets", &s.id).await?;
            Ok(Some(s))
        }
    }
}

/// All subnets of a network (without tags), oldest first.
pub async fn of_network(conn: &mut AnyConnection, network_id: &str) -> Result<Vec<Subnet>> {
    let sql = numbered(&format!(
        "SELECT {COLUMNS} FROM subnets WHERE network_id = ? ORDER BY created_at, id"
    ));
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(network_id.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter().map(from_row).collect()
}

/// A subnet as the database renders it in JSON (see [`json_array_of_network`]).
#[derive(serde::Deserialize)]
struct SubnetJson {
    id: String,
    project_id: String,
    network_id: String,
    name: String,
    description: String,
    ip_version: i64,
    cidr: String,
    gateway_ip: Option<String>,
    enable_dhcp: i64,
    ipv6_ra_mode: Option<String>,
    ipv6_address_mode: Option<String>,
    subnetpool_id: Option<String>,
    segment_id: Option<String>,
    dns_nameservers: Vec<String>,
    host_routes: Vec<crate::model::HostRoute>,
    allocation_pools: Vec<crate::model::AllocationPool>,
    service_types: Vec<String>,
    created_at: String,
    updated_at: String,
    revision_number: i64,
}

impl From<SubnetJson> for Subnet {
    fn from(s: SubnetJson) -> Subnet {
        Subnet {
            id: s.id,
            project_id: s.project_id,
            network_id: s.network_id,
            name: s.name,
            description: s.description,
            ip_version: s.ip_version,
            cidr: s.cidr,
            gateway_ip: s.gateway_ip,
            enable_dhcp: s.enable_dhcp != 0,
            ipv6_ra_mode: s.ipv6_ra_mode,
            ipv6_address_mode: s.ipv6_address_mode,
            subnetpool_id: s.subnetpool_id,
            segment_id: s.segment_id,
            dns_nameservers: s.dns_nameservers,
            host_routes: s.host_routes,
            allocation_pools: s.allocation_pools,
            service_types: s.service_types,
            created_at: s.created_at,
            updated_at: s.updated_at,
            revision_number: s.revision_number,
            tags: Vec::new(),
            // Set from the network by the caller that read both.
            router_external: false,
        }
    }
}

/// A sub-select giving the subnets (without tags) of the network row `networks` as a JSON
/// array, oldest first; decode it with [`from_json_array`].
pub fn json_array_of_network(conn: &AnyConnection) -> &'static str {
    if conn.backend_name() == "PostgreSQL" {
        "(SELECT COALESCE(json_agg(json_build_object('id', s.id, 'project_id', s.project_id, \
           'network_id', s.network_id, 'name', s.name, 'description', s.description, \
           'ip_version', s.ip_version, 'cidr', s.cidr, 'gateway_ip', s.gateway_ip, \
           'enable_dhcp', s.enable_dhcp, 'ipv6_ra_mode', s.ipv6_ra_mode, \
           'ipv6_address_mode', s.ipv6_address_mode, 'subnetpool_id', s.subnetpool_id, \
           'segment_id', s.segment_id, 'dns_nameservers', s.dns_nameservers::json, \
           'host_routes', s.host_routes::json, 'allocation_pools', s.allocation_pools::json, \
           'service_types', s.service_types::json, 'created_at', s.created_at, \
           'updated_at', s.updated_at, 'revision_number', s.revision_number) \
           ORDER BY s.created_at, s.id), '[]'::json)::text \
         FROM subnets s WHERE s.network_id = networks.id)"
    } else {
        "(SELECT json_group_array(json_object('id', s.id, 'project_id', s.project_id, \
           'network_id', s.network_id, 'name', s.name, 'description', s.description, \
           'ip_version', s.ip_version, 'cidr', s.cidr, 'gateway_ip', s.gateway_ip, \
           'enable_dhcp', s.enable_dhcp, 'ipv6_ra_mode', s.ipv6_ra_mode, \
           'ipv6_address_mode', s.ipv6_address_mode, 'subnetpool_id', s.subnetpool_id, \
           'segment_id', s.segment_id, 'dns_nameservers', json(s.dns_nameservers), \
           'host_routes', json(s.host_routes), 'allocation_pools', json(s.allocation_pools), \
           'service_types', json(s.service_types), 'created_at', s.created_at, \
           'updated_at', s.updated_at, 'revision_number', s.revision_number)) \
         FROM (SELECT * FROM subnets WHERE network_id = networks.id \
           ORDER BY created_at, id) s)"
    }
}

/// Decode the JSON array produced by [`json_array_of_network`].
pub fn from_json_array(text: &str) -> Result<Vec<Subnet>> {
    let items: Vec<SubnetJson> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("subnets of a network: {e}")))?;
    Ok(items.into_iter().map(Subnet::from).collect())
}

/// All subnets taken from a subnet pool (without tags).
pub async fn of_subnetpool(conn: &mut AnyConnection, pool_id: &str) -> Result<Vec<Subnet>> {
    let sql = numbered(&format!(
        "SELECT {COLUMNS} FROM subnets WHERE subnetpool_id = ?"
    ));
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(pool_id.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter().map(from_row).collect()
}

/// Every subnet's CIDR with its network (for the global overlap check).
pub async fn all_cidrs(conn: &mut AnyConnection) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query("SELECT id, network_id, cidr FROM subnets")
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?, text(r, 2)?)))
        .collect()
}

/// A page of subnets with their tags.
pub async fn list(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<Subnet>> {
    let rows = query::list(conn, "subnets", COLUMNS, q).await?;
    let mut subnets = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let ids: Vec<String> = subnets.iter().map(|s| s.id.clone()).collect();
    let mut tag_map = tags::load(conn, "subnets", &ids).await?;
    for s in &mut subnets {
        s.tags = tag_map.remove(&s.id).unwrap_or_default();
    }
    Ok(subnets)
}

/// Networks that have at least one subnet with DHCP enabled (what DHCP agents serve).
pub async fn networks_with_dhcp(conn: &mut AnyConnection) -> Result<Vec<String>> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT DISTINCT network_id FROM subnets WHERE enable_dhcp = 1 ORDER BY network_id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
}
