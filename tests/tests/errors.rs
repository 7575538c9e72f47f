//! Errors as Neutron reports them: the `NeutronError` body, status codes, malformed bodies,
//! unknown and ill-typed attributes, unknown URLs, and request ids on every response.

use neutrino_tests::{TestServer, s};
use serde_json::json;

fn is_request_id(v: Option<&reqwest::header::HeaderValue>) -> bool {
    let Some(v) = v.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    v.strip_prefix("req-")
        .is_some_and(|u| uuid::Uuid::parse_str(u).is_ok())
}

#[tokio::test]
async fn the_error_body_has_exactly_type_message_and_detail() {
    let server = TestServer::start().await;

    let r = server
        .admin()
        .get(&format!("/v2.0/networks/{}", uuid::Uuid::new_v4()))
        .await;

    assert_eq!(r.status, 404);
    let keys: Vec<&String> = r.body["NeutronError"].as_object().unwrap().keys().collect();
    let mut keys: Vec<&str> = keys.into_iter().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["detail", "message", "type"]);
    assert_eq!(r.body["NeutronError"]["detail"], "");
    assert_eq!(r.body.as_object().unwrap().len(), 1);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_json_is_a_bad_request_and_writes_nothing() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .send_raw(
            reqwest::Method::POST,
            "/v2.0/networks",
            b"{\"network\": {\"name\": ",
        )
        .await;

    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.error_type().is_some(), "{}", r.body);
    assert_eq!(c.get_ok("/v2.0/networks").await["networks"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn a_body_without_the_resource_key_is_a_bad_request() {
    let server = TestServer::start().await;
    let c = server.admin();

    for body in [
        json!({"netwrk": {}}),
        json!([]),
        json!({"network": "x"}),
        json!({"networks": []}),
    ] {
        let r = c.post("/v2.0/networks", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
    assert_eq!(c.get_ok("/v2.0/networks").await["networks"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_attribute_is_named() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "n", "colour": "red"}}),
        )
        .await;

    r.expect_error(400, "HTTPBadRequest");
    assert!(r.error_message().contains("colour"), "{}", r.body);
    assert_eq!(c.get_ok("/v2.0/networks").await["networks"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn wrong_types_are_refused_naming_the_attribute() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;

    for (path, body, attribute) in [
        ("/v2.0/networks", json!({"network": {"name": 5}}), "name"),
        (
            "/v2.0/networks",
            json!({"network": {"admin_state_up": "yes"}}),
            "admin_state_up",
        ),
        ("/v2.0/networks", json!({"network": {"mtu": "big"}}), "mtu"),
        (
            "/v2.0/ports",
            json!({"port": {"network_id": "not-a-uuid"}}),
            "network_id",
        ),
        (
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "device_id": ["x"]}}),
            "device_id",
        ),
        (
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "ip_version": 4,
            "cidr": "10.1.0.0/24", "gateway_ip": "nope"}}),
            "gateway_ip",
        ),
        (
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "ip_version": 4,
            "cidr": "10.1.0.0/24", "enable_dhcp": 3}}),
            "enable_dhcp",
        ),
    ] {
        let r = c.post(path, body.clone()).await;
        r.expect_error(400, "InvalidInput");
        assert!(r.error_message().contains(attribute), "{body}: {}", r.body);
    }
    assert_eq!(
        c.get_ok("/v2.0/networks").await["networks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(c.get_ok("/v2.0/ports").await["ports"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn null_is_refused_where_an_attribute_is_not_nullable() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post("/v2.0/networks", json!({"network": {"name": null}}))
        .await;

    r.expect_error(400, "InvalidInput");
    assert!(r.error_message().contains("name"), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_url_is_404() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c.get("/v2.0/widgets").await;
    let deep = c.get("/v3/networks").await;

    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(deep.status, 404, "{}", deep.body);
    server.stop().await;
}

#[tokio::test]
async fn an_unsupported_method_is_405_with_a_neutron_error() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;

    let r = c
        .post(&format!("/v2.0/networks/{}", s(&n, "id")), json!({}))
        .await;
    let rule_update = c
        .put(
            &format!("/v2.0/security-group-rules/{}", uuid::Uuid::new_v4()),
            json!({"security_group_rule": {"description": "x"}}),
        )
        .await;

    let msg = r.expect_error(405, "HTTPMethodNotAllowed");
    assert!(msg.contains("POST"), "{msg}");
    let on_extensions = c.delete("/v2.0/extensions").await;
    on_extensions.expect_error(405, "HTTPMethodNotAllowed");
    assert!(
        rule_update.status == 405 || rule_update.status == 404,
        "{}",
        rule_update.body
    );
    server.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;

    let ok = c.get("/v2.0/networks").await;
    let created = c
        .post("/v2.0/networks", json!({"network": {"name": "x"}}))
        .await;
    let deleted = c.delete(&format!("/v2.0/networks/{}", s(&n, "id"))).await;
    let missing = c.get("/v2.0/networks/nope").await;
    let bad = c.post("/v2.0/networks", json!({"x": 1})).await;
    let unknown_url = c.get("/nowhere").await;
    let root = c.get("/").await;

    let mut seen = std::collections::HashSet::new();
    for r in [&ok, &created, &deleted, &missing, &bad, &unknown_url, &root] {
        let h = r.headers.get("x-openstack-request-id");
        assert!(is_request_id(h), "{:?} on {} {}", h, r.status, r.body);
        assert!(
            seen.insert(h.unwrap().to_str().unwrap().to_string()),
            "ids are unique"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn conflicting_project_and_tenant_ids_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"project_id": "a", "tenant_id": "b"}}),
        )
        .await;

    assert_eq!(r.status, 400, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn a_port_error_after_validation_leaves_no_trace() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    c.port(
        s(&net, "id"),
        json!({"fixed_ips": [{"ip_address": "10.0.0.3"}]}),
    )
    .await;

    // The first fixed IP would be taken, the second is in use: nothing may stay allocated.
    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"],
                "fixed_ips": [{"subnet_id": sub["id"]}, {"ip_address": "10.0.0.3"}]}}),
        )
        .await;
    let next = c.port(s(&net, "id"), json!({})).await;

    r.expect_error(409, "IpAddressAlreadyAllocated");
    assert_eq!(neutrino_tests::ips(&next), vec!["10.0.0.2"]);
    server.stop().await;
}
