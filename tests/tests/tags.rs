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
async fn duplicate_tags_in_a_body_are_refused_as_neutron_does() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let base = format!("/v2.0/networks/{}/tags", s(&n, "id"));

    let replaced = c.put(&base, json!({"tags": ["a", "a", "b"]})).await;
    let created = c.post(&base, json!({"tags": ["a", "a", "b"]})).await;

    replaced.expect_error(400, "InvalidInput");
    created.expect_error(400, "InvalidInput");
    assert_eq!(c.get_ok(&base).await, json!({"tags": []}));
    server.stop().await;
}

#[tokio::test]
async fn post_adds_several_tags_and_keeps_the_others() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let id = s(&n, "id").to_string();
    let base = format!("/v2.0/networks/{id}/tags");
    c.put(&base, json!({"tags": ["old"]})).await;
    let before = c.get_ok(&format!("/v2.0/networks/{id}")).await["network"]["revision_number"]
        .as_i64()
        .unwrap();

    let first = c.post(&base, json!({"tags": ["b", "a"]})).await;
    let again = c.post(&base, json!({"tags": ["a", "old"]})).await;
    let after = c.get_ok(&format!("/v2.0/networks/{id}")).await["network"].clone();

    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.body,
        json!({"tags": ["b", "a"]}),
        "the tags asked for"
    );
    assert_eq!(again.status, 200, "idempotent: {}", again.body);
    assert_eq!(after["tags"], json!(["a", "b", "old"]));
    assert_eq!(
        after["revision_number"].as_i64().unwrap(),
        before + 1,
        "one change, the repeat changed nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn post_tags_is_validated_as_the_other_tag_calls() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let base = format!("/v2.0/networks/{}/tags", s(&n, "id"));
    let forty_nine: Vec<String> = (0..49).map(|i| format!("t{i:02}")).collect();
    c.put(&base, json!({ "tags": forty_nine })).await;

    let no_list = c.post(&base, json!({"tag": ["a"]})).await;
    let long = c.post(&base, json!({"tags": ["x".repeat(256)]})).await;
    let over = c.post(&base, json!({"tags": ["y1", "y2"]})).await;
    let unknown = c
        .post(
            &format!("/v2.0/ports/{}/tags", uuid::Uuid::new_v4()),
            json!({"tags": ["a"]}),
        )
        .await;
    let other = server
        .project("p2")
        .post(&base, json!({"tags": ["a"]}))
        .await;

    no_list.expect_error(400, "InvalidInput");
    assert_eq!(long.status, 400, "{}", long.body);
    assert_eq!(over.status, 400, "{}", over.body);
    unknown.expect_error(404, "PortNotFound");
    assert!(matches!(other.status, 403 | 404), "{}", other.body);
    assert_eq!(c.get_ok(&base).await["tags"].as_array().unwrap().len(), 49);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_adding_tags_to_one_port_lose_none() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let port = c.port(s(&net, "id"), json!({})).await;
    let base = format!("/v2.0/ports/{}/tags", s(&port, "id"));

    let results = futures::future::join_all((0..32).map(|i| {
        let c = c.clone();
        let base = base.clone();
        tokio::spawn(async move {
            c.post(&base, json!({"tags": [format!("t{i:02}"), "shared"]}))
                .await
        })
    }))
    .await;

    for r in results {
        let r = r.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let tags = c.get_ok(&base).await["tags"].clone();
    let mut expected: Vec<String> = vec!["shared".into()];
    expected.extend((0..32).map(|i| format!("t{i:02}")));
    assert_eq!(tags, json!(expected));
    let shown = c.get_ok(&format!("/v2.0/ports/{}", s(&port, "id"))).await;
    assert_eq!(
        shown["port"]["tags"],
        json!(expected),
        "the stored port document follows"
    );
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
