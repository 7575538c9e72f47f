//! The agents table: what each L2/DHCP/L3 agent last reported.

use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::error::{Result, StoreError};
use crate::query::{self, ListQuery};
use crate::row::{boolean, json, opt_text, text, to_json};

/// An agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// UUID.
    pub id: String,
    /// e.g. `Open vSwitch agent`.
    pub agent_type: String,
    /// e.g. `neutron-openvswitch-agent`.
    pub binary: String,
    /// RPC topic.
    pub topic: String,
    /// Host it runs on.
    pub host: String,
    /// Operator switch.
    pub admin_state_up: bool,
    /// The agent's `configurations` object.
    pub configurations: serde_json::Value,
    /// Availability zone.
    pub availability_zone: Option<String>,
    /// Description.
    pub description: String,
    /// First report.
    pub created_at: String,
    /// Last start.
    pub started_at: String,
    /// Last report.
    pub heartbeat_timestamp: String,
}

/// Columns selected for an agent.
pub const COLUMNS: &str = "id, agent_type, agent_binary, topic, host, admin_state_up, \
    configurations, availability_zone, description, created_at, started_at, heartbeat_timestamp";

fn from_row(row: &AnyRow) -> Result<Agent> {
    Ok(Agent {
        id: text(row, 0)?,
        agent_type: text(row, 1)?,
        binary: text(row, 2)?,
        topic: text(row, 3)?,
        host: text(row, 4)?,
        admin_state_up: boolean(row, 5)?,
        configurations: json(row, 6)?,
        availability_zone: opt_text(row, 7)?,
        description: text(row, 8)?,
        created_at: text(row, 9)?,
        started_at: text(row, 10)?,
        heartbeat_timestamp: text(row, 11)?,
    })
}

/// The agent of a type on a host.
pub async fn find(conn: &mut AnyConnection, agent_type: &str, host: &str) -> Result<Option<Agent>> {
    let sql = format!("SELECT {COLUMNS} FROM agents WHERE agent_type = $1 AND host = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(agent_type.to_string())
        .bind(host.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(from_row).transpose()
}

/// One agent.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Agent>> {
    let sql = format!("SELECT {COLUMNS} FROM agents WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.as_ref().map(from_row).transpose()
}

/// Agents matching a list query.
pub async fn list(conn: &mut AnyConnection, q: &ListQuery) -> Result<Vec<Agent>> {
    let rows = query::list(conn, "agents", COLUMNS, q).await?;
    rows.iter().map(from_row).collect()
}

/// Insert a new agent or update the report of an existing one (same type and host).
pub async fn upsert(conn: &mut AnyConnection, a: &Agent) -> Result<()> {
    sqlx::query(
        "INSERT INTO agents (id, agent_type, agent_binary, topic, host, admin_state_up, \
         configurations, availability_zone, description, created_at, started_at, \
         heartbeat_timestamp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (agent_type, host) DO UPDATE SET agent_binary = excluded.agent_binary, \
         topic = excluded.topic, configurations = excluded.configurations, \
         availability_zone = excluded.availability_zone, started_at = excluded.started_at, \
         heartbeat_timestamp = excluded.heartbeat_timestamp",
    )
    .bind(a.id.clone())
    .bind(a.agent_type.clone())
    .bind(a.binary.clone())
    .bind(a.topic.clone())
    .bind(a.host.clone())
    .bind(i64::from(a.admin_state_up))
    .bind(to_json(&a.configurations))
    .bind(a.availability_zone.clone())
    .bind(a.description.clone())
    .bind(a.created_at.clone())
    .bind(a.started_at.clone())
    .bind(a.heartbeat_timestamp.clone())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Change the operator fields of an agent.
pub async fn update_admin(
    conn: &mut AnyConnection,
    id: &str,
    admin_state_up: bool,
    description: &str,
) -> Result<bool> {
    let done = sqlx::query("UPDATE agents SET admin_state_up = $1, description = $2 WHERE id = $3")
        .bind(i64::from(admin_state_up))
        .bind(description.to_string())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Delete an agent.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM agents WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}
