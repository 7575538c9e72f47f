//! Routers (the L3 API): create with and without a gateway, interfaces by subnet and by
//! port, Neutron's errors, extra routes (also 32 clients adding at once), and what a router
//! keeps from being deleted.

use neutrino_tests::{Client, TestServer, ips, s};
use serde_json::{Value, json};

const ALICE: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BOB: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// An external network with a subnet of `cidr` (admin): (network, subnet).
async fn external(admin: &Client, cidr: &str) -> (Value, Value) {
    let r = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "public", "router:external": true}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let net = r.body["network"].clone();
    let subnet = admin.subnet(s(&net, "id"), cidr).await;
    (net, subnet)
}

async fn router(c: &Client, body: Value) -> Value {
    let r = c.post("/v2.0/routers", json!({ "router": body })).await;
    assert_eq!(r.status, 201, "create router: {}", r.body);
    r.body["router"].clone()
}

fn action(id: &str, what: &str) -> String {
    format!("/v2.0/routers/{id}/{what}")
}

#[tokio::test]
async fn a_router_has_neutrons_attributes_and_defaults() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let r = router(&alice, json!({"name": "r1"})).await;
    let admin_view = server
        .admin()
        .get_ok(&format!("/v2.0/routers/{}", s(&r, "id")))
        .await;

    assert_eq!(r["name"], "r1");
    assert_eq!(r["status"], "ACTIVE");
    assert_eq!(r["admin_state_up"], true);
    assert_eq!(r["external_gateway_info"], Value::Null);
    assert_eq!(r["routes"], json!([]));
    assert_eq!(r["project_id"], ALICE);
    assert_eq!(r["tenant_id"], ALICE);
    assert_eq!(r["availability_zone_hints"], json!([]));
    assert_eq!(r["availability_zones"], json!([]));
    assert_eq!(r["revision_number"], 0);
    assert_eq!(r["tags"], json!([]));
    // `distributed` and `ha` are the admin's to read.
    assert!(r.get("distributed").is_none(), "{r}");
    assert_eq!(admin_view["router"]["distributed"], false);
    assert_eq!(admin_view["router"]["ha"], false);
    server.stop().await;
}

#[tokio::test]
async fn bulk_create_lists_sorts_and_filters() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let r = alice
        .post(
            "/v2.0/routers",
            json!({"routers": [{"name": "b"}, {"name": "a"}, {"name": "c", "admin_state_up": false}]}),
        )
        .await;
    router(&bob, json!({"name": "bobs"})).await;
    let sorted = alice
        .get("/v2.0/routers?sort_key=name&sort_dir=asc&fields=name")
        .await;
    let down = alice.get("/v2.0/routers?admin_state_up=false").await;
    let page = alice
        .get("/v2.0/routers?limit=2&sort_key=name&sort_dir=asc")
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.items("routers").len(), 3);
    let names: Vec<&str> = sorted
        .items("routers")
        .iter()
        .map(|i| i["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    assert_eq!(down.items("routers").len(), 1);
    assert_eq!(down.items("routers")[0]["name"], "c");
    assert_eq!(page.items("routers").len(), 2);
    assert!(page.body["routers_links"].is_array(), "{}", page.body);
    server.stop().await;
}

#[tokio::test]
async fn update_bumps_the_revision_and_if_match_guards_it() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let r = router(&alice, json!({"name": "r"})).await;
    let path = format!("/v2.0/routers/{}", s(&r, "id"));
    let renamed = alice
        .put(&path, json!({"router": {"name": "s", "description": "d"}}))
        .await;
    let stale = alice
        .put_with(
            &path,
            json!({"router": {"name": "t"}}),
            &[("If-Match", "revision_number=0")],
        )
        .await;
    let readonly = alice
        .put(&path, json!({"router": {"status": "DOWN"}}))
        .await;

    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["router"]["name"], "s");
    assert_eq!(renamed.body["router"]["description"], "d");
    assert_eq!(renamed.body["router"]["revision_number"], 1);
    stale.expect_error(412, "RevisionNumberConstraintFailed");
    assert_eq!(readonly.status, 400, "{}", readonly.body);
    server.stop().await;
}

#[tokio::test]
async fn members_may_not_set_admin_only_attributes() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let (ext, ext_subnet) = external(&server.admin(), "172.24.4.0/24").await;
    let dvr = alice
        .post("/v2.0/routers", json!({"router": {"distributed": true}}))
        .await;
    let snat = alice
        .post(
            "/v2.0/routers",
            json!({"router": {"external_gateway_info": {"network_id": ext["id"], "enable_snat": false}}}),
        )
        .await;
    let fixed = alice
        .post(
            "/v2.0/routers",
            json!({"router": {"external_gateway_info": {"network_id": ext["id"],
                   "external_fixed_ips": [{"subnet_id": ext_subnet["id"]}]}}}),
        )
        .await;

    assert_eq!(
        dvr.expect_error(403, "PolicyNotAuthorized"),
        "(rule:create_router and rule:create_router:distributed) is disallowed by policy"
    );
    snat.expect_error(403, "PolicyNotAuthorized");
    fixed.expect_error(403, "PolicyNotAuthorized");
    server.stop().await;
}

#[tokio::test]
async fn a_gateway_takes_a_port_and_an_address_on_the_external_network() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let (ext, ext_subnet) = external(&admin, "172.24.4.0/24").await;
    let r = router(
        &alice,
        json!({"name": "gw", "external_gateway_info": {"network_id": ext["id"]}}),
    )
    .await;
    let gw = &r["external_gateway_info"];
    let ports = admin
        .get(&format!(
            "/v2.0/ports?device_id={}&device_owner=network:router_gateway",
            s(&r, "id")
        ))
        .await;
    let alice_ports = alice.get("/v2.0/ports").await;

    assert_eq!(gw["network_id"], ext["id"]);
    assert_eq!(gw["enable_snat"], true);
    let fixed = gw["external_fixed_ips"].as_array().expect("list");
    assert_eq!(fixed.len(), 1, "{gw}");
    assert_eq!(fixed[0]["subnet_id"], ext_subnet["id"]);
    let port = &ports.items("ports")[0];
    assert_eq!(ips(port), vec![s(&fixed[0], "ip_address").to_string()]);
    assert_eq!(port["project_id"], "");
    assert!(
        alice_ports.items("ports").is_empty(),
        "{}",
        alice_ports.body
    );
    server.stop().await;
}

#[tokio::test]
async fn admins_choose_snat_and_the_gateway_address() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (ext, ext_subnet) = external(&admin, "172.24.4.0/24").await;
    let r = router(
        &admin,
        json!({"external_gateway_info": {"network_id": ext["id"], "enable_snat": false,
               "external_fixed_ips": [{"subnet_id": ext_subnet["id"], "ip_address": "172.24.4.77"}]}}),
    )
    .await;
    let path = format!("/v2.0/routers/{}", s(&r, "id"));
    let moved = admin
        .put(
            &path,
            json!({"router": {"external_gateway_info": {"network_id": ext["id"], "enable_snat": true,
                   "external_fixed_ips": [{"ip_address": "172.24.4.78"}]}}}),
        )
        .await;
    let taken = admin
        .post(
            "/v2.0/routers",
            json!({"router": {"external_gateway_info": {"network_id": ext["id"],
                   "external_fixed_ips": [{"ip_address": "172.24.4.78"}]}}}),
        )
        .await;
    let gateway_ip = admin
        .post(
            "/v2.0/routers",
            json!({"router": {"external_gateway_info": {"network_id": ext["id"],
                   "external_fixed_ips": [{"ip_address": "172.24.4.1"}]}}}),
        )
        .await;
    let routers_after = admin.get("/v2.0/routers").await;

    assert_eq!(r["external_gateway_info"]["enable_snat"], false);
    assert_eq!(
        r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
        "172.24.4.77"
    );
    assert_eq!(moved.status, 200, "{}", moved.body);
    let gw = &moved.body["router"]["external_gateway_info"];
    assert_eq!(gw["enable_snat"], true);
    assert_eq!(gw["external_fixed_ips"][0]["ip_address"], "172.24.4.78");
    taken.expect_error(409, "IpAddressAlreadyAllocated");
    assert_eq!(
        gateway_ip.expect_error(400, "BadRequest"),
        "Bad router request: External IP 172.24.4.1 is the same as the gateway IP."
    );
    // Failed creates leave no router behind.
    assert_eq!(routers_after.items("routers").len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn gateway_errors_are_neutrons() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let internal = alice.network("internal").await;
    let unknown = alice
        .post(
            "/v2.0/routers",
            json!({"router": {"external_gateway_info": {"network_id": uuid::Uuid::new_v4().to_string()}}}),
        )
        .await;
    let not_external = alice
        .post(
            "/v2.0/routers",
            json!({"router": {"external_gateway_info": {"network_id": internal["id"]}}}),
        )
        .await;
    let no_network = alice
        .post(
            "/v2.0/routers",
            json!({"router": {"external_gateway_info": {"enable_snat": true}}}),
        )
        .await;

    unknown.expect_error(404, "NetworkNotFound");
    assert_eq!(
        not_external.expect_error(400, "BadRequest"),
        format!(
            "Bad router request: Network {} is not an external network.",
            s(&internal, "id")
        )
    );
    assert_eq!(no_network.status, 400, "{}", no_network.body);
    assert!(alice.get("/v2.0/routers").await.items("routers").is_empty());
    server.stop().await;
}

#[tokio::test]
async fn clearing_the_gateway_deletes_its_port() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (ext, _) = external(&admin, "172.24.4.0/24").await;
    let r = router(
        &admin,
        json!({"external_gateway_info": {"network_id": ext["id"]}}),
    )
    .await;
    let path = format!("/v2.0/routers/{}", s(&r, "id"));
    let cleared = admin
        .put(&path, json!({"router": {"external_gateway_info": {}}}))
        .await;
    let ports = admin
        .get(&format!("/v2.0/ports?network_id={}", s(&ext, "id")))
        .await;

    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(cleared.body["router"]["external_gateway_info"], Value::Null);
    assert!(ports.items("ports").is_empty(), "{}", ports.body);
    server.stop().await;
}

#[tokio::test]
async fn an_interface_by_subnet_takes_the_gateway_address() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let (net, subnet) = alice.network_with_subnet("n", "10.0.0.0/24").await;
    let r = router(&alice, json!({})).await;
    let added = alice
        .put(
            &action(s(&r, "id"), "add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    let port = alice
        .get_ok(&format!("/v2.0/ports/{}", s(&added.body, "port_id")))
        .await;
    let again = alice
        .put(
            &action(s(&r, "id"), "add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;

    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.body["id"], r["id"]);
    assert_eq!(added.body["subnet_id"], subnet["id"]);
    assert_eq!(added.body["subnet_ids"], json!([subnet["id"]]));
    assert_eq!(added.body["network_id"], net["id"]);
    assert_eq!(added.body["project_id"], ALICE);
    assert_eq!(port["port"]["device_owner"], "network:router_interface");
    assert_eq!(port["port"]["device_id"], r["id"]);
    assert_eq!(ips(&port["port"]), vec!["10.0.0.1".to_string()]);
    assert_eq!(
        again.expect_error(400, "BadRequest"),
        format!(
            "Bad router request: Router already has a port on subnet {}.",
            s(&subnet, "id")
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn interface_errors_are_neutrons() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let (_, a) = alice.network_with_subnet("a", "10.0.0.0/24").await;
    let (_, overlapping) = alice.network_with_subnet("b", "10.0.0.0/16").await;
    let no_gw_net = alice.network("c").await;
    let no_gw = alice
        .subnet_with(json!({"network_id": no_gw_net["id"], "cidr": "10.9.0.0/24",
                            "ip_version": 4, "gateway_ip": null}))
        .await;
    let r = router(&alice, json!({})).await;
    let id = s(&r, "id");
    alice
        .put(
            &action(id, "add_router_interface"),
            json!({"subnet_id": a["id"]}),
        )
        .await;
    let overlap = alice
        .put(
            &action(id, "add_router_interface"),
            json!({"subnet_id": overlapping["id"]}),
        )
        .await;
    let gatewayless = alice
        .put(
            &action(id, "add_router_interface"),
            json!({"subnet_id": no_gw["id"]}),
        )
        .await;
    let neither = alice
        .put(&action(id, "add_router_interface"), json!({}))
        .await;
    let both = alice
        .put(
            &action(id, "add_router_interface"),
            json!({"subnet_id": a["id"], "port_id": a["id"]}),
        )
        .await;
    let not_uuid = alice
        .put(
            &action(id, "add_router_interface"),
            json!({"port_id": "nope"}),
        )
        .await;
    let not_attached = alice
        .put(
            &action(id, "remove_router_interface"),
            json!({"subnet_id": no_gw["id"]}),
        )
        .await;
    let unknown_router = alice
        .put(
            &action(&uuid::Uuid::new_v4().to_string(), "add_router_interface"),
            json!({"subnet_id": a["id"]}),
        )
        .await;

    assert_eq!(
        overlap.expect_error(400, "BadRequest"),
        format!(
            "Bad router request: Cidr 10.0.0.0/16 of subnet {} overlaps with cidr 10.0.0.0/24 of subnet {}.",
            s(&overlapping, "id"),
            s(&a, "id")
        )
    );
    assert_eq!(
        gatewayless.expect_error(400, "BadRequest"),
        "Bad router request: Subnet for router interface must have a gateway IP."
    );
    assert_eq!(
        neither.expect_error(400, "BadRequest"),
        "Bad router request: Either subnet_id or port_id must be specified."
    );
    assert_eq!(
        both.expect_error(400, "BadRequest"),
        "Bad router request: Cannot specify both subnet-id and port-id."
    );
    assert_eq!(
        not_uuid.expect_error(400, "BadRequest"),
        "Bad router request: 'nope' is not a valid UUID."
    );
    assert_eq!(
        not_attached.expect_error(404, "RouterInterfaceNotFoundForSubnet"),
        format!("Router {id} has no interface on subnet {}", s(&no_gw, "id"))
    );
    unknown_router.expect_error(404, "RouterNotFound");
    server.stop().await;
}

#[tokio::test]
async fn an_existing_port_becomes_an_interface_once() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let (net, _) = alice.network_with_subnet("n", "10.1.0.0/24").await;
    let port = alice.port(s(&net, "id"), json!({})).await;
    let r1 = router(&alice, json!({})).await;
    let r2 = router(&alice, json!({})).await;
    let added = alice
        .put(
            &action(s(&r1, "id"), "add_router_interface"),
            json!({"port_id": port["id"]}),
        )
        .await;
    let twice = alice
        .put(
            &action(s(&r2, "id"), "add_router_interface"),
            json!({"port_id": port["id"]}),
        )
        .await;
    let after = alice
        .get_ok(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    let direct_delete = alice
        .delete(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    let removed = alice
        .put(
            &action(s(&r1, "id"), "remove_router_interface"),
            json!({"port_id": port["id"]}),
        )
        .await;
    let gone = alice.get(&format!("/v2.0/ports/{}", s(&port, "id"))).await;
    let not_attached = alice
        .put(
            &action(s(&r1, "id"), "remove_router_interface"),
            json!({"port_id": port["id"]}),
        )
        .await;

    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.body["port_id"], port["id"]);
    assert_eq!(
        twice.expect_error(409, "PortInUse"),
        format!(
            "Unable to complete operation on port {} for network {}. Port already has an attached device {}.",
            s(&port, "id"),
            s(&net, "id"),
            s(&r1, "id")
        )
    );
    assert_eq!(after["port"]["device_owner"], "network:router_interface");
    assert_eq!(after["port"]["device_id"], r1["id"]);
    assert_eq!(
        direct_delete.expect_error(409, "ServicePortInUse"),
        format!(
            "Port {} cannot be deleted directly via the port API: has device owner network:router_interface.",
            s(&port, "id")
        )
    );
    assert_eq!(removed.status, 200, "{}", removed.body);
    gone.expect_error(404, "PortNotFound");
    not_attached.expect_error(404, "RouterInterfaceNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_router_with_interfaces_is_in_use_and_its_subnet_and_network_too() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let (ext, _) = external(&admin, "172.24.4.0/24").await;
    let (net, subnet) = alice.network_with_subnet("n", "10.2.0.0/24").await;
    let r = router(
        &alice,
        json!({"external_gateway_info": {"network_id": ext["id"]}}),
    )
    .await;
    let id = s(&r, "id");
    let added = alice
        .put(
            &action(id, "add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    let router_delete = alice.delete(&format!("/v2.0/routers/{id}")).await;
    let subnet_delete = alice
        .delete(&format!("/v2.0/subnets/{}", s(&subnet, "id")))
        .await;
    let network_delete = alice
        .delete(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;
    let ext_delete = admin
        .delete(&format!("/v2.0/networks/{}", s(&ext, "id")))
        .await;
    let not_external = admin
        .put(
            &format!("/v2.0/networks/{}", s(&ext, "id")),
            json!({"network": {"router:external": false}}),
        )
        .await;
    alice
        .put(
            &action(id, "remove_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    let router_deleted = alice.delete(&format!("/v2.0/routers/{id}")).await;
    let ext_deleted = admin
        .delete(&format!("/v2.0/networks/{}", s(&ext, "id")))
        .await;
    let net_deleted = alice
        .delete(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;

    assert_eq!(
        router_delete.expect_error(409, "RouterInUse"),
        format!(
            "Router {id} has ports still attached: {}",
            s(&added.body, "port_id")
        )
    );
    subnet_delete.expect_error(409, "SubnetInUse");
    network_delete.expect_error(409, "NetworkInUse");
    ext_delete.expect_error(409, "NetworkInUse");
    not_external.expect_error(409, "ExternalNetworkInUse");
    assert_eq!(router_deleted.status, 204, "{}", router_deleted.body);
    assert_eq!(ext_deleted.status, 204, "{}", ext_deleted.body);
    assert_eq!(net_deleted.status, 204, "{}", net_deleted.body);
    server.stop().await;
}

#[tokio::test]
async fn routes_need_a_connected_nexthop_and_null_clears_them() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let (_, subnet) = alice.network_with_subnet("n", "10.3.0.0/24").await;
    let r = router(&alice, json!({})).await;
    let id = s(&r, "id");
    let path = format!("/v2.0/routers/{id}");
    let unconnected = alice
        .put(
            &path,
            json!({"router": {"routes": [{"destination": "192.168.0.0/24", "nexthop": "10.3.0.5"}]}}),
        )
        .await;
    alice
        .put(
            &action(id, "add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    let own = alice
        .put(
            &path,
            json!({"router": {"routes": [{"destination": "192.168.0.0/24", "nexthop": "10.3.0.1"}]}}),
        )
        .await;
    let set = alice
        .put(
            &path,
            json!({"router": {"routes": [
                {"destination": "192.168.0.0/24", "nexthop": "10.3.0.5"},
                {"destination": "192.168.1.0/24", "nexthop": "10.3.0.6"}]}}),
        )
        .await;
    let in_use = alice
        .put(
            &action(id, "remove_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    let cleared = alice.put(&path, json!({"router": {"routes": null}})).await;

    assert_eq!(
        unconnected.expect_error(400, "InvalidRoutes"),
        "Invalid format for routes: [{'destination': '192.168.0.0/24', 'nexthop': '10.3.0.5'}], \
         the nexthop is not connected with router."
    );
    own.expect_error(400, "InvalidRoutes");
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(
        set.body["router"]["routes"].as_array().map(Vec::len),
        Some(2)
    );
    in_use.expect_error(409, "RouterInterfaceInUseByRoute");
    assert_eq!(cleared.body["router"]["routes"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn extraroutes_are_added_and_removed_as_sets() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let (_, subnet) = alice.network_with_subnet("n", "10.4.0.0/24").await;
    let r = router(&alice, json!({})).await;
    let id = s(&r, "id");
    alice
        .put(
            &action(id, "add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    let a = json!({"destination": "10.10.0.0/24", "nexthop": "10.4.0.10"});
    let b = json!({"destination": "10.10.0.0/24", "nexthop": "10.4.0.11"});
    let c = json!({"destination": "10.11.0.0/24", "nexthop": "10.4.0.12"});
    let first = alice
        .put(
            &action(id, "add_extraroutes"),
            json!({"router": {"routes": [a, b]}}),
        )
        .await;
    let second = alice
        .put(
            &action(id, "add_extraroutes"),
            json!({"router": {"routes": [b, c]}}),
        )
        .await;
    let removed = alice
        .put(
            &action(id, "remove_extraroutes"),
            json!({"router": {"routes": [a, {"destination": "1.2.3.0/24", "nexthop": "10.4.0.99"}]}}),
        )
        .await;

    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["router"]["routes"], json!([a, b]));
    assert_eq!(second.body["router"]["routes"], json!([a, b, c]));
    assert_eq!(removed.body["router"]["routes"], json!([b, c]));
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_clients_adding_extraroutes_lose_none() {
    let server = TestServer::with_config(|c| c.quotas.quota_router_route = 64).await;
    let alice = server.project(ALICE);
    let (_, subnet) = alice.network_with_subnet("n", "10.5.0.0/24").await;
    let r = router(&alice, json!({})).await;
    let id = s(&r, "id").to_string();
    alice
        .put(
            &action(&id, "add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let c = alice.clone();
            let path = action(&id, "add_extraroutes");
            tokio::spawn(async move {
                c.put(
                    &path,
                    json!({"router": {"routes": [
                        {"destination": format!("10.{}.0.0/16", 100 + i), "nexthop": "10.5.0.9"}]}}),
                )
                .await
                .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    let after = alice.get_ok(&format!("/v2.0/routers/{id}")).await;

    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(after["router"]["routes"].as_array().map(Vec::len), Some(32));
    assert_eq!(after["router"]["revision_number"], 33);
    server.stop().await;
}

#[tokio::test]
async fn routers_count_against_the_quota() {
    let server = TestServer::with_config(|c| c.quotas.quota_router = 2).await;
    let alice = server.project(ALICE);
    router(&alice, json!({})).await;
    router(&alice, json!({})).await;
    let third = alice.post("/v2.0/routers", json!({"router": {}})).await;
    let quota = server
        .admin()
        .get_ok(&format!("/v2.0/quotas/{ALICE}"))
        .await;

    third.expect_error(409, "OverQuota");
    assert_eq!(quota["quota"]["router"], 2);
    assert_eq!(quota["quota"]["floatingip"], 50);
    server.stop().await;
}

#[tokio::test]
async fn other_projects_routers_are_not_found() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let r = router(&alice, json!({})).await;
    let path = format!("/v2.0/routers/{}", s(&r, "id"));
    let show = bob.get(&path).await;
    let update = bob.put(&path, json!({"router": {"name": "x"}})).await;
    let delete = bob.delete(&path).await;
    let add = bob
        .put(
            &action(s(&r, "id"), "add_router_interface"),
            json!({"subnet_id": uuid::Uuid::new_v4().to_string()}),
        )
        .await;

    show.expect_error(404, "RouterNotFound");
    update.expect_error(404, "RouterNotFound");
    delete.expect_error(404, "RouterNotFound");
    add.expect_error(404, "RouterNotFound");
    assert!(bob.get("/v2.0/routers").await.items("routers").is_empty());
    server.stop().await;
}

#[tokio::test]
async fn distributed_changes_need_the_router_down() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let r = router(&admin, json!({})).await;
    let path = format!("/v2.0/routers/{}", s(&r, "id"));
    let active = admin
        .put(&path, json!({"router": {"distributed": true}}))
        .await;
    // Down before and after: the same request taking it down is not enough.
    let going_down = admin
        .put(
            &path,
            json!({"router": {"admin_state_up": false, "distributed": true}}),
        )
        .await;
    let taken_down = admin
        .put(&path, json!({"router": {"admin_state_up": false}}))
        .await;
    let down = admin
        .put(&path, json!({"router": {"distributed": true}}))
        .await;
    let up_again = admin
        .put(
            &path,
            json!({"router": {"admin_state_up": true, "distributed": false}}),
        )
        .await;
    let back = admin
        .put(&path, json!({"router": {"distributed": false}}))
        .await;

    assert_eq!(
        active.expect_error(400, "BadRequest"),
        "Bad router request: Cannot change the 'distributed' attribute of active routers. \
         Please set router admin_state_up to False prior to upgrade."
    );
    going_down.expect_error(400, "BadRequest");
    assert_eq!(taken_down.status, 200, "{}", taken_down.body);
    assert_eq!(down.status, 200, "{}", down.body);
    assert_eq!(down.body["router"]["distributed"], true);
    up_again.expect_error(400, "BadRequest");
    // Back to centralized, as Neutron allows, while down.
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(back.body["router"]["distributed"], false);
    server.stop().await;
}

#[tokio::test]
async fn routers_carry_tags() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let r = router(&alice, json!({"name": "t", "tags": ["blue"]})).await;
    let id = s(&r, "id");
    let added = alice
        .put(&format!("/v2.0/routers/{id}/tags/red"), Value::Null)
        .await;
    let shown = alice.get_ok(&format!("/v2.0/routers/{id}")).await;
    let red = alice.get("/v2.0/routers?tags=red").await;
    let green = alice.get("/v2.0/routers?tags=green").await;

    assert_eq!(r["tags"], json!(["blue"]));
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(shown["router"]["tags"], json!(["blue", "red"]));
    assert_eq!(shown["router"]["revision_number"], 1);
    assert_eq!(red.ids("routers"), vec![id.to_string()]);
    assert!(green.items("routers").is_empty());
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_clients_attach_subnets_and_one_subnet_joins_once() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let r = router(&alice, json!({})).await;
    let id = s(&r, "id").to_string();
    let mut subnets = Vec::new();
    for i in 0..32 {
        let (_, sn) = alice
            .network_with_subnet("n", &format!("10.60.{i}.0/24"))
            .await;
        subnets.push(sn["id"].clone());
    }
    let (_, contested) = alice.network_with_subnet("c", "10.61.0.0/24").await;
    let distinct: Vec<_> = subnets
        .iter()
        .map(|sn| {
            let c = alice.clone();
            let path = action(&id, "add_router_interface");
            let body = json!({"subnet_id": sn});
            tokio::spawn(async move { c.put(&path, body).await.status })
        })
        .collect();
    let same: Vec<_> = (0..32)
        .map(|_| {
            let c = alice.clone();
            let path = action(&id, "add_router_interface");
            let body = json!({"subnet_id": contested["id"]});
            tokio::spawn(async move {
                let r = c.put(&path, body).await;
                (r.status, r.error_type().map(String::from))
            })
        })
        .collect();
    let mut distinct_statuses = Vec::new();
    for t in distinct {
        distinct_statuses.push(t.await.expect("task"));
    }
    let mut same_outcomes = Vec::new();
    for t in same {
        same_outcomes.push(t.await.expect("task"));
    }
    let ports = server
        .admin()
        .get(&format!(
            "/v2.0/ports?device_id={id}&device_owner=network:router_interface"
        ))
        .await;
    let on_contested = server
        .admin()
        .get(&format!(
            "/v2.0/ports?network_id={}",
            s(&contested, "network_id")
        ))
        .await;

    assert!(
        distinct_statuses.iter().all(|s| *s == 200),
        "{distinct_statuses:?}"
    );
    let won = same_outcomes.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(won, 1, "{same_outcomes:?}");
    assert!(
        same_outcomes
            .iter()
            .filter(|(s, _)| *s != 200)
            .all(
                |(s, kind)| (*s == 400 && kind.as_deref() == Some("BadRequest"))
                    || (*s == 409 && kind.as_deref() == Some("IpAddressAlreadyAllocated"))
            ),
        "{same_outcomes:?}"
    );
    assert_eq!(ports.items("ports").len(), 33);
    // The losers' ports were deleted again.
    assert_eq!(on_contested.items("ports").len(), 1);
    server.stop().await;
}
