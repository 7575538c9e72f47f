//! Floating IPs: an address on an external network with a port of its own, associated with
//! a fixed IP behind a router whose gateway is on that network; Neutron's association rules
//! and errors, `port_details`, pools, and 32 clients taking addresses from one /24.

use std::collections::HashSet;

use neutrino_tests::{Client, TestServer, ips, s};
use serde_json::{Value, json};

const ALICE: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BOB: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A project's topology: an external network (admin), a private network and subnet, a
/// router with its gateway on the external network and an interface on the subnet.
struct Topology {
    ext: Value,
    ext_subnet: Value,
    net: Value,
    subnet: Value,
    router: Value,
}

async fn topology(admin: &Client, user: &Client, ext_cidr: &str, cidr: &str) -> Topology {
    let r = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "public", "router:external": true}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ext = r.body["network"].clone();
    let ext_subnet = admin.subnet(s(&ext, "id"), ext_cidr).await;
    let (net, subnet) = user.network_with_subnet("private", cidr).await;
    let r = user
        .post(
            "/v2.0/routers",
            json!({"router": {"external_gateway_info": {"network_id": ext["id"]}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let router = r.body["router"].clone();
    let added = user
        .put(
            &format!("/v2.0/routers/{}/add_router_interface", s(&router, "id")),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    Topology {
        ext,
        ext_subnet,
        net,
        subnet,
        router,
    }
}

async fn fip(c: &Client, body: Value) -> Value {
    let r = c
        .post("/v2.0/floatingips", json!({ "floatingip": body }))
        .await;
    assert_eq!(r.status, 201, "create floating IP: {}", r.body);
    r.body["floatingip"].clone()
}

#[tokio::test]
async fn a_floating_ip_has_its_own_port_and_neutrons_attributes() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let t = topology(&admin, &alice, "172.24.4.0/24", "10.0.0.0/24").await;
    let f = fip(&alice, json!({"floating_network_id": t.ext["id"]})).await;
    let ports = admin
        .get(&format!("/v2.0/ports?device_id={}", s(&f, "id")))
        .await;
    let pools = alice.get_ok("/v2.0/floatingip_pools").await;

    assert_eq!(f["floating_network_id"], t.ext["id"]);
    assert_eq!(f["project_id"], ALICE);
    assert_eq!(f["status"], "DOWN");
    assert_eq!(f["port_id"], Value::Null);
    assert_eq!(f["fixed_ip_address"], Value::Null);
    assert_eq!(f["router_id"], Value::Null);
    assert_eq!(f["port_details"], Value::Null);
    assert_eq!(f["revision_number"], 0);
    assert!(f.get("subnet_id").is_none(), "{f}");
    let port = &ports.items("ports")[0];
    assert_eq!(port["device_owner"], "network:floatingip");
    assert_eq!(ips(port), vec![s(&f, "floating_ip_address").to_string()]);
    let pool = &pools["floatingip_pools"][0];
    assert_eq!(pool["subnet_id"], t.ext_subnet["id"]);
    assert_eq!(pool["network_id"], t.ext["id"]);
    assert_eq!(pool["cidr"], "172.24.4.0/24");
    server.stop().await;
}

#[tokio::test]
async fn associating_finds_the_router_and_port_details_follow() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let t = topology(&admin, &alice, "172.24.4.0/24", "10.0.0.0/24").await;
    let port = alice
        .port(s(&t.net, "id"), json!({"name": "vm", "device_id": "vm-1"}))
        .await;
    let f = fip(
        &alice,
        json!({"floating_network_id": t.ext["id"], "port_id": port["id"]}),
    )
    .await;
    let path = format!("/v2.0/floatingips/{}", s(&f, "id"));
    let described = alice
        .put(&path, json!({"floatingip": {"description": "kept"}}))
        .await;
    let cleared = alice.put(&path, json!({"floatingip": {}})).await;
    let again = alice
        .put(&path, json!({"floatingip": {"port_id": port["id"]}}))
        .await;
    let nulled = alice
        .put(&path, json!({"floatingip": {"port_id": null}}))
        .await;
    let by_port = alice
        .get(&format!("/v2.0/floatingips?port_id={}", s(&port, "id")))
        .await;

    assert_eq!(f["port_id"], port["id"]);
    assert_eq!(f["fixed_ip_address"], json!(ips(&port)[0]));
    assert_eq!(f["router_id"], t.router["id"]);
    assert_eq!(
        f["port_details"],
        json!({"name": "vm", "network_id": t.net["id"], "mac_address": port["mac_address"],
               "admin_state_up": true, "status": port["status"], "device_id": "vm-1",
               "device_owner": ""})
    );
    assert_eq!(described.body["floatingip"]["port_id"], port["id"]);
    assert_eq!(described.body["floatingip"]["description"], "kept");
    assert_eq!(cleared.body["floatingip"]["port_id"], Value::Null);
    assert_eq!(cleared.body["floatingip"]["router_id"], Value::Null);
    assert_eq!(again.body["floatingip"]["router_id"], t.router["id"]);
    assert_eq!(nulled.body["floatingip"]["fixed_ip_address"], Value::Null);
    assert!(by_port.items("floatingips").is_empty(), "{}", by_port.body);
    server.stop().await;
}

#[tokio::test]
async fn association_errors_are_neutrons() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let t = topology(&admin, &alice, "172.24.4.0/24", "10.0.0.0/24").await;
    let (lonely_net, lonely_subnet) = alice.network_with_subnet("lonely", "10.9.0.0/24").await;
    let lonely = alice.port(s(&lonely_net, "id"), json!({})).await;
    let port = alice.port(s(&t.net, "id"), json!({})).await;
    let two = alice
        .port(
            s(&t.net, "id"),
            json!({"fixed_ips": [{"subnet_id": t.subnet["id"]}, {"subnet_id": t.subnet["id"]}]}),
        )
        .await;
    let internal = alice.network("not-external").await;

    let unreachable = alice
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext["id"], "port_id": lonely["id"]}}),
        )
        .await;
    let not_external = alice
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": internal["id"]}}),
        )
        .await;
    let multiple = alice
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext["id"], "port_id": two["id"]}}),
        )
        .await;
    let chosen = alice
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext["id"], "port_id": two["id"],
                   "fixed_ip_address": ips(&two)[1]}}),
        )
        .await;
    let not_on_port = alice
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext["id"], "port_id": port["id"],
                   "fixed_ip_address": "10.0.0.250"}}),
        )
        .await;
    let without_port = alice
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext["id"], "fixed_ip_address": "10.0.0.9"}}),
        )
        .await;
    let first = fip(
        &alice,
        json!({"floating_network_id": t.ext["id"], "port_id": port["id"]}),
    )
    .await;
    let second = alice
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext["id"], "port_id": port["id"]}}),
        )
        .await;
    let bobs = server
        .project(BOB)
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext["id"], "port_id": port["id"]}}),
        )
        .await;
    let remove_interface = alice
        .put(
            &format!(
                "/v2.0/routers/{}/remove_router_interface",
                s(&t.router, "id")
            ),
            json!({"subnet_id": t.subnet["id"]}),
        )
        .await;
    let clear_gateway = alice
        .put(
            &format!("/v2.0/routers/{}", s(&t.router, "id")),
            json!({"router": {"external_gateway_info": null}}),
        )
        .await;
    let fips_left = alice.get("/v2.0/floatingips").await;
    let ports_left = admin
        .get(&format!(
            "/v2.0/ports?network_id={}&device_owner=network:floatingip",
            s(&t.ext, "id")
        ))
        .await;

    assert_eq!(
        unreachable.expect_error(404, "ExternalGatewayForFloatingIPNotFound"),
        format!(
            "External network {} is not reachable from subnet {}.  Therefore, cannot associate \
             Port {} with a Floating IP.",
            s(&t.ext, "id"),
            s(&lonely_subnet, "id"),
            s(&lonely, "id")
        )
    );
    assert_eq!(
        not_external.expect_error(400, "BadRequest"),
        format!(
            "Bad floatingip request: Network {} is not a valid external network.",
            s(&internal, "id")
        )
    );
    assert_eq!(
        multiple.expect_error(400, "BadRequest"),
        format!(
            "Bad floatingip request: Port {} has multiple fixed IPv4 addresses.  Must provide a \
             specific IPv4 address when assigning a floating IP.",
            s(&two, "id")
        )
    );
    assert_eq!(chosen.status, 201, "{}", chosen.body);
    assert_eq!(
        chosen.body["floatingip"]["fixed_ip_address"],
        json!(ips(&two)[1])
    );
    assert_eq!(
        not_on_port.expect_error(400, "BadRequest"),
        format!(
            "Bad floatingip request: Port {} does not have fixed ip 10.0.0.250.",
            s(&port, "id")
        )
    );
    assert_eq!(
        without_port.expect_error(400, "BadRequest"),
        "Bad floatingip request: fixed_ip_address cannot be specified without a port_id."
    );
    let msg = second.expect_error(409, "FloatingIPPortAlreadyAssociated");
    assert!(
        msg.ends_with(&format!(
            "with port {} using fixed IP {}, as that fixed IP already has a floating IP on \
             external network {}.",
            s(&port, "id"),
            s(&first, "fixed_ip_address"),
            s(&t.ext, "id")
        )),
        "{msg}"
    );
    bobs.expect_error(404, "PortNotFound");
    remove_interface.expect_error(409, "RouterInterfaceInUseByFloatingIP");
    clear_gateway.expect_error(409, "RouterExternalGatewayInUseByFloatingIp");
    // Failed creates leave neither a floating IP nor a port behind.
    assert_eq!(fips_left.items("floatingips").len(), 2);
    assert_eq!(ports_left.items("ports").len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn deleting_the_port_disassociates_and_deleting_the_fip_frees_its_port() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let t = topology(&admin, &alice, "172.24.4.0/24", "10.0.0.0/24").await;
    let port = alice.port(s(&t.net, "id"), json!({})).await;
    let f = fip(
        &alice,
        json!({"floating_network_id": t.ext["id"], "port_id": port["id"]}),
    )
    .await;
    let path = format!("/v2.0/floatingips/{}", s(&f, "id"));
    let fip_port = admin
        .get(&format!("/v2.0/ports?device_id={}", s(&f, "id")))
        .await
        .items("ports")[0]
        .clone();
    let direct = admin
        .delete(&format!("/v2.0/ports/{}", s(&fip_port, "id")))
        .await;
    alice
        .delete(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    let after = alice.get_ok(&path).await;
    let deleted = alice.delete(&path).await;
    let gone = alice.get(&path).await;
    let fip_port_gone = admin
        .get(&format!("/v2.0/ports/{}", s(&fip_port, "id")))
        .await;

    direct.expect_error(409, "ServicePortInUse");
    assert_eq!(after["floatingip"]["port_id"], Value::Null);
    assert_eq!(after["floatingip"]["fixed_ip_address"], Value::Null);
    assert_eq!(after["floatingip"]["router_id"], Value::Null);
    assert_eq!(after["floatingip"]["revision_number"], 1);
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    gone.expect_error(404, "FloatingIPNotFound");
    fip_port_gone.expect_error(404, "PortNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_chosen_address_or_subnet_and_the_managers_rule() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let t = topology(&admin, &alice, "172.24.4.0/24", "10.0.0.0/24").await;
    let chosen = fip(
        &admin,
        json!({"floating_network_id": t.ext["id"], "floating_ip_address": "172.24.4.200"}),
    )
    .await;
    let taken = admin
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext["id"], "floating_ip_address": "172.24.4.200"}}),
        )
        .await;
    let member = alice
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext["id"], "floating_ip_address": "172.24.4.201"}}),
        )
        .await;
    let by_subnet = fip(
        &alice,
        json!({"floating_network_id": t.ext["id"], "subnet_id": t.ext_subnet["id"]}),
    )
    .await;

    assert_eq!(chosen["floating_ip_address"], "172.24.4.200");
    taken.expect_error(409, "IpAddressAlreadyAllocated");
    assert_eq!(
        member.expect_error(403, "PolicyNotAuthorized"),
        "(rule:create_floatingip and rule:create_floatingip:floating_ip_address) is disallowed by policy"
    );
    assert!(s(&by_subnet, "floating_ip_address").starts_with("172.24.4."));
    server.stop().await;
}

#[tokio::test]
async fn deleting_the_external_network_takes_unassociated_floating_ips() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let r = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "public", "router:external": true}}),
        )
        .await;
    let ext = r.body["network"].clone();
    admin.subnet(s(&ext, "id"), "172.24.4.0/24").await;
    let f = fip(&admin, json!({"floating_network_id": ext["id"]})).await;
    let deleted = admin
        .delete(&format!("/v2.0/networks/{}", s(&ext, "id")))
        .await;
    let gone = admin
        .get(&format!("/v2.0/floatingips/{}", s(&f, "id")))
        .await;

    assert_eq!(deleted.status, 204, "{}", deleted.body);
    gone.expect_error(404, "FloatingIPNotFound");
    server.stop().await;
}

#[tokio::test]
async fn floating_ips_count_against_the_quota() {
    let server = TestServer::with_config(|c| c.quotas.quota_floatingip = 1).await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let t = topology(&admin, &alice, "172.24.4.0/24", "10.0.0.0/24").await;
    fip(&alice, json!({"floating_network_id": t.ext["id"]})).await;
    let second = alice
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext["id"]}}),
        )
        .await;
    let fip_ports = admin
        .get("/v2.0/ports?device_owner=network:floatingip")
        .await;

    second.expect_error(409, "OverQuota");
    assert_eq!(fip_ports.items("ports").len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_clients_create_and_associate_without_sharing_an_address() {
    let server = TestServer::with_config(|c| c.quotas.quota_floatingip = -1).await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let t = topology(&admin, &alice, "172.24.4.0/24", "10.0.0.0/22").await;
    let mut ports = Vec::new();
    for _ in 0..32 {
        ports.push(alice.port(s(&t.net, "id"), json!({})).await);
    }
    let tasks: Vec<_> = ports
        .iter()
        .map(|p| {
            let c = alice.clone();
            let ext = t.ext["id"].clone();
            let port = p["id"].clone();
            tokio::spawn(async move {
                // Each client creates one floating IP with the port and one without, then
                // associates the second with the same port (which must be refused).
                let a = c
                    .post(
                        "/v2.0/floatingips",
                        json!({"floatingip": {"floating_network_id": ext, "port_id": port}}),
                    )
                    .await;
                let b = c
                    .post(
                        "/v2.0/floatingips",
                        json!({"floatingip": {"floating_network_id": ext}}),
                    )
                    .await;
                let bid = b.body["floatingip"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let moved = c
                    .put(
                        &format!("/v2.0/floatingips/{bid}"),
                        json!({"floatingip": {"port_id": port}}),
                    )
                    .await;
                (a.status, b.status, moved.status, a.body, b.body)
            })
        })
        .collect();
    let mut addresses = Vec::new();
    for task in tasks {
        let (a, b, moved, abody, bbody) = task.await.expect("task");
        assert_eq!((a, b, moved), (201, 201, 409), "{abody} {bbody}");
        addresses.push(s(&abody["floatingip"], "floating_ip_address").to_string());
        addresses.push(s(&bbody["floatingip"], "floating_ip_address").to_string());
    }
    let listed = alice.get("/v2.0/floatingips").await;
    let associated: Vec<&Value> = listed
        .items("floatingips")
        .iter()
        .filter(|f| !f["port_id"].is_null())
        .collect();

    let unique: HashSet<&String> = addresses.iter().collect();
    assert_eq!(addresses.len(), 64);
    assert_eq!(unique.len(), 64, "an address was handed out twice");
    assert_eq!(listed.items("floatingips").len(), 64);
    assert_eq!(associated.len(), 32);
    let ports_used: HashSet<&str> = associated
        .iter()
        .map(|f| f["port_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ports_used.len(), 32);
    server.stop().await;
}

#[tokio::test]
async fn the_associated_address_of_a_port_cannot_change() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let t = topology(&admin, &alice, "172.24.4.0/24", "10.0.0.0/24").await;
    let port = alice.port(s(&t.net, "id"), json!({})).await;
    let f = fip(
        &alice,
        json!({"floating_network_id": t.ext["id"], "port_id": port["id"]}),
    )
    .await;
    let path = format!("/v2.0/ports/{}", s(&port, "id"));
    let moved = alice
        .put(
            &path,
            json!({"port": {"fixed_ips": [{"subnet_id": t.subnet["id"], "ip_address": "10.0.0.77"}]}}),
        )
        .await;
    let kept = alice
        .put(
            &path,
            json!({"port": {"fixed_ips": [
                {"subnet_id": t.subnet["id"], "ip_address": f["fixed_ip_address"]},
                {"subnet_id": t.subnet["id"], "ip_address": "10.0.0.78"}]}}),
        )
        .await;

    assert_eq!(
        moved.expect_error(400, "BadRequest"),
        format!(
            "Bad port request: Cannot update the fixed_ips of the port {}, because its original \
             fixed_ip has been associated to a floating ip.",
            s(&port, "id")
        )
    );
    assert_eq!(kept.status, 200, "{}", kept.body);
    server.stop().await;
}
