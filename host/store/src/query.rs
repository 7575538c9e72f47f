//! Generic list queries: filters, sorting and keyset pagination turned into SQL.
//!
//! The API layer decides which attribute maps to which column; this module only assembles
//! `SELECT … WHERE … ORDER BY … LIMIT …` with bound values, the same text for both engines.

use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::db::numbered;
use crate::error::{Result, StoreError};

/// A value bound into a query.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// A text value.
    Text(String),
    /// An integer (booleans are 0/1).
    Int(i64),
    /// SQL NULL.
    Null,
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_string())
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}
impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}
impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Int(i64::from(v))
    }
}
impl From<Option<String>> for SqlValue {
    fn from(v: Option<String>) -> Self {
        v.map(SqlValue::Text).unwrap_or(SqlValue::Null)
    }
}

/// One condition of a `WHERE` clause; all conditions of a query must hold.
#[derive(Debug, Clone)]
pub enum Condition {
    /// `column` equals one of `values` (a `Null` value matches NULL).
    In {
        /// The column (or SQL expression) compared.
        column: String,
        /// The accepted values.
        values: Vec<SqlValue>,
    },
    /// A raw SQL fragment with `?` placeholders and its values.
    Raw {
        /// The fragment.
        sql: String,
        /// Values for its placeholders, in order.
        values: Vec<SqlValue>,
    },
}

impl Condition {
    /// `column IN (values)`.
    pub fn is_in(column: impl Into<String>, values: Vec<SqlValue>) -> Condition {
        Condition::In {
            column: column.into(),
            values,
        }
    }

    /// `column = value`.
    pub fn eq(column: impl Into<String>, value: impl Into<SqlValue>) -> Condition {
        Condition::In {
            column: column.into(),
            values: vec![value.into()],
        }
    }

    /// A raw fragment.
    pub fn raw(sql: impl Into<String>, values: Vec<SqlValue>) -> Condition {
        Condition::Raw {
            sql: sql.into(),
            values,
        }
    }

    /// The resource carries every one of `tags`.
    pub fn tags_all(resource: &str, tags: &[String], negate: bool) -> Condition {
        let marks = vec!["?"; tags.len()].join(", ");
        let mut values = vec![SqlValue::from(resource)];
        values.extend(tags.iter().cloned().map(SqlValue::Text));
        values.push(SqlValue::Int(tags.len() as i64));
        let not = if negate { "NOT " } else { "" };
        Condition::raw(
            format!(
                "id {not}IN (SELECT resource_id FROM tags WHERE resource = ? AND tag IN ({marks}) \
                 GROUP BY resource_id HAVING COUNT(*) = ?)"
            ),
            values,
        )
    }

    /// The resource carries at least one of `tags`.
    pub fn tags_any(resource: &str, tags: &[String], negate: bool) -> Condition {
        let marks = vec!["?"; tags.len()].join(", ");
        let mut values = vec![SqlValue::from(resource)];
        values.extend(tags.iter().cloned().map(SqlValue::Text));
        let not = if negate { "NOT " } else { "" };
        Condition::raw(
            format!(
                "id {not}IN (SELECT resource_id FROM tags WHERE resource = ? AND tag IN ({marks}))"
            ),
            values,
        )
    }

    fn render(&self, sql: &mut String, binds: &mut Vec<SqlValue>) {
        match self {
            Condition::In { column, values } => {
                let non_null: Vec<&SqlValue> =
                    values.iter().filter(|v| **v != SqlValue::Null).collect();
                let has_null = non_null.len() != values.len();
                sql.push('(');
                let mut first = true;
                if !non_null.is_empty() {
                    sql.push_str(column);
                    if non_null.len() == 1 {
                        sql.push_str(" = ?");
                    } else {
                        sql.push_str(" IN (");
                        sql.push_str(&vec!["?"; non_null.len()].join(", "));
                        sql.push(')');
                    }
                    binds.extend(non_null.into_iter().cloned());
                    first = false;
                }
                if has_null {
                    if !first {
                        sql.push_str(" OR ");
                    }
                    sql.push_str(column);
                    sql.push_str(" IS NULL");
                }
                if values.is_empty() {
                    sql.push_str("1 = 0");
                }
                sql.push(')');
            }
            Condition::Raw {
                sql: fragment,
                values,
            } => {
                sql.push('(');
                sql.push_str(fragment);
                sql.push(')');
                binds.extend(values.iter().cloned());
            }
        }
    }
}

/// One sort key.
#[derive(Debug, Clone)]
pub struct Sort {
    /// The column sorted on.
    pub column: String,
    /// Ascending (true) or descending.
    pub ascending: bool,
}

/// A list request against one table.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Conditions that must all hold.
    pub conditions: Vec<Condition>,
    /// Sort keys, most significant first; `id` is appended as the final tie-breaker.
    pub sorts: Vec<Sort>,
    /// Maximum number of rows.
    pub limit: Option<u64>,
    /// Id of the last row of the previous page.
    pub marker: Option<String>,
    /// Walk backwards from the marker (the previous page).
    pub page_reverse: bool,
}

/// Bind `values` onto a query built from `sql`.
pub fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    values: &[SqlValue],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for v in values {
        query = match v {
            SqlValue::Text(s) => query.bind(s.clone()),
            SqlValue::Int(i) => query.bind(*i),
            SqlValue::Null => query.bind(Option::<String>::None),
        };
    }
    query
}

/// Run a list query on `table`, selecting `columns` (a comma-separated list that must start
/// with the row's own columns). Rows come back in the requested order.
pub async fn list(
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    query: &ListQuery,
) -> Result<Vec<AnyRow>> {
    let (sql, binds) = list_sql(conn, table, columns, query).await?;
    let q = bind_all(sqlx::query(AssertSqlSafe(sql)), &binds);
    let mut rows = q
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    if query.page_reverse {
        rows.reverse();
    }
    Ok(rows)
}

/// Like [`list`], decoding each row with `decode` as it arrives: decoding overlaps with the
/// database producing the next rows, and no row is kept longer than needed.
pub async fn list_map<T>(
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    query: &ListQuery,
    mut decode: impl FnMut(&AnyRow) -> Result<T>,
) -> Result<Vec<T>> {
    use futures::TryStreamExt;
    let (sql, binds) = list_sql(conn, table, columns, query).await?;
    let q = bind_all(sqlx::query(AssertSqlSafe(sql)), &binds);
    let mut out = Vec::new();
    let mut rows = q.fetch(&mut *conn);
    while let Some(row) = rows.try_next().await.map_err(StoreError::classify)? {
        out.push(decode(&row)?);
    }
    drop(rows);
    if query.page_reverse {
        out.reverse();
    }
    Ok(out)
}

/// Like [`list`] for one column holding a JSON object per row (SQLite only): the database
/// joins the objects into one JSON array text, in the query's order, so the whole page
/// travels as a single row instead of one message per row.
pub async fn list_json_array(
    conn: &mut AnyConnection,
    table: &str,
    object: &str,
    query: &ListQuery,
) -> Result<String> {
    let (sql, binds) = list_sql(conn, table, &format!("{object} AS j"), query).await?;
    let sql = format!("SELECT '[' || COALESCE(group_concat(j, ','), '') || ']' FROM ({sql})");
    let q = bind_all(sqlx::query(AssertSqlSafe(sql)), &binds);
    let row = q
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    row.try_get::<String, _>(0)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The statement (with `$n` placeholders) and bound values of a list query.
async fn list_sql(
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    query: &ListQuery,
) -> Result<(String, Vec<SqlValue>)> {
    let mut sorts = query.sorts.clone();
    if !sorts.iter().any(|s| s.column == "id") {
        sorts.push(Sort {
            column: "id".into(),
            ascending: true,
        });
    }
    let mut sql = format!("SELECT {columns} FROM {table}");
    let mut binds = Vec::new();
    let mut conditions = query.conditions.clone();

    if let Some(marker) = &query.marker {
        let keys: Vec<&str> = sorts.iter().map(|s| s.column.as_str()).collect();
        let marker_sql = numbered(&format!(
            "SELECT {} FROM {table} WHERE id = ?",
            keys.join(", ")
        ));
        let row = sqlx::query(AssertSqlSafe(marker_sql))
            .bind(marker.clone())
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::classify)?
            .ok_or_else(|| StoreError::NotFound(format!("marker {marker}")))?;
        let mut marker_values = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            marker_values.push(any_value(&row, i));
        }
        conditions.push(keyset(&sorts, &marker_values, query.page_reverse));
    }

    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        for (i, c) in conditions.iter().enumerate() {
            if i > 0 {
                sql.push_str(" AND ");
            }
            c.render(&mut sql, &mut binds);
        }
    }
    sql.push_str(" ORDER BY ");
    let order: Vec<String> = sorts
        .iter()
        .map(|s| {
            let asc = s.ascending != query.page_reverse;
            format!("{} {}", s.column, if asc { "ASC" } else { "DESC" })
        })
        .collect();
    sql.push_str(&order.join(", "));
    if let Some(limit) = query.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    Ok((numbered(&sql), binds))
}

/// The keyset condition "strictly after the marker" in the order given by `sorts`.
fn keyset(sorts: &[Sort], marker: &[SqlValue], reverse: bool) -> Condition {
    let mut ors = Vec::new();
    let mut values = Vec::new();
    for i in 0..sorts.len() {
        let mut ands = Vec::new();
        for j in 0..i {
            ands.push(format!("{} = ?", sorts[j].column));
            values.push(marker[j].clone());
        }
        let after_is_greater = sorts[i].ascending != reverse;
        ands.push(format!(
            "{} {} ?",
            sorts[i].column,
            if after_is_greater { ">" } else { "<" }
        ));
        values.push(marker[i].clone());
        ors.push(format!("({})", ands.join(" AND ")));
    }
    Condition::raw(ors.join(" OR "), values)
}

/// Read column `i` of a row as a bindable value, whatever its type.
pub fn any_value(row: &AnyRow, i: usize) -> SqlValue {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map(SqlValue::Int).unwrap_or(SqlValue::Null);
    }
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v.map(SqlValue::Text).unwrap_or(SqlValue::Null);
    }
    SqlValue::Null
}
