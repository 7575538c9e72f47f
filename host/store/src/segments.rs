//! Segmentation id allocations (VLAN ids, VNIs, tunnel keys, flat physical networks).
//!
//! Only ids in use have rows. Reserving inserts with `ON CONFLICT DO NOTHING`, so a lost
//! race is an ordinary "not reserved" answer rather than an aborted transaction.

use sqlx::AnyConnection;

use crate::error::{Result, StoreError};
use crate::row::opt_int;

/// Try to reserve `id`; false when someone holds it already.
pub async fn reserve(
    conn: &mut AnyConnection,
    network_type: &str,
    physical_network: &str,
    id: i64,
    network_id: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO segment_allocations (network_type, physical_network, segmentation_id, \
         network_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(network_type.to_string())
    .bind(physical_network.to_string())
    .bind(id)
    .bind(network_id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// The lowest id in `[min, max]` not in use, if any.
pub async fn lowest_free(
    conn: &mut AnyConnection,
    network_type: &str,
    physical_network: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT MIN(candidate) FROM ( \
           SELECT $3 AS candidate WHERE NOT EXISTS (SELECT 1 FROM segment_allocations \
             WHERE network_type = $1 AND physical_network = $2 AND segmentation_id = $3) \
           UNION ALL \
           SELECT a.segmentation_id + 1 FROM segment_allocations a \
             WHERE a.network_type = $1 AND a.physical_network = $2 \
               AND a.segmentation_id >= $3 AND a.segmentation_id < $4 \
               AND NOT EXISTS (SELECT 1 FROM segment_allocations b \
                 WHERE b.network_type = a.network_type AND b.physical_network = a.physical_network \
                   AND b.segmentation_id = a.segmentation_id + 1) \
         ) free",
    )
    .bind(network_type.to_string())
    .bind(physical_network.to_string())
    .bind(min)
    .bind(max)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    opt_int(&row, 0)
}

/// Release an id.
pub async fn release(
    conn: &mut AnyConnection,
    network_type: &str,
    physical_network: &str,
    id: i64,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM segment_allocations WHERE network_type = $1 AND physical_network = $2 \
         AND segmentation_id = $3",
    )
    .bind(network_type.to_string())
    .bind(physical_network.to_string())
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Delete the segments of a network (their allocations are released by the caller).
pub async fn delete_of_network(conn: &mut AnyConnection, network_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM network_segments WHERE network_id = $1")
        .bind(network_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Delete one segment.
pub async fn delete_segment(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM network_segments WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}
