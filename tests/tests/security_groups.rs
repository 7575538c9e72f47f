//! Security groups and rules: the default group and its rules, Neutron's starting rules for
//! new groups, rule validation, and the in-use and default-group protections.

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

async fn group(c: &Client, name: &str) -> Value {
    let r = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": name}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["security_group"].clone()
}

async fn rule(c: &Client, body: Value) -> neutrino_tests::Resp {
    c.post(
        "/v2.0/security-group-rules",
        json!({ "security_group_rule": body }),
    )
    .await
}

fn rule_shapes(g: &Value) -> Vec<(String, String, bool)> {
    let mut v: Vec<(String, String, bool)> = g["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                s(r, "direction").to_string(),
                s(r, "ethertype").to_string(),
                r["remote_group_id"] == g["id"],
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn listing_creates_the_default_group_with_neutrons_rules() {
    let server = TestServer::start().await;
    let c = server.project("alice");

    let r = c.get_ok("/v2.0/security-groups").await;
    let again = c.get_ok("/v2.0/security-groups").await;

    let groups = r["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g["name"], "default");
    assert_eq!(g["project_id"], "alice");
    assert_eq!(g["stateful"], true);
    assert_eq!(
        rule_shapes(g),
        vec![
            ("egress".into(), "IPv4".into(), false),
            ("egress".into(), "IPv6".into(), false),
            ("ingress".into(), "IPv4".into(), true),
            ("ingress".into(), "IPv6".into(), true),
        ]
    );
    assert_eq!(
        again["security_groups"].as_array().unwrap().len(),
        1,
        "created once"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_new_group_starts_with_egress_rules_only() {
    let server = TestServer::start().await;
    let c = server.admin();

    let g = group(&c, "web").await;

    assert_eq!(g["name"], "web");
    assert_eq!(g["description"], "");
    assert_eq!(
        rule_shapes(&g),
        vec![
            ("egress".into(), "IPv4".into(), false),
            ("egress".into(), "IPv6".into(), false),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn another_group_named_default_is_refused() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "default"}}),
        )
        .await;

    r.expect_error(409, "SecurityGroupDefaultAlreadyExists");
    server.stop().await;
}

#[tokio::test]
async fn the_default_group_cannot_be_renamed_or_deleted_by_its_project() {
    let server = TestServer::start().await;
    let c = server.project("alice");
    let listed = c.get_ok("/v2.0/security-groups").await;
    let id = s(&listed["security_groups"][0], "id").to_string();

    let rename = c
        .put(
            &format!("/v2.0/security-groups/{id}"),
            json!({"security_group": {"name": "other"}}),
        )
        .await;
    let delete = c.delete(&format!("/v2.0/security-groups/{id}")).await;

    rename.expect_error(409, "SecurityGroupCannotUpdateDefault");
    delete.expect_error(409, "SecurityGroupCannotRemoveDefault");
    server.stop().await;
}

#[tokio::test]
async fn a_group_in_use_cannot_be_deleted() {
    let server = TestServer::start().await;
    let c = server.admin();
    let g = group(&c, "web").await;
    let net = c.network("n").await;
    let p = c
        .port(s(&net, "id"), json!({"security_groups": [g["id"]]}))
        .await;
    let path = format!("/v2.0/security-groups/{}", s(&g, "id"));

    let refused = c.delete(&path).await;
    c.delete(&format!("/v2.0/ports/{}", s(&p, "id"))).await;
    let allowed = c.delete(&path).await;

    refused.expect_error(409, "SecurityGroupInUse");
    assert_eq!(allowed.status, 204, "{}", allowed.body);
    c.get(&path)
        .await
        .expect_error(404, "SecurityGroupNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_tcp_rule_is_created_and_shown_in_its_group() {
    let server = TestServer::start().await;
    let c = server.admin();
    let g = group(&c, "web").await;

    let r = rule(
        &c,
        json!({"security_group_id": g["id"], "direction": "ingress", "ethertype": "IPv4",
               "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
               "remote_ip_prefix": "192.168.0.0/16"}),
    )
    .await;

    assert_eq!(r.status, 201, "{}", r.body);
    let created = &r.body["security_group_rule"];
    assert_eq!(created["protocol"], "tcp");
    assert_eq!(created["port_range_min"], 22);
    assert_eq!(created["port_range_max"], 22);
    assert_eq!(created["remote_ip_prefix"], "192.168.0.0/16");
    assert_eq!(created["remote_group_id"], Value::Null);
    let shown = c
        .get_ok(&format!("/v2.0/security-groups/{}", s(&g, "id")))
        .await;
    assert!(
        shown["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == created["id"])
    );
    let listed = c
        .get_ok(&format!(
            "/v2.0/security-group-rules?security_group_id={}&direction=ingress",
            s(&g, "id")
        ))
        .await;
    assert_eq!(listed["security_group_rules"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_duplicate_rule_is_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let g = group(&c, "web").await;
    let body = json!({"security_group_id": g["id"], "direction": "ingress",
        "protocol": "tcp", "port_range_min": 80, "port_range_max": 80});
    assert_eq!(rule(&c, body.clone()).await.status, 201);

    let r = rule(&c, body).await;

    r.expect_error(409, "SecurityGroupRuleExists");
    server.stop().await;
}

#[tokio::test]
async fn invalid_rules_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let g = group(&c, "web").await;
    let other = group(&c, "other").await;

    for body in [
        // min above max
        json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 90, "port_range_max": 80}),
        // ports out of range
        json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 1, "port_range_max": 70000}),
        // both a remote prefix and a remote group
        json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": other["id"]}),
        // prefix of the other IP version
        json!({"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}),
        // unknown direction
        json!({"direction": "sideways"}),
        // unknown protocol
        json!({"direction": "ingress", "protocol": "teleport"}),
    ] {
        let mut b = body.clone();
        b["security_group_id"] = g["id"].clone();
        let r = rule(&c, b).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
    let shown = c
        .get_ok(&format!("/v2.0/security-groups/{}", s(&g, "id")))
        .await;
    assert_eq!(
        shown["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn a_rule_for_an_unknown_group_is_security_group_not_found() {
    let server = TestServer::start().await;

    let r = rule(
        &server.admin(),
        json!({"security_group_id": uuid::Uuid::new_v4().to_string(), "direction": "ingress"}),
    )
    .await;

    r.expect_error(404, "SecurityGroupNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_rule_can_be_deleted() {
    let server = TestServer::start().await;
    let c = server.admin();
    let g = group(&c, "web").await;
    let r = rule(
        &c,
        json!({"security_group_id": g["id"], "direction": "ingress", "protocol": "icmp"}),
    )
    .await;
    let path = format!(
        "/v2.0/security-group-rules/{}",
        s(&r.body["security_group_rule"], "id")
    );

    let deleted = c.delete(&path).await;

    assert_eq!(deleted.status, 204, "{}", deleted.body);
    c.get(&path)
        .await
        .expect_error(404, "SecurityGroupRuleNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_group_can_be_renamed_and_made_stateless_while_unused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let g = group(&c, "web").await;

    let r = c
        .put(
            &format!("/v2.0/security-groups/{}", s(&g, "id")),
            json!({"security_group": {"name": "www", "stateful": false, "description": "d"}}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["security_group"]["name"], "www");
    assert_eq!(r.body["security_group"]["stateful"], false);
    assert_eq!(r.body["security_group"]["description"], "d");
    server.stop().await;
}

#[tokio::test]
async fn concurrent_first_ports_of_a_project_share_one_default_group() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let net = admin
        .post("/v2.0/networks", json!({"network": {"shared": true}}))
        .await
        .body["network"]
        .clone();
    let carol = server.project("carol");

    let ports = futures::future::join_all(
        (0..8).map(|_| carol.post("/v2.0/ports", json!({"port": {"network_id": net["id"]}}))),
    )
    .await;

    let mut groups: Vec<String> = ports
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["port"]["security_groups"][0]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    groups.dedup();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let listed = carol.get_ok("/v2.0/security-groups").await;
    assert_eq!(listed["security_groups"].as_array().unwrap().len(), 1);
    server.stop().await;
}

/// Neutron's `get_security_groups` creates the default group of the project a list filters
/// on (an admin's `?project_id=P`), so a new project's default group can be listed before
/// the project ever called.
#[tokio::test]
async fn an_admin_listing_a_new_projects_groups_finds_its_default_group() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let project = "dddddddddddddddddddddddddddddddd";
    let listed = admin
        .get(&format!("/v2.0/security-groups?project_id={project}"))
        .await;
    let by_member = server
        .project("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
        .get("/v2.0/security-groups?project_id=ffffffffffffffffffffffffffffffff")
        .await;
    let groups = listed.items("security_groups");
    assert_eq!(groups.len(), 1, "{}", listed.body);
    assert_eq!(groups[0]["name"], "default");
    assert_eq!(groups[0]["project_id"], project);
    assert!(by_member.items("security_groups").is_empty());
    server.stop().await;
}
