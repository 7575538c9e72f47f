//! Port binding levels: which driver bound which segment at each level of a port's binding;
//! and a port's inactive bindings (`binding-extended`): one per host beside the active one,
//! which stays in the port's own `binding_*` columns.

use sqlx::AnyConnection;

use crate::error::{Result, StoreError};
use crate::row::{int, text};

/// One level of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingLevel {
    /// Level, 0 = top.
    pub level: i64,
    /// Host of the binding.
    pub host: String,
    /// Driver that bound it.
    pub driver: String,
    /// Segment bound.
    pub segment_id: String,
}

/// The levels of a port, top first.
pub async fn levels(conn: &mut AnyConnection, port_id: &str) -> Result<Vec<BindingLevel>> {
    let rows = sqlx::query(
        "SELECT level, host, driver, segment_id FROM port_binding_levels WHERE port_id = $1 \
         ORDER BY level",
    )
    .bind(port_id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| {
            Ok(BindingLevel {
                level: int(r, 0)?,
                host: text(r, 1)?,
                driver: text(r, 2)?,
                segment_id: text(r, 3)?,
            })
        })
        .collect()
}

/// The levels of many ports, top first.
pub async fn levels_of(
    conn: &mut AnyConnection,
    port_ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<BindingLevel>>> {
    let rows = crate::row::fetch_in(
        conn,
        "SELECT port_id, level, host, driver, segment_id FROM port_binding_levels WHERE port_id IN ",
        &[],
        port_ids,
        " ORDER BY level",
    )
    .await?;
    let mut map: std::collections::HashMap<String, Vec<BindingLevel>> = Default::default();
    for r in &rows {
        map.entry(text(r, 0)?).or_default().push(BindingLevel {
            level: int(r, 1)?,
            host: text(r, 2)?,
            driver: text(r, 3)?,
            segment_id: text(r, 4)?,
        });
    }
    Ok(map)
}

/// Replace the levels of a port.
pub async fn set_levels(
    conn: &mut AnyConnection,
    port_id: &str,
    levels: &[BindingLevel],
) -> Result<()> {
    sqlx::query("DELETE FROM port_binding_levels WHERE port_id = $1")
        .bind(port_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    for l in levels {
        sqlx::query(
            "INSERT INTO port_binding_levels (port_id, level, host, driver, segment_id) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(port_id.to_string())
        .bind(l.level)
        .bind(l.host.clone())
        .bind(l.driver.clone())
        .bind(l.segment_id.clone())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    }
    Ok(())
}

/// Whether any port binding level, of an active or an inactive binding, still uses a segment.
pub async fn segment_in_use(conn: &mut AnyConnection, segment_id: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 FROM port_binding_levels WHERE segment_id = $1 \
         UNION ALL SELECT 1 FROM port_binding_inactive_levels WHERE segment_id = $2 LIMIT 1",
    )
    .bind(segment_id.to_string())
    .bind(segment_id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(row.is_some())
}

/// A binding of a port on a host other than its active binding's (status `INACTIVE`).
#[derive(Debug, Clone, PartialEq)]
pub struct InactiveBinding {
    /// The port.
    pub port_id: String,
    /// The host it binds the port on.
    pub host: String,
    /// `vnic_type`.
    pub vnic_type: String,
    /// `profile` (a JSON object).
    pub profile: serde_json::Value,
    /// `vif_type`.
    pub vif_type: String,
    /// `vif_details` (a JSON object).
    pub vif_details: serde_json::Value,
    /// The levels its drivers bound, top first (their `host` is the binding's).
    pub levels: Vec<BindingLevel>,
}

/// One row of `port_binding_records`: a binding as the bindings API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingRecord {
    /// The port.
    pub port_id: String,
    /// Host (empty for the active binding of a port bound nowhere).
    pub host: String,
    /// `vnic_type`.
    pub vnic_type: String,
    /// `profile` (a JSON object).
    pub profile: serde_json::Value,
    /// `vif_type`.
    pub vif_type: String,
    /// `vif_details` (a JSON object).
    pub vif_details: serde_json::Value,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
}

const RECORD_COLUMNS: &str = "port_id, host, vnic_type, profile, vif_type, vif_details, status";

fn record(r: &sqlx::any::AnyRow) -> Result<BindingRecord> {
    Ok(BindingRecord {
        port_id: text(r, 0)?,
        host: text(r, 1)?,
        vnic_type: text(r, 2)?,
        profile: crate::row::json(r, 3)?,
        vif_type: text(r, 4)?,
        vif_details: crate::row::json(r, 5)?,
        status: text(r, 6)?,
    })
}

/// The bindings of a port as the API lists them (`q` filters, sorts and pages them; its
/// marker is a host).
pub async fn records(
    conn: &mut AnyConnection,
    port_id: &str,
    q: &crate::query::ListQuery,
) -> Result<Vec<BindingRecord>> {
    let mut q = q.clone();
    q.marker = q.marker.map(|host| format!("{port_id} {host}"));
    q.conditions
        .push(crate::query::Condition::eq("port_id", port_id.to_string()));
    crate::query::list_map(conn, "port_binding_records", RECORD_COLUMNS, &q, record).await
}

/// The inactive binding of a port on a host, with its levels.
pub async fn inactive(
    conn: &mut AnyConnection,
    port_id: &str,
    host: &str,
) -> Result<Option<InactiveBinding>> {
    let Some(r) = sqlx::query(
        "SELECT vnic_type, profile, vif_type, vif_details FROM port_bindings \
         WHERE port_id = $1 AND host = $2",
    )
    .bind(port_id.to_string())
    .bind(host.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::classify)?
    else {
        return Ok(None);
    };
    let mut b = InactiveBinding {
        port_id: port_id.to_string(),
        host: host.to_string(),
        vnic_type: text(&r, 0)?,
        profile: crate::row::json(&r, 1)?,
        vif_type: text(&r, 2)?,
        vif_details: crate::row::json(&r, 3)?,
        levels: Vec::new(),
    };
    let rows = sqlx::query(
        "SELECT level, driver, segment_id FROM port_binding_inactive_levels \
         WHERE port_id = $1 AND host = $2 ORDER BY level",
    )
    .bind(port_id.to_string())
    .bind(host.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    for r in &rows {
        b.levels.push(BindingLevel {
            level: int(r, 0)?,
            host: host.to_string(),
            driver: text(r, 1)?,
            segment_id: text(r, 2)?,
        });
    }
    Ok(Some(b))
}

/// The levels of every inactive binding of a port.
pub async fn inactive_levels(conn: &mut AnyConnection, port_id: &str) -> Result<Vec<BindingLevel>> {
    let rows = sqlx::query(
        "SELECT level, host, driver, segment_id FROM port_binding_inactive_levels \
         WHERE port_id = $1 ORDER BY host, level",
    )
    .bind(port_id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| {
            Ok(BindingLevel {
                level: int(r, 0)?,
                host: text(r, 1)?,
                driver: text(r, 2)?,
                segment_id: text(r, 3)?,
            })
        })
        .collect()
}

/// Record an inactive binding with its levels (a second one for the same port and host is
/// a unique-key error).
pub async fn insert_inactive(conn: &mut AnyConnection, b: &InactiveBinding) -> Result<()> {
    sqlx::query(
        "INSERT INTO port_bindings (port_id, host, vnic_type, profile, vif_type, vif_details) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(b.port_id.clone())
    .bind(b.host.clone())
    .bind(b.vnic_type.clone())
    .bind(crate::row::to_json(&b.profile))
    .bind(b.vif_type.clone())
    .bind(crate::row::to_json(&b.vif_details))
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    for l in &b.levels {
        sqlx::query(
            "INSERT INTO port_binding_inactive_levels (port_id, host, level, driver, segment_id) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(b.port_id.clone())
        .bind(b.host.clone())
        .bind(l.level)
        .bind(l.driver.clone())
        .bind(l.segment_id.clone())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    }
    Ok(())
}

/// Remove an inactive binding and its levels; whether there was one.
pub async fn delete_inactive(conn: &mut AnyConnection, port_id: &str, host: &str) -> Result<bool> {
    sqlx::query("DELETE FROM port_binding_inactive_levels WHERE port_id = $1 AND host = $2")
        .bind(port_id.to_string())
        .bind(host.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let done = sqlx::query("DELETE FROM port_bindings WHERE port_id = $1 AND host = $2")
        .bind(port_id.to_string())
        .bind(host.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() > 0)
}
