//! Port binding levels: which driver bound which segment at each level of a port's binding.

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

/// Whether any port binding level still uses a segment.
pub async fn segment_in_use(conn: &mut AnyConnection, segment_id: &str) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM port_binding_levels WHERE segment_id = $1 LIMIT 1")
        .bind(segment_id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(row.is_some())
}
