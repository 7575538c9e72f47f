//! The `opendaylight` driver against a fake OpenDaylight speaking the neutron northbound
//! (Basic auth, `POST/PUT/DELETE <collection>`) and RESTCONF host configurations: what
//! each API call sends, with networking-odl v2's bodies; the state ODL ends with; binding
//! from host configurations; the canary full resync (from a change, and from `periodic`);
//! 32 concurrent clients; and, through the journal, an ODL refusing connections while 100
//! ports are created, also across a server restart.

use std::time::Duration;

use neutrino_runtime::DriverSettings;
use neutrino_tests::fakes::odl::{CANARY, HOSTCONFIGS, NORTHBOUND, Odl};
use neutrino_tests::fakes::{FakeServer, Request, journal_settled};
use neutrino_tests::{Client, TestDb, TestServer, s};
use serde_json::{Value, json};

const USER: &str = "admin";
const PASSWORD: &str = "odl-secret";

/// A server whose only mechanism driver is `opendaylight`, configured for `odl` with
/// `config` added to the required settings.
async fn server_for(odl: &FakeServer<Odl>, config: Value) -> TestServer {
    let tweak = configure(odl, config);
    TestServer::with_config(tweak).await
}

/// Wait until every change went out (or failed) and return the driver's journal.
async fn settled(server: &TestServer) -> Value {
    journal_settled(&server.admin(), "opendaylight", Duration::from_secs(120)).await
}

/// The configuration change that makes `opendaylight` the only driver, for `odl`.
fn configure(odl: &FakeServer<Odl>, config: Value) -> impl FnOnce(&mut neutrino_server::Config) {
    let mut settings = json!({
        "url": format!("{}{NORTHBOUND}", odl.url()),
        "username": USER,
        "password": PASSWORD,
    });
    if let Value::Object(extra) = config {
        for (k, v) in extra {
            settings[k] = v;
        }
    }
    let settings: DriverSettings = serde_json::from_value(json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": settings,
        "http": {"allow": [odl.url()]},
    }))
    .expect("driver settings");
    move |c| {
        c.ml2.mechanism_drivers = vec!["opendaylight".into()];
        c.drivers.settings.insert("opendaylight".into(), settings);
    }
}

/// `METHOD path-below-the-northbound` of the requests that changed something.
fn writes(odl: &FakeServer<Odl>) -> Vec<String> {
    odl.requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| {
            let path = r.path.strip_prefix(NORTHBOUND).unwrap_or(&r.path);
            format!("{} {path}", r.method)
        })
        .collect()
}

/// [`writes`] without those of security group `group` and its rules (delivered beside
/// the others, in no fixed order relative to them).
fn writes_but_group(odl: &FakeServer<Odl>, group: &str) -> Vec<String> {
    odl.requests()
        .iter()
        .filter(|r| r.method != "GET")
        .filter(|r| {
            let body = r.json();
            body["security_group"]["id"] != group
                && body["security_group_rule"]["security_group_id"] != group
        })
        .map(|r| {
            let path = r.path.strip_prefix(NORTHBOUND).unwrap_or(&r.path);
            format!("{} {path}", r.method)
        })
        .collect()
}

/// The writes of security group `group` and its rules.
fn writes_of_group(odl: &FakeServer<Odl>, group: &str) -> Vec<String> {
    let mut out = writes(odl);
    for w in writes_but_group(odl, group) {
        let i = out.iter().position(|o| *o == w).unwrap();
        out.remove(i);
    }
    out
}

fn last_body(odl: &FakeServer<Odl>, method: &str, path_end: &str) -> Value {
    let requests: Vec<Request> = odl
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.ends_with(path_end))
        .collect();
    requests
        .last()
        .unwrap_or_else(|| panic!("no {method} …{path_end}"))
        .json()
}

fn ovs_host() -> Value {
    json!({
        "supported_vnic_types": [{"vnic_type": "normal", "vif_type": "ovs",
                                  "vif_details": {"port_filter": true, "bridge_name": "br-int"}}],
        "allowed_network_types": ["local", "vlan", "vxlan", "gre"],
        "bridge_mappings": {"physnet1": "br-ex"},
    })
}

#[tokio::test]
async fn network_subnet_and_port_changes_reach_odl_with_networking_odls_bodies() {
    let odl = FakeServer::start(Odl::synced(USER, PASSWORD)).await;
    let server = server_for(&odl, json!({})).await;
    let c = server.admin();

    let net = c.network("web").await;
    let net_id = s(&net, "id").to_string();
    let subnet = c.subnet(&net_id, "10.0.0.0/24").await;
    let subnet_id = s(&subnet, "id").to_string();
    // `binding:profile` is for services (Nova): policy `create_port:binding:profile`.
    let nova = Client::new(
        &server.url,
        Some(("services".into(), "admin,service".into())),
    );
    let port = nova
        .port(
            &net_id,
            json!({"name": "vm-1", "binding:profile": {"pci_slot": "0000:00:1f.0"}}),
        )
        .await;
    let port_id = s(&port, "id").to_string();
    let u = c
        .put(
            &format!("/v2.0/networks/{net_id}"),
            json!({"network": {"name": "web-2"}}),
        )
        .await;
    assert_eq!(u.status, 200, "{:?}", u.body);
    let u = c
        .put(
            &format!("/v2.0/subnets/{subnet_id}"),
            json!({"subnet": {"name": "sn"}}),
        )
        .await;
    assert_eq!(u.status, 200, "{:?}", u.body);
    let u = c
        .put(
            &format!("/v2.0/ports/{port_id}"),
            json!({"port": {"name": "vm-1b"}}),
        )
        .await;
    assert_eq!(u.status, 200, "{:?}", u.body);
    settled(&server).await;

    // What ODL stores mirrors Neutron.
    assert_eq!(odl.backend().stored("networks")[&net_id]["name"], "web-2");
    assert_eq!(odl.backend().stored("subnets")[&subnet_id]["name"], "sn");
    assert_eq!(odl.backend().stored("ports")[&port_id]["name"], "vm-1b");

    // The bodies are filtered as networking-odl's are.
    let created = last_body(&odl, "POST", "/networks")["network"].clone();
    assert_eq!(created["id"], net_id.as_str());
    assert_eq!(created["tenant_id"], created["project_id"]);
    assert!(
        created.get("status").is_none() && created.get("subnets").is_none(),
        "{created}"
    );
    let updated = last_body(&odl, "PUT", &format!("/networks/{net_id}"))["network"].clone();
    for gone in ["id", "status", "subnets", "tenant_id", "project_id"] {
        assert!(updated.get(gone).is_none(), "{gone} in {updated}");
    }
    let subnet_update = last_body(&odl, "PUT", &format!("/subnets/{subnet_id}"))["subnet"].clone();
    for gone in [
        "id",
        "network_id",
        "ip_version",
        "cidr",
        "tenant_id",
        "project_id",
    ] {
        assert!(
            subnet_update.get(gone).is_none(),
            "{gone} in {subnet_update}"
        );
    }
    let port_body = last_body(&odl, "POST", "/ports")["port"].clone();
    assert!(port_body.get("status").is_none(), "{port_body}");
    assert_eq!(
        port_body["binding:profile"],
        json!("{\"pci_slot\":\"0000:00:1f.0\"}"),
        "binding:profile goes as a JSON string"
    );
    let default_group = port["security_groups"][0].as_str().unwrap();
    assert_eq!(
        port_body["security_groups"],
        json!([{ "id": default_group }])
    );
    let port_update = last_body(&odl, "PUT", &format!("/ports/{port_id}"))["port"].clone();
    for gone in ["id", "network_id", "status", "tenant_id", "project_id"] {
        assert!(port_update.get(gone).is_none(), "{gone} in {port_update}");
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
    let journal = settled(&server).await;

    assert_eq!(
        (journal["failed"].clone(), journal["delivered"].clone()),
        // With the project's default security group, made by the port.
        (json!(0), json!(10)),
        "{journal}"
    );
    // The project's default group and its four rules, made by the port.
    assert_eq!(
        writes_of_group(&odl, default_group),
        vec![
            "POST /security-groups".to_string(),
            "POST /security-group-rules".into(),
            "POST /security-group-rules".into(),
            "POST /security-group-rules".into(),
            "POST /security-group-rules".into(),
        ]
    );
    assert_eq!(
        writes_but_group(&odl, default_group),
        vec![
            "POST /networks".to_string(),
            "POST /subnets".into(),
            "POST /ports".into(),
            format!("PUT /networks/{net_id}"),
            format!("PUT /subnets/{subnet_id}"),
            format!("PUT /ports/{port_id}"),
            format!("DELETE /ports/{port_id}"),
            format!("DELETE /subnets/{subnet_id}"),
            format!("DELETE /networks/{net_id}"),
        ]
    );
    assert!(odl.backend().stored("ports").is_empty());
    assert!(odl.backend().stored("subnets").is_empty());
    assert_eq!(
        odl.backend().stored("networks").keys().collect::<Vec<_>>(),
        vec![CANARY],
        "only the canary is left"
    );
    let auth = odl.requests()[0]
        .header("authorization")
        .unwrap()
        .to_string();
    assert_eq!(auth, neutrino_tests::fakes::server::basic(USER, PASSWORD));
    server.stop().await;
}

#[tokio::test]
async fn security_groups_and_rules_reach_odl_with_their_protocols_scrubbed() {
    let odl = FakeServer::start(Odl::synced(USER, PASSWORD)).await;
    let server = server_for(&odl, json!({})).await;
    let c = server.admin();

    let g = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "web"}}),
        )
        .await;
    assert_eq!(g.status, 201, "{:?}", g.body);
    let gid = s(&g.body["security_group"], "id").to_string();
    let default_rules: Vec<String> = g.body["security_group"]["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(r, "id").to_string())
        .collect();
    assert_eq!(default_rules.len(), 2, "egress IPv4 and IPv6");
    let rule = |body: Value| {
        let c = c.clone();
        async move {
            let r = c
                .post(
                    "/v2.0/security-group-rules",
                    json!({"security_group_rule": body}),
                )
                .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            s(&r.body["security_group_rule"], "id").to_string()
        }
    };
    let sctp =
        rule(json!({"security_group_id": gid, "direction": "ingress", "protocol": "sctp"})).await;
    let icmp6 = rule(json!({"security_group_id": gid, "direction": "ingress",
                            "ethertype": "IPv6", "protocol": "ipv6-icmp"}))
    .await;
    let u = c
        .put(
            &format!("/v2.0/security-groups/{gid}"),
            json!({"security_group": {"description": "front"}}),
        )
        .await;
    assert_eq!(u.status, 200, "{:?}", u.body);
    settled(&server).await;

    let stored = odl.backend().stored("security-group-rules");
    assert_eq!(stored[&sctp]["protocol"], 132, "sctp goes as its number");
    assert_eq!(stored[&icmp6]["protocol"], "icmpv6");
    assert_eq!(
        odl.backend().stored("security-groups")[&gid]["description"],
        "front"
    );
    for id in &default_rules {
        assert!(
            stored.contains_key(id),
            "default rule {id} sent with its group"
        );
    }

    assert_eq!(
        c.delete(&format!("/v2.0/security-group-rules/{sctp}"))
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
    let journal = settled(&server).await;
    assert_eq!(journal["failed"], 0, "{journal}");

    // The project's default group, made before `web`, is left aside (see below).
    let default = c.get("/v2.0/security-groups?name=default").await;
    let default_id = s(&default.items("security_groups")[0], "id").to_string();
    let mut expected = vec!["POST /security-groups".to_string()];
    expected.extend(
        default_rules
            .iter()
            .map(|_| "POST /security-group-rules".to_string()),
    );
    expected.extend([
        "POST /security-group-rules".to_string(),
        "POST /security-group-rules".into(),
        format!("PUT /security-groups/{gid}"),
        format!("DELETE /security-group-rules/{sctp}"),
    ]);
    let all = writes_but_group(&odl, &default_id);
    assert_eq!(all[..expected.len()], expected[..], "{all:?}");
    // Deleting the group: each of its remaining rules, then the group.
    let tail = &all[expected.len()..];
    let mut remaining = default_rules.clone();
    remaining.push(icmp6.clone());
    assert_eq!(tail.len(), remaining.len() + 1, "{tail:?}");
    assert_eq!(
        tail.last().unwrap(),
        &format!("DELETE /security-groups/{gid}")
    );
    let mut deleted_rules: Vec<String> = tail[..remaining.len()]
        .iter()
        .map(|d| {
            d.strip_prefix("DELETE /security-group-rules/")
                .unwrap_or_else(|| panic!("{d}"))
                .to_string()
        })
        .collect();
    deleted_rules.sort();
    remaining.sort();
    assert_eq!(deleted_rules, remaining);
    assert_eq!(
        odl.backend()
            .stored("security-groups")
            .keys()
            .collect::<Vec<_>>(),
        vec![&default_id],
        "only the default group is left"
    );
    let rules = odl.backend().stored("security-group-rules");
    assert_eq!(rules.len(), 4);
    assert!(
        rules
            .values()
            .all(|r| r["security_group_id"] == default_id.as_str())
    );
    server.stop().await;
}

async fn bound_port(c: &Client, net_id: &str, host: &str, vnic: &str) -> Value {
    c.port(
        net_id,
        json!({"binding:host_id": host, "binding:vnic_type": vnic}),
    )
    .await
}

#[tokio::test]
async fn ports_bind_from_the_host_configurations_odl_publishes() {
    let odl = Odl::synced(USER, PASSWORD);
    odl.set_hostconfig("compute-1", ovs_host());
    odl.set_hostconfig(
        "dpdk-1",
        json!({
            "supported_vnic_types": [{"vnic_type": "normal", "vif_type": "vhostuser",
                "vif_details": {"port_prefix": "vhu", "vhostuser_mode": "server",
                                "vhostuser_socket": "/var/run/openvswitch/vhu$PORT_ID",
                                "vhostuser_ovs_plug": true}}],
            "allowed_network_types": ["vxlan"],
        }),
    );
    odl.set_hostconfig(
        "vlan-only",
        json!({"supported_vnic_types": [{"vnic_type": "normal", "vif_type": "ovs"}],
               "allowed_network_types": ["vlan"]}),
    );
    let odl = FakeServer::start(odl).await;
    let server = server_for(&odl, json!({})).await;
    let c = server.admin();
    let net = c.network("n").await;
    let net_id = s(&net, "id");
    // The network's delivery reads the host configurations first.
    settled(&server).await;

    let ovs = bound_port(&c, net_id, "compute-1", "normal").await;
    let dpdk = bound_port(&c, net_id, "dpdk-1", "normal").await;
    let unknown_host = bound_port(&c, net_id, "compute-9", "normal").await;
    let no_vxlan = bound_port(&c, net_id, "vlan-only", "normal").await;
    let direct = bound_port(&c, net_id, "compute-1", "direct").await;

    assert_eq!(ovs["binding:vif_type"], "ovs", "{ovs}");
    assert_eq!(
        ovs["binding:vif_details"],
        json!({"port_filter": true, "bridge_name": "br-int"})
    );
    assert_eq!(ovs["status"], "ACTIVE");
    assert_eq!(dpdk["binding:vif_type"], "vhostuser", "{dpdk}");
    let dpdk_id = s(&dpdk, "id");
    assert_eq!(
        dpdk["binding:vif_details"]["vhostuser_socket"],
        format!("/var/run/openvswitch/vhu{}", &dpdk_id[..11]),
        "$PORT_ID replaced by the id cut to 14 characters with the prefix"
    );
    for failed in [&unknown_host, &no_vxlan, &direct] {
        assert_eq!(failed["binding:vif_type"], "binding_failed", "{failed}");
    }
    settled(&server).await;
    // ODL hears of the binding: the bound port is sent again with its host.
    let stored = &odl.backend().stored("ports")[s(&ovs, "id")];
    assert_eq!(stored["binding:host_id"], "compute-1");
    assert_eq!(stored["binding:vif_type"], "ovs");
    let hostconfig_reads = odl
        .requests()
        .iter()
        .filter(|r| r.path == HOSTCONFIGS)
        .count();
    assert_eq!(hostconfig_reads, 1, "read once per restconf_poll_interval");
    server.stop().await;
}

#[tokio::test]
async fn an_odl_that_lost_its_state_gets_everything_again_in_dependency_order() {
    // A fresh ODL: the first change finds no canary and syncs what little there is.
    let odl = FakeServer::start(Odl::new(USER, PASSWORD)).await;
    let server = server_for(&odl, json!({"maintenance_interval": 0})).await;
    let c = server.admin();
    let g = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "web"}}),
        )
        .await;
    let gid = s(&g.body["security_group"], "id").to_string();
    let (net, subnet) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let net_id = s(&net, "id").to_string();
    let port = c.port(&net_id, json!({"security_groups": [gid]})).await;
    settled(&server).await;
    assert!(odl.backend().stored("networks").contains_key(CANARY));
    let before: Vec<_> = [
        "security-groups",
        "security-group-rules",
        "networks",
        "subnets",
        "ports",
    ]
    .into_iter()
    .map(|coll| {
        odl.backend()
            .stored(coll)
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    })
    .collect();

    odl.backend().forget_state();
    odl.backend().clear_writes();
    let net2 = c.network("after-the-loss").await;
    settled(&server).await;

    let kinds: Vec<String> = odl.backend().writes().iter().map(|w| w.kind()).collect();
    let first = |k: &str| kinds.iter().position(|w| w == k).unwrap();
    let last = |k: &str| kinds.iter().rposition(|w| w == k).unwrap();
    assert!(
        last("POST security-groups") < first("POST security-group-rules"),
        "{kinds:?}"
    );
    assert!(
        last("POST security-group-rules") < first("POST networks"),
        "{kinds:?}"
    );
    assert!(last("POST subnets") < first("POST ports"), "{kinds:?}");
    let writes = odl.backend().writes();
    assert_eq!(
        writes.last().unwrap().id,
        CANARY,
        "the canary comes last: {writes:?}"
    );
    assert!(
        writes.iter().any(|w| w.id == s(&net2, "id")),
        "the new network was kept before the check and synced with the rest"
    );
    let mut after: Vec<_> = [
        "security-groups",
        "security-group-rules",
        "networks",
        "subnets",
        "ports",
    ]
    .into_iter()
    .map(|coll| {
        odl.backend()
            .stored(coll)
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    })
    .collect();
    after[2].retain(|id| id != s(&net2, "id"));
    assert_eq!(after, before, "everything is back");
    assert_eq!(
        odl.backend().stored("ports")[s(&port, "id")]["fixed_ips"][0]["subnet_id"],
        s(&subnet, "id")
    );
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_clients_creating_ports_at_once_all_reach_odl() {
    let odl = FakeServer::start(Odl::synced(USER, PASSWORD)).await;
    let server = server_for(&odl, json!({})).await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let net_id = s(&net, "id").to_string();

    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let c = c.clone();
            let net_id = net_id.clone();
            tokio::spawn(async move { c.port(&net_id, json!({"name": format!("port-{i}")})).await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(s(&t.await.unwrap(), "id").to_string());
    }
    settled(&server).await;

    let stored = odl.backend().stored("ports");
    ids.sort();
    assert_eq!(stored.keys().cloned().collect::<Vec<_>>(), ids);
    let posts = odl
        .backend()
        .writes()
        .iter()
        .filter(|w| w.kind() == "POST ports")
        .count();
    assert_eq!(posts, 32, "each port sent once");
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_password_fails_the_journal_entry_for_good_and_the_api_call_succeeds() {
    let odl = FakeServer::start(Odl::synced(USER, "another")).await;
    let server = server_for(&odl, json!({})).await;
    let c = server.admin();

    let net = c.network("n").await;
    let journal = settled(&server).await;

    assert_eq!(journal["failed"], 1, "{journal}");
    let entry = &journal["entries"][0];
    assert_eq!(entry["resource_id"], s(&net, "id"));
    assert_eq!(entry["attempts"], 1, "a 401 is not retried: {entry}");
    let error = entry["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("401"), "{error}");
    assert_eq!(odl.backend().stored("networks").len(), 1, "only the canary");
    server.stop().await;
}

/// Create `n` ports on `net_id` from 32 clients at once; every call must succeed.
async fn create_ports(c: &Client, net_id: &str, n: usize) -> Vec<String> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (c, net_id, next) = (c.clone(), net_id.to_string(), next.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= n {
                        return ids;
                    }
                    let port = c.port(&net_id, json!({"name": format!("port-{i}")})).await;
                    ids.push(s(&port, "id").to_string());
                }
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    ids.sort();
    ids
}

/// Each port was created on ODL exactly once, after its network and subnet.
fn assert_created_once_after_their_network(odl: &FakeServer<Odl>, ids: &[String]) {
    let writes = odl.backend().writes();
    let network_at = writes
        .iter()
        .position(|w| w.kind() == "POST networks" && w.id != CANARY)
        .expect("network created");
    let subnet_at = writes
        .iter()
        .position(|w| w.kind() == "POST subnets")
        .expect("subnet created");
    for id in ids {
        let posts: Vec<usize> = writes
            .iter()
            .enumerate()
            .filter(|(_, w)| w.kind() == "POST ports" && w.id == *id)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(posts.len(), 1, "port {id} created {} times", posts.len());
        assert!(
            posts[0] > network_at && posts[0] > subnet_at,
            "port {id} before its network"
        );
    }
}

#[tokio::test]
async fn odl_refusing_connections_while_100_ports_are_created_gets_all_of_them_once_it_is_back() {
    let odl = FakeServer::start(Odl::synced(USER, PASSWORD)).await;
    let server = server_for(&odl, json!({})).await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    settled(&server).await;

    odl.refuse_connections();
    let ids = create_ports(&c, s(&net, "id"), 100).await;
    let during = c.get("/v2.0/mechanism-drivers/opendaylight/journal").await;
    assert!(odl.backend().stored("ports").is_empty(), "ODL was down");
    // With the project's default security group, made by the first port.
    assert_eq!(during.body["journal"]["pending"], 101, "{}", during.body);

    odl.accept_connections().await;
    let journal = settled(&server).await;

    assert_eq!(
        (journal["pending"].clone(), journal["failed"].clone()),
        (json!(0), json!(0)),
        "the journal is empty: {journal}"
    );
    let stored: Vec<String> = odl.backend().stored("ports").keys().cloned().collect();
    assert_eq!(stored, ids, "ODL has all 100");
    assert_created_once_after_their_network(&odl, &ids);
    server.stop().await;
}

#[tokio::test]
async fn a_server_restart_during_an_odl_outage_loses_nothing() {
    let odl = FakeServer::start(Odl::synced(USER, PASSWORD)).await;
    let db = TestDb::new(neutrino_tests::Backend::from_env()).await;
    let server = TestServer::on_db(db, configure(&odl, json!({}))).await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    settled(&server).await;

    odl.refuse_connections();
    let mut ids = create_ports(&c, s(&net, "id"), 20).await;
    let db = server.stop().await;
    let server = TestServer::on_db(db, configure(&odl, json!({}))).await;
    let c = server.admin();
    ids.extend(create_ports(&c, s(&net, "id"), 10).await);
    ids.sort();
    odl.accept_connections().await;
    let journal = settled(&server).await;

    assert_eq!(journal["failed"], 0, "{journal}");
    let stored: Vec<String> = odl.backend().stored("ports").keys().cloned().collect();
    assert_eq!(stored, ids, "ODL has the ports of both runs");
    assert_created_once_after_their_network(&odl, &ids);
    server.stop().await;
}

#[tokio::test]
async fn periodic_resyncs_an_odl_that_lost_its_state_while_nothing_changes() {
    let odl = FakeServer::start(Odl::synced(USER, PASSWORD)).await;
    let server = server_for(&odl, json!({"maintenance_interval": 0})).await;
    let c = server.admin();
    let (net, subnet) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let port = c.port(s(&net, "id"), json!({})).await;
    let delivered = settled(&server).await["delivered"].clone();

    odl.backend().forget_state();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !odl.backend().stored("networks").contains_key(CANARY) {
        assert!(
            std::time::Instant::now() < deadline,
            "no resync within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    assert!(odl.backend().stored("networks").contains_key(s(&net, "id")));
    assert!(
        odl.backend()
            .stored("subnets")
            .contains_key(s(&subnet, "id"))
    );
    assert!(odl.backend().stored("ports").contains_key(s(&port, "id")));
    let journal = settled(&server).await;
    assert_eq!(
        journal["delivered"], delivered,
        "no change was delivered meanwhile"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_settings_change_swapping_the_driver_with_pending_entries_loses_and_repeats_nothing() {
    let odl = FakeServer::start(Odl::synced(USER, PASSWORD)).await;
    let server = server_for(&odl, json!({})).await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    settled(&server).await;

    odl.refuse_connections();
    let ids = create_ports(&c, s(&net, "id"), 10).await;
    let shown = c.get("/v2.0/mechanism-drivers/opendaylight").await;
    let mut settings = shown.body["mechanism_driver"]["settings"].clone();
    settings["config"]["timeout"] = json!(5);
    let swapped = c
        .put(
            "/v2.0/mechanism-drivers/opendaylight",
            json!({"mechanism_driver": {"settings": settings}}),
        )
        .await;
    assert_eq!(swapped.status, 200, "{:?}", swapped.body);
    odl.accept_connections().await;
    let journal = settled(&server).await;

    assert_eq!(journal["failed"], 0, "{journal}");
    let stored: Vec<String> = odl.backend().stored("ports").keys().cloned().collect();
    assert_eq!(stored, ids);
    assert_created_once_after_their_network(&odl, &ids);
    let password_sent = odl
        .requests()
        .last()
        .unwrap()
        .header("authorization")
        .map(String::from);
    assert_eq!(
        password_sent,
        Some(neutrino_tests::fakes::server::basic(USER, PASSWORD)),
        "the masked password sent back was kept"
    );
    server.stop().await;
}

#[tokio::test]
async fn two_servers_on_one_postgresql_send_each_port_once() {
    let odl = FakeServer::start(Odl::synced(USER, PASSWORD)).await;
    let db = TestDb::new(neutrino_tests::Backend::Postgres).await;
    let first = TestServer::on_db(db, configure(&odl, json!({}))).await;
    let second =
        TestServer::on_db(TestDb::existing(&first.db.url), configure(&odl, json!({}))).await;
    let (net, _) = first.admin().network_with_subnet("n", "10.0.0.0/24").await;
    settled(&first).await;

    odl.refuse_connections();
    let (c1, c2) = (first.admin(), second.admin());
    let (a, b) = tokio::join!(
        create_ports(&c1, s(&net, "id"), 32),
        create_ports(&c2, s(&net, "id"), 32),
    );
    odl.accept_connections().await;
    settled(&first).await;
    settled(&second).await;

    let mut ids: Vec<String> = a.into_iter().chain(b).collect();
    ids.sort();
    let stored: Vec<String> = odl.backend().stored("ports").keys().cloned().collect();
    assert_eq!(stored, ids, "all 64 ports, from both servers");
    assert_created_once_after_their_network(&odl, &ids);
    second.stop().await;
    first.stop().await;
}
