//! Routers, their ports and extra routes, and floating IPs (the L3 API's tables).

use std::collections::HashMap;

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::db::numbered;
use crate::error::{Result, StoreError};
use crate::model::FixedIp;
use crate::query::{self, ListQuery, SqlValue};
use crate::row::{boolean, fetch_in, int, json, opt_text, text, to_json};
use crate::tags;

/// Device owner of a router's gateway port.
pub const GATEWAY: &str = "network:router_gateway";
/// Device owner of a floating IP's own port.
pub const FLOATINGIP: &str = "network:floatingip";

/// One extra route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Destination CIDR.
    pub destination: String,
    /// Next hop address.
    pub nexthop: String,
}

/// A router.
#[derive(Debug, Clone, PartialEq)]
pub struct Router {
    /// UUID.
    pub id: String,
    /// Owner.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Administrative state.
    pub admin_state_up: bool,
    /// Status (`ACTIVE`).
    pub status: String,
    /// The gateway port.
    pub gw_port_id: Option<String>,
    /// The external network of the gateway.
    pub gw_network_id: Option<String>,
    /// SNAT on the gateway (`ext-gw-mode`).
    pub enable_snat: bool,
    /// `distributed` (stored only).
    pub distributed: bool,
    /// `ha` (stored only).
    pub ha: bool,
    /// Availability zone hints.
    pub availability_zone_hints: Vec<String>,
    /// Flavor.
    pub flavor_id: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Revision.
    pub revision_number: i64,
    /// The gateway port's fixed IPs (loaded).
    pub gw_fixed_ips: Vec<FixedIp>,
    /// Extra routes, sorted (loaded).
    pub routes: Vec<Route>,
    /// Tags (loaded).
    pub tags: Vec<String>,
}

/// Columns selected for a router, in `router_from_row` order.
pub const ROUTER_COLUMNS: &str = "id, project_id, name, description, admin_state_up, status, \
    gw_port_id, gw_network_id, enable_snat, distributed, ha, availability_zone_hints, flavor_id, \
    created_at, updated_at, revision_number";

fn router_from_row(row: &AnyRow) -> Result<Router> {
    Ok(Router {
        id: text(row, 0)?,
        project_id: text(row, 1)?,
        name: text(row, 2)?,
        description: text(row, 3)?,
        admin_state_up: boolean(row, 4)?,
        status: text(row, 5)?,
        gw_port_id: opt_text(row, 6)?,
        gw_network_id: opt_text(row, 7)?,
        enable_snat: boolean(row, 8)?,
        distributed: boolean(row, 9)?,
        ha: boolean(row, 10)?,
        availability_zone_hints: json(row, 11)?,
        flavor_id: opt_text(row, 12)?,
        created_at: text(row, 13)?,
        updated_at: text(row, 14)?,
        revision_number: int(row, 15)?,
        gw_fixed_ips: Vec::new(),
        routes: Vec::new(),
        tags: Vec::new(),
    })
}

/// Insert a router (without routes or tags).
pub async fn insert_router(conn: &mut AnyConnection, r: &Router) -> Result<()> {
    sqlx::query(
        "INSERT INTO routers (id, project_id, name, description, admin_state_up, status, \
         gw_port_id, gw_network_id, enable_snat, distributed, ha, availability_zone_hints, \
         flavor_id, created_at, updated_at, revision_number) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(r.id.clone())
    .bind(r.project_id.clone())
    .bind(r.name.clone())
    .bind(r.description.clone())
    .bind(i64::from(r.admin_state_up))
    .bind(r.status.clone())
    .bind(r.gw_port_id.clone())
    .bind(r.gw_network_id.clone())
    .bind(i64::from(r.enable_snat))
    .bind(i64::from(r.distributed))
    .bind(i64::from(r.ha))
    .bind(to_json(&r.availability_zone_hints))
    .bind(r.flavor_id.clone())
    .bind(r.created_at.clone())
    .bind(r.updated_at.clone())
    .bind(r.revision_number)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Write a router's own columns if its revision is still `expected`.
pub async fn update_router(conn: &mut AnyConnection, r: &Router, expected: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE routers SET name = $1, description = $2, admin_state_up = $3, status = $4, \
         gw_port_id = $5, gw_network_id = $6, enable_snat = $7, distributed = $8, ha = $9, \
         updated_at = $10, revision_number = $11 WHERE id = $12 AND revision_number = $13",
    )
    .bind(r.name.clone())
    .bind(r.description.clone())
    .bind(i64::from(r.admin_state_up))
    .bind(r.status.clone())
    .bind(r.gw_port_id.clone())
    .bind(r.gw_network_id.clone())
    .bind(i64::from(r.enable_snat))
    .bind(i64::from(r.distributed))
    .bind(i64::from(r.ha))
    .bind(r.updated_at.clone())
    .bind(r.revision_number)
    .bind(r.id.clone())
    .bind(expected)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Delete a router with its routes, port rows and tags.
pub async fn delete_router(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    tags::clear(conn, "routers", id).await?;
    let done = sqlx::query("DELETE FROM routers WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// One router with what it carries.
pub async fn get_router(conn: &mut AnyConnection, id: &str) -> Result<Option<Router>> {
    let sql = numbered(&format!(
        "SELECT {ROUTER_COLUMNS} FROM routers WHERE id = ?"
    ));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let Some(row) = row else { return Ok(None) };
    let mut out = vec![router_from_row(&row)?];
    load_routers(conn, &mut out).await?;
    Ok(out.pop())
}

/// A page of routers.
pub async fn list_routers(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<Router>> {
    let rows = query::list(conn, "routers", ROUTER_COLUMNS, q).await?;
    let mut out = rows
        .iter()
        .map(router_from_row)
        .collect::<Result<Vec<_>>>()?;
    load_routers(conn, &mut out).await?;
    Ok(out)
}

async fn load_routers(conn: &mut AnyConnection, routers: &mut [Router]) -> Result<()> {
    let ids: Vec<String> = routers.iter().map(|r| r.id.clone()).collect();
    let rows = fetch_in(
        conn,
        "SELECT router_id, destination, nexthop FROM router_routes WHERE router_id IN ",
        &[] as &[SqlValue],
        &ids,
        " ORDER BY destination, nexthop",
    )
    .await?;
    let mut routes: HashMap<String, Vec<Route>> = HashMap::new();
    for r in &rows {
        routes.entry(text(r, 0)?).or_default().push(Route {
            destination: text(r, 1)?,
            nexthop: text(r, 2)?,
        });
    }
    let gw_ports: Vec<String> = routers
        .iter()
        .filter_map(|r| r.gw_port_id.clone())
        .collect();
    let ips = fixed_ips_of(conn, &gw_ports).await?;
    let mut tag_map = tags::load(conn, "routers", &ids).await?;
    for r in routers.iter_mut() {
        r.routes = routes.remove(&r.id).unwrap_or_default();
        r.gw_fixed_ips = r
            .gw_port_id
            .as_ref()
            .and_then(|p| ips.get(p).cloned())
            .unwrap_or_default();
        r.tags = tag_map.remove(&r.id).unwrap_or_default();
    }
    Ok(())
}

/// Fixed IPs of ports, by port, in their order.
pub async fn fixed_ips_of(
    conn: &mut AnyConnection,
    ports: &[String],
) -> Result<HashMap<String, Vec<FixedIp>>> {
    let rows = fetch_in(
        conn,
        "SELECT port_id, subnet_id, ip_address FROM ip_allocations WHERE port_id IN ",
        &[] as &[SqlValue],
        ports,
        " ORDER BY port_id, position",
    )
    .await?;
    let mut out: HashMap<String, Vec<FixedIp>> = HashMap::new();
    for r in &rows {
        out.entry(text(r, 0)?).or_default().push(FixedIp {
            subnet_id: text(r, 1)?,
            ip_address: text(r, 2)?,
        });
    }
    Ok(out)
}

/// Record that a port belongs to a router.
pub async fn add_router_port(
    conn: &mut AnyConnection,
    router_id: &str,
    port_id: &str,
    port_type: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO router_ports (port_id, router_id, port_type) VALUES ($1, $2, $3)")
        .bind(port_id.to_string())
        .bind(router_id.to_string())
        .bind(port_type.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Forget that a port belongs to its router.
pub async fn remove_router_port(conn: &mut AnyConnection, port_id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM router_ports WHERE port_id = $1")
        .bind(port_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// One interface address of a router: (port, subnet, address).
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceIp {
    /// The router port.
    pub port_id: String,
    /// Its network.
    pub network_id: String,
    /// Subnet of the address.
    pub subnet_id: String,
    /// The address.
    pub ip_address: String,
    /// The subnet's CIDR.
    pub cidr: String,
    /// `port_type` of the router port.
    pub port_type: String,
}

/// Every address of a router's ports (interfaces and gateway), by port then position.
pub async fn router_addresses(
    conn: &mut AnyConnection,
    router_id: &str,
) -> Result<Vec<InterfaceIp>> {
    let rows = sqlx::query(
        "SELECT rp.port_id, a.network_id, a.subnet_id, a.ip_address, s.cidr, rp.port_type \
         FROM router_ports rp JOIN ip_allocations a ON a.port_id = rp.port_id \
         JOIN subnets s ON s.id = a.subnet_id WHERE rp.router_id = $1 \
         ORDER BY rp.port_id, a.position",
    )
    .bind(router_id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| {
            Ok(InterfaceIp {
                port_id: text(r, 0)?,
                network_id: text(r, 1)?,
                subnet_id: text(r, 2)?,
                ip_address: text(r, 3)?,
                cidr: text(r, 4)?,
                port_type: text(r, 5)?,
            })
        })
        .collect()
}

/// The router ports of a router: (port id, port type).
pub async fn router_ports(
    conn: &mut AnyConnection,
    router_id: &str,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT port_id, port_type FROM router_ports WHERE router_id = $1 ORDER BY port_id",
    )
    .bind(router_id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?)))
        .collect()
}

/// The router a port belongs to, with the port's type there.
pub async fn router_of_port(
    conn: &mut AnyConnection,
    port_id: &str,
) -> Result<Option<(String, String)>> {
    let row = sqlx::query("SELECT router_id, port_type FROM router_ports WHERE port_id = $1")
        .bind(port_id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.map(|r| Ok((text(&r, 0)?, text(&r, 1)?))).transpose()
}

/// Routers with an interface address on `subnet_id` and a gateway on `network_id`:
/// (router id, the interface's address), by router id.
pub async fn routers_for_subnet(
    conn: &mut AnyConnection,
    subnet_id: &str,
    network_id: &str,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT rp.router_id, a.ip_address FROM router_ports rp \
         JOIN ip_allocations a ON a.port_id = rp.port_id \
         JOIN routers r ON r.id = rp.router_id \
         WHERE a.subnet_id = $1 AND rp.port_type <> $2 AND r.gw_network_id = $3 \
         ORDER BY rp.router_id",
    )
    .bind(subnet_id.to_string())
    .bind(GATEWAY.to_string())
    .bind(network_id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?)))
        .collect()
}

/// Whether any router has its gateway on `network_id`.
pub async fn gateways_on(conn: &mut AnyConnection, network_id: &str) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM routers WHERE gw_network_id = $1 LIMIT 1")
        .bind(network_id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(row.is_some())
}

/// The projects of the routers with their gateway on `network_id`, each once.
pub async fn gateway_projects(conn: &mut AnyConnection, network_id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT DISTINCT project_id FROM routers WHERE gw_network_id = $1 ORDER BY project_id",
    )
    .bind(network_id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter().map(|r| text(r, 0)).collect()
}

/// Replace a router's extra routes.
pub async fn set_routes(conn: &mut AnyConnection, router_id: &str, routes: &[Route]) -> Result<()> {
    sqlx::query("DELETE FROM router_routes WHERE router_id = $1")
        .bind(router_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    for r in routes {
        add_route(conn, router_id, r).await?;
    }
    Ok(())
}

/// Add one route; false when the router has it already.
pub async fn add_route(conn: &mut AnyConnection, router_id: &str, r: &Route) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO router_routes (router_id, destination, nexthop) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(router_id.to_string())
    .bind(r.destination.clone())
    .bind(r.nexthop.clone())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Remove one route; false when the router does not have it.
pub async fn remove_route(conn: &mut AnyConnection, router_id: &str, r: &Route) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM router_routes WHERE router_id = $1 AND destination = $2 AND nexthop = $3",
    )
    .bind(router_id.to_string())
    .bind(r.destination.clone())
    .bind(r.nexthop.clone())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// The associated port of a floating IP as `fip-port-details` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PortDetails {
    /// Name.
    pub name: String,
    /// Network.
    pub network_id: String,
    /// MAC.
    pub mac_address: String,
    /// Administrative state.
    pub admin_state_up: bool,
    /// Status.
    pub status: String,
    /// Device id.
    pub device_id: String,
    /// Device owner.
    pub device_owner: String,
}

/// A floating IP.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatingIp {
    /// UUID.
    pub id: String,
    /// Owner.
    pub project_id: String,
    /// Description.
    pub description: String,
    /// The address.
    pub floating_ip_address: String,
    /// External network.
    pub floating_network_id: String,
    /// Its own port.
    pub floating_port_id: String,
    /// Associated port.
    pub fixed_port_id: Option<String>,
    /// Associated fixed IP.
    pub fixed_ip_address: Option<String>,
    /// Router that serves the association.
    pub router_id: Option<String>,
    /// Status.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Revision.
    pub revision_number: i64,
    /// Tags (loaded).
    pub tags: Vec<String>,
    /// The associated port (loaded).
    pub port_details: Option<PortDetails>,
}

/// Columns selected for a floating IP, in `fip_from_row` order.
pub const FIP_COLUMNS: &str = "id, project_id, description, floating_ip_address, \
    floating_network_id, floating_port_id, fixed_port_id, fixed_ip_address, router_id, status, \
    created_at, updated_at, revision_number";

fn fip_from_row(row: &AnyRow) -> Result<FloatingIp> {
    Ok(FloatingIp {
        id: text(row, 0)?,
        project_id: text(row, 1)?,
        description: text(row, 2)?,
        floating_ip_address: text(row, 3)?,
        floating_network_id: text(row, 4)?,
        floating_port_id: text(row, 5)?,
        fixed_port_id: opt_text(row, 6)?,
        fixed_ip_address: opt_text(row, 7)?,
        router_id: opt_text(row, 8)?,
        status: text(row, 9)?,
        created_at: text(row, 10)?,
        updated_at: text(row, 11)?,
        revision_number: int(row, 12)?,
        tags: Vec::new(),
        port_details: None,
    })
}

/// Insert a floating IP.
pub async fn insert_fip(conn: &mut AnyConnection, f: &FloatingIp) -> Result<()> {
    sqlx::query(
        "INSERT INTO floatingips (id, project_id, description, floating_ip_address, \
         floating_network_id, floating_port_id, fixed_port_id, fixed_ip_address, router_id, \
         status, created_at, updated_at, revision_number) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         $8, $9, $10, $11, $12, $13)",
    )
    .bind(f.id.clone())
    .bind(f.project_id.clone())
    .bind(f.description.clone())
    .bind(f.floating_ip_address.clone())
    .bind(f.floating_network_id.clone())
    .bind(f.floating_port_id.clone())
    .bind(f.fixed_port_id.clone())
    .bind(f.fixed_ip_address.clone())
    .bind(f.router_id.clone())
    .bind(f.status.clone())
    .bind(f.created_at.clone())
    .bind(f.updated_at.clone())
    .bind(f.revision_number)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Write a floating IP's changeable columns if its revision is still `expected`.
pub async fn update_fip(conn: &mut AnyConnection, f: &FloatingIp, expected: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE floatingips SET description = $1, fixed_port_id = $2, fixed_ip_address = $3, \
         router_id = $4, status = $5, updated_at = $6, revision_number = $7 \
         WHERE id = $8 AND revision_number = $9",
    )
    .bind(f.description.clone())
    .bind(f.fixed_port_id.clone())
    .bind(f.fixed_ip_address.clone())
    .bind(f.router_id.clone())
    .bind(f.status.clone())
    .bind(f.updated_at.clone())
    .bind(f.revision_number)
    .bind(f.id.clone())
    .bind(expected)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Delete a floating IP and its tags (not its port).
pub async fn delete_fip(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    tags::clear(conn, "floatingips", id).await?;
    let done = sqlx::query("DELETE FROM floatingips WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// One floating IP.
pub async fn get_fip(conn: &mut AnyConnection, id: &str) -> Result<Option<FloatingIp>> {
    let sql = numbered(&format!(
        "SELECT {FIP_COLUMNS} FROM floatingips WHERE id = ?"
    ));
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let Some(row) = row else { return Ok(None) };
    let mut out = vec![fip_from_row(&row)?];
    load_fips(conn, &mut out).await?;
    Ok(out.pop())
}

/// A page of floating IPs.
pub async fn list_fips(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<FloatingIp>> {
    let rows = query::list(conn, "floatingips", FIP_COLUMNS, q).await?;
    let mut out = rows.iter().map(fip_from_row).collect::<Result<Vec<_>>>()?;
    load_fips(conn, &mut out).await?;
    Ok(out)
}

async fn load_fips(conn: &mut AnyConnection, fips: &mut [FloatingIp]) -> Result<()> {
    let ids: Vec<String> = fips.iter().map(|f| f.id.clone()).collect();
    let mut tag_map = tags::load(conn, "floatingips", &ids).await?;
    let ports: Vec<String> = fips
        .iter()
        .filter_map(|f| f.fixed_port_id.clone())
        .collect();
    let rows = fetch_in(
        conn,
        "SELECT id, name, network_id, mac_address, admin_state_up, status, device_id, \
         device_owner FROM ports WHERE id IN ",
        &[] as &[SqlValue],
        &ports,
        "",
    )
    .await?;
    let mut details: HashMap<String, PortDetails> = HashMap::new();
    for r in &rows {
        details.insert(
            text(r, 0)?,
            PortDetails {
                name: text(r, 1)?,
                network_id: text(r, 2)?,
                mac_address: text(r, 3)?,
                admin_state_up: boolean(r, 4)?,
                status: text(r, 5)?,
                device_id: text(r, 6)?,
                device_owner: text(r, 7)?,
            },
        );
    }
    for f in fips.iter_mut() {
        f.tags = tag_map.remove(&f.id).unwrap_or_default();
        f.port_details = f
            .fixed_port_id
            .as_ref()
            .and_then(|p| details.get(p).cloned());
    }
    Ok(())
}

/// Floating IPs matching a condition on their columns (`column = value`), unloaded.
async fn fips_where(
    conn: &mut AnyConnection,
    condition: &'static str,
    value: &str,
) -> Result<Vec<FloatingIp>> {
    let sql = format!("SELECT {FIP_COLUMNS} FROM floatingips WHERE {condition} ORDER BY id");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(value.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter().map(fip_from_row).collect()
}

/// Floating IPs associated through a router.
pub async fn fips_of_router(conn: &mut AnyConnection, router_id: &str) -> Result<Vec<FloatingIp>> {
    fips_where(conn, "router_id = $1", router_id).await
}

/// Floating IPs associated with a port.
pub async fn fips_of_port(conn: &mut AnyConnection, port_id: &str) -> Result<Vec<FloatingIp>> {
    fips_where(conn, "fixed_port_id = $1", port_id).await
}

/// Floating IPs on an external network that no port uses.
pub async fn disassociated_on_network(
    conn: &mut AnyConnection,
    network_id: &str,
) -> Result<Vec<FloatingIp>> {
    fips_where(
        conn,
        "floating_network_id = $1 AND fixed_port_id IS NULL",
        network_id,
    )
    .await
}

/// The floating IP whose own port is `port_id`.
pub async fn fip_of_floating_port(
    conn: &mut AnyConnection,
    port_id: &str,
) -> Result<Option<FloatingIp>> {
    Ok(fips_where(conn, "floating_port_id = $1", port_id)
        .await?
        .pop())
}

/// Drop every association with a port (the port is going away); returns how many.
pub async fn disassociate_port(conn: &mut AnyConnection, port_id: &str, now: &str) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE floatingips SET fixed_port_id = NULL, fixed_ip_address = NULL, router_id = NULL, \
         revision_number = revision_number + 1, updated_at = $1 WHERE fixed_port_id = $2",
    )
    .bind(now.to_string())
    .bind(port_id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected())
}
