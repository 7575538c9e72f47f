//! When each driver's `periodic` call is next due (migration `0019_driver_periodic.sql`),
//! shared by every server on the database so that one of them makes each call.
//!
//! A server that finds a driver due moves its due time forward with a conditional update
//! (`… WHERE due_ms <= now`) and calls the driver only when its update changed the row: on
//! PostgreSQL the row lock makes a second server wait and then see the new due time; on
//! SQLite the single writer serializes them. When the call ends, the server that made it sets
//! the next due time an interval after the end.

use sqlx::AnyConnection;

use crate::error::{Result, StoreError};
use crate::row::int;

/// Take the call of `driver` due at or before `now_ms` for `holder`, moving its due time to
/// `hold_until_ms` (past the longest the call may take, so nobody else starts it meanwhile).
/// A driver seen for the first time becomes due at `first_due_ms`. Returns `Ok(None)` when
/// this server takes the call, `Ok(Some(due))` with the due time when it is not (yet) this
/// server's to make.
pub async fn take(
    conn: &mut AnyConnection,
    driver: &str,
    now_ms: i64,
    first_due_ms: i64,
    hold_until_ms: i64,
    holder: &str,
) -> Result<Option<i64>> {
    sqlx::query(
        "INSERT INTO driver_periodic (driver, due_ms) VALUES ($1, $2) \
         ON CONFLICT (driver) DO NOTHING",
    )
    .bind(driver.to_string())
    .bind(first_due_ms)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    let taken = sqlx::query(
        "UPDATE driver_periodic SET due_ms = $1, holder = $2 WHERE driver = $3 AND due_ms <= $4",
    )
    .bind(hold_until_ms)
    .bind(holder.to_string())
    .bind(driver.to_string())
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?
    .rows_affected();
    if taken == 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT due_ms FROM driver_periodic WHERE driver = $1")
        .bind(driver.to_string())
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(Some(int(&row, 0)?))
}

/// The call `holder` took has ended: the next is due at `next_due_ms` (if `holder` still
/// holds it).
pub async fn done(
    conn: &mut AnyConnection,
    driver: &str,
    holder: &str,
    next_due_ms: i64,
) -> Result<()> {
    sqlx::query("UPDATE driver_periodic SET due_ms = $1 WHERE driver = $2 AND holder = $3")
        .bind(next_due_ms)
        .bind(driver.to_string())
        .bind(holder.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}
