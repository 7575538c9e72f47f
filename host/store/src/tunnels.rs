//! Tunnel endpoints (Neutron's `ml2_vxlan_endpoints`, `ml2_gre_endpoints`,
//! `ml2_geneve_endpoints`): the address each host's L2 agent terminates tunnels of a type on.
//! The address is the primary key and the host unique, so two agents can never record one
//! address, nor one host two addresses, whichever servers they ask.

use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::error::{Result, StoreError};
use crate::row::{opt_text, text};

/// One endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The tunnel address (`local_ip` of the agent).
    pub ip_address: String,
    /// The host whose agent reported it (`None` for agents that did not say).
    pub host: Option<String>,
}

/// The table of a tunnel type; `None` for a type that has no endpoints.
pub fn table(tunnel_type: &str) -> Option<&'static str> {
    match tunnel_type {
        "vxlan" => Some("ml2_vxlan_endpoints"),
        "gre" => Some("ml2_gre_endpoints"),
        "geneve" => Some("ml2_geneve_endpoints"),
        _ => None,
    }
}

fn table_of(tunnel_type: &str) -> Result<&'static str> {
    table(tunnel_type).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "'{tunnel_type}' is not a tunnel type with endpoints"
        ))
    })
}

fn from_row(row: &AnyRow) -> Result<Endpoint> {
    Ok(Endpoint {
        ip_address: text(row, 0)?,
        host: opt_text(row, 1)?,
    })
}

async fn one(
    conn: &mut AnyConnection,
    tunnel_type: &str,
    column: &str,
    value: &str,
) -> Result<Option<Endpoint>> {
    let sql = format!(
        "SELECT ip_address, host FROM {} WHERE {column} = $1",
        table_of(tunnel_type)?
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(from_row).transpose()
}

/// Make this transaction the only one changing a type's endpoints until it ends: on
/// PostgreSQL the table is locked against other writers (readers go on); SQLite has one
/// writer. A host's report touches up to three rows found by two keys, and agents report
/// rarely (when they start), so taking turns costs nothing and retries never pile up.
pub async fn lock(conn: &mut AnyConnection, tunnel_type: &str) -> Result<()> {
    let table = table_of(tunnel_type)?;
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"
        )))
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    }
    Ok(())
}

/// The endpoint of `host`.
pub async fn by_host(
    conn: &mut AnyConnection,
    tunnel_type: &str,
    host: &str,
) -> Result<Option<Endpoint>> {
    one(conn, tunnel_type, "host", host).await
}

/// The endpoint with address `ip`.
pub async fn by_ip(
    conn: &mut AnyConnection,
    tunnel_type: &str,
    ip: &str,
) -> Result<Option<Endpoint>> {
    one(conn, tunnel_type, "ip_address", ip).await
}

/// Every endpoint of a type, by address.
pub async fn list(conn: &mut AnyConnection, tunnel_type: &str) -> Result<Vec<Endpoint>> {
    let sql = format!(
        "SELECT ip_address, host FROM {} ORDER BY ip_address",
        table_of(tunnel_type)?
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    rows.iter().map(from_row).collect()
}

/// Remove the endpoint with address `ip`, and any endpoint of `host` when given.
pub async fn delete(
    conn: &mut AnyConnection,
    tunnel_type: &str,
    ip: &str,
    host: Option<&str>,
) -> Result<()> {
    let sql = format!(
        "DELETE FROM {} WHERE ip_address = $1 OR (host IS NOT NULL AND host = $2)",
        table_of(tunnel_type)?
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ip.to_string())
        .bind(host.unwrap_or_default().to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Record `ip` for `host`; `false` when the address or the host is already recorded (a
/// concurrent writer, or the same report again).
pub async fn insert(
    conn: &mut AnyConnection,
    tunnel_type: &str,
    ip: &str,
    host: Option<&str>,
) -> Result<bool> {
    let sql = format!(
        "INSERT INTO {} (ip_address, host) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        table_of(tunnel_type)?
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ip.to_string())
        .bind(host.map(str::to_string))
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}
