//! Which DHCP agents serve which networks (`network_dhcp_agent_bindings`), Neutron's
//! `NetworkDhcpAgentBinding`.

use sqlx::{AnyConnection, Row};

use crate::error::{Result, StoreError};

/// Lock a network's bindings until the transaction ends (PostgreSQL locks the network's
/// row; SQLite has one writer), so that two schedulers of one network take turns.
pub async fn lock_network(conn: &mut AnyConnection, network_id: &str) -> Result<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT 1 FROM networks WHERE id = $1 FOR UPDATE")
            .bind(network_id.to_string())
            .execute(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
    }
    Ok(())
}

async fn ids(conn: &mut AnyConnection, sql: &'static str, key: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(sql)
        .bind(key.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
}

/// The agents serving a network.
pub async fn agents_of(conn: &mut AnyConnection, network_id: &str) -> Result<Vec<String>> {
    ids(
        conn,
        "SELECT dhcp_agent_id FROM network_dhcp_agent_bindings WHERE network_id = $1 \
         ORDER BY dhcp_agent_id",
        network_id,
    )
    .await
}

/// The networks an agent serves.
pub async fn networks_of(conn: &mut AnyConnection, agent_id: &str) -> Result<Vec<String>> {
    ids(
        conn,
        "SELECT network_id FROM network_dhcp_agent_bindings WHERE dhcp_agent_id = $1 \
         ORDER BY network_id",
        agent_id,
    )
    .await
}

/// How many networks each agent serves (agents serving none are absent).
pub async fn load(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT dhcp_agent_id, COUNT(*) FROM network_dhcp_agent_bindings GROUP BY dhcp_agent_id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect())
}

/// Bind; `false` if the binding was there already.
pub async fn add(conn: &mut AnyConnection, network_id: &str, agent_id: &str) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO network_dhcp_agent_bindings (network_id, dhcp_agent_id) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(network_id.to_string())
    .bind(agent_id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Unbind; `false` if there was no such binding.
pub async fn remove(conn: &mut AnyConnection, network_id: &str, agent_id: &str) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM network_dhcp_agent_bindings WHERE network_id = $1 AND dhcp_agent_id = $2",
    )
    .bind(network_id.to_string())
    .bind(agent_id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}
