//! The tags sub-resource: `/v2.0/{collection}/{id}/tags[/{tag}]` on every taggable
//! resource, its status codes and limits, and tags shown in the resource itself.

use neutrino_tests::{TestServer, s};
use serde_json::{Value, json};

#[tokio::test]
async fn put_all_replaces_the_tags_and_shows_them_on_the_network() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let base = format!("/v2.0/networks/{}", s(&n, "id"));

    let first = c
        .put(&format!("{base}/tags"), json!({"tags": ["a", "b"]}))
        .await;
    let second = c.put(&format!("{base}/tags"), json!({"tags": ["c"]})).await;

    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body, json!({"tags": ["a", "b"]}));
    assert_eq!(second.body, json!({"tags": ["c"]}));
    assert_eq!(
        c.get_ok(&format!("{base}/tags")).await,
        json!({"tags": ["c"]})
    );
    assert_eq!(c.get_ok(&base).await["network"]["tags"], json!(["c"]));
    server.stop().await;
}

#[tokio::test]
async fn put_one_adds_a_tag_with_201() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let base = format!("/v2.0/networks/{}/tags", s(&n, "id"));

    let r = c.put(&format!("{base}/red"), Value::Null).await;
    let again = c.put(&format!("{base}/red"), Value::Null).await;

    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(c.get_ok(&base).await, json!({"tags": ["red"]}));
    server.stop().await;
}

#[tokio::test]
async fn get_one_answers_204_or_tag_not_found() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let base = format!("/v2.0/networks/{}/tags", s(&n, "id"));
    c.put(&format!("{base}/red"), Value::Null).await;

    let present = c.get(&format!("{base}/red")).await;
    let absent = c.get(&format!("{base}/blue")).await;

    assert_eq!(present.status, 204);
    absent.expect_error(404, "TagNotFound");
    server.stop().await;
}

#[tokio::test]
async fn delete_one_and_delete_all_remove_tags() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let base = format!("/v2.0/networks/{}/tags", s(&n, "id"));
    c.put(&base, json!({"tags": ["a", "b", "c"]})).await;

    let one = c.delete(&format!("{base}/b")).await;
    let missing = c.delete(&format!("{base}/b")).await;
    let after_one = c.get_ok(&base).await;
    let all = c.delete(&base).await;

    assert_eq!(one.status, 204);
    missing.expect_error(404, "TagNotFound");
    assert_eq!(after_one, json!({"tags": ["a", "c"]}));
    assert_eq!(all.status, 204);
    assert_eq!(c.get_ok(&base).await, json!({"tags": []}));
    server.stop().await;
}

#[tokio::test]
async fn every_taggable_resource_takes_tags() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let port = c.port(s(&net, "id"), json!({})).await;
    let pool = c
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"prefixes": ["10.50.0.0/16"]}}),
        )
        .await;
    let sg = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "g"}}),
        )
        .await;

    for (collection, member, id) in [
        ("networks", "network", s(&net, "id").to_string()),
        ("subnets", "subnet", s(&sub, "id").to_string()),
        ("ports", "port", s(&port, "id").to_string()),
        (
            "subnetpools",
            "subnetpool",
            s(&pool.body["subnetpool"], "id").to_string(),
        ),
        (
            "security-groups",
            "security_group",
            s(&sg.body["security_group"], "id").to_string(),
        ),
    ] {
        let r = c
            .put(
                &format!("/v2.0/{collection}/{id}/tags"),
                json!({"tags": ["t1", "t2"]}),
            )
            .await;
        assert_eq!(r.status, 200, "{collection}: {}", r.body);
        let shown = c.get_ok(&format!("/v2.0/{collection}/{id}")).await;
        assert_eq!(shown[member]["tags"], json!(["t1", "t2"]), "{collection}");
    }
    server.stop().await;
}

#[tokio::test]
async fn tags_of_an_unknown_resource_are_not_found() {
    let server = TestServer::start().await;
    let c = server.admin();
    let id = uuid::Uuid::new_v4();

    let net = c.get(&format!("/v2.0/networks/{id}/tags")).await;
    let port = c
        .put(&format!("/v2.0/ports/{id}/tags/x"), Value::Null)
        .await;
    let collection = c.get(&format!("/v2.0/widgets/{id}/tags")).await;

    net.expect_error(404, "NetworkNotFound");
    port.expect_error(404, "PortNotFound");
    assert_eq!(collection.status, 404, "{}", collection.body);
    server.stop().await;
}

#[tokio::test]
async fn more_than_fifty_tags_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let base = format!("/v2.0/networks/{}/tags", s(&n, "id"));
    let fifty: Vec<String> = (0..50).map(|i| format!("t{i:02}")).collect();
    let fifty_one: Vec<String> = (0..51).map(|i| format!("t{i:02}")).collect();

    let ok = c.put(&base, json!({ "tags": fifty })).await;
    let one_more = c.put(&format!("{base}/extra"), Value::Null).await;
    let too_many = c.put(&base, json!({ "tags": fifty_one })).await;

    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(one_more.status, 400, "{}", one_more.body);
    assert_eq!(too_many.status, 400, "{}", too_many.body);
    assert_eq!(c.get_ok(&base).await["tags"].as_array().unwrap().len(), 50);
    server.stop().await;
}

#[tokio::test]
async fn invalid_tags_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let base = format!("/v2.0/networks/{}/tags", s(&n, "id"));

    let long = c
        .put(&format!("{base}/{}", "x".repeat(256)), Value::Null)
        .await;
    let not_strings = c.put(&base, json!({"tags": [1, 2]})).await;
    let not_a_list = c.put(&base, json!({"tags": "a"})).await;
    let comma = c.put(&base, json!({"tags": ["a,b"]})).await;

    for r in [long, not_strings, not_a_list, comma] {
        assert_eq!(r.status, 400, "{}", r.body);
    }
    assert_eq!(c.get_ok(&base).await, json!({"tags": []}));
    server.stop().await;
}

#[tokio::test]
async fn duplicate_tags_in_a_replacement_are_kept_once() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let base = format!("/v2.0/networks/{}/tags", s(&n, "id"));

    let r = c.put(&base, json!({"tags": ["a", "a", "b"]})).await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(c.get_ok(&base).await, json!({"tags": ["a", "b"]}));
    server.stop().await;
}

#[tokio::test]
async fn a_project_cannot_tag_another_projects_network() {
    let server = TestServer::start().await;
    let bob = server.project("bob");
    let alice = server.project("alice");
    let n = bob.network("bobs").await;

    let r = alice
        .put(
            &format!("/v2.0/networks/{}/tags/mine", s(&n, "id")),
            Value::Null,
        )
        .await;

    r.expect_error(404, "NetworkNotFound");
    assert_eq!(
        bob.get_ok(&format!("/v2.0/networks/{}/tags", s(&n, "id")))
            .await,
        json!({"tags": []})
    );
    server.stop().await;
}

#[tokio::test]
async fn tags_can_be_given_when_creating_ports() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let p = c.port(s(&net, "id"), json!({"tags": ["b", "a"]})).await;

    let mut tags: Vec<String> = p["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    assert_eq!(tags, vec!["a", "b"]);
    let shown = c.get_ok(&format!("/v2.0/ports/{}/tags", s(&p, "id"))).await;
    assert_eq!(shown, json!({"tags": ["a", "b"]}));
    server.stop().await;
}
