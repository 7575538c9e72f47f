//! Port binding through the in-tree agent-based drivers (Open vSwitch, Linux bridge): which
//! host, which segment, which vif details, and what happens when nothing can bind.

use neutrino_ml2::agents::AgentReport;
use neutrino_tests::{TestServer, s};
use serde_json::{Value, json};

async fn ovs_agent(server: &TestServer, host: &str, tunnel_types: Value, bridge_mappings: Value) {
    server
        .plugin()
        .report_agent_state(AgentReport {
            agent_type: "Open vSwitch agent".into(),
            binary: "neutron-openvswitch-agent".into(),
            topic: "N/A".into(),
            host: host.into(),
            configurations: json!({
                "tunnel_types": tunnel_types,
                "bridge_mappings": bridge_mappings,
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

async fn port_on(c: &neutrino_tests::Client, net: &str, host: &str) -> Value {
    c.port(
        net,
        json!({"binding:host_id": host, "device_owner": "compute:nova"}),
    )
    .await
}

#[tokio::test]
async fn a_port_on_a_host_with_an_ovs_agent_is_bound_by_openvswitch() {
    let server = TestServer::start().await;
    ovs_agent(
        &server,
        "compute-1",
        json!(["vxlan"]),
        json!({"physnet1": "br-ex"}),
    )
    .await;
    let c = server.admin();
    let net = c.network("n").await;
    c.subnet(s(&net, "id"), "10.1.0.0/24").await;

    let port = port_on(&c, s(&net, "id"), "compute-1").await;

    assert_eq!(port["binding:vif_type"], "ovs");
    assert_eq!(port["binding:vif_details"]["bridge_name"], "br-int");
    assert_eq!(port["binding:vif_details"]["connectivity"], "l2");
    let levels = port["binding:levels"].as_array().unwrap();
    assert_eq!(levels.len(), 1);
    assert_eq!(levels[0]["driver"], "openvswitch");
    server.stop().await;
}

#[tokio::test]
async fn without_an_agent_on_the_host_the_binding_fails_and_says_why() {
    let server = TestServer::start().await;
    ovs_agent(&server, "compute-1", json!(["vxlan"]), json!({})).await;
    let c = server.admin();
    let net = c.network("n").await;

    let port = port_on(&c, s(&net, "id"), "compute-9").await;

    assert_eq!(port["binding:vif_type"], "binding_failed");
    let reason = port["binding:vif_details"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("compute-9") && reason.contains("vxlan"),
        "{reason}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_segment_type_the_agent_does_not_serve_is_not_bound() {
    let server = TestServer::start().await;
    ovs_agent(&server, "compute-1", json!(["vxlan"]), json!({})).await;
    let c = server.admin();
    let net = c
        .post("/v2.0/networks", json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 10}}))
        .await
        .body["network"]
        .clone();

    let port = port_on(&c, s(&net, "id"), "compute-1").await;

    assert_eq!(port["binding:vif_type"], "binding_failed");
    assert!(
        port["binding:vif_details"]["reason"]
            .as_str()
            .unwrap()
            .contains("vlan 10")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_vlan_segment_binds_when_the_physnet_is_in_the_bridge_mappings() {
    let server = TestServer::start().await;
    ovs_agent(
        &server,
        "compute-1",
        json!([]),
        json!({"physnet1": "br-ex"}),
    )
    .await;
    let c = server.admin();
    let net = c
        .post("/v2.0/networks", json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 11}}))
        .await
        .body["network"]
        .clone();

    let port = port_on(&c, s(&net, "id"), "compute-1").await;

    assert_eq!(port["binding:vif_type"], "ovs");
    server.stop().await;
}

#[tokio::test]
async fn the_linux_bridge_driver_binds_where_only_a_linux_bridge_agent_runs() {
    let server = TestServer::start().await;
    server
        .plugin()
        .report_agent_state(AgentReport {
            agent_type: "Linux bridge agent".into(),
            binary: "neutron-linuxbridge-agent".into(),
            topic: "N/A".into(),
            host: "lb-host".into(),
            configurations: json!({"tunnel_types": ["vxlan"], "interface_mappings": {"physnet1": "eth1"}}),
            availability_zone: None,
            start_flag: true,
        })
        .await
        .unwrap();
    let c = server.admin();
    let net = c.network("n").await;

    let port = port_on(&c, s(&net, "id"), "lb-host").await;

    assert_eq!(port["binding:vif_type"], "bridge");
    assert_eq!(port["binding:levels"][0]["driver"], "linuxbridge");
    server.stop().await;
}

#[tokio::test]
async fn changing_the_host_rebinds_the_port() {
    let server = TestServer::start().await;
    ovs_agent(&server, "compute-1", json!(["vxlan"]), json!({})).await;
    let c = server.admin();
    let net = c.network("n").await;
    let port = port_on(&c, s(&net, "id"), "compute-0").await;
    assert_eq!(port["binding:vif_type"], "binding_failed");

    let moved = c
        .put(
            &format!("/v2.0/ports/{}", s(&port, "id")),
            json!({"port": {"binding:host_id": "compute-1"}}),
        )
        .await;

    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body["port"]["binding:vif_type"], "ovs");
    assert_eq!(moved.body["port"]["binding:host_id"], "compute-1");
    assert!(moved.body["port"]["revision_number"].as_i64() > port["revision_number"].as_i64());
    server.stop().await;
}

#[tokio::test]
async fn binding_details_are_shown_to_admins_only() {
    let server = TestServer::start().await;
    ovs_agent(&server, "compute-1", json!(["vxlan"]), json!({})).await;
    let admin = server.admin();
    let net = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "shared", "shared": true}}),
        )
        .await
        .body["network"]
        .clone();
    let port = port_on(&admin, s(&net, "id"), "compute-1").await;
    // A member (not admin) of the port's own project.
    let user = server.project("admin");

    let seen = user.get(&format!("/v2.0/ports/{}", s(&port, "id"))).await;

    assert_eq!(seen.status, 200);
    assert!(seen.body["port"].get("binding:vif_type").is_none());
    assert!(seen.body["port"].get("binding:levels").is_none());
    assert_eq!(seen.body["port"]["binding:vnic_type"], "normal");
    server.stop().await;
}

#[tokio::test]
async fn a_disabled_driver_does_not_bind() {
    let server = TestServer::start().await;
    ovs_agent(&server, "compute-1", json!(["vxlan"]), json!({})).await;
    let c = server.admin();
    let off = c
        .put(
            "/v2.0/mechanism-drivers/openvswitch",
            json!({"mechanism_driver": {"enabled": false}}),
        )
        .await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    let net = c.network("n").await;

    let port = port_on(&c, s(&net, "id"), "compute-1").await;

    assert_eq!(port["binding:vif_type"], "binding_failed");
    server.stop().await;
}

#[tokio::test]
async fn agents_are_listed_for_admins_with_alive_computed_from_the_heartbeat() {
    let server = TestServer::start().await;
    ovs_agent(&server, "compute-1", json!(["vxlan"]), json!({})).await;

    let admin_view = server.admin().get("/v2.0/agents").await;
    let user_view = server.project("p").get("/v2.0/agents").await;

    let agents = admin_view.body["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0]["host"], "compute-1");
    assert_eq!(agents[0]["alive"], true);
    assert_eq!(agents[0]["agent_type"], "Open vSwitch agent");
    assert_eq!(user_view.body["agents"].as_array().unwrap().len(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_fabric_driver_binds_the_top_level_and_openvswitch_binds_a_dynamic_vlan_below() {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();
    assert_eq!(c.upload_driver("fabric", "fabric").await.status, 201);
    assert_eq!(
        c.upload_driver("openvswitch", "openvswitch").await.status,
        201
    );
    ovs_agent(
        &server,
        "compute-1",
        json!([]),
        json!({"physnet1": "br-ex"}),
    )
    .await;
    let net = c.network("n").await;

    let port = port_on(&c, s(&net, "id"), "compute-1").await;

    assert_eq!(port["binding:vif_type"], "ovs", "{port}");
    let levels = port["binding:levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    assert_eq!(levels[0]["driver"], "fabric");
    assert_eq!(levels[1]["driver"], "openvswitch");
    assert_ne!(levels[0]["segment_id"], levels[1]["segment_id"]);
    // The dynamic VLAN is not a provider segment of the network.
    let shown = c.get(&format!("/v2.0/networks/{}", s(&net, "id"))).await;
    assert_eq!(shown.body["network"]["provider:network_type"], "vxlan");
    // A second port on the network reuses the same dynamic segment.
    let again = port_on(&c, s(&net, "id"), "compute-1").await;
    assert_eq!(
        again["binding:levels"][1]["segment_id"],
        levels[1]["segment_id"]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_dynamic_segment_is_released_when_its_last_port_goes() {
    let server = TestServer::with_config(|c| {
        c.ml2.mechanism_drivers.clear();
        c.ml2.network_vlan_ranges = vec!["physnet1:200:200".into()];
    })
    .await;
    let c = server.admin();
    c.upload_driver("fabric", "fabric").await;
    c.upload_driver("openvswitch", "openvswitch").await;
    ovs_agent(
        &server,
        "compute-1",
        json!([]),
        json!({"physnet1": "br-ex"}),
    )
    .await;
    let net = c.network("n").await;
    let port = port_on(&c, s(&net, "id"), "compute-1").await;
    assert_eq!(port["binding:vif_type"], "ovs");
    let vlan_200 = json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 200}});
    assert_eq!(
        c.post("/v2.0/networks", vlan_200.clone()).await.status,
        409,
        "VLAN 200 is taken by the dynamic segment"
    );

    c.delete(&format!("/v2.0/ports/{}", s(&port, "id"))).await;

    let r = c.post("/v2.0/networks", vlan_200).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    server.stop().await;
}
