//! The `cisco_nexus` driver through the API, against a fake Nexus switch speaking NX-API
//! REST: Open vSwitch binds the ports (with OpenDaylight loaded too, from the configuration),
//! the switch gets the VLAN on the trunks of the hosts that have ports and loses it with the
//! last port; concurrent clients leave the switch exact, also from two servers on one
//! PostgreSQL; an expired session logs in again once; baremetal and VXLAN ports bind as
//! networking-cisco binds them; with the journal a switch that does not answer fails no API call
//! and ends right, and one wiped while down is replayed by the heartbeat when it returns.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use neutrino_ml2::agents::AgentReport;
use neutrino_tests::vendors::nexus::FakeNexus;
use neutrino_tests::vendors::{FakeHttp, Request};
use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

async fn ovs_agent(server: &TestServer, host: &str) {
    server
        .plugin()
        .report_agent_state(AgentReport {
            agent_type: "Open vSwitch agent".into(),
            binary: "neutron-openvswitch-agent".into(),
            topic: "N/A".into(),
            host: host.into(),
            configurations: json!({
                "tunnel_types": [],
                "bridge_mappings": {"physnet1": "br-eth1"},
                "integration_bridge": "br-int",
                "datapath_type": "system",
                "ovs_hybrid_plug": false,
            }),
            availability_zone: None,
            start_flag: true,
        })
        .await
        .expect("agent report");
}

fn nexus_settings(switch: &FakeHttp<FakeNexus>, extra: Value) -> Value {
    let mut config = json!({
        // No heartbeat unless a test asks: its probes would mix with the calls tests expect.
        "switch_heartbeat_time": 0,
        "switches": {"10.0.0.1": {
            "username": "admin",
            "password": "nexus-pw",
            "url": switch.url(),
            "physnet": "physnet1",
            "host_ports_mapping": {
                "compute-1": ["ethernet1/1"],
                "compute-2": ["ethernet1/2", "port-channel20"],
            },
        }},
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            config[k] = v;
        }
    }
    json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": config,
        "http": {"allow": [switch.url()]},
    })
}

/// A server with `cisco_nexus` then `openvswitch` loaded, OVS agents on compute-1 and
/// compute-2, and a fake switch.
async fn setup(extra: Value) -> (TestServer, FakeHttp<FakeNexus>) {
    setup_with(extra, |_| {}).await
}

async fn setup_with(
    extra: Value,
    tweak: impl FnOnce(&mut neutrino_server::Config),
) -> (TestServer, FakeHttp<FakeNexus>) {
    let switch = FakeHttp::start(FakeNexus::new("admin", "nexus-pw")).await;
    let server = TestServer::with_config(|c| {
        c.ml2.mechanism_drivers.clear();
        tweak(c);
    })
    .await;
    let c = server.admin();
    let r = c
        .load_driver("cisco_nexus", "cisco_nexus", nexus_settings(&switch, extra))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c.upload_driver("openvswitch", "openvswitch").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    ovs_agent(&server, "compute-1").await;
    ovs_agent(&server, "compute-2").await;
    (server, switch)
}

async fn vlan_network(c: &Client, vlan: u32) -> String {
    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": format!("vlan{vlan}"),
                "provider:network_type": "vlan", "provider:physical_network": "physnet1",
                "provider:segmentation_id": vlan}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    s(&r.body["network"], "id").to_string()
}

async fn vm_port(c: &Client, net: &str, host: &str) -> Value {
    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "binding:host_id": host,
                "device_owner": "compute:nova"}}),
        )
        .await;
    if r.status != 201 {
        let d = c.get("/v2.0/mechanism-drivers/cisco_nexus").await;
        panic!(
            "{:?}; driver: {}",
            r.body, d.body["mechanism_driver"]["stats"]
        );
    }
    r.body["port"].clone()
}

async fn delete_port(c: &Client, port: &Value) {
    let r = c.delete(&format!("/v2.0/ports/{}", s(port, "id"))).await;
    if r.status != 204 {
        let d = c.get("/v2.0/mechanism-drivers/cisco_nexus").await;
        panic!(
            "{:?}; driver: {}",
            r.body, d.body["mechanism_driver"]["stats"]
        );
    }
}

/// Wait until the driver's journal delivered everything (none failed).
async fn drain(c: &Client, driver: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = c
            .get(&format!("/v2.0/mechanism-drivers/{driver}/journal"))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let j = &r.body["journal"];
        assert_eq!(j["failed"], 0, "{j}");
        if j["pending"] == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the journal of {driver} did not drain: {j}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `METHOD path` of the calls other than logins.
fn calls(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.path != "/api/aaaLogin.json")
        .map(Request::line)
        .collect()
}

fn set(v: &[u32]) -> BTreeSet<u32> {
    v.iter().copied().collect()
}

/// How many ports the set under `key` holds.
fn members(state: &BTreeMap<String, String>, key: &str) -> usize {
    let set: Vec<String> = serde_json::from_str(&state[key]).expect("a set of ports");
    set.len()
}

/// The driver's state keys and values, but the provider network marks (`provider/<network>`,
/// kept while their network lives).
async fn driver_state(server: &TestServer) -> BTreeMap<String, String> {
    let mut state = all_driver_state(server).await;
    state.retain(|k, _| !k.starts_with("provider/"));
    state
}

/// The driver's state keys and values.
async fn all_driver_state(server: &TestServer) -> BTreeMap<String, String> {
    let mut conn = server.plugin().store().reader().acquire().await.unwrap();
    let keys = neutrino_ml2::store::drivers::state_keys(&mut conn, "cisco_nexus", "")
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for k in keys {
        let v = neutrino_ml2::store::drivers::state_get(&mut conn, "cisco_nexus", &k)
            .await
            .unwrap()
            .unwrap();
        out.insert(k, String::from_utf8(v).unwrap());
    }
    out
}

#[tokio::test]
async fn ovs_binds_and_the_switch_carries_the_vlan_on_the_trunks_of_the_hosts_with_ports() {
    let (server, switch) = setup(json!({})).await;
    let c = server.admin();
    let net = vlan_network(&c, 100).await;

    let p1 = vm_port(&c, &net, "compute-1").await;
    drain(&c, "cisco_nexus").await;
    let after_p1 = calls(&switch.requests());
    let p2 = vm_port(&c, &net, "compute-2").await;
    drain(&c, "cisco_nexus").await;

    assert_eq!(p1["binding:vif_type"], "ovs", "{p1}");
    assert_eq!(p2["binding:vif_type"], "ovs", "{p2}");
    assert_eq!(p1["binding:levels"][0]["driver"], "openvswitch");
    assert_eq!(
        after_p1,
        vec![
            "POST /api/mo.json",
            "POST /api/mo/sys/intf/phys-[eth1/1].json"
        ]
    );
    let config = switch.backend().config();
    assert_eq!(config.vlans.keys().copied().collect::<Vec<_>>(), vec![100]);
    assert_eq!(config.vlans[&100].admin_state, "active");
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[100]));
    assert_eq!(switch.backend().trunk("eth1/2"), set(&[100]));
    assert_eq!(switch.backend().trunk("po20"), set(&[100]));
    assert_eq!(config.interfaces["eth1/1"].mode.as_deref(), Some("trunk"));
    assert_eq!(switch.backend().logins(), 1, "one login, reused");

    switch.clear_requests();
    delete_port(&c, &p1).await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(
        calls(&switch.requests()),
        vec!["POST /api/mo/sys/intf/phys-[eth1/1].json"],
        "compute-1's trunk loses the VLAN, the switch keeps it for compute-2"
    );
    assert_eq!(switch.backend().vlans(), set(&[100]));
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[]));

    switch.clear_requests();
    delete_port(&c, &p2).await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(
        calls(&switch.requests()),
        vec![
            "POST /api/mo/sys/intf/phys-[eth1/2].json",
            "POST /api/mo/sys/intf/aggr-[po20].json",
            "DELETE /api/mo/sys/bd/bd-[vlan-100].json",
        ]
    );
    assert_eq!(switch.backend().vlans(), set(&[]));
    assert_eq!(switch.backend().trunk("eth1/2"), set(&[]));
    assert_eq!(switch.backend().trunk("po20"), set(&[]));
    assert!(
        driver_state(&server).await.is_empty(),
        "no set and no port record is left: {:?}",
        driver_state(&server).await
    );
    server.stop().await;
}

/// A server whose project networks are VLANs of physnet1 (VLAN 200 only), with
/// `provider_vlan_auto_create` and `provider_vlan_auto_trunk` as given.
async fn setup_provider_options(create: bool, trunk: bool) -> (TestServer, FakeHttp<FakeNexus>) {
    setup_with(
        json!({"provider_vlan_auto_create": create, "provider_vlan_auto_trunk": trunk}),
        |c| {
            c.ml2.tenant_network_types = vec!["vlan".into()];
            c.ml2.network_vlan_ranges = vec!["physnet1:200:200".into()];
        },
    )
    .await
}

#[tokio::test]
async fn with_both_provider_options_off_a_provider_vlan_never_reaches_the_switch_but_a_project_vlan_does()
 {
    let (server, switch) = setup_provider_options(false, false).await;
    let c = server.admin();
    let provider = vlan_network(&c, 100).await;
    let project = c.network("project").await;
    assert_eq!(project["provider:network_type"], "vlan");
    assert_eq!(project["provider:segmentation_id"], 200);
    let shown = c.get(&format!("/v2.0/networks/{provider}")).await;
    assert!(
        shown.body["network"].get("is_provider_network").is_none(),
        "the mark is for drivers only: {:?}",
        shown.body
    );
    assert!(
        all_driver_state(&server)
            .await
            .contains_key(&format!("provider/{provider}")),
        "the driver recorded the provider network at its create_network_precommit"
    );

    let p1 = vm_port(&c, &provider, "compute-1").await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(p1["binding:vif_type"], "ovs", "{p1}");
    assert_eq!(calls(&switch.requests()), Vec::<String>::new());

    let p2 = vm_port(&c, s(&project, "id"), "compute-1").await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(switch.backend().vlans(), set(&[200]));
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[200]));

    switch.clear_requests();
    delete_port(&c, &p1).await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(calls(&switch.requests()), Vec::<String>::new());
    delete_port(&c, &p2).await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(switch.backend().vlans(), set(&[]));
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[]));

    let r = c.delete(&format!("/v2.0/networks/{provider}")).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert!(all_driver_state(&server).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn without_auto_create_a_provider_vlan_is_only_trunked_and_never_deleted() {
    let (server, switch) = setup_provider_options(false, true).await;
    let c = server.admin();
    let provider = vlan_network(&c, 100).await;

    let port = vm_port(&c, &provider, "compute-2").await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(
        calls(&switch.requests()),
        vec![
            "POST /api/mo/sys/intf/phys-[eth1/2].json",
            "POST /api/mo/sys/intf/aggr-[po20].json",
        ],
        "the operator created VLAN 100 on the switch; the driver only trunks it"
    );
    assert_eq!(switch.backend().vlans(), set(&[]));
    assert_eq!(switch.backend().trunk("eth1/2"), set(&[100]));
    assert_eq!(switch.backend().trunk("po20"), set(&[100]));

    switch.clear_requests();
    delete_port(&c, &port).await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(
        calls(&switch.requests()),
        vec![
            "POST /api/mo/sys/intf/phys-[eth1/2].json",
            "POST /api/mo/sys/intf/aggr-[po20].json",
        ],
        "no VLAN delete"
    );
    assert_eq!(switch.backend().trunk("eth1/2"), set(&[]));
    server.stop().await;
}

#[tokio::test]
async fn without_auto_trunk_a_provider_vlan_is_created_and_deleted_but_never_trunked() {
    let (server, switch) = setup_provider_options(true, false).await;
    let c = server.admin();
    let provider = vlan_network(&c, 100).await;

    let port = vm_port(&c, &provider, "compute-1").await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(calls(&switch.requests()), vec!["POST /api/mo.json"]);
    assert_eq!(switch.backend().vlans(), set(&[100]));
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[]));

    switch.clear_requests();
    delete_port(&c, &port).await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(
        calls(&switch.requests()),
        vec!["DELETE /api/mo/sys/bd/bd-[vlan-100].json"]
    );
    assert_eq!(switch.backend().vlans(), set(&[]));
    server.stop().await;
}

#[tokio::test]
async fn a_network_without_an_explicit_segmentation_id_or_without_cisco_providernet_ext_is_no_provider_network()
 {
    // networking-cisco's `cisco_providernet_ext` marks only networks created with
    // `provider:segmentation_id`; with `[ml2] extension_drivers` leaving it out, none.
    let (server, switch) = setup_with(
        json!({"provider_vlan_auto_create": false, "provider_vlan_auto_trunk": false}),
        |c| {
            c.ml2.network_vlan_ranges = vec!["physnet1:300:300".into()];
        },
    )
    .await;
    let c = server.admin();
    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "typed", "provider:network_type": "vlan",
                "provider:physical_network": "physnet1"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["network"]["provider:segmentation_id"], 300);
    let port = vm_port(&c, s(&r.body["network"], "id"), "compute-1").await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(switch.backend().vlans(), set(&[300]));
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[300]));
    delete_port(&c, &port).await;
    drain(&c, "cisco_nexus").await;
    server.stop().await;

    let (server, switch) = setup_with(
        json!({"provider_vlan_auto_create": false, "provider_vlan_auto_trunk": false}),
        |c| c.ml2.extension_drivers = Some(vec!["port_security".into()]),
    )
    .await;
    let c = server.admin();
    let net = vlan_network(&c, 100).await;
    vm_port(&c, &net, "compute-1").await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(switch.backend().vlans(), set(&[100]));
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[100]));
    server.stop().await;
}

#[tokio::test]
async fn networks_subnets_and_unbound_ports_reach_no_switch() {
    let (server, switch) = setup(json!({})).await;
    let c = server.admin();
    let net = vlan_network(&c, 100).await;
    let sub = c.subnet(&net, "10.0.0.0/24").await;
    let unbound = c.port(&net, json!({"device_owner": "compute:nova"})).await;
    let unmapped = vm_port(&c, &net, "compute-9").await;
    let r = c
        .put(
            &format!("/v2.0/subnets/{}", s(&sub, "id")),
            json!({"subnet": {"name": "renamed"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    delete_port(&c, &unbound).await;
    delete_port(&c, &unmapped).await;
    assert_eq!(
        c.delete(&format!("/v2.0/subnets/{}", s(&sub, "id")))
            .await
            .status,
        204
    );
    assert_eq!(c.delete(&format!("/v2.0/networks/{net}")).await.status, 204);
    drain(&c, "cisco_nexus").await;

    assert!(switch.requests().is_empty(), "{:?}", switch.requests());
    assert_eq!(
        unmapped["binding:vif_type"], "binding_failed",
        "no OVS agent on compute-9"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_expired_session_logs_in_again_once() {
    let (server, switch) = setup(json!({})).await;
    let c = server.admin();
    let net = vlan_network(&c, 100).await;
    vm_port(&c, &net, "compute-1").await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(switch.backend().logins(), 1);

    switch.backend().expire_sessions();
    switch.clear_requests();
    vm_port(&c, &net, "compute-2").await;
    drain(&c, "cisco_nexus").await;

    let lines: Vec<String> = switch.requests().iter().map(Request::line).collect();
    assert_eq!(
        lines,
        vec![
            // VLAN 100 is there already: only compute-2's trunks change. The old cookie is
            // refused (403), one login, the call again, then the next one.
            "POST /api/mo/sys/intf/phys-[eth1/2].json",
            "POST /api/aaaLogin.json",
            "POST /api/mo/sys/intf/phys-[eth1/2].json",
            "POST /api/mo/sys/intf/aggr-[po20].json",
        ]
    );
    assert_eq!(switch.backend().logins(), 2);
    assert_eq!(switch.backend().trunk("po20"), set(&[100]));
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_clients_creating_and_deleting_ports_on_one_vlan_leave_the_switch_exact() {
    let (server, switch) = setup(json!({})).await;
    let c = server.admin();
    let net = vlan_network(&c, 100).await;

    // 32 clients, each creates two ports (one per host) and deletes one of them.
    let kept: Vec<Value> = futures::future::join_all((0..32).map(|i| {
        let c = server.admin();
        let net = net.clone();
        async move {
            let a = vm_port(&c, &net, "compute-1").await;
            let b = vm_port(&c, &net, "compute-2").await;
            assert_eq!(a["binding:vif_type"], "ovs");
            assert_eq!(b["binding:vif_type"], "ovs");
            if i % 2 == 0 {
                delete_port(&c, &a).await;
                b
            } else {
                delete_port(&c, &b).await;
                a
            }
        }
    }))
    .await;
    drain(&c, "cisco_nexus").await;

    let state = driver_state(&server).await;
    assert_eq!(members(&state, "vlan/10.0.0.1/100/0"), 32);
    assert_eq!(members(&state, "trunk/10.0.0.1/100/ethernet1/1"), 16);
    assert_eq!(members(&state, "trunk/10.0.0.1/100/ethernet1/2"), 16);
    assert_eq!(members(&state, "trunk/10.0.0.1/100/port-channel20"), 16);
    assert_eq!(switch.backend().vlans(), set(&[100]));
    for iface in ["eth1/1", "eth1/2", "po20"] {
        assert_eq!(switch.backend().trunk(iface), set(&[100]), "{iface}");
    }

    // The 32 remaining ports go at once: the last one takes the VLAN with it.
    futures::future::join_all(kept.iter().map(|p| {
        let c = server.admin();
        async move { delete_port(&c, p).await }
    }))
    .await;
    drain(&c, "cisco_nexus").await;

    assert_eq!(switch.backend().vlans(), set(&[]));
    for iface in ["eth1/1", "eth1/2", "po20"] {
        assert_eq!(switch.backend().trunk(iface), set(&[]), "{iface}");
    }
    assert!(
        driver_state(&server).await.is_empty(),
        "{:?}",
        driver_state(&server).await
    );
    assert_eq!(
        switch.backend().logins(),
        1,
        "32 concurrent first calls, one login"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_vxlan_port_is_bound_in_two_levels_and_the_switch_maps_the_dynamic_vlan_to_the_vni() {
    let (server, switch) = setup_with(json!({}), |c| {
        c.ml2.network_vlan_ranges = vec!["physnet1:300:300".into()];
    })
    .await;
    let c = server.admin();
    let net = c.network("tenant").await;
    let vni = net["provider:segmentation_id"].as_u64().unwrap() as u32;
    assert_eq!(net["provider:network_type"], "vxlan");

    let port = vm_port(&c, s(&net, "id"), "compute-1").await;
    drain(&c, "cisco_nexus").await;

    assert_eq!(port["binding:vif_type"], "ovs", "{port}");
    let levels = port["binding:levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2, "{port}");
    assert_eq!(levels[0]["driver"], "cisco_nexus");
    assert_eq!(levels[1]["driver"], "openvswitch");
    let config = switch.backend().config();
    assert_eq!(config.vlans.keys().copied().collect::<Vec<_>>(), vec![300]);
    assert_eq!(config.vlans[&300].vni, Some(vni));
    assert_eq!(config.nve_members, set(&[vni]));
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[300]));

    delete_port(&c, &port).await;
    drain(&c, "cisco_nexus").await;

    let config = switch.backend().config();
    assert!(config.vlans.is_empty(), "{config:?}");
    assert!(config.nve_members.is_empty());
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[]));
    // The dynamic VLAN went back to the pool with the port.
    let again = vm_port(&c, s(&net, "id"), "compute-2").await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(again["binding:vif_type"], "ovs", "{again}");
    assert_eq!(switch.backend().vlans(), set(&[300]));
    server.stop().await;
}

#[tokio::test]
async fn a_baremetal_port_binds_with_vif_type_other_on_the_switch_port_ironic_names() {
    let (server, switch) = setup(json!({})).await;
    // `binding:profile` is for services (Ironic): Neutron's `service_api` rule.
    let c = Client::new(&server.url, Some(("admin".into(), "admin,service".into())));
    let net = vlan_network(&c, 200).await;

    let port = c
        .port(
            &net,
            json!({"binding:host_id": "ironic-1", "binding:vnic_type": "baremetal",
                "device_owner": "baremetal:none",
                "binding:profile": {"local_link_information": [
                    {"switch_ip": "10.0.0.1", "port_id": "Ethernet1/7", "switch_info": "tor-1"}]}}),
        )
        .await;
    let stranger = c
        .port(
            &net,
            json!({"binding:host_id": "ironic-1", "binding:vnic_type": "baremetal",
                "device_owner": "baremetal:none",
                "binding:profile": {"local_link_information": [
                    {"switch_ip": "10.9.9.9", "port_id": "Ethernet1/7"}]}}),
        )
        .await;
    drain(&c, "cisco_nexus").await;

    assert_eq!(port["binding:vif_type"], "other", "{port}");
    assert_eq!(port["status"], "ACTIVE");
    assert_eq!(port["binding:levels"][0]["driver"], "cisco_nexus");
    assert_eq!(switch.backend().vlans(), set(&[200]));
    assert_eq!(switch.backend().trunk("eth1/7"), set(&[200]));
    assert_eq!(
        stranger["binding:vif_type"], "binding_failed",
        "no configured switch"
    );
    delete_port(&c, &port).await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(switch.backend().vlans(), set(&[]));
    server.stop().await;
}

#[tokio::test]
async fn a_switch_down_while_ports_are_created_fails_no_api_call_and_ends_right() {
    let (server, switch) = setup(json!({})).await;
    let c = server.admin();
    let net = vlan_network(&c, 100).await;
    switch.refuse_connections().await;

    // Every call succeeds while the switch does not answer; the journal keeps the work.
    let mut ports = Vec::new();
    for i in 0..10 {
        let host = if i % 2 == 0 { "compute-1" } else { "compute-2" };
        ports.push(vm_port(&c, &net, host).await);
    }
    for p in ports.drain(..2) {
        delete_port(&c, &p).await;
    }
    let journal = c.get("/v2.0/mechanism-drivers/cisco_nexus/journal").await;
    assert!(
        journal.body["journal"]["pending"].as_i64().unwrap() > 0,
        "{}",
        journal.body
    );
    assert!(switch.requests().is_empty());

    switch.accept_connections().await;
    drain(&c, "cisco_nexus").await;

    assert_eq!(switch.backend().vlans(), set(&[100]));
    for iface in ["eth1/1", "eth1/2", "po20"] {
        assert_eq!(switch.backend().trunk(iface), set(&[100]), "{iface}");
    }
    for p in &ports {
        delete_port(&c, p).await;
    }
    drain(&c, "cisco_nexus").await;
    assert_eq!(switch.backend().vlans(), set(&[]));
    assert!(
        driver_state(&server)
            .await
            .keys()
            .all(|k| k.starts_with("switch/"))
    );
    server.stop().await;
}

/// Poll `done` every 100 ms for up to `seconds`.
async fn eventually(seconds: u64, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {seconds} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_switch_wiped_while_down_is_replayed_by_the_heartbeat_when_it_returns() {
    let (server, switch) = setup(json!({"switch_heartbeat_time": 1})).await;
    let c = server.admin();
    let net = vlan_network(&c, 100).await;
    vm_port(&c, &net, "compute-1").await;
    vm_port(&c, &net, "compute-2").await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[100]));

    switch.refuse_connections().await;
    eventually(30, "the heartbeat marking the switch down", async || {
        driver_state(&server)
            .await
            .get("switch/10.0.0.1")
            .map(String::as_str)
            == Some("down")
    })
    .await;
    switch.backend().wipe();
    let delivered = c
        .get("/v2.0/mechanism-drivers/cisco_nexus/journal")
        .await
        .body["journal"]["delivered"]
        .clone();
    switch.accept_connections().await;

    // No API call: the heartbeat finds the switch back and replays it.
    eventually(30, "the replay", async || {
        driver_state(&server)
            .await
            .get("switch/10.0.0.1")
            .map(String::as_str)
            == Some("up")
    })
    .await;
    assert_eq!(switch.backend().vlans(), set(&[100]));
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[100]));
    assert_eq!(switch.backend().trunk("eth1/2"), set(&[100]));
    let journal = c.get("/v2.0/mechanism-drivers/cisco_nexus/journal").await;
    assert_eq!(
        journal.body["journal"]["delivered"], delivered,
        "nothing journaled meanwhile"
    );
    assert_eq!(switch.backend().trunk("po20"), set(&[100]));
    server.stop().await;
}

#[tokio::test]
async fn open_vswitch_cisco_nexus_and_opendaylight_loaded_from_the_configuration_work_together() {
    use neutrino_tests::fakes::FakeServer;
    use neutrino_tests::fakes::odl::{NORTHBOUND, Odl};
    let switch = FakeHttp::start(FakeNexus::new("admin", "nexus-pw")).await;
    let odl = FakeServer::start(Odl::synced("odl", "odl-pw")).await;
    let settings = |v: Value| -> neutrino_runtime::DriverSettings {
        serde_json::from_value(v).expect("driver settings")
    };
    let nexus = settings(nexus_settings(&switch, json!({})));
    let opendaylight = settings(json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": {"url": format!("{}{NORTHBOUND}", odl.url()), "username": "odl",
                   "password": "odl-pw"},
        "http": {"allow": [odl.url()]},
    }));
    let server = TestServer::with_config(|c| {
        c.ml2.mechanism_drivers = vec![
            "openvswitch".into(),
            "cisco_nexus".into(),
            "opendaylight".into(),
        ];
        c.drivers.settings.insert("cisco_nexus".into(), nexus);
        c.drivers
            .settings
            .insert("opendaylight".into(), opendaylight);
    })
    .await;
    ovs_agent(&server, "compute-1").await;
    ovs_agent(&server, "compute-2").await;
    let c = server.admin();
    let net = vlan_network(&c, 100).await;

    let p1 = vm_port(&c, &net, "compute-1").await;
    let p2 = vm_port(&c, &net, "compute-2").await;
    drain(&c, "cisco_nexus").await;
    drain(&c, "opendaylight").await;

    for p in [&p1, &p2] {
        assert_eq!(p["binding:vif_type"], "ovs", "{p}");
        assert_eq!(p["binding:levels"][0]["driver"], "openvswitch");
    }
    assert_eq!(switch.backend().vlans(), set(&[100]));
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[100]));
    assert_eq!(switch.backend().trunk("eth1/2"), set(&[100]));
    assert_eq!(switch.backend().trunk("po20"), set(&[100]));
    assert!(odl.backend().stored("networks").contains_key(&net));
    let odl_ports = odl.backend().stored("ports");
    assert!(odl_ports.contains_key(s(&p1, "id")) && odl_ports.contains_key(s(&p2, "id")));

    delete_port(&c, &p1).await;
    delete_port(&c, &p2).await;
    drain(&c, "cisco_nexus").await;
    drain(&c, "opendaylight").await;

    assert_eq!(switch.backend().vlans(), set(&[]));
    assert_eq!(switch.backend().trunk("eth1/1"), set(&[]));
    assert!(odl.backend().stored("ports").is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_on_one_postgresql_share_the_sets_and_the_last_port_removes_the_vlan() {
    use neutrino_tests::{Backend, TestDb};
    let switch = FakeHttp::start(FakeNexus::new("admin", "nexus-pw")).await;
    let nexus: neutrino_runtime::DriverSettings =
        serde_json::from_value(nexus_settings(&switch, json!({}))).unwrap();
    let configure = |c: &mut neutrino_server::Config| {
        c.ml2.mechanism_drivers = vec!["cisco_nexus".into(), "openvswitch".into()];
        c.drivers
            .settings
            .insert("cisco_nexus".into(), nexus.clone());
    };
    let first = TestServer::on_db(TestDb::new(Backend::Postgres).await, configure).await;
    let second = TestServer::on_db(TestDb::existing(&first.db.url), configure).await;
    ovs_agent(&first, "compute-1").await;
    ovs_agent(&first, "compute-2").await;
    let net = vlan_network(&first.admin(), 100).await;

    // 32 clients over both servers, each creates a port on each host and deletes one.
    let servers = [&first, &second];
    let kept: Vec<Value> = futures::future::join_all((0..32).map(|i| {
        let c = servers[i % 2].admin();
        let net = net.clone();
        async move {
            let a = vm_port(&c, &net, "compute-1").await;
            let b = vm_port(&c, &net, "compute-2").await;
            if i % 4 < 2 {
                delete_port(&c, &a).await;
                (c, b)
            } else {
                delete_port(&c, &b).await;
                (c, a)
            }
        }
    }))
    .await
    .into_iter()
    .map(|(_, p)| p)
    .collect();
    drain(&first.admin(), "cisco_nexus").await;
    let state = driver_state(&first).await;
    assert_eq!(members(&state, "vlan/10.0.0.1/100/0"), 32);
    assert_eq!(members(&state, "trunk/10.0.0.1/100/ethernet1/1"), 16);
    assert_eq!(members(&state, "trunk/10.0.0.1/100/ethernet1/2"), 16);
    assert_eq!(switch.backend().vlans(), set(&[100]));
    futures::future::join_all(kept.iter().enumerate().map(|(i, p)| {
        let c = servers[i % 2].admin();
        async move { delete_port(&c, p).await }
    }))
    .await;
    drain(&first.admin(), "cisco_nexus").await;

    assert_eq!(switch.backend().vlans(), set(&[]));
    for iface in ["eth1/1", "eth1/2", "po20"] {
        assert_eq!(switch.backend().trunk(iface), set(&[]), "{iface}");
    }
    assert!(driver_state(&first).await.is_empty());
    second.stop().await;
    first.stop().await;
}

/// A client with Ironic's roles: `binding:profile` is for services (Neutron's `service_api`).
fn ironic(server: &TestServer) -> Client {
    Client::new(&server.url, Some(("admin".into(), "admin,service".into())))
}

/// A baremetal port on `net` cabled to the (switch, interface) pairs of `links`.
async fn baremetal_port(c: &Client, net: &str, node: &str, links: &[(&str, &str)]) -> Value {
    let links: Vec<Value> = links
        .iter()
        .map(|(ip, port)| json!({"switch_ip": ip, "port_id": port, "switch_info": "tor"}))
        .collect();
    c.port(
        net,
        json!({"binding:host_id": node, "binding:vnic_type": "baremetal",
            "device_owner": "baremetal:none",
            "binding:profile": {"local_link_information": links}}),
    )
    .await
}

/// A server with `cisco_nexus` alone and the two switches of a vPC pair, with `vpc_pool`s.
async fn setup_vpc_pair(
    pools: [&str; 2],
) -> (TestServer, FakeHttp<FakeNexus>, FakeHttp<FakeNexus>) {
    let a = FakeHttp::start(FakeNexus::new("admin", "nexus-pw")).await;
    let b = FakeHttp::start(FakeNexus::new("admin", "nexus-pw")).await;
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let switch = |fake: &FakeHttp<FakeNexus>, pool: &str| json!({"username": "admin", "password": "nexus-pw", "url": fake.url(), "vpc_pool": pool});
    let settings = json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": {"switch_heartbeat_time": 0, "switches": {
            "10.0.0.1": switch(&a, pools[0]),
            "10.0.0.2": switch(&b, pools[1]),
        }},
    });
    let r = server
        .admin()
        .load_driver("cisco_nexus", "cisco_nexus", settings)
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    (server, a, b)
}

/// The request bodies of `POST /api/mo.json` that touch class `class`.
fn system_posts(requests: &[Request], class: &str) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r.line() == "POST /api/mo.json" && r.json().to_string().contains(class))
        .map(Request::json)
        .collect()
}

#[tokio::test]
async fn a_baremetal_port_on_a_vpc_pair_gets_a_port_channel_with_a_vpc_id_free_on_both_switches() {
    // networking-cisco's automatic vPC: ids 1003-1005 are in both pools, 1003 is the first.
    let (server, a, b) = setup_vpc_pair(["1001-1005", "1003-1010"]).await;
    let c = ironic(&server);
    let net = vlan_network(&c, 200).await;
    let links = [("10.0.0.1", "Ethernet1/7"), ("10.0.0.2", "Ethernet1/7")];

    let port = baremetal_port(&c, &net, "node-1", &links).await;
    drain(&c, "cisco_nexus").await;

    assert_eq!(port["binding:vif_type"], "other", "{port}");
    for switch in [&a, &b] {
        assert_eq!(
            calls(&switch.requests()),
            vec![
                "GET /api/mo/sys/intf.json", // is ethernet1/7 in a port channel? no
                "POST /api/mo.json",         // VLAN 200
                "POST /api/mo.json",         // port-channel1003 with vpc 1003
                "POST /api/mo.json",         // ethernet1/7 into it
                "POST /api/mo/sys/intf/aggr-[po1003].json",
            ]
        );
        let created = &system_posts(&switch.requests(), "vpcIf")[0];
        assert_eq!(
            created["topSystem"]["children"][1]["vpcEntity"]["children"][0]["vpcInst"]["children"]
                [0]["vpcDom"]["children"][0]["vpcIf"]["attributes"]["id"],
            "1003"
        );
        let channels = switch.backend().port_channels();
        assert_eq!(channels.keys().copied().collect::<Vec<_>>(), vec![1003]);
        let po = &channels[&1003];
        assert_eq!(po.vpc, Some(1003));
        assert_eq!(po.members, ["eth1/7".to_string()].into());
        assert_eq!(po.ctrl.as_deref(), Some("graceful-conv"));
        assert_eq!(po.stp_mode.as_deref(), Some("trunk"));
        assert_eq!(switch.backend().trunk("po1003"), set(&[200]));
        assert_eq!(
            switch.backend().trunk("eth1/7"),
            set(&[]),
            "the member is not trunked"
        );
        assert_eq!(switch.backend().vlans(), set(&[200]));
    }
    let state = driver_state(&server).await;
    assert_eq!(state["vpc/1003/10.0.0.1"], state["vpc/1003/10.0.0.2"]);

    // A second port of the same node (another network) shares the port channel.
    let net2 = vlan_network(&c, 201).await;
    a.clear_requests();
    let second = baremetal_port(&c, &net2, "node-1", &links).await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(second["binding:vif_type"], "other", "{second}");
    assert_eq!(
        calls(&a.requests()),
        vec![
            "POST /api/mo.json",
            "POST /api/mo/sys/intf/aggr-[po1003].json"
        ],
        "VLAN 201 and its trunk only"
    );
    assert_eq!(a.backend().trunk("po1003"), set(&[200, 201]));

    // The first port goes: the channel stays for the second.
    delete_port(&c, &port).await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(a.backend().trunk("po1003"), set(&[201]));
    assert_eq!(b.backend().port_channels().len(), 1);

    // The last port takes the channel with it and frees the id.
    a.clear_requests();
    delete_port(&c, &second).await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(
        calls(&a.requests()),
        vec![
            "POST /api/mo.json", // ethernet1/7 out of port-channel1003
            "POST /api/mo/sys/intf/aggr-[po1003].json",
            "POST /api/mo.json", // port-channel1003 deleted
            "DELETE /api/mo/sys/bd/bd-[vlan-201].json",
        ]
    );
    let deleted = &system_posts(&a.requests(), "pcAggrIf")[1];
    assert_eq!(
        deleted["topSystem"]["children"][0]["interfaceEntity"]["children"][0]["pcAggrIf"]["attributes"],
        json!({"id": "po1003", "status": "deleted"})
    );
    for switch in [&a, &b] {
        assert!(switch.backend().port_channels().is_empty());
        assert_eq!(switch.backend().vlans(), set(&[]));
    }
    assert!(
        driver_state(&server).await.is_empty(),
        "the id is free again: {:?}",
        driver_state(&server).await
    );
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_baremetal_ports_created_at_once_never_share_a_vpc_id() {
    let (server, a, b) = setup_vpc_pair(["1001-1032", "1001-1032"]).await;
    let c = ironic(&server);
    let net = vlan_network(&c, 300).await;

    let ports: Vec<Value> = futures::future::join_all((0..32).map(|i| {
        let c = ironic(&server);
        let net = net.clone();
        async move {
            let iface = format!("ethernet2/{}", i + 1);
            baremetal_port(
                &c,
                &net,
                &format!("node-{i}"),
                &[("10.0.0.1", &iface), ("10.0.0.2", &iface)],
            )
            .await
        }
    }))
    .await;
    drain(&c, "cisco_nexus").await;

    for p in &ports {
        assert_eq!(p["binding:vif_type"], "other", "{p}");
    }
    for switch in [&a, &b] {
        let channels = switch.backend().port_channels();
        assert_eq!(
            channels.keys().copied().collect::<BTreeSet<_>>(),
            (1001..=1032).collect::<BTreeSet<_>>(),
            "the whole pool, each id once"
        );
        let mut members = BTreeSet::new();
        for (id, po) in &channels {
            assert_eq!(po.vpc, Some(*id));
            assert_eq!(po.members.len(), 1, "{id}: {po:?}");
            members.extend(po.members.iter().cloned());
            assert_eq!(switch.backend().trunk(&format!("po{id}")), set(&[300]));
        }
        assert_eq!(
            members.len(),
            32,
            "every node's interface in its own channel"
        );
    }
    let state = driver_state(&server).await;
    for id in 1001..=1032 {
        assert_eq!(
            state[&format!("vpc/{id}/10.0.0.1")],
            state[&format!("vpc/{id}/10.0.0.2")],
            "one link set per id on both switches"
        );
    }

    futures::future::join_all(ports.iter().map(|p| {
        let c = ironic(&server);
        async move { delete_port(&c, p).await }
    }))
    .await;
    drain(&c, "cisco_nexus").await;
    for switch in [&a, &b] {
        assert!(switch.backend().port_channels().is_empty());
        assert_eq!(switch.backend().vlans(), set(&[]));
    }
    assert!(
        driver_state(&server).await.is_empty(),
        "{:?}",
        driver_state(&server).await
    );
    server.stop().await;
}

#[tokio::test]
async fn without_a_vpc_pool_or_with_a_named_or_existing_port_channel_no_id_is_taken() {
    let (server, switch) = setup(json!({})).await;
    let c = ironic(&server);
    let net = vlan_network(&c, 200).await;
    let port = baremetal_port(
        &c,
        &net,
        "node-1",
        &[("10.0.0.1", "Ethernet1/7"), ("10.0.0.1", "Ethernet1/8")],
    )
    .await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(port["binding:vif_type"], "other", "{port}");
    assert!(switch.backend().port_channels().is_empty());
    assert_eq!(switch.backend().trunk("eth1/7"), set(&[200]));
    assert_eq!(switch.backend().trunk("eth1/8"), set(&[200]));
    delete_port(&c, &port).await;
    drain(&c, "cisco_nexus").await;
    server.stop().await;

    // With pools: links that name a port channel the operator made are trunked on it, and
    // interfaces the switches have in one port channel use it ("learned"), left in place.
    let (server, a, b) = setup_vpc_pair(["1001-1005", "1001-1005"]).await;
    a.backend().add_port_channel(30, &["eth1/9"]);
    b.backend().add_port_channel(30, &["eth1/9"]);
    let c = ironic(&server);
    let net = vlan_network(&c, 200).await;
    let named = baremetal_port(
        &c,
        &net,
        "node-1",
        &[
            ("10.0.0.1", "port-channel20"),
            ("10.0.0.2", "port-channel20"),
        ],
    )
    .await;
    let learned = baremetal_port(
        &c,
        &net,
        "node-2",
        &[("10.0.0.1", "Ethernet1/9"), ("10.0.0.2", "Ethernet1/9")],
    )
    .await;
    drain(&c, "cisco_nexus").await;
    assert_eq!(named["binding:vif_type"], "other", "{named}");
    assert_eq!(learned["binding:vif_type"], "other", "{learned}");
    for switch in [&a, &b] {
        assert_eq!(
            switch
                .backend()
                .port_channels()
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![30],
            "no port channel created"
        );
        assert_eq!(switch.backend().trunk("po20"), set(&[200]));
        assert_eq!(switch.backend().trunk("po30"), set(&[200]));
        assert_eq!(switch.backend().trunk("eth1/9"), set(&[]));
    }
    assert!(
        !driver_state(&server)
            .await
            .keys()
            .any(|k| k.starts_with("vpc/100")),
        "no id of the pools taken"
    );

    // An interface in a port channel beside one in none: the port fails, as in
    // networking-cisco, and no id is taken.
    a.backend().add_port_channel(40, &["eth1/10"]);
    let mixed = baremetal_port(
        &c,
        &net,
        "node-3",
        &[("10.0.0.1", "Ethernet1/10"), ("10.0.0.2", "Ethernet1/10")],
    )
    .await;
    eventually(60, "the mixed port's journal entry failing", async || {
        let j = c
            .get("/v2.0/mechanism-drivers/cisco_nexus/journal?state=failed")
            .await;
        j.body["journal"]["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| {
                e["resource_id"] == mixed["id"]
                    && e["last_error"]
                        .as_str()
                        .is_some_and(|m| m.contains("all in one port channel or in none"))
            })
    })
    .await;

    delete_port(&c, &learned).await;
    delete_port(&c, &named).await;
    eventually(60, "the learned channel's trunk emptied", async || {
        a.backend().trunk("po30").is_empty() && b.backend().trunk("po30").is_empty()
    })
    .await;
    for switch in [&a, &b] {
        assert!(
            switch.backend().port_channels().contains_key(&30),
            "the operator's channel stays"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn vxlan_vnis_join_the_multicast_groups_of_mcast_ranges_first_unused_then_least_used() {
    let (server, switch) = setup_with(json!({"mcast_ranges": ["224.0.0.1:224.0.0.2"]}), |c| {
        c.ml2.network_vlan_ranges = vec!["physnet1:300:302".into()];
    })
    .await;
    let c = server.admin();
    let mut vnis = Vec::new();
    let mut nets = Vec::new();
    let mut ports = Vec::new();
    for i in 0..3 {
        let net = c.network(&format!("tenant-{i}")).await;
        assert_eq!(net["provider:network_type"], "vxlan");
        vnis.push(net["provider:segmentation_id"].as_u64().unwrap() as u32);
        ports.push(vm_port(&c, s(&net, "id"), "compute-1").await);
        nets.push(s(&net, "id").to_string());
    }
    drain(&c, "cisco_nexus").await;

    let config = switch.backend().config();
    assert_eq!(
        config.nve_mcast_groups,
        BTreeMap::from([
            (vnis[0], "224.0.0.1".to_string()),
            (vnis[1], "224.0.0.2".to_string()),
            (vnis[2], "224.0.0.1".to_string()),
        ]),
        "each group once, then the least used"
    );
    let member = switch
        .requests()
        .into_iter()
        .find(|r| r.line() == format!("POST /api/mo/sys/epId-1/nws/vni-{}.json", vnis[1]))
        .expect("the NVE member call");
    let attrs = &member.json()["nvoNw"]["attributes"];
    assert_eq!(attrs["mcastGroup"], "224.0.0.2");
    assert_eq!(attrs["isMcastRange"], "yes");
    assert_eq!(attrs["vniRangeMin"], vnis[1].to_string());

    for p in &ports {
        delete_port(&c, p).await;
    }
    for n in &nets {
        assert_eq!(c.delete(&format!("/v2.0/networks/{n}")).await.status, 204);
    }
    drain(&c, "cisco_nexus").await;
    assert!(switch.backend().config().nve_mcast_groups.is_empty());
    assert!(
        all_driver_state(&server).await.is_empty(),
        "the groups went back with their networks: {:?}",
        all_driver_state(&server).await
    );
    server.stop().await;
}

#[tokio::test]
async fn https_verify_false_reaches_a_self_signed_switch_and_a_verified_one_is_refused() {
    let unverified = FakeHttp::start_tls(FakeNexus::new("admin", "nexus-pw")).await;
    let verified = FakeHttp::start_tls(FakeNexus::new("admin", "nexus-pw")).await;
    assert!(unverified.url().starts_with("https://127.0.0.1:"));
    let switch = |fake: &FakeHttp<FakeNexus>| {
        json!({"username": "admin", "password": "nexus-pw", "url": fake.url(),
            "host_ports_mapping": {"compute-1": ["ethernet1/1"]}})
    };
    let mut first = switch(&unverified);
    first["https_verify"] = json!(false);
    let settings = json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": {"switch_heartbeat_time": 0, "switches": {
            "10.0.0.1": first,
            "10.0.0.2": switch(&verified),   // https_verify defaults to true
        }},
    });
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();
    let r = c.load_driver("cisco_nexus", "cisco_nexus", settings).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c.upload_driver("openvswitch", "openvswitch").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    ovs_agent(&server, "compute-1").await;
    let net = vlan_network(&c, 100).await;

    let port = vm_port(&c, &net, "compute-1").await;
    assert_eq!(port["binding:vif_type"], "ovs", "{port}");
    eventually(60, "the unverified switch getting VLAN 100", async || {
        unverified.backend().trunk("eth1/1") == set(&[100])
    })
    .await;
    assert_eq!(unverified.backend().vlans(), set(&[100]));

    // The switch whose certificate is verified never got a request: the handshake fails,
    // and the journal keeps retrying (a switch it cannot reach), failing nothing.
    eventually(
        60,
        "the verified switch's error in the journal",
        async || {
            let j = c
                .get("/v2.0/mechanism-drivers/cisco_nexus/journal?state=pending")
                .await;
            j.body["journal"]["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| {
                    e["last_error"]
                        .as_str()
                        .is_some_and(|m| m.contains("certificate"))
                })
        },
    )
    .await;
    let j = c.get("/v2.0/mechanism-drivers/cisco_nexus/journal").await;
    assert_eq!(j.body["journal"]["failed"], 0, "{}", j.body);
    assert!(
        j.body["journal"]["pending"].as_i64().unwrap() > 0,
        "{}",
        j.body
    );
    assert!(verified.requests().is_empty());
    assert_eq!(verified.backend().vlans(), set(&[]));
    server.stop().await;
}
