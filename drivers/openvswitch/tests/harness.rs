//! The Open vSwitch driver binds like Neutron's `openvswitch` mechanism
//! driver: alive OVS agents on the port's host, segments the agent reaches,
//! vif details from the agent's configuration.

use neutrino_driver_test::{
    BindResult, Binding, Harness, Hook, LogLevel, build_driver, driver_crate_dir, fixtures,
};
use serde_json::json;

const HOST: &str = "compute-1";

async fn driver(agents: Vec<neutrino_driver_test::Agent>) -> Harness {
    let crate_dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "drivers/openvswitch");
    let mut builder = Harness::load(build_driver(crate_dir).expect("openvswitch builds"));
    for agent in agents {
        builder = builder.agent(agent);
    }
    builder.build().await.expect("openvswitch loads")
}

fn physnet1_agent() -> fixtures::AgentBuilder {
    fixtures::ovs_agent(HOST).bridge_mapping("physnet1", "br-eth1")
}

fn bound(result: BindResult) -> Binding {
    match result {
        BindResult::Bound(b) => b,
        other => panic!("expected a binding, got {other:?}"),
    }
}

#[tokio::test]
async fn binds_a_vlan_port_on_an_alive_agent_with_the_physnet_mapped() {
    let ovs = driver(vec![physnet1_agent().build()]).await;
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vlan("physnet1", 100))
        .build();

    let binding = bound(ovs.bind_port(&port).await.unwrap());

    assert_eq!(binding.segment_id, "vlan-physnet1-100");
    assert_eq!(binding.vif_type, "ovs");
    assert_eq!(
        serde_json::Value::Object(binding.vif_details),
        json!({
            "port_filter": true,
            "connectivity": "l2",
            "ovs_hybrid_plug": false,
            "datapath_type": "system",
            "bridge_name": "br-int",
        })
    );
    assert_eq!(binding.status, None);
}

#[tokio::test]
async fn does_not_bind_a_physnet_the_agent_does_not_map() {
    let ovs = driver(vec![physnet1_agent().build()]).await;
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vlan("physnet2", 100))
        .build();

    assert_eq!(ovs.bind_port(&port).await.unwrap(), BindResult::NotBound);
}

#[tokio::test]
async fn binds_flat_and_local_segments() {
    let ovs = driver(vec![physnet1_agent().build()]).await;
    for segment in [fixtures::flat("physnet1"), fixtures::local()] {
        let port = fixtures::port("p1")
            .host(HOST)
            .segment(segment.clone())
            .build();

        assert_eq!(
            bound(ovs.bind_port(&port).await.unwrap()).segment_id,
            segment.id
        );
    }
}

#[tokio::test]
async fn binds_tunnels_only_of_the_agents_tunnel_types() {
    let with_vxlan = driver(vec![physnet1_agent().tunnel_types(&["vxlan"]).build()]).await;
    let without = driver(vec![physnet1_agent().build()]).await;
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vxlan(1001))
        .build();
    let gre = fixtures::port("p2")
        .host(HOST)
        .segment(fixtures::tunnel("gre", 7))
        .build();

    assert_eq!(
        bound(with_vxlan.bind_port(&port).await.unwrap()).segment_id,
        "vxlan-1001"
    );
    assert_eq!(
        with_vxlan.bind_port(&gre).await.unwrap(),
        BindResult::NotBound
    );
    assert_eq!(
        without.bind_port(&port).await.unwrap(),
        BindResult::NotBound
    );
}

#[tokio::test]
async fn binds_the_first_segment_the_agent_reaches() {
    let ovs = driver(vec![physnet1_agent().build()]).await;
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vxlan(1001))
        .segment(fixtures::vlan("physnet1", 200))
        .build();

    assert_eq!(
        bound(ovs.bind_port(&port).await.unwrap()).segment_id,
        "vlan-physnet1-200"
    );
}

#[tokio::test]
async fn skips_dead_agents_with_a_warning() {
    let ovs = driver(vec![physnet1_agent().dead().build()]).await;
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vlan("physnet1", 100))
        .build();

    assert_eq!(ovs.bind_port(&port).await.unwrap(), BindResult::NotBound);
    let warnings: Vec<_> = ovs
        .logs()
        .into_iter()
        .filter(|l| l.level == LogLevel::Warn)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].message.contains("is dead"),
        "{}",
        warnings[0].message
    );
}

#[tokio::test]
async fn only_uses_agents_on_the_ports_host_and_of_its_own_type() {
    let ovs = driver(vec![
        fixtures::ovs_agent("compute-2")
            .bridge_mapping("physnet1", "br-eth1")
            .build(),
        fixtures::linuxbridge_agent(HOST)
            .interface_mapping("physnet1", "eth1")
            .build(),
    ])
    .await;
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vlan("physnet1", 100))
        .build();
    let unhosted = fixtures::port("p2")
        .segment(fixtures::vlan("physnet1", 100))
        .build();

    assert_eq!(ovs.bind_port(&port).await.unwrap(), BindResult::NotBound);
    assert_eq!(
        ovs.bind_port(&unhosted).await.unwrap(),
        BindResult::NotBound
    );
}

#[tokio::test]
async fn binds_only_normal_vnic_ports() {
    let ovs = driver(vec![physnet1_agent().build()]).await;
    let port = fixtures::port("p1")
        .host(HOST)
        .vnic_type("direct")
        .segment(fixtures::vlan("physnet1", 100))
        .build();

    assert_eq!(ovs.bind_port(&port).await.unwrap(), BindResult::NotBound);
}

#[tokio::test]
async fn reports_the_agents_bridge_datapath_and_hybrid_plug() {
    let agent = physnet1_agent()
        .config("integration_bridge", json!("br-custom"))
        .config("ovs_hybrid_plug", json!(true))
        .build();
    let ovs = driver(vec![agent]).await;
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vlan("physnet1", 100))
        .build();

    let details = bound(ovs.bind_port(&port).await.unwrap()).vif_details;

    assert_eq!(details["bridge_name"], "br-custom");
    assert_eq!(details["ovs_hybrid_plug"], true);
}

#[tokio::test]
async fn port_filter_follows_the_configuration() {
    let crate_dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "drivers/openvswitch");
    let ovs = Harness::load(build_driver(crate_dir).unwrap())
        .config("port_filter", "false")
        .agent(physnet1_agent().build())
        .build()
        .await
        .unwrap();
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vlan("physnet1", 100))
        .build();

    let details = bound(ovs.bind_port(&port).await.unwrap()).vif_details;

    assert_eq!(details["port_filter"], false);
}

#[tokio::test]
async fn a_dpdk_agent_gets_vhostuser_ports() {
    let agent = physnet1_agent()
        .config("datapath_type", json!("netdev"))
        .config("vhostuser_socket_dir", json!("/var/run/ovs"))
        .config(
            "ovs_capabilities",
            json!({"iface_types": ["dpdk", "dpdkvhostuserclient"]}),
        )
        .build();
    let ovs = driver(vec![agent]).await;
    let port = fixtures::port("a0f4a4b6-9d53-4a39")
        .host(HOST)
        .segment(fixtures::vlan("physnet1", 100))
        .build();

    let binding = bound(ovs.bind_port(&port).await.unwrap());

    assert_eq!(binding.vif_type, "vhostuser");
    assert_eq!(
        serde_json::Value::Object(binding.vif_details),
        json!({
            "port_filter": false,
            "ovs_hybrid_plug": false,
            "vhostuser_mode": "server",
            "vhostuser_ovs_plug": true,
            "vhostuser_socket": "/var/run/ovs/vhua0f4a4b6-9d",
            "datapath_type": "netdev",
        })
    );
}

#[tokio::test]
async fn resource_hooks_do_nothing() {
    let ovs = driver(vec![]).await;
    let port = fixtures::port("p1").host(HOST).build();

    for hook in Hook::ALL {
        ovs.call_port(hook, &port).await.unwrap();
    }

    assert!(ovs.state_writes().is_empty());
    assert!(ovs.http_requests().is_empty());
}
