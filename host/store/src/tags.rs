//! Tags of any resource, keyed by collection name and resource id.

use std::collections::HashMap;

use sqlx::AnyConnection;

use crate::error::{Result, StoreError};
use crate::query::SqlValue;
use crate::row::{fetch_in, group_text, text};

/// Tags of one resource, sorted.
pub async fn get(conn: &mut AnyConnection, resource: &str, id: &str) -> Result<Vec<String>> {
    let rows =
        sqlx::query("SELECT tag FROM tags WHERE resource = $1 AND resource_id = $2 ORDER BY tag")
            .bind(resource.to_string())
            .bind(id.to_string())
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
    rows.iter().map(|r| text(r, 0)).collect()
}

/// Tags of many resources of one collection.
pub async fn load(
    conn: &mut AnyConnection,
    resource: &str,
    ids: &[String],
) -> Result<HashMap<String, Vec<String>>> {
    let rows = fetch_in(
        conn,
        "SELECT resource_id, tag FROM tags WHERE resource = ? AND resource_id IN ",
        &[SqlValue::from(resource)],
        ids,
        " ORDER BY tag",
    )
    .await?;
    group_text(&rows)
}

/// Add one tag; returns false when it was already there.
pub async fn add(conn: &mut AnyConnection, resource: &str, id: &str, tag: &str) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO tags (resource, resource_id, tag) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(resource.to_string())
    .bind(id.to_string())
    .bind(tag.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Remove one tag; returns false when it was not there.
pub async fn remove(conn: &mut AnyConnection, resource: &str, id: &str, tag: &str) -> Result<bool> {
    let done =
        sqlx::query("DELETE FROM tags WHERE resource = $1 AND resource_id = $2 AND tag = $3")
            .bind(resource.to_string())
            .bind(id.to_string())
            .bind(tag.to_string())
            .execute(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
    Ok(done.rows_affected() == 1)
}

/// Remove every tag of a resource.
pub async fn clear(conn: &mut AnyConnection, resource: &str, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM tags WHERE resource = $1 AND resource_id = $2")
        .bind(resource.to_string())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Replace every tag of a resource.
pub async fn replace(
    conn: &mut AnyConnection,
    resource: &str,
    id: &str,
    tags: &[String],
) -> Result<()> {
    clear(conn, resource, id).await?;
    for tag in tags {
        add(conn, resource, id, tag).await?;
    }
    Ok(())
}
