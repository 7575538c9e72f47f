//! Stored port documents: ports are listed from a JSON document per port that the database
//! keeps in `ports.doc`. Whatever changes a port or its fixed IPs, security groups or tags,
//! the stored document is NULL or exactly what the database renders from the rows (the
//! `port_documents` view), on SQLite and on PostgreSQL.

use neutrino_tests::{TestServer, s};
use serde_json::json;
use sqlx::Connection;

/// Ports whose stored document differs from a fresh rendering, and ports with a document.
async fn stale_and_stored(url: &str) -> (Vec<String>, i64) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let stale: Vec<(String,)> = sqlx::query_as(
        "SELECT p.id FROM ports p JOIN port_documents d ON d.id = p.id \
         WHERE p.doc IS NOT NULL AND p.doc <> d.doc",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let (stored,): (i64,) = sqlx::query_as("SELECT count(*) FROM ports WHERE doc IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    (stale.into_iter().map(|(id,)| id).collect(), stored)
}

#[tokio::test]
async fn stored_port_documents_follow_every_kind_of_change() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, v4) = c.network_with_subnet("docs", "10.7.0.0/24").await;
    let net = s(&net, "id").to_string();
    let v4 = s(&v4, "id").to_string();
    let other = c.subnet(&net, "10.8.0.0/24").await;
    let other = s(&other, "id").to_string();
    let web = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "web"}}),
        )
        .await;
    let web = s(&web.body["security_group"], "id").to_string();

    let a = c.port(&net, json!({"name": "a"})).await;
    let a = s(&a, "id").to_string();
    let b = c
        .port(
            &net,
            json!({"fixed_ips": [{"subnet_id": v4, "ip_address": "10.7.0.50"}]}),
        )
        .await;
    let b = s(&b, "id").to_string();
    let bare = c
        .port(&net, json!({"fixed_ips": [], "security_groups": []}))
        .await;
    let bare = s(&bare, "id").to_string();
    // Never changed after it was created: its document is stored at creation.
    c.port(&net, json!({"name": "untouched"})).await;
    let doomed = c.port(&net, json!({})).await;
    let doomed = s(&doomed, "id").to_string();

    // Every kind of change: own attributes, fixed IPs added and released, security groups
    // replaced and cleared, address pairs, binding, tags added, replaced and removed, and a
    // deleted port.
    let changes = [
        (
            format!("/v2.0/ports/{a}"),
            json!({"port": {"name": "renamed", "admin_state_up": false}}),
        ),
        (
            format!("/v2.0/ports/{a}"),
            json!({"port": {"fixed_ips": [{"subnet_id": v4}, {"subnet_id": other}]}}),
        ),
        (
            format!("/v2.0/ports/{b}"),
            json!({"port": {"fixed_ips": [{"subnet_id": other, "ip_address": "10.8.0.9"}]}}),
        ),
        (
            format!("/v2.0/ports/{b}"),
            json!({"port": {"security_groups": [web]}}),
        ),
        (
            format!("/v2.0/ports/{b}"),
            json!({"port": {"allowed_address_pairs": [{"ip_address": "10.7.0.99"}]}}),
        ),
        (
            format!("/v2.0/ports/{a}"),
            json!({"port": {"security_groups": [], "port_security_enabled": false}}),
        ),
        (
            format!("/v2.0/ports/{a}"),
            json!({"port": {"binding:host_id": "compute-1", "device_owner": "compute:nova", "device_id": "vm-1"}}),
        ),
        (
            format!("/v2.0/ports/{bare}/tags"),
            json!({"tags": ["red", "blue"]}),
        ),
        (format!("/v2.0/ports/{bare}/tags/green"), json!(null)),
        (format!("/v2.0/ports/{b}/tags/green"), json!(null)),
    ];
    for (path, body) in &changes {
        let r = if body.is_null() {
            c.send(reqwest::Method::PUT, path, None, &[]).await
        } else {
            c.put(path, body.clone()).await
        };
        assert!(r.status < 300, "{path}: {} {}", r.status, r.body);
    }
    assert_eq!(
        c.delete(&format!("/v2.0/ports/{bare}/tags/red"))
            .await
            .status,
        204
    );
    assert_eq!(c.delete(&format!("/v2.0/ports/{doomed}")).await.status, 204);

    let (stale, stored) = stale_and_stored(&server.db.url).await;

    assert!(stale.is_empty(), "stale documents: {stale:?}");
    assert_eq!(
        stored, 4,
        "a, b, the tagged bare port and the untouched one have documents"
    );
    let listed = c.get(&format!("/v2.0/ports?network_id={net}")).await;
    let bare_listed = listed
        .items("ports")
        .iter()
        .find(|p| p["id"] == bare.as_str())
        .unwrap();
    assert_eq!(bare_listed["tags"], json!(["blue", "green"]));
}

#[tokio::test]
async fn stored_port_documents_stay_exact_under_concurrent_changes() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, v4) = c.network_with_subnet("busy", "10.9.0.0/24").await;
    let net = s(&net, "id").to_string();
    let v4 = s(&v4, "id").to_string();
    let port = c.port(&net, json!({})).await;
    let port = s(&port, "id").to_string();

    // Tags, names and fixed IPs of one port, changed from 24 clients at once.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let c = c.clone();
        let port = port.clone();
        let v4 = v4.clone();
        tasks.push(tokio::spawn(async move {
            let r = match i % 3 {
                0 => {
                    let path = format!("/v2.0/ports/{port}/tags/t{i}");
                    c.send(reqwest::Method::PUT, &path, None, &[]).await
                }
                1 => {
                    c.put(
                        &format!("/v2.0/ports/{port}"),
                        json!({"port": {"name": format!("n{i}")}}),
                    )
                    .await
                }
                _ => {
                    let ip = format!("10.9.0.{}", 100 + i);
                    c.put(
                        &format!("/v2.0/ports/{port}"),
                        json!({"port": {"fixed_ips": [{"subnet_id": v4, "ip_address": ip}]}}),
                    )
                    .await
                }
            };
            assert!(r.status < 300, "change {i}: {} {}", r.status, r.body);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let (stale, stored) = stale_and_stored(&server.db.url).await;
    assert!(stale.is_empty(), "stale documents: {stale:?}");
    assert_eq!(stored, 1);
    let shown = c.get(&format!("/v2.0/ports/{port}")).await;
    assert_eq!(shown.get("port")["tags"].as_array().unwrap().len(), 8);
}
