//! Several vendors' drivers in one server: Open vSwitch binds the ports, a Cisco Nexus
//! top-of-rack switch (fake NX-API) carries the VLAN on the trunks of the hosts with ports,
//! and OpenDaylight (fake northbound) mirrors the network and the bound ports; deleting the
//! ports takes the VLAN off the switch and the ports off ODL.

use std::time::Duration;

use neutrino_ml2::agents::AgentReport;
use neutrino_runtime::DriverSettings;
use neutrino_tests::fakes::odl::{NORTHBOUND, Odl};
use neutrino_tests::fakes::{FakeServer, journal_settled};
use neutrino_tests::vendors::FakeHttp;
use neutrino_tests::vendors::nexus::FakeNexus;
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
            }),
            availability_zone: None,
            start_flag: true,
        })
        .await
        .expect("agent report");
}

fn settings(value: Value) -> DriverSettings {
    serde_json::from_value(value).expect("driver settings")
}

/// Wait until every journaled change of the controller drivers went out.
async fn settled(c: &Client) {
    for driver in ["cisco_nexus", "opendaylight"] {
        let journal = journal_settled(c, driver, Duration::from_secs(120)).await;
        assert_eq!(journal["failed"], 0, "{driver}: {journal}");
    }
}

#[tokio::test]
async fn ovs_binds_the_switch_trunks_the_vlan_and_odl_mirrors_the_network_and_ports() {
    let switch = FakeHttp::start(FakeNexus::new("admin", "nexus-pw")).await;
    let odl = FakeServer::start(Odl::synced("admin", "odl-pw")).await;
    let nexus = settings(json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": {"switches": {"10.0.0.1": {
            "username": "admin", "password": "nexus-pw", "url": switch.url(),
            "physnet": "physnet1",
            "host_ports_mapping": {"compute-1": ["ethernet1/1"], "compute-2": ["ethernet1/2"]},
        }}},
        "http": {"allow": [switch.url()]},
    }));
    let opendaylight = settings(json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": {"url": format!("{}{NORTHBOUND}", odl.url()), "username": "admin",
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

    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "vlan100", "provider:network_type": "vlan",
                   "provider:physical_network": "physnet1", "provider:segmentation_id": 100}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let net = s(&r.body["network"], "id").to_string();
    c.subnet(&net, "10.0.0.0/24").await;
    let mut ports = Vec::new();
    for host in ["compute-1", "compute-2"] {
        ports.push(
            c.port(
                &net,
                json!({"binding:host_id": host, "device_owner": "compute:nova"}),
            )
            .await,
        );
    }
    settled(&c).await;

    for p in &ports {
        assert_eq!(p["binding:vif_type"], "ovs", "{p}");
        assert_eq!(p["binding:levels"][0]["driver"], "openvswitch");
    }
    let trunk = |iface: &str| {
        switch
            .backend()
            .trunk(iface)
            .into_iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        switch.backend().vlans().into_iter().collect::<Vec<_>>(),
        vec![100]
    );
    assert_eq!(trunk("eth1/1"), vec![100]);
    assert_eq!(trunk("eth1/2"), vec![100]);
    let odl_net = &odl.backend().stored("networks")[&net];
    assert_eq!(odl_net["provider:segmentation_id"], 100);
    let odl_ports = odl.backend().stored("ports");
    for (p, host) in ports.iter().zip(["compute-1", "compute-2"]) {
        let mirrored = &odl_ports[s(p, "id")];
        assert_eq!(mirrored["binding:host_id"], host);
        assert_eq!(mirrored["binding:vif_type"], "ovs");
    }

    for p in &ports {
        let r = c.delete(&format!("/v2.0/ports/{}", s(p, "id"))).await;
        assert_eq!(r.status, 204, "{:?}", r.body);
    }
    settled(&c).await;

    assert!(
        switch.backend().vlans().is_empty(),
        "the VLAN left the switch"
    );
    assert!(trunk("eth1/1").is_empty() && trunk("eth1/2").is_empty());
    assert!(odl.backend().stored("ports").is_empty());
    assert!(
        odl.backend().stored("networks").contains_key(&net),
        "the network stays"
    );
    server.stop().await;
}
