//! Address bookkeeping: free ranges per subnet and the allocations themselves.
//!
//! Free ranges hold fixed-width hex addresses (see the migration). Taking an address touches
//! one range row, so its cost does not depend on how many addresses are in use. On PostgreSQL
//! concurrent allocators lock different range rows (`FOR UPDATE SKIP LOCKED`) and only wait
//! for each other when every range is busy. Whatever happens, the primary key of
//! `ip_allocations` refuses a second holder of an address.

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;

use crate::db::Backend;
use crate::error::{Result, StoreError};
use crate::row::{int, text};

fn parse_hex(h: &str) -> Result<u128> {
    u128::from_str_radix(h, 16).map_err(|e| StoreError::Corrupt(format!("ipam address {h}: {e}")))
}

fn to_hex(v: u128, width: usize) -> String {
    format!("{v:0width$x}")
}

/// Add a free range `[first, last]` (hex addresses of the same width).
pub async fn add_range(
    conn: &mut AnyConnection,
    subnet_id: &str,
    first: &str,
    last: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ipam_ranges (subnet_id, first_ip, last_ip) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(subnet_id.to_string())
    .bind(first.to_string())
    .bind(last.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Drop every free range of a subnet.
pub async fn clear_ranges(conn: &mut AnyConnection, subnet_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM ipam_ranges WHERE subnet_id = $1")
        .bind(subnet_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

async fn first_range(
    conn: &mut AnyConnection,
    backend: Backend,
    subnet_id: &str,
    skip_locked: bool,
) -> Result<Option<(String, String)>> {
    let lock = match (backend, skip_locked) {
        (Backend::Sqlite, _) => "",
        (Backend::Postgres, true) => " FOR UPDATE SKIP LOCKED",
        (Backend::Postgres, false) => " FOR UPDATE",
    };
    let sql = format!(
        "SELECT first_ip, last_ip FROM ipam_ranges WHERE subnet_id = $1 ORDER BY first_ip LIMIT 1{lock}"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(subnet_id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some((text(&r, 0)?, text(&r, 1)?))),
    }
}

/// Take `first`, the lowest address of the free range `[first, last]` of a subnet, which the
/// caller read in this same transaction while holding SQLite's one writer: so the range is
/// known to be there, and moving it is [deferred](crate::Tx::defer) to travel with the
/// transaction's next statements.
pub async fn take_first_of(
    tx: &mut crate::Tx,
    subnet_id: &str,
    (first, last): (String, String),
) -> Result<String> {
    if first == last {
        tx.defer(
            "DELETE FROM ipam_ranges WHERE subnet_id = ? AND first_ip = ?",
            vec![subnet_id.into(), first.as_str().into()],
        )
        .await
    } else {
        let next = to_hex(parse_hex(&first)? + 1, first.len());
        tx.defer(
            "UPDATE ipam_ranges SET first_ip = ? WHERE subnet_id = ? AND first_ip = ?",
            vec![next.into(), subnet_id.into(), first.as_str().into()],
        )
        .await
    }
    .map_err(StoreError::classify)?;
    Ok(first)
}

/// Take the lowest free address of a subnet (hex), or `None` when its pools are exhausted.
///
/// `hint` is the subnet's lowest free range (first, last) as read earlier in this
/// transaction (SQLite, see `networks::port_context`); it saves reading it again. A stale
/// hint costs one more attempt: the range is only changed where it still starts at `first`.
pub async fn take_any(
    conn: &mut AnyConnection,
    backend: Backend,
    subnet_id: &str,
    mut hint: Option<(String, String)>,
) -> Result<Option<String>> {
    for attempt in 0..64 {
        let read = match hint.take() {
            Some(r) => Some(r),
            None => first_range(conn, backend, subnet_id, attempt == 0).await?,
        };
        let range = match read {
            Some(r) => Some(r),
            None if backend == Backend::Postgres && attempt == 0 => {
                first_range(conn, backend, subnet_id, false).await?
            }
            None => None,
        };
        let Some((first, last)) = range else {
            return Ok(None);
        };
        let done = if first == last {
            sqlx::query("DELETE FROM ipam_ranges WHERE subnet_id = $1 AND first_ip = $2")
                .bind(subnet_id.to_string())
                .bind(first.clone())
                .execute(&mut *conn)
                .await
        } else {
            let next = to_hex(parse_hex(&first)? + 1, first.len());
            sqlx::query(
                "UPDATE ipam_ranges SET first_ip = $1 WHERE subnet_id = $2 AND first_ip = $3",
            )
            .bind(next)
            .bind(subnet_id.to_string())
            .bind(first.clone())
            .execute(&mut *conn)
            .await
        }
        .map_err(StoreError::classify)?;
        if done.rows_affected() == 1 {
            return Ok(Some(first));
        }
    }
    Err(StoreError::Retry(format!(
        "free ranges of subnet {subnet_id} kept changing"
    )))
}

/// Remove one specific address (hex) from the free ranges. Returns false when no free range
/// held it (it is in use, or outside the allocation pools).
pub async fn take_specific(
    conn: &mut AnyConnection,
    backend: Backend,
    subnet_id: &str,
    ip: &str,
) -> Result<bool> {
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!(
        "SELECT first_ip, last_ip FROM ipam_ranges WHERE subnet_id = $1 AND first_ip <= $2 \
         ORDER BY first_ip DESC LIMIT 1{lock}"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(subnet_id.to_string())
        .bind(ip.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    let Some(row) = row else { return Ok(false) };
    let (first, last) = (text(&row, 0)?, text(&row, 1)?);
    if last.as_str() < ip {
        return Ok(false);
    }
    let done = sqlx::query("DELETE FROM ipam_ranges WHERE subnet_id = $1 AND first_ip = $2")
        .bind(subnet_id.to_string())
        .bind(first.clone())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Retry(format!(
            "free range of subnet {subnet_id} changed"
        )));
    }
    let width = ip.len();
    let v = parse_hex(ip)?;
    if first.as_str() < ip {
        add_range(conn, subnet_id, &first, &to_hex(v - 1, width)).await?;
    }
    if ip < last.as_str() {
        add_range(conn, subnet_id, &to_hex(v + 1, width), &last).await?;
    }
    Ok(true)
}

/// Give one address (hex) back to the free ranges of a subnet, merged with a free neighbour
/// on either side as long as the merged range stays inside `[seg_first, seg_last]` (the
/// allocation segment the address belongs to). Two rows become one when the address joined
/// them, so releasing everything restores the ranges a fresh subnet had.
pub async fn release(
    conn: &mut AnyConnection,
    backend: Backend,
    subnet_id: &str,
    ip: &str,
    seg_first: &str,
    seg_last: &str,
) -> Result<()> {
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let width = ip.len();
    let v = parse_hex(ip)?;
    let changed = || StoreError::Retry(format!("free ranges of subnet {subnet_id} changed"));
    // The range ending just before the address, if it belongs to the same segment.
    let left = if ip > seg_first {
        let prev = to_hex(v - 1, width);
        let sql = format!(
            "SELECT first_ip, last_ip FROM ipam_ranges WHERE subnet_id = $1 AND first_ip <= $2 \
             ORDER BY first_ip DESC LIMIT 1{lock}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(subnet_id.to_string())
            .bind(prev.clone())
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
        match row {
            Some(r) if text(&r, 1)? == prev => Some(text(&r, 0)?),
            _ => None,
        }
    } else {
        None
    };
    // The range starting just after it, likewise.
    let right = if ip < seg_last {
        let next = to_hex(v + 1, width);
        let sql =
            format!("SELECT last_ip FROM ipam_ranges WHERE subnet_id = $1 AND first_ip = $2{lock}");
        sqlx::query(AssertSqlSafe(sql))
            .bind(subnet_id.to_string())
            .bind(next.clone())
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::classify)?
            .map(|r| text(&r, 0).map(|last| (next, last)))
            .transpose()?
    } else {
        None
    };
    match (left, right) {
        (Some(left_first), Some((right_first, right_last))) => {
            let gone =
                sqlx::query("DELETE FROM ipam_ranges WHERE subnet_id = $1 AND first_ip = $2")
                    .bind(subnet_id.to_string())
                    .bind(right_first)
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::classify)?;
            let grown = sqlx::query(
                "UPDATE ipam_ranges SET last_ip = $1 WHERE subnet_id = $2 AND first_ip = $3",
            )
            .bind(right_last)
            .bind(subnet_id.to_string())
            .bind(left_first)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
            if gone.rows_affected() != 1 || grown.rows_affected() != 1 {
                return Err(changed());
            }
        }
        (Some(left_first), None) => {
            let grown = sqlx::query(
                "UPDATE ipam_ranges SET last_ip = $1 WHERE subnet_id = $2 AND first_ip = $3",
            )
            .bind(ip.to_string())
            .bind(subnet_id.to_string())
            .bind(left_first)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
            if grown.rows_affected() != 1 {
                return Err(changed());
            }
        }
        (None, Some((right_first, _))) => {
            let grown = sqlx::query(
                "UPDATE ipam_ranges SET first_ip = $1 WHERE subnet_id = $2 AND first_ip = $3",
            )
            .bind(ip.to_string())
            .bind(subnet_id.to_string())
            .bind(right_first)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
            if grown.rows_affected() != 1 {
                return Err(changed());
            }
        }
        (None, None) => add_range(conn, subnet_id, ip, ip).await?,
    }
    Ok(())
}

/// The free ranges of a subnet, lowest first (for tests and availability figures).
pub async fn ranges(conn: &mut AnyConnection, subnet_id: &str) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT first_ip, last_ip FROM ipam_ranges WHERE subnet_id = $1 ORDER BY first_ip",
    )
    .bind(subnet_id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?)))
        .collect()
}

/// Record that `ip_address` of `subnet_id` belongs to `port_id`.
pub async fn insert_allocation(
    conn: &mut AnyConnection,
    subnet_id: &str,
    ip_address: &str,
    port_id: &str,
    network_id: &str,
    position: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ip_allocations (subnet_id, ip_address, port_id, network_id, position) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(subnet_id.to_string())
    .bind(ip_address.to_string())
    .bind(port_id.to_string())
    .bind(network_id.to_string())
    .bind(position)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Forget one allocation.
pub async fn delete_allocation(
    conn: &mut AnyConnection,
    subnet_id: &str,
    ip_address: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM ip_allocations WHERE subnet_id = $1 AND ip_address = $2")
        .bind(subnet_id.to_string())
        .bind(ip_address.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Whether an address of a subnet is allocated.
pub async fn is_allocated(
    conn: &mut AnyConnection,
    subnet_id: &str,
    ip_address: &str,
) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM ip_allocations WHERE subnet_id = $1 AND ip_address = $2")
        .bind(subnet_id.to_string())
        .bind(ip_address.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(row.is_some())
}

/// Number of allocations in a subnet.
pub async fn count_in_subnet(conn: &mut AnyConnection, subnet_id: &str) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) FROM ip_allocations WHERE subnet_id = $1")
        .bind(subnet_id.to_string())
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    int(&row, 0)
}

/// Allocations of a subnet as (address, port id, device owner) triples.
pub async fn allocations_in_subnet(
    conn: &mut AnyConnection,
    subnet_id: &str,
) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "SELECT a.ip_address, a.port_id, p.device_owner FROM ip_allocations a \
         JOIN ports p ON p.id = a.port_id WHERE a.subnet_id = $1",
    )
    .bind(subnet_id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    rows.iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?, text(r, 2)?)))
        .collect()
}
