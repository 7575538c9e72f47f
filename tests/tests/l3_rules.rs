//! The rest of Neutron's L3 rules: `FipAssociated` on deleting a port with another project's
//! floating IP, IPv6 subnets of one network sharing one router interface port, the
//! `router_route` quota, `floating-ip-router-writable` (a named hosting router), and
//! `access_as_external` RBAC entries giving a project an external network for its router
//! gateways and floating IPs. Shared state is driven by 32 concurrent clients.

use std::collections::HashSet;

use neutrino_tests::{Client, TestServer, ips, s};
use serde_json::{Value, json};

const ALICE: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BOB: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

async fn external(admin: &Client, name: &str, cidr: &str) -> Value {
    let r = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": name, "router:external": true}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ext = r.body["network"].clone();
    admin.subnet(s(&ext, "id"), cidr).await;
    ext
}

async fn router(c: &Client, body: Value) -> Value {
    let r = c.post("/v2.0/routers", json!({ "router": body })).await;
    assert_eq!(r.status, 201, "create router: {}", r.body);
    r.body["router"].clone()
}

fn action(router: &Value, what: &str) -> String {
    format!("/v2.0/routers/{}/{what}", s(router, "id"))
}

async fn add_subnet(c: &Client, router: &Value, subnet: &Value) -> Value {
    let r = c
        .put(
            &action(router, "add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    assert_eq!(r.status, 200, "add interface: {}", r.body);
    r.body
}

async fn fip(c: &Client, body: Value) -> Value {
    let r = c
        .post("/v2.0/floatingips", json!({ "floatingip": body }))
        .await;
    assert_eq!(r.status, 201, "create floating IP: {}", r.body);
    r.body["floatingip"].clone()
}

/// An external network, and `user`'s network behind a router with its gateway there.
async fn direct(admin: &Client, user: &Client) -> (Value, Value, Value) {
    let ext = external(admin, "public", "172.24.4.0/24").await;
    let (net, subnet) = user.network_with_subnet("private", "10.0.0.0/24").await;
    let r = router(
        user,
        json!({"external_gateway_info": {"network_id": ext["id"]}}),
    )
    .await;
    add_subnet(user, &r, &subnet).await;
    (ext, net, r)
}

// ---------------------------------------------------------------------------------------
// FipAssociated
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_project_cannot_delete_its_port_that_holds_an_admins_floating_ip() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let (ext, net, _) = direct(&admin, &alice).await;
    let port = alice.port(s(&net, "id"), json!({})).await;
    let theirs = fip(
        &admin,
        json!({"floating_network_id": ext["id"], "port_id": port["id"]}),
    )
    .await;
    let port_path = format!("/v2.0/ports/{}", s(&port, "id"));

    let refused = alice.delete(&port_path).await;
    let still = admin
        .get_ok(&format!("/v2.0/floatingips/{}", s(&theirs, "id")))
        .await;
    let by_admin = admin.delete(&port_path).await;
    let after = admin
        .get_ok(&format!("/v2.0/floatingips/{}", s(&theirs, "id")))
        .await;

    let msg = refused.expect_error(409, "FipAssociated");
    assert_eq!(
        msg,
        format!(
            "Unable to complete the operation on port {} because the port still has an \
             associated floating IP.",
            s(&port, "id")
        )
    );
    assert_eq!(still["floatingip"]["port_id"], port["id"]);
    assert_eq!(by_admin.status, 204, "{}", by_admin.body);
    assert_eq!(after["floatingip"]["port_id"], Value::Null);
    assert_eq!(after["floatingip"]["router_id"], Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn a_project_deleting_its_port_with_its_own_floating_ip_disassociates_it() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let (ext, net, _) = direct(&admin, &alice).await;
    let port = alice.port(s(&net, "id"), json!({})).await;
    let own = fip(
        &alice,
        json!({"floating_network_id": ext["id"], "port_id": port["id"]}),
    )
    .await;

    let deleted = alice
        .delete(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    let after = alice
        .get_ok(&format!("/v2.0/floatingips/{}", s(&own, "id")))
        .await;

    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(after["floatingip"]["port_id"], Value::Null);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// IPv6 subnets of one network share the router's interface port
// ---------------------------------------------------------------------------------------

async fn slaac(c: &Client, net: &Value, cidr: &str) -> Value {
    c.subnet_with(
        json!({"network_id": net["id"], "cidr": cidr, "ip_version": 6,
        "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
    )
    .await
}

async fn router_ports(c: &Client, router: &Value) -> Vec<Value> {
    c.get_ok(&format!(
        "/v2.0/ports?device_id={}&device_owner=network:router_interface",
        s(router, "id")
    ))
    .await["ports"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_second_ipv6_subnet_of_a_network_joins_the_routers_ipv6_port() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let (net, v4) = alice.network_with_subnet("dual", "10.1.0.0/24").await;
    let a = slaac(&alice, &net, "2001:db8:1::/64").await;
    let b = slaac(&alice, &net, "2001:db8:2::/64").await;
    let r = router(&alice, json!({})).await;

    let by_v4 = add_subnet(&alice, &r, &v4).await;
    let by_a = add_subnet(&alice, &r, &a).await;
    let by_b = add_subnet(&alice, &r, &b).await;
    let ports = router_ports(&alice, &r).await;

    // The IPv4 interface keeps its own port; the second IPv6 subnet joins the first's.
    assert_ne!(by_a["port_id"], by_v4["port_id"]);
    assert_eq!(by_b["port_id"], by_a["port_id"]);
    assert_eq!(by_b["subnet_id"], b["id"]);
    assert_eq!(by_b["subnet_ids"], json!([b["id"]]));
    assert_eq!(by_b["network_id"], net["id"]);
    assert_eq!(ports.len(), 2, "{ports:?}");
    let shared = ports.iter().find(|p| p["id"] == by_a["port_id"]).unwrap();
    // Each subnet's gateway address (for IPv6, the subnet-router anycast address).
    assert_eq!(ips(shared), vec![s(&a, "gateway_ip"), s(&b, "gateway_ip")]);
    assert_eq!(s(&a, "gateway_ip"), "2001:db8:1::");
    server.stop().await;
}

#[tokio::test]
async fn removing_one_ipv6_subnet_of_a_shared_port_removes_only_its_address() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let net = alice.network("v6").await;
    let a = slaac(&alice, &net, "2001:db8:1::/64").await;
    let b = slaac(&alice, &net, "2001:db8:2::/64").await;
    let r = router(&alice, json!({})).await;
    let added = add_subnet(&alice, &r, &a).await;
    add_subnet(&alice, &r, &b).await;
    let port_path = format!("/v2.0/ports/{}", s(&added, "port_id"));

    let first = alice
        .put(
            &action(&r, "remove_router_interface"),
            json!({"subnet_id": a["id"]}),
        )
        .await;
    let kept = alice.get_ok(&port_path).await;
    let again = alice
        .put(
            &action(&r, "remove_router_interface"),
            json!({"subnet_id": a["id"]}),
        )
        .await;
    let last = alice
        .put(
            &action(&r, "remove_router_interface"),
            json!({"subnet_id": b["id"]}),
        )
        .await;
    let gone = alice.get(&port_path).await;

    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["port_id"], added["port_id"]);
    assert_eq!(first.body["subnet_ids"], json!([a["id"]]));
    assert_eq!(ips(&kept["port"]), vec![s(&b, "gateway_ip")]);
    again.expect_error(404, "RouterInterfaceNotFoundForSubnet");
    assert_eq!(last.status, 200, "{}", last.body);
    gone.expect_error(404, "PortNotFound");
    assert!(router_ports(&alice, &r).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_clients_adding_and_removing_ipv6_subnets_share_one_port() {
    let server = TestServer::with_config(|c| c.max_fixed_ips_per_port = 64).await;
    let alice = server.project(ALICE);
    let net = alice.network("many").await;
    let mut subnets = Vec::new();
    for i in 0..32 {
        subnets.push(slaac(&alice, &net, &format!("2001:db8:{:x}::/64", 0x100 + i)).await);
    }
    let r = router(&alice, json!({})).await;

    let adds: Vec<_> = subnets
        .iter()
        .map(|sn| {
            let (c, path, id) = (
                alice.clone(),
                action(&r, "add_router_interface"),
                sn["id"].clone(),
            );
            tokio::spawn(async move { c.put(&path, json!({"subnet_id": id})).await })
        })
        .collect();
    let mut added = Vec::new();
    for t in adds {
        added.push(t.await.unwrap());
    }
    let after_adds = router_ports(&alice, &r).await;
    let removes: Vec<_> = subnets
        .iter()
        .map(|sn| {
            let (c, path, id) = (
                alice.clone(),
                action(&r, "remove_router_interface"),
                sn["id"].clone(),
            );
            tokio::spawn(async move { c.put(&path, json!({"subnet_id": id})).await })
        })
        .collect();
    let mut removed = Vec::new();
    for t in removes {
        removed.push(t.await.unwrap());
    }
    let after_removes = router_ports(&alice, &r).await;

    for a in &added {
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let port_ids: HashSet<&str> = added.iter().map(|a| s(&a.body, "port_id")).collect();
    assert_eq!(port_ids.len(), 1, "{port_ids:?}");
    assert_eq!(after_adds.len(), 1, "{after_adds:?}");
    let held: HashSet<String> = ips(&after_adds[0]).into_iter().collect();
    let gateways: HashSet<String> = subnets
        .iter()
        .map(|sn| s(sn, "gateway_ip").to_string())
        .collect();
    assert_eq!(held, gateways);
    for r in &removed {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert!(after_removes.is_empty(), "{after_removes:?}");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// The router_route quota
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_router_route_quota_limits_the_routes_of_each_router() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let (_, subnet) = alice.network_with_subnet("n", "10.2.0.0/24").await;
    let r1 = router(&alice, json!({})).await;
    let r2 = router(&alice, json!({})).await;
    add_subnet(&alice, &r1, &subnet).await;
    let (_, other) = alice.network_with_subnet("m", "10.3.0.0/24").await;
    add_subnet(&alice, &r2, &other).await;
    let route =
        |i: u8, hop: &str| json!({"destination": format!("192.168.{i}.0/24"), "nexthop": hop});

    let defaults = admin.get_ok(&format!("/v2.0/quotas/{ALICE}")).await;
    let set = admin
        .put(
            &format!("/v2.0/quotas/{ALICE}"),
            json!({"quota": {"router_route": 2}}),
        )
        .await;
    let too_many = alice
        .put(
            &format!("/v2.0/routers/{}", s(&r1, "id")),
            json!({"router": {"routes": [route(1, "10.2.0.9"), route(2, "10.2.0.9"), route(3, "10.2.0.9")]}}),
        )
        .await;
    let bad_hops_first = alice
        .put(
            &format!("/v2.0/routers/{}", s(&r1, "id")),
            json!({"router": {"routes": [route(1, "10.9.0.9"), route(2, "10.2.0.9"), route(3, "10.2.0.9")]}}),
        )
        .await;
    let two = alice
        .put(
            &format!("/v2.0/routers/{}", s(&r1, "id")),
            json!({"router": {"routes": [route(1, "10.2.0.9"), route(2, "10.2.0.9")]}}),
        )
        .await;
    let two_more_elsewhere = alice
        .put(
            &format!("/v2.0/routers/{}", s(&r2, "id")),
            json!({"router": {"routes": [route(1, "10.3.0.9"), route(2, "10.3.0.9")]}}),
        )
        .await;
    let third = alice
        .put(
            &action(&r1, "add_extraroutes"),
            json!({"router": {"routes": [route(3, "10.2.0.9")]}}),
        )
        .await;
    let details = admin.get_ok(&format!("/v2.0/quotas/{ALICE}/details")).await;

    assert_eq!(defaults["quota"]["router_route"], 30);
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["quota"]["router_route"], 2);
    assert_eq!(
        too_many.expect_error(409, "OverQuota"),
        "Quota exceeded for resources: ['router_route']."
    );
    bad_hops_first.expect_error(400, "InvalidRoutes");
    assert_eq!(two.status, 200, "{}", two.body);
    assert_eq!(
        two_more_elsewhere.status, 200,
        "{}",
        two_more_elsewhere.body
    );
    third.expect_error(409, "OverQuota");
    assert_eq!(
        details["quota"]["router_route"],
        json!({"limit": 2, "used": 0, "reserved": 0})
    );
    let shown = alice
        .get_ok(&format!("/v2.0/routers/{}", s(&r1, "id")))
        .await;
    assert_eq!(shown["router"]["routes"].as_array().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn the_router_route_quota_default_comes_from_configuration() {
    let server = TestServer::with_config(|c| c.quotas.quota_router_route = 1).await;
    let alice = server.project(ALICE);
    let (_, subnet) = alice.network_with_subnet("n", "10.2.0.0/24").await;
    let r = router(&alice, json!({})).await;
    add_subnet(&alice, &r, &subnet).await;

    let shown = alice.get_ok(&format!("/v2.0/quotas/{ALICE}")).await;
    let refused = alice
        .put(
            &action(&r, "add_extraroutes"),
            json!({"router": {"routes": [
                {"destination": "192.168.1.0/24", "nexthop": "10.2.0.9"},
                {"destination": "192.168.2.0/24", "nexthop": "10.2.0.9"}]}}),
        )
        .await;

    assert_eq!(shown["quota"]["router_route"], 1);
    refused.expect_error(409, "OverQuota");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// floating-ip-router-writable
// ---------------------------------------------------------------------------------------

/// The spec's two-hop topology: `user`'s subnet behind an inner router, which reaches an
/// outer router (gateway on `ext`) through a transit network. Returns (VM port, outer
/// router).
async fn indirect(user: &Client, ext: &Value) -> (Value, Value) {
    let (net, subnet) = user.network_with_subnet("project", "10.10.0.0/24").await;
    let (transit, _) = user.network_with_subnet("transit", "10.20.0.0/24").await;
    let inner = router(user, json!({"name": "inner"})).await;
    let outer = router(
        user,
        json!({"name": "outer", "external_gateway_info": {"network_id": ext["id"]}}),
    )
    .await;
    add_subnet(user, &inner, &subnet).await;
    for r in [&inner, &outer] {
        let p = user.port(s(&transit, "id"), json!({})).await;
        let added = user
            .put(
                &action(r, "add_router_interface"),
                json!({"port_id": p["id"]}),
            )
            .await;
        assert_eq!(added.status, 200, "{}", added.body);
    }
    (user.port(s(&net, "id"), json!({})).await, outer)
}

#[tokio::test]
async fn a_named_router_hosts_a_floating_ip_without_an_interface_on_the_ports_subnet() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let ext = external(&admin, "public", "172.24.4.0/24").await;
    let (port, outer) = indirect(&alice, &ext).await;

    let unnamed = alice
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": ext["id"], "port_id": port["id"]}}),
        )
        .await;
    let named = fip(
        &alice,
        json!({"floating_network_id": ext["id"], "port_id": port["id"], "router_id": outer["id"]}),
    )
    .await;
    let clear_gateway = alice
        .put(
            &format!("/v2.0/routers/{}", s(&outer, "id")),
            json!({"router": {"external_gateway_info": {}}}),
        )
        .await;

    unnamed.expect_error(404, "ExternalGatewayForFloatingIPNotFound");
    assert_eq!(named["router_id"], outer["id"]);
    assert_eq!(named["port_id"], port["id"]);
    assert_eq!(named["fixed_ip_address"], json!(ips(&port)[0]));
    clear_gateway.expect_error(409, "RouterExternalGatewayInUseByFloatingIp");
    server.stop().await;
}

#[tokio::test]
async fn a_named_router_must_be_visible_and_have_its_gateway_on_the_floating_network() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let ext = external(&admin, "public", "172.24.4.0/24").await;
    let other = external(&admin, "other", "172.25.4.0/24").await;
    let (port, _) = indirect(&alice, &ext).await;
    let elsewhere = router(
        &alice,
        json!({"external_gateway_info": {"network_id": other["id"]}}),
    )
    .await;
    let no_gateway = router(&alice, json!({})).await;
    let bobs = router(
        &bob,
        json!({"external_gateway_info": {"network_id": ext["id"]}}),
    )
    .await;
    let create = |router: &Value| {
        json!({"floatingip": {"floating_network_id": ext["id"], "port_id": port["id"],
            "router_id": router["id"]}})
    };

    let wrong_network = alice.post("/v2.0/floatingips", create(&elsewhere)).await;
    let without = alice.post("/v2.0/floatingips", create(&no_gateway)).await;
    let not_visible = alice.post("/v2.0/floatingips", create(&bobs)).await;
    let no_port = alice
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": ext["id"], "router_id": bobs["id"]}}),
        )
        .await;
    let left = alice.get_ok("/v2.0/floatingips").await;

    wrong_network.expect_error(409, "FloatingIPRouterGatewayNotFound");
    without.expect_error(409, "FloatingIPRouterGatewayNotFound");
    not_visible.expect_error(404, "RouterNotFound");
    assert_eq!(
        no_port.expect_error(400, "BadRequest"),
        "Bad floatingip request: router_id cannot be specified without a port_id."
    );
    // Nothing refused left a floating IP (or its port) behind.
    assert!(left["floatingips"].as_array().unwrap().is_empty());
    let fip_ports = admin
        .get_ok("/v2.0/ports?device_owner=network:floatingip")
        .await;
    assert!(fip_ports["ports"].as_array().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn updates_name_change_or_recompute_the_hosting_router() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let ext = external(&admin, "public", "172.24.4.0/24").await;
    let (port, outer) = indirect(&alice, &ext).await;
    let second = router(
        &alice,
        json!({"external_gateway_info": {"network_id": ext["id"]}}),
    )
    .await;
    let f = fip(&alice, json!({"floating_network_id": ext["id"]})).await;
    let path = format!("/v2.0/floatingips/{}", s(&f, "id"));

    let router_alone_unassociated = alice
        .put(&path, json!({"floatingip": {"router_id": outer["id"]}}))
        .await;
    let associated = alice
        .put(
            &path,
            json!({"floatingip": {"port_id": port["id"], "router_id": outer["id"]}}),
        )
        .await;
    let moved = alice
        .put(&path, json!({"floatingip": {"router_id": second["id"]}}))
        .await;
    let described = alice
        .put(&path, json!({"floatingip": {"description": "kept"}}))
        .await;
    let recomputed = alice
        .put(&path, json!({"floatingip": {"router_id": null}}))
        .await;
    let disassociate_naming = alice
        .put(
            &path,
            json!({"floatingip": {"port_id": null, "router_id": outer["id"]}}),
        )
        .await;
    let disassociated = alice
        .put(&path, json!({"floatingip": {"port_id": null}}))
        .await;

    router_alone_unassociated.expect_error(400, "BadRequest");
    assert_eq!(associated.status, 200, "{}", associated.body);
    assert_eq!(associated.body["floatingip"]["router_id"], outer["id"]);
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["floatingip"]["router_id"], second["id"]);
    assert_eq!(moved.body["floatingip"]["port_id"], port["id"]);
    assert_eq!(described.body["floatingip"]["router_id"], second["id"]);
    // Without a name the router is found as without the extension: here there is none.
    recomputed.expect_error(404, "ExternalGatewayForFloatingIPNotFound");
    disassociate_naming.expect_error(400, "BadRequest");
    assert_eq!(disassociated.status, 200, "{}", disassociated.body);
    assert_eq!(disassociated.body["floatingip"]["router_id"], Value::Null);
    assert_eq!(disassociated.body["floatingip"]["port_id"], Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_clients_naming_a_router_for_one_fixed_ip_associate_one_floating_ip() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let ext = external(&admin, "public", "172.24.4.0/24").await;
    let (port, outer) = indirect(&alice, &ext).await;
    let mut fips = Vec::new();
    for _ in 0..32 {
        fips.push(fip(&alice, json!({"floating_network_id": ext["id"]})).await);
    }

    let tasks: Vec<_> = fips
        .iter()
        .map(|f| {
            let c = alice.clone();
            let path = format!("/v2.0/floatingips/{}", s(f, "id"));
            let body = json!({"floatingip": {"port_id": port["id"], "router_id": outer["id"]}});
            tokio::spawn(async move { c.put(&path, body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let listed = alice
        .get_ok(&format!("/v2.0/floatingips?port_id={}", s(&port, "id")))
        .await;

    let won: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for a in answers.iter().filter(|a| a.status != 200) {
        a.expect_error(409, "FloatingIPPortAlreadyAssociated");
    }
    let listed = listed["floatingips"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["router_id"], outer["id"]);
    assert_eq!(listed[0]["id"], won[0].body["floatingip"]["id"]);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// access_as_external
// ---------------------------------------------------------------------------------------

/// An admin's network with a subnet, made external for `target` only.
async fn external_for(admin: &Client, target: &str) -> (Value, Value) {
    let net = admin.network("for-one").await;
    admin.subnet(s(&net, "id"), "203.0.113.0/24").await;
    let r = admin
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "network", "object_id": net["id"],
                "action": "access_as_external", "target_tenant": target}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (net, r.body["rbac_policy"].clone())
}

#[tokio::test]
async fn an_access_as_external_entry_gives_its_project_the_network_for_gateways_and_floating_ips() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let (net, _) = external_for(&admin, ALICE).await;
    let net_path = format!("/v2.0/networks/{}", s(&net, "id"));
    let gateway = json!({"external_gateway_info": {"network_id": net["id"]}});

    let alice_sees = alice.get(&net_path).await;
    let bob_sees = bob.get(&net_path).await;
    let alice_router = alice
        .post("/v2.0/routers", json!({ "router": gateway }))
        .await;
    let bob_router = bob
        .post("/v2.0/routers", json!({ "router": gateway }))
        .await;
    let bob_plain = router(&bob, json!({})).await;
    let bob_sets = bob
        .put(
            &format!("/v2.0/routers/{}", s(&bob_plain, "id")),
            json!({ "router": gateway }),
        )
        .await;
    let fip_body = json!({"floatingip": {"floating_network_id": net["id"]}});
    let alice_fip = alice.post("/v2.0/floatingips", fip_body.clone()).await;
    let bob_fip = bob.post("/v2.0/floatingips", fip_body).await;
    let alice_pools = alice.get_ok("/v2.0/floatingip-pools").await;
    let bob_pools = bob.get_ok("/v2.0/floatingip-pools").await;
    let alice_external = alice.get_ok("/v2.0/networks?router:external=True").await;

    assert_eq!(alice_sees.status, 200, "{}", alice_sees.body);
    assert_eq!(alice_sees.body["network"]["router:external"], true);
    assert_eq!(alice_sees.body["network"]["shared"], false);
    bob_sees.expect_error(404, "NetworkNotFound");
    assert_eq!(alice_router.status, 201, "{}", alice_router.body);
    assert_eq!(
        alice_router.body["router"]["external_gateway_info"]["network_id"],
        net["id"]
    );
    bob_router.expect_error(404, "NetworkNotFound");
    bob_sets.expect_error(404, "NetworkNotFound");
    assert_eq!(alice_fip.status, 201, "{}", alice_fip.body);
    bob_fip.expect_error(404, "NetworkNotFound");
    assert_eq!(alice_pools["floatingip_pools"].as_array().unwrap().len(), 1);
    assert!(bob_pools["floatingip_pools"].as_array().unwrap().is_empty());
    assert_eq!(alice_external["networks"][0]["id"], net["id"]);
    server.stop().await;
}

#[tokio::test]
async fn an_access_as_external_entry_a_router_gateway_depends_on_stays() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let (net, entry) = external_for(&admin, ALICE).await;
    let entry_path = format!("/v2.0/rbac-policies/{}", s(&entry, "id"));
    let r = router(
        &alice,
        json!({"external_gateway_info": {"network_id": net["id"]}}),
    )
    .await;

    let delete_needed = admin.delete(&entry_path).await;
    let retarget_needed = admin
        .put(&entry_path, json!({"rbac_policy": {"target_tenant": BOB}}))
        .await;
    let wildcard = admin
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "network", "object_id": net["id"],
                "action": "access_as_external", "target_tenant": "*"}}),
        )
        .await;
    let wildcard_path = format!(
        "/v2.0/rbac-policies/{}",
        s(&wildcard.body["rbac_policy"], "id")
    );
    let delete_covered = admin.delete(&entry_path).await;
    let delete_wildcard_needed = admin.delete(&wildcard_path).await;
    let cleared = alice
        .put(
            &format!("/v2.0/routers/{}", s(&r, "id")),
            json!({"router": {"external_gateway_info": {}}}),
        )
        .await;
    let delete_wildcard = admin.delete(&wildcard_path).await;
    let after = admin
        .get_ok(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;

    let msg = delete_needed.expect_error(409, "RbacPolicyInUse");
    assert!(
        msg.ends_with(
            "There are routers attached to this network that depend on this policy for access."
        ),
        "{msg}"
    );
    retarget_needed.expect_error(409, "RbacPolicyInUse");
    assert_eq!(wildcard.status, 201, "{}", wildcard.body);
    assert_eq!(delete_covered.status, 204, "{}", delete_covered.body);
    delete_wildcard_needed.expect_error(409, "RbacPolicyInUse");
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(delete_wildcard.status, 204, "{}", delete_wildcard.body);
    // With no entry left the network is no longer external.
    assert_eq!(after["network"]["router:external"], false);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// What neutron-tempest-plugin's L3 tests found
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_gateway_on_an_external_network_without_subnets_has_a_port_without_addresses() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let r = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "bare", "router:external": true}}),
        )
        .await;
    let bare = r.body["network"].clone();

    let routed = admin
        .post(
            "/v2.0/routers",
            json!({"router": {"external_gateway_info": {"network_id": bare["id"]}}}),
        )
        .await;

    assert_eq!(routed.status, 201, "{}", routed.body);
    let info = &routed.body["router"]["external_gateway_info"];
    assert_eq!(info["network_id"], bare["id"]);
    assert_eq!(info["external_fixed_ips"], json!([]));
    let ports = admin
        .get_ok(&format!(
            "/v2.0/ports?device_id={}",
            s(&routed.body["router"], "id")
        ))
        .await;
    assert_eq!(ports["ports"][0]["device_owner"], "network:router_gateway");
    assert_eq!(ports["ports"][0]["fixed_ips"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn a_network_owner_associating_another_projects_port_is_a_bad_request() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let (ext, net, _) = direct(&admin, &alice).await;
    // An admin puts a port of another project on Alice's network: Alice sees it (she owns
    // the network) but may not give it her floating IP.
    let theirs = admin.port(s(&net, "id"), json!({"project_id": BOB})).await;
    let f = fip(&alice, json!({"floating_network_id": ext["id"]})).await;

    let r = alice
        .put(
            &format!("/v2.0/floatingips/{}", s(&f, "id")),
            json!({"floatingip": {"port_id": theirs["id"]}}),
        )
        .await;

    assert_eq!(
        r.expect_error(400, "BadRequest"),
        format!(
            "Bad floatingip request: Cannot process floating IP association with Port {}, \
             since that port is owned by a different project.",
            s(&theirs, "id")
        )
    );
    server.stop().await;
}

/// An L3 flavor bound to a profile of one of the L3 plugin's own providers.
async fn l3_flavor(admin: &Client, driver: &str) -> Value {
    let p = admin
        .post(
            "/v2.0/service_profiles",
            json!({"service_profile": {"driver": format!(
                "neutron.services.l3_router.service_providers.{driver}")}}),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    let f = admin
        .post(
            "/v2.0/flavors",
            json!({"flavor": {"name": driver, "service_type": "L3_ROUTER_NAT"}}),
        )
        .await;
    assert_eq!(f.status, 201, "{}", f.body);
    let bound = admin
        .post(
            &format!(
                "/v2.0/flavors/{}/service_profiles",
                s(&f.body["flavor"], "id")
            ),
            json!({"service_profile": {"id": p.body["service_profile"]["id"]}}),
        )
        .await;
    assert_eq!(bound.status, 201, "{}", bound.body);
    f.body["flavor"].clone()
}

#[tokio::test]
async fn a_flavor_and_flags_its_provider_cannot_serve_are_invalid_input() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let single = l3_flavor(&admin, "single_node.SingleNodeDriver").await;
    let dvr = l3_flavor(&admin, "dvr.DvrDriver").await;
    let create = |f: &Value, extra: Value| {
        let mut body = json!({"flavor_id": f["id"]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        json!({ "router": body })
    };

    let plain = admin
        .post("/v2.0/routers", create(&single, json!({})))
        .await;
    let single_distributed = admin
        .post(
            "/v2.0/routers",
            create(&single, json!({"distributed": true})),
        )
        .await;
    let single_centralized = admin
        .post(
            "/v2.0/routers",
            create(&single, json!({"distributed": false})),
        )
        .await;
    let dvr_centralized = admin
        .post("/v2.0/routers", create(&dvr, json!({"distributed": false})))
        .await;
    let dvr_ha = admin
        .post("/v2.0/routers", create(&dvr, json!({"ha": true})))
        .await;
    let dvr_distributed = admin
        .post("/v2.0/routers", create(&dvr, json!({"distributed": true})))
        .await;

    assert_eq!(plain.status, 201, "{}", plain.body);
    assert_eq!(
        single_distributed.expect_error(400, "InvalidInput"),
        "Invalid input for operation: Provider single_node does not support distributed=True"
    );
    assert_eq!(
        single_centralized.status, 201,
        "{}",
        single_centralized.body
    );
    assert_eq!(
        dvr_centralized.expect_error(400, "InvalidInput"),
        "Invalid input for operation: Provider dvr does not support distributed=False"
    );
    dvr_ha.expect_error(400, "InvalidInput");
    assert_eq!(dvr_distributed.status, 201, "{}", dvr_distributed.body);
    server.stop().await;
}

#[tokio::test]
async fn a_flavor_a_router_uses_cannot_be_deleted() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let f = l3_flavor(&admin, "single_node.SingleNodeDriver").await;
    let r = router(&admin, json!({"flavor_id": f["id"]})).await;
    let flavor_path = format!("/v2.0/flavors/{}", s(&f, "id"));

    let in_use = admin.delete(&flavor_path).await;
    let still = admin.get(&flavor_path).await;
    admin
        .delete(&format!("/v2.0/routers/{}", s(&r, "id")))
        .await;
    let unused = admin.delete(&flavor_path).await;

    assert_eq!(
        in_use.expect_error(409, "FlavorInUse"),
        format!("Flavor {} is used by some service instance.", s(&f, "id"))
    );
    assert_eq!(still.status, 200, "{}", still.body);
    assert_eq!(
        still.body["flavor"]["service_profiles"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(unused.status, 204, "{}", unused.body);
    server.stop().await;
}
