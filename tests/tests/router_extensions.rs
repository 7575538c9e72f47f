//! Router extensions beyond the L3 API itself: `l3-flavors` (a router names an enabled flavor
//! of service type `L3_ROUTER_NAT` when it is created) and `l3-port-ip-change-not-allowed`
//! (the IPv4 addresses of a router's interface ports change only through the router).

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

async fn flavor(c: &Client, service_type: &str, enabled: bool) -> String {
    let r = c
        .post(
            "/v2.0/flavors",
            json!({"flavor": {"name": format!("f-{service_type}-{enabled}"), "service_type": service_type, "enabled": enabled}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    s(&r.body["flavor"], "id").to_string()
}

#[tokio::test]
async fn a_router_created_with_an_l3_flavor_shows_it_and_keeps_it() {
    let server = TestServer::start().await;
    let c = server.admin();
    let f = flavor(&c, "L3_ROUTER_NAT", true).await;

    let r = c
        .post(
            "/v2.0/routers",
            json!({"router": {"name": "r", "flavor_id": f}}),
        )
        .await;
    let plain = c
        .post("/v2.0/routers", json!({"router": {"name": "plain"}}))
        .await;
    let id = s(&r.body["router"], "id").to_string();
    let changed = c
        .put(
            &format!("/v2.0/routers/{id}"),
            json!({"router": {"flavor_id": null}}),
        )
        .await;
    let listed = c.get_ok(&format!("/v2.0/routers?flavor_id={f}")).await;

    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["router"]["flavor_id"], f.as_str());
    assert_eq!(plain.body["router"]["flavor_id"], Value::Null);
    assert_eq!(
        changed.status, 400,
        "flavor_id is set on create only: {}",
        changed.body
    );
    let ids: Vec<&str> = listed["routers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(r, "id"))
        .collect();
    assert_eq!(ids, [id.as_str()]);
    server.stop().await;
}

#[tokio::test]
async fn a_router_flavor_must_exist_be_enabled_and_be_for_routers() {
    let server = TestServer::start().await;
    let c = server.admin();
    let disabled = flavor(&c, "L3_ROUTER_NAT", false).await;
    let other = flavor(&c, "FLAVORS", true).await;

    let missing = c
        .post(
            "/v2.0/routers",
            json!({"router": {"name": "r", "flavor_id": "00000000-0000-0000-0000-000000000000"}}),
        )
        .await;
    let off = c
        .post(
            "/v2.0/routers",
            json!({"router": {"name": "r", "flavor_id": disabled}}),
        )
        .await;
    let wrong = c
        .post(
            "/v2.0/routers",
            json!({"router": {"name": "r", "flavor_id": other}}),
        )
        .await;

    assert_eq!(missing.status, 404, "{}", missing.body);
    assert_eq!(missing.error_type(), Some("FlavorNotFound"));
    assert_eq!(off.status, 400, "{}", off.body);
    assert_eq!(off.error_type(), Some("FlavorDisabled"));
    assert_eq!(wrong.status, 404, "{}", wrong.body);
    assert_eq!(wrong.error_type(), Some("InvalidFlavorServiceType"));
    assert!(
        c.get_ok("/v2.0/routers").await["routers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_router_interface_ports_ipv4_address_cannot_be_changed_but_other_ports_can() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, subnet) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let router = c
        .post("/v2.0/routers", json!({"router": {"name": "r"}}))
        .await;
    let router_id = s(&router.body["router"], "id").to_string();
    let added = c
        .put(
            &format!("/v2.0/routers/{router_id}/add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let port_id = s(&added.body, "port_id").to_string();
    let vm = c.port(s(&net, "id"), json!({})).await;

    let refused = c
        .put(
            &format!("/v2.0/ports/{port_id}"),
            json!({"port": {"fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "10.0.0.50"}]}}),
        )
        .await;
    let renamed = c
        .put(
            &format!("/v2.0/ports/{port_id}"),
            json!({"port": {"name": "still-fine"}}),
        )
        .await;
    let vm_moved = c
        .put(
            &format!("/v2.0/ports/{}", s(&vm, "id")),
            json!({"port": {"fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "10.0.0.50"}]}}),
        )
        .await;

    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.error_type(), Some("BadRequest"));
    assert_eq!(
        refused.error_message(),
        format!("Bad ports request: IP updates for port {port_id} are not allowed.")
    );
    let port = c.get_ok(&format!("/v2.0/ports/{port_id}")).await["port"].clone();
    assert_eq!(port["fixed_ips"][0]["ip_address"], "10.0.0.1");
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(vm_moved.status, 200, "{}", vm_moved.body);
    server.stop().await;
}
