//! `revision_number` rises on every change, and `If-Match: revision_number=N` makes updates
//! and deletes conditional (412 when stale), as Neutron's revision-if-match extension does.

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

fn rev(v: &Value) -> i64 {
    v["revision_number"].as_i64().expect("revision_number")
}

async fn show(c: &Client, path: &str, member: &str) -> Value {
    c.get_ok(path).await[member].clone()
}

#[tokio::test]
async fn every_update_raises_the_revision_by_one() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));

    let a = c.put(&path, json!({"network": {"name": "a"}})).await;
    let b = c.put(&path, json!({"network": {"name": "b"}})).await;

    assert_eq!(rev(&a.body["network"]), rev(&n) + 1);
    assert_eq!(rev(&b.body["network"]), rev(&n) + 2);
    server.stop().await;
}

#[tokio::test]
async fn an_update_that_changes_nothing_keeps_the_revision() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("same").await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));

    let r = c.put(&path, json!({"network": {"name": "same"}})).await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(rev(&r.body["network"]), rev(&n));
    server.stop().await;
}

#[tokio::test]
async fn tag_changes_raise_the_revision() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));

    c.put(&format!("{path}/tags/a"), Value::Null).await;
    let after_add = rev(&show(&c, &path, "network").await);
    c.put(&format!("{path}/tags"), json!({"tags": ["b", "c"]}))
        .await;
    let after_replace = rev(&show(&c, &path, "network").await);
    c.delete(&format!("{path}/tags/b")).await;
    let after_remove = rev(&show(&c, &path, "network").await);
    c.delete(&format!("{path}/tags")).await;
    let after_clear = rev(&show(&c, &path, "network").await);

    assert_eq!(after_add, rev(&n) + 1);
    assert_eq!(after_replace, after_add + 1);
    assert_eq!(after_remove, after_replace + 1);
    assert_eq!(after_clear, after_remove + 1);
    server.stop().await;
}

#[tokio::test]
async fn subnet_port_pool_and_group_updates_raise_their_revisions() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let port = c.port(s(&net, "id"), json!({})).await;
    let pool = c
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"prefixes": ["10.50.0.0/16"]}}),
        )
        .await
        .body["subnetpool"]
        .clone();
    let sg = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "g"}}),
        )
        .await
        .body["security_group"]
        .clone();

    for (collection, member, item) in [
        ("subnets", "subnet", &sub),
        ("ports", "port", &port),
        ("subnetpools", "subnetpool", &pool),
        ("security-groups", "security_group", &sg),
    ] {
        let r = c
            .put(
                &format!("/v2.0/{collection}/{}", s(item, "id")),
                json!({ member: {"name": "renamed"} }),
            )
            .await;
        assert_eq!(r.status, 200, "{collection}: {}", r.body);
        assert_eq!(rev(&r.body[member]), rev(item) + 1, "{collection}");
    }
    server.stop().await;
}

#[tokio::test]
async fn changing_fixed_ips_raises_the_port_revision() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let port = c.port(s(&net, "id"), json!({})).await;

    let r = c
        .put(
            &format!("/v2.0/ports/{}", s(&port, "id")),
            json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.99"}]}}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(rev(&r.body["port"]), rev(&port) + 1);
    server.stop().await;
}

#[tokio::test]
async fn if_match_with_the_current_revision_updates() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));
    let etag = format!("revision_number={}", rev(&n));

    let r = c
        .put_with(
            &path,
            json!({"network": {"name": "x"}}),
            &[("If-Match", &etag)],
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["network"]["name"], "x");
    server.stop().await;
}

#[tokio::test]
async fn if_match_with_a_stale_revision_is_412_and_changes_nothing() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));
    let stale = format!("revision_number={}", rev(&n));
    c.put(&path, json!({"network": {"name": "moved-on"}})).await;

    let r = c
        .put_with(
            &path,
            json!({"network": {"name": "late"}}),
            &[("If-Match", &stale)],
        )
        .await;

    let msg = r.expect_error(412, "RevisionNumberConstraintFailed");
    assert!(msg.contains(&rev(&n).to_string()), "{msg}");
    assert_eq!(show(&c, &path, "network").await["name"], "moved-on");
    server.stop().await;
}

#[tokio::test]
async fn if_match_on_delete_protects_a_changed_resource() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let port = c.port(s(&net, "id"), json!({})).await;
    let path = format!("/v2.0/ports/{}", s(&port, "id"));
    let stale = format!("revision_number={}", rev(&port));
    c.put(&path, json!({"port": {"name": "changed"}})).await;
    let current = format!("revision_number={}", rev(&port) + 1);

    let refused = c.delete_with(&path, &[("If-Match", &stale)]).await;
    let still_there = c.get(&path).await.status;
    let accepted = c.delete_with(&path, &[("If-Match", &current)]).await;

    refused.expect_error(412, "RevisionNumberConstraintFailed");
    assert_eq!(still_there, 200);
    assert_eq!(accepted.status, 204, "{}", accepted.body);
    server.stop().await;
}

#[tokio::test]
async fn if_match_applies_to_every_resource() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let pool = c
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"prefixes": ["10.50.0.0/16"]}}),
        )
        .await
        .body["subnetpool"]
        .clone();
    let sg = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "g"}}),
        )
        .await
        .body["security_group"]
        .clone();

    for (collection, member, item) in [
        ("networks", "network", &net),
        ("subnets", "subnet", &sub),
        ("subnetpools", "subnetpool", &pool),
        ("security-groups", "security_group", &sg),
    ] {
        let stale = format!("revision_number={}", rev(item) + 7);
        let r = c
            .put_with(
                &format!("/v2.0/{collection}/{}", s(item, "id")),
                json!({ member: {"name": "x"} }),
                &[("If-Match", &stale)],
            )
            .await;
        r.expect_error(412, "RevisionNumberConstraintFailed");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_if_match_is_a_bad_request() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));

    let text = c
        .put_with(
            &path,
            json!({"network": {"name": "x"}}),
            &[("If-Match", "revision_number=abc")],
        )
        .await;
    let twice = c
        .put_with(
            &path,
            json!({"network": {"name": "x"}}),
            &[("If-Match", "revision_number=1, revision_number=2")],
        )
        .await;
    let other_etag = c
        .put_with(
            &path,
            json!({"network": {"name": "y"}}),
            &[("If-Match", "\"abc\"")],
        )
        .await;

    assert_eq!(text.status, 400, "{}", text.body);
    assert_eq!(twice.status, 400, "{}", twice.body);
    assert_eq!(
        other_etag.status, 200,
        "other etags are ignored: {}",
        other_etag.body
    );
    server.stop().await;
}
