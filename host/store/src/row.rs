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

/// Run `sql` (which must end in `IN `, e.g. `… WHERE x IN `) for every id of `ids`, with
/// `prefix` values bound before the ids, and return the rows.
///
/// The ids travel as one JSON array parameter (`json_each` on SQLite,
/// `json_array_elements_text` on PostgreSQL): one statement text whatever the number of ids,
/// so it is prepared once, and no long `$1, $2, …` lists (SQLite looks bind parameters up by
/// name, which costs quadratic time in their number).
pub async fn fetch_in(
    conn: &mut AnyConnection,
    sql: &str,
    prefix: &[SqlValue],
    ids: &[String],
    suffix: &str,
) -> Result<Vec<AnyRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = if conn.backend_name() == "PostgreSQL" {
        "(SELECT json_array_elements_text(?::json))"
    } else {
        "(SELECT value FROM json_each(?))"
    };
    let text = numbered(&format!("{sql}{list}{suffix}"));
    let mut values = prefix.to_vec();
    values.push(SqlValue::Text(to_json(&ids)));
    let q = bind_all(sqlx::query(sqlx::AssertSqlSafe(text)), &values);
    q.fetch_all(&mut *conn).await.map_err(StoreError::classify)
}

/// Group `(key, value)` text pairs produced by a query into a map of lists, in row order.
pub fn group_text(rows: &[AnyRow]) -> Result<HashMap<String, Vec<String>>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        map.entry(text(row, 0)?).or_default().push(text(row, 1)?);
    }
    Ok(map)
}
