//! Networks: create (single and bulk), show, list, update, delete, with Neutron's defaults,
//! validation, read-only and admin-only rules.

use neutrino_tests::{TestServer, s};
use serde_json::json;

fn is_timestamp(v: &serde_json::Value) -> bool {
    let t = v.as_str().unwrap_or_default();
    // YYYY-MM-DDTHH:MM:SSZ
    t.len() == 20
        && t.as_bytes()[4] == b'-'
        && t.as_bytes()[10] == b'T'
        && t.ends_with('Z')
        && t[..4].chars().all(|c| c.is_ascii_digit())
}

#[tokio::test]
async fn a_new_network_has_neutrons_defaults() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post("/v2.0/networks", json!({"network": {"name": "net1"}}))
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    let n = &r.body["network"];
    assert!(uuid::Uuid::parse_str(s(n, "id")).is_ok());
    assert_eq!(n["name"], "net1");
    assert_eq!(n["description"], "");
    assert_eq!(n["admin_state_up"], true);
    assert_eq!(n["status"], "ACTIVE");
    assert_eq!(n["shared"], false);
    assert_eq!(n["router:external"], false);
    assert_eq!(n["port_security_enabled"], true);
    assert_eq!(n["mtu"], 1450, "vxlan project network: 1500 - 50");
    assert_eq!(n["subnets"], json!([]));
    assert_eq!(n["tags"], json!([]));
    assert_eq!(n["project_id"], "admin");
    assert_eq!(n["tenant_id"], n["project_id"]);
    assert_eq!(n["provider:network_type"], "vxlan");
    assert!(n["provider:segmentation_id"].is_i64());
    assert!(is_timestamp(&n["created_at"]), "{}", n["created_at"]);
    assert!(is_timestamp(&n["updated_at"]));
    assert!(n["revision_number"].is_i64());
    server.stop().await;
}

#[tokio::test]
async fn show_returns_what_create_returned() {
    let server = TestServer::start().await;
    let c = server.admin();
    let created = c.network("n").await;

    let shown = c
        .get_ok(&format!("/v2.0/networks/{}", s(&created, "id")))
        .await;

    assert_eq!(shown["network"], created);
    server.stop().await;
}

#[tokio::test]
async fn show_of_an_unknown_network_is_network_not_found() {
    let server = TestServer::start().await;
    let id = uuid::Uuid::new_v4();

    let r = server.admin().get(&format!("/v2.0/networks/{id}")).await;

    let msg = r.expect_error(404, "NetworkNotFound");
    assert!(msg.contains(&id.to_string()), "{msg}");
    server.stop().await;
}

#[tokio::test]
async fn bulk_create_returns_every_network_in_order() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/networks",
            json!({"networks": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
        )
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    let names: Vec<&str> = r
        .items("networks")
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(
        c.get_ok("/v2.0/networks").await["networks"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    server.stop().await;
}

#[tokio::test]
async fn bulk_create_with_one_bad_network_creates_none() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/networks",
            json!({"networks": [{"name": "ok"}, {"name": "too-big", "mtu": 9000}]}),
        )
        .await;

    r.expect_error(400, "InvalidInput");
    assert_eq!(c.get_ok("/v2.0/networks").await["networks"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn bulk_create_with_one_ill_typed_network_creates_none() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/networks",
            json!({"networks": [{"name": "ok"}, {"admin_state_up": "maybe"}]}),
        )
        .await;

    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.error_message().contains("admin_state_up"), "{}", r.body);
    assert_eq!(c.get_ok("/v2.0/networks").await["networks"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn update_changes_the_attribute_and_the_revision() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("old").await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));

    let r = c
        .put(
            &path,
            json!({"network": {"name": "new", "admin_state_up": false}}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let u = &r.body["network"];
    assert_eq!(u["name"], "new");
    assert_eq!(u["admin_state_up"], false);
    assert_eq!(
        u["revision_number"].as_i64().unwrap(),
        n["revision_number"].as_i64().unwrap() + 1
    );
    assert_eq!(c.get_ok(&path).await["network"], *u);
    server.stop().await;
}

#[tokio::test]
async fn read_only_attributes_cannot_be_updated() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));

    for body in [
        json!({"network": {"status": "DOWN"}}),
        json!({"network": {"id": uuid::Uuid::new_v4().to_string()}}),
        json!({"network": {"subnets": []}}),
        json!({"network": {"project_id": "other"}}),
    ] {
        let r = c.put(&path, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.error_type(), Some("HTTPBadRequest"), "{}", r.body);
    }
    assert_eq!(c.get_ok(&path).await["network"], n);
    server.stop().await;
}

#[tokio::test]
async fn read_only_attributes_cannot_be_set_on_create() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post("/v2.0/networks", json!({"network": {"status": "DOWN"}}))
        .await;

    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.error_message().contains("status"), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn delete_removes_the_network() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));

    let r = c.delete(&path).await;

    assert_eq!(r.status, 204);
    assert!(r.body.is_null());
    c.get(&path).await.expect_error(404, "NetworkNotFound");
    c.delete(&path).await.expect_error(404, "NetworkNotFound");
    server.stop().await;
}

#[tokio::test]
async fn delete_with_a_user_port_is_network_in_use() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (n, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    c.port(s(&n, "id"), json!({"device_owner": "compute:nova"}))
        .await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));

    let r = c.delete(&path).await;

    r.expect_error(409, "NetworkInUse");
    assert_eq!(c.get(&path).await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn delete_takes_subnets_and_dhcp_ports_with_it() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (n, subnet) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let dhcp = c
        .port(s(&n, "id"), json!({"device_owner": "network:dhcp"}))
        .await;

    let r = c.delete(&format!("/v2.0/networks/{}", s(&n, "id"))).await;

    assert_eq!(r.status, 204, "{}", r.body);
    c.get(&format!("/v2.0/subnets/{}", s(&subnet, "id")))
        .await
        .expect_error(404, "SubnetNotFound");
    c.get(&format!("/v2.0/ports/{}", s(&dhcp, "id")))
        .await
        .expect_error(404, "PortNotFound");
    server.stop().await;
}

#[tokio::test]
async fn the_network_lists_its_subnets() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let a = c.subnet(s(&n, "id"), "10.0.0.0/24").await;
    let b = c.subnet(s(&n, "id"), "10.0.1.0/24").await;

    let shown = c.get_ok(&format!("/v2.0/networks/{}", s(&n, "id"))).await;

    let mut got: Vec<String> = shown["network"]["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut want = vec![s(&a, "id").to_string(), s(&b, "id").to_string()];
    want.sort();
    assert_eq!(got, want);
    server.stop().await;
}

#[tokio::test]
async fn an_admin_creates_a_vlan_provider_network() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "vlan", "provider:network_type": "vlan",
                   "provider:physical_network": "physnet1", "provider:segmentation_id": 100}}),
        )
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    let n = &r.body["network"];
    assert_eq!(n["provider:network_type"], "vlan");
    assert_eq!(n["provider:physical_network"], "physnet1");
    assert_eq!(n["provider:segmentation_id"], 100);
    assert_eq!(n["mtu"], 1500);
    server.stop().await;
}

#[tokio::test]
async fn a_taken_vlan_id_is_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let body = json!({"network": {"provider:network_type": "vlan",
        "provider:physical_network": "physnet1", "provider:segmentation_id": 7}});
    assert_eq!(c.post("/v2.0/networks", body.clone()).await.status, 201);

    let r = c.post("/v2.0/networks", body).await;

    r.expect_error(409, "VlanIdInUse");
    server.stop().await;
}

#[tokio::test]
async fn an_out_of_range_mtu_names_the_attribute() {
    let server = TestServer::start().await;
    let c = server.admin();

    // Neutron checks only that it is not negative (a small MTU is refused by the subnets
    // that need more: `neutron_suites.rs`).
    let r = c
        .post("/v2.0/networks", json!({"network": {"mtu": -1}}))
        .await;

    r.expect_error(400, "InvalidInput");
    assert!(r.error_message().contains("mtu"), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn the_mtu_can_be_lowered_but_not_raised_above_the_segment() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));

    let lowered = c.put(&path, json!({"network": {"mtu": 1400}})).await;
    let raised = c.put(&path, json!({"network": {"mtu": 1500}})).await;

    assert_eq!(lowered.status, 200, "{}", lowered.body);
    assert_eq!(lowered.body["network"]["mtu"], 1400);
    raised.expect_error(400, "InvalidInput");
    assert_eq!(c.get_ok(&path).await["network"]["mtu"], 1400);
    server.stop().await;
}

#[tokio::test]
async fn the_provider_segment_cannot_be_updated() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;

    let r = c
        .put(
            &format!("/v2.0/networks/{}", s(&n, "id")),
            json!({"network": {"provider:segmentation_id": 4000}}),
        )
        .await;

    r.expect_error(400, "InvalidInput");
    server.stop().await;
}

#[tokio::test]
async fn name_longer_than_255_characters_is_refused() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "x".repeat(256)}}),
        )
        .await;

    r.expect_error(400, "InvalidInput");
    assert!(r.error_message().contains("name"), "{}", r.body);
    assert_eq!(c.get_ok("/v2.0/networks").await["networks"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn the_json_suffix_is_accepted() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;

    let r = c.get(&format!("/v2.0/networks/{}.json", s(&n, "id"))).await;
    let l = c.get("/v2.0/networks.json").await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["network"]["id"], n["id"]);
    assert_eq!(l.ids("networks"), vec![s(&n, "id").to_string()]);
    server.stop().await;
}
