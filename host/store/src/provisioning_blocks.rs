//! Provisioning blocks (`provisioning_blocks`), Neutron's `ProvisioningBlock`: the entities
//! (`L2`, `DHCP`) a port still waits for before it becomes `ACTIVE`.

use sqlx::{AnyConnection, Row};

use crate::error::{Result, StoreError};

/// Add a block; `false` if it was there already.
pub async fn add(conn: &mut AnyConnection, port_id: &str, entity: &str) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO provisioning_blocks (port_id, entity) \
         SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM ports WHERE id = $1) \
         ON CONFLICT DO NOTHING",
    )
    .bind(port_id.to_string())
    .bind(entity.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Remove a block; `false` if there was none.
pub async fn remove(conn: &mut AnyConnection, port_id: &str, entity: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM provisioning_blocks WHERE port_id = $1 AND entity = $2")
        .bind(port_id.to_string())
        .bind(entity.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// The entities a port waits for, sorted.
pub async fn of_port(conn: &mut AnyConnection, port_id: &str) -> Result<Vec<String>> {
    let rows =
        sqlx::query("SELECT entity FROM provisioning_blocks WHERE port_id = $1 ORDER BY entity")
            .bind(port_id.to_string())
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
    Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
}
