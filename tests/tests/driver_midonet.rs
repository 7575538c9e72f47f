//! The `midonet` driver and networking-midonet's `midonet` and `uplink` type drivers,
//! against a fake MidoNet API (login with a session cookie, `X-Auth-Token`, discovery
//! documents, vendor media types): what each API call sends, the state MidoNet ends
//! with, which networks it leaves alone, binding, session expiry, 32 concurrent clients.

use std::time::Duration;

use neutrino_runtime::DriverSettings;
use neutrino_tests::fakes::midonet::{APPLICATION, Midonet, NEUTRON, ROOT, media_type};
use neutrino_tests::fakes::{FakeServer, Request, journal_settled};
use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

const USER: &str = "midonet-admin";
const PASSWORD: &str = "mido-secret";
const PROJECT: &str = "77777777-7777-7777-7777-777777777777";

async fn midonet() -> FakeServer<Midonet> {
    FakeServer::start(Midonet::new(USER, PASSWORD, PROJECT)).await
}

/// A server with the `midonet` driver for `api`; project networks are `midonet`
/// networks, and `vxlan` remains for provider networks.
async fn server_for(api: &FakeServer<Midonet>) -> TestServer {
    let settings: DriverSettings = serde_json::from_value(json!({
        "grants": ["log", "config", "http", "session"],
        "config": {
            "midonet_uri": format!("{}{ROOT}", api.url()),
            "username": USER,
            "password": PASSWORD,
            "project_id": PROJECT,
        },
        "http": {"allow": [api.url()]},
    }))
    .expect("driver settings");
    TestServer::with_config(|c| {
        c.ml2.type_drivers = vec!["midonet".into(), "uplink".into(), "vxlan".into()];
        c.ml2.tenant_network_types = vec!["midonet".into()];
        c.ml2.mechanism_drivers = vec!["midonet".into()];
        c.drivers.settings.insert("midonet".into(), settings);
    })
    .await
}

/// Wait until every change went out (or failed) and return the driver's journal.
async fn settled(server: &TestServer) -> Value {
    journal_settled(&server.admin(), "midonet", Duration::from_secs(120)).await
}

/// `METHOD path-below-/midonet-api` of every request.
fn calls(api: &FakeServer<Midonet>) -> Vec<String> {
    api.requests()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                r.path.strip_prefix(ROOT).unwrap_or(&r.path)
            )
        })
        .collect()
}

fn find(api: &FakeServer<Midonet>, method: &str, path: &str) -> Request {
    api.requests()
        .into_iter()
        .find(|r| r.method == method && r.path == format!("{ROOT}{path}"))
        .unwrap_or_else(|| panic!("no {method} {path} in {:?}", calls(api)))
}

#[tokio::test]
async fn project_networks_are_midonet_networks_without_physical_network_or_segmentation_id() {
    let api = midonet().await;
    let server = server_for(&api).await;
    let c = server.admin();

    let net = c.network("n").await;
    let uplink = c
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "uplink"}}),
        )
        .await;
    let with_physnet = c
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "midonet", "provider:physical_network": "physnet1"}}),
        )
        .await;
    let with_id = c
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "uplink", "provider:segmentation_id": 7}}),
        )
        .await;

    assert_eq!(net["provider:network_type"], "midonet");
    assert_eq!(net["provider:physical_network"], Value::Null);
    assert_eq!(net["provider:segmentation_id"], Value::Null);
    assert_eq!(uplink.status, 201, "{:?}", uplink.body);
    assert_eq!(uplink.body["network"]["provider:network_type"], "uplink");
    let m = with_physnet.expect_error(400, "InvalidInput");
    assert!(
        m.contains("physical_network prohibited for midonet provider network"),
        "{m}"
    );
    let m = with_id.expect_error(400, "InvalidInput");
    assert!(
        m.contains("segmentation_id prohibited for uplink provider network"),
        "{m}"
    );
    // Two midonet networks need no id from a pool: any number can exist.
    let second = c.network("n2").await;
    assert_eq!(second["provider:network_type"], "midonet");
    server.stop().await;
}

#[tokio::test]
async fn network_subnet_and_port_changes_reach_midonet_as_neutron_dicts_with_its_media_types() {
    let api = midonet().await;
    let server = server_for(&api).await;
    let c = server.admin();

    let net = c.network("web").await;
    let net_id = s(&net, "id").to_string();
    let subnet = c.subnet(&net_id, "10.0.0.0/24").await;
    let subnet_id = s(&subnet, "id").to_string();
    let port = c.port(&net_id, json!({"name": "vm-1"})).await;
    let port_id = s(&port, "id").to_string();
    let renamed = c
        .put(
            &format!("/v2.0/networks/{net_id}"),
            json!({"network": {"name": "web-2"}}),
        )
        .await;
    assert_eq!(renamed.status, 200);
    let u = c
        .put(
            &format!("/v2.0/subnets/{subnet_id}"),
            json!({"subnet": {"name": "sn"}}),
        )
        .await;
    assert_eq!(u.status, 200);
    let u = c
        .put(
            &format!("/v2.0/ports/{port_id}"),
            json!({"port": {"name": "vm-1b"}}),
        )
        .await;
    assert_eq!(u.status, 200);
    settled(&server).await;

    // The bodies are Neutron's dicts as they are.
    assert_eq!(find(&api, "POST", "/neutron/networks").json(), net);
    assert_eq!(find(&api, "POST", "/neutron/subnets").json(), subnet);
    assert_eq!(find(&api, "POST", "/neutron/ports").json(), port);
    assert_eq!(
        find(&api, "PUT", &format!("/neutron/networks/{net_id}")).json(),
        renamed.body["network"]
    );
    assert_eq!(api.backend().stored("networks")[&net_id]["name"], "web-2");
    assert_eq!(api.backend().stored("subnets")[&subnet_id]["name"], "sn");
    assert_eq!(api.backend().stored("ports")[&port_id]["name"], "vm-1b");
    for (method, path, coll) in [
        ("POST", "/neutron/networks".to_string(), "networks"),
        ("POST", "/neutron/subnets".into(), "subnets"),
        ("POST", "/neutron/ports".into(), "ports"),
        ("PUT", format!("/neutron/ports/{port_id}"), "ports"),
    ] {
        let r = find(&api, method, &path);
        assert_eq!(
            r.header("content-type"),
            Some(media_type(coll).as_str()),
            "{method} {path}"
        );
    }

    assert_eq!(
        c.delete(&format!("/v2.0/ports/{port_id}")).await.status,
        204
    );
    assert_eq!(
        c.delete(&format!("/v2.0/subnets/{subnet_id}")).await.status,
        204
    );
    assert_eq!(
        c.delete(&format!("/v2.0/networks/{net_id}")).await.status,
        204
    );
    settled(&server).await;

    // The project's default security group, made by its first port, goes before the port;
    // it does not depend on the subnet, so the two may arrive in either order.
    let mut seen = calls(&api);
    let group = seen
        .iter()
        .position(|c| c == "POST /neutron/security_groups")
        .expect("the default group reached MidoNet");
    let first_port = seen
        .iter()
        .position(|c| c == "POST /neutron/ports")
        .unwrap();
    assert!(group < first_port, "{seen:?}");
    seen.remove(group);
    assert_eq!(
        seen,
        vec![
            "POST /login".to_string(),
            "GET ".into(),
            "GET /neutron".into(),
            "POST /neutron/networks".into(),
            "POST /neutron/subnets".into(),
            "POST /neutron/ports".into(),
            format!("PUT /neutron/networks/{net_id}"),
            format!("PUT /neutron/subnets/{subnet_id}"),
            format!("PUT /neutron/ports/{port_id}"),
            format!("DELETE /neutron/ports/{port_id}"),
            format!("DELETE /neutron/subnets/{subnet_id}"),
            format!("DELETE /neutron/networks/{net_id}"),
        ],
        "one login and one discovery, then one call per change"
    );
    let login = find(&api, "POST", "/login");
    assert_eq!(
        login.header("authorization"),
        Some(neutrino_tests::fakes::server::basic(USER, PASSWORD).as_str())
    );
    assert_eq!(login.header("x-auth-project"), Some(PROJECT));
    assert_eq!(find(&api, "GET", "").header("accept"), Some(APPLICATION));
    assert_eq!(
        find(&api, "GET", "/neutron").header("accept"),
        Some(NEUTRON)
    );
    for coll in ["networks", "subnets", "ports"] {
        assert!(api.backend().stored(coll).is_empty(), "{coll} left");
    }
    server.stop().await;
}

#[tokio::test]
async fn networks_of_other_types_and_their_ports_are_left_alone() {
    let api = midonet().await;
    let server = server_for(&api).await;
    let c = server.admin();

    let vxlan = c
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "vxlan"}}),
        )
        .await;
    assert_eq!(vxlan.status, 201, "{:?}", vxlan.body);
    let net_id = s(&vxlan.body["network"], "id").to_string();
    c.subnet(&net_id, "10.1.0.0/24").await;
    // No security group: the project's default group would reach MidoNet, which takes
    // every group whatever the network.
    let port = c
        .port(
            &net_id,
            json!({"binding:host_id": "compute-1", "security_groups": []}),
        )
        .await;
    assert_eq!(
        c.delete(&format!("/v2.0/networks/{net_id}")).await.status,
        409
    );
    let journal = settled(&server).await;

    assert_eq!(
        journal["delivered"], 4,
        "network, subnet, port, the port's binding: delivered, nothing sent: {journal}"
    );
    assert!(api.requests().is_empty(), "{:?}", calls(&api));
    assert_eq!(
        port["binding:vif_type"], "binding_failed",
        "not a midonet segment"
    );
    server.stop().await;
}

#[tokio::test]
async fn ports_of_midonet_networks_bind_at_once_with_vif_type_midonet() {
    let api = midonet().await;
    let server = server_for(&api).await;
    let c = server.admin();
    let net = c.network("n").await;

    let port = c
        .port(s(&net, "id"), json!({"binding:host_id": "compute-1"}))
        .await;

    assert_eq!(port["binding:vif_type"], "midonet", "{port}");
    assert_eq!(
        port["binding:vif_details"],
        json!({"port_filter": true, "connectivity": "l2"})
    );
    assert_eq!(port["status"], "ACTIVE");
    settled(&server).await;
    let stored = &api.backend().stored("ports")[s(&port, "id")];
    assert_eq!(
        stored["binding:host_id"], "compute-1",
        "the binding is sent as an update"
    );
    assert_eq!(stored["binding:vif_type"], "midonet");
    server.stop().await;
}

#[tokio::test]
async fn security_groups_and_rules_reach_midonet_and_a_group_update_sends_nothing() {
    let api = midonet().await;
    let server = server_for(&api).await;
    let c = server.admin();

    let g = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "web"}}),
        )
        .await;
    assert_eq!(g.status, 201, "{:?}", g.body);
    let gid = s(&g.body["security_group"], "id").to_string();
    let r = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": gid, "direction": "ingress",
                   "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let rid = s(&r.body["security_group_rule"], "id").to_string();
    let u = c
        .put(
            &format!("/v2.0/security-groups/{gid}"),
            json!({"security_group": {"description": "x"}}),
        )
        .await;
    assert_eq!(u.status, 200);
    settled(&server).await;

    assert_eq!(
        api.backend().stored("security_groups")[&gid],
        g.body["security_group"]
    );
    assert_eq!(
        api.backend().stored("security_group_rules")[&rid],
        r.body["security_group_rule"]
    );
    let created = find(&api, "POST", "/neutron/security_groups");
    assert_eq!(
        created.header("content-type"),
        Some("application/vnd.org.midonet.neutron.SecurityGroup-v1+json")
    );

    assert_eq!(
        c.delete(&format!("/v2.0/security-group-rules/{rid}"))
            .await
            .status,
        204
    );
    assert_eq!(
        c.delete(&format!("/v2.0/security-groups/{gid}"))
            .await
            .status,
        204
    );
    settled(&server).await;

    let writes: Vec<String> = api.backend().writes().iter().map(|w| w.kind()).collect();
    assert_eq!(
        writes,
        vec![
            // The project's default group, made before `web`, then `web`.
            "POST security_groups",
            "POST security_groups",
            "POST security_group_rules",
            "DELETE security_group_rules",
            "DELETE security_groups",
        ]
    );
    let default = c.get("/v2.0/security-groups?name=default").await;
    let default_id = s(&default.items("security_groups")[0], "id").to_string();
    let stored = api.backend().stored("security_groups");
    assert_eq!(stored.keys().collect::<Vec<_>>(), vec![&default_id]);
    server.stop().await;
}

#[tokio::test]
async fn an_expired_session_logs_in_again_once_and_the_call_goes_through() {
    let api = midonet().await;
    let server = server_for(&api).await;
    let c = server.admin();
    c.network("before").await;
    settled(&server).await;
    assert_eq!(api.backend().logins(), 1);

    api.backend().expire_sessions();
    api.clear_requests();
    let net = c.network("after").await;
    settled(&server).await;

    assert_eq!(api.backend().logins(), 2);
    assert_eq!(
        calls(&api),
        vec![
            "POST /neutron/networks",
            "POST /login",
            "POST /neutron/networks"
        ],
        "refused once (401), logged in, sent again"
    );
    assert!(api.backend().stored("networks").contains_key(s(&net, "id")));
    server.stop().await;
}

#[tokio::test]
async fn an_api_refusing_every_token_gets_one_new_login_and_the_entry_fails_for_good() {
    let api = midonet().await;
    let server = server_for(&api).await;
    let c = server.admin();
    c.network("before").await;
    settled(&server).await;

    api.backend().refuse_tokens(true);
    api.clear_requests();
    let net = c.network("refused").await;
    let journal = settled(&server).await;

    assert_eq!(
        calls(&api),
        vec![
            "POST /neutron/networks",
            "POST /login",
            "POST /neutron/networks"
        ],
        "refused, one new login, refused again: no loop"
    );
    assert_eq!(journal["failed"], 1, "{journal}");
    let entry = &journal["entries"][0];
    assert_eq!(entry["resource_id"], s(&net, "id"));
    assert_eq!(entry["attempts"], 1, "a 401 is not retried: {entry}");
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_clients_creating_ports_at_once_log_in_once_and_all_reach_midonet() {
    let api = midonet().await;
    let server = server_for(&api).await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let net_id = s(&net, "id").to_string();
    settled(&server).await;
    api.backend().expire_sessions();

    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let c: Client = c.clone();
            let net_id = net_id.clone();
            tokio::spawn(async move { c.port(&net_id, json!({"name": format!("port-{i}")})).await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(s(&t.await.unwrap(), "id").to_string());
    }
    settled(&server).await;

    ids.sort();
    assert_eq!(
        api.backend()
            .stored("ports")
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        ids
    );
    assert_eq!(
        api.backend().logins(),
        2,
        "one login at start, one after the expiry"
    );
    server.stop().await;
}

#[tokio::test]
async fn new_addresses_for_a_dhcp_port_are_refused_as_networking_midonet_does() {
    let api = midonet().await;
    let server = server_for(&api).await;
    let c = server.admin();
    let (net, subnet) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let dhcp = c
        .port(s(&net, "id"), json!({"device_owner": "network:dhcp"}))
        .await;
    let vm = c
        .port(s(&net, "id"), json!({"device_owner": "compute:nova"}))
        .await;
    let readdress = |ip: &str| json!({"port": {"fixed_ips": [{"subnet_id": s(&subnet, "id"), "ip_address": ip}]}});

    let refused = c
        .put(
            &format!("/v2.0/ports/{}", s(&dhcp, "id")),
            readdress("10.0.0.200"),
        )
        .await;
    let moved = c
        .put(
            &format!("/v2.0/ports/{}", s(&vm, "id")),
            readdress("10.0.0.201"),
        )
        .await;

    let m = refused.expect_error(409, "MechanismDriverError");
    assert!(
        m.contains("fixed_ips update is not supported for device_owner network:dhcp"),
        "{m}"
    );
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    let kept = c.get(&format!("/v2.0/ports/{}", s(&dhcp, "id"))).await;
    assert_eq!(kept.body["port"]["fixed_ips"], dhcp["fixed_ips"]);
    settled(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn an_api_refusing_connections_while_ports_are_created_gets_them_all_once_it_is_back() {
    let api = midonet().await;
    let server = server_for(&api).await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    settled(&server).await;

    api.refuse_connections();
    let mut ids = Vec::new();
    for i in 0..20 {
        let port = c
            .port(s(&net, "id"), json!({"name": format!("port-{i}")}))
            .await;
        ids.push(s(&port, "id").to_string());
    }
    assert!(api.backend().stored("ports").is_empty());
    api.accept_connections().await;
    let journal = settled(&server).await;

    assert_eq!(journal["failed"], 0, "{journal}");
    ids.sort();
    assert_eq!(
        api.backend()
            .stored("ports")
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        ids
    );
    let posts = api
        .backend()
        .writes()
        .iter()
        .filter(|w| w.kind() == "POST ports")
        .count();
    assert_eq!(posts, 20, "each port created once");
    server.stop().await;
}
