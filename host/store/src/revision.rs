//! Revision bumps for a resource whose children changed (tags, fixed IPs, …).

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;

use crate::error::{Result, StoreError};

/// Increment `revision_number` and set `updated_at` of row `id` of `table`.
/// `table` must be one of the resource tables (never user input).
pub async fn touch(
    conn: &mut AnyConnection,
    table: &'static str,
    id: &str,
    now: &str,
) -> Result<bool> {
    let sql = format!(
        "UPDATE {table} SET revision_number = revision_number + 1, updated_at = $1 WHERE id = $2"
    );
    let done = sqlx::query(AssertSqlSafe(sql))
        .bind(now.to_string())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// The current revision of row `id` of `table`, if it exists.
pub async fn current(
    conn: &mut AnyConnection,
    table: &'static str,
    id: &str,
) -> Result<Option<i64>> {
    let sql = format!("SELECT revision_number FROM {table} WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.map(|r| crate::row::int(&r, 0)).transpose()
}
