//! Decoding helpers for rows: booleans are 0/1 integers and lists are JSON text.

use serde::de::DeserializeOwned;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;

use crate::db::numbered;
use crate::error::{Result, StoreError};
use crate::query::{SqlValue, bind_all};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A text column.
pub fn text(row: &AnyRow, i: usize) -> Result<String> {
    row.try_get::<String, _>(i).map_err(corrupt)
}

/// A nullable text column.
pub fn opt_text(row: &AnyRow, i: usize) -> Result<Option<String>> {
    row.try_get::<Option<String>, _>(i).map_err(corrupt)
}

/// An integer column.
pub fn int(row: &AnyRow, i: usize) -> Result<i64> {
    row.try_get::<i64, _>(i).map_err(corrupt)
}

/// A nullable integer column.
pub fn opt_int(row: &AnyRow, i: usize) -> Result<Option<i64>> {
    row.try_get::<Option<i64>, _>(i).map_err(corrupt)
}

/// A boolean stored as 0/1.
pub fn boolean(row: &AnyRow, i: usize) -> Result<bool> {
    Ok(int(row, i)? != 0)
}

/// A JSON text column.
pub fn json<T: DeserializeOwned>(row: &AnyRow, i: usize) -> Result<T> {
    serde_json::from_str(&text(row, i)?).map_err(corrupt)
}

/// Serialize a value for a JSON text column.
pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Run `sql` (which must end in `IN ` followed by nothing, e.g. `… WHERE x IN `) for `ids` in
/// chunks, with `prefix` values bound before the ids, and return the rows.
pub async fn fetch_in(
    conn: &mut AnyConnection,
    sql: &str,
    prefix: &[SqlValue],
    ids: &[String],
    suffix: &str,
) -> Result<Vec<AnyRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let text = numbered(&format!("{sql}({marks}){suffix}"));
        let mut values = prefix.to_vec();
        values.extend(chunk.iter().cloned().map(SqlValue::Text));
        let q = bind_all(sqlx::query(sqlx::AssertSqlSafe(text)), &values);
        out.extend(
            q.fetch_all(&mut *conn)
                .await
                .map_err(StoreError::classify)?,
        );
    }
    Ok(out)
}

/// Group `(key, value)` text pairs produced by a query into a map of lists, in row order.
pub fn group_text(rows: &[AnyRow]) -> Result<HashMap<String, Vec<String>>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        map.entry(text(row, 0)?).or_default().push(text(row, 1)?);
    }
    Ok(map)
}
