//! The Linux bridge driver binds like Neutron's `linuxbridge` mechanism
//! driver: alive Linux bridge agents on the port's host, physnets from
//! `interface_mappings` or `bridge_mappings`, vif type `bridge`.

use neutrino_driver_test::{
    BindResult, Binding, Harness, build_driver, driver_crate_dir, fixtures,
};
use serde_json::json;

const HOST: &str = "compute-1";

async fn driver(agents: Vec<neutrino_driver_test::Agent>) -> Harness {
    let crate_dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "drivers/linuxbridge");
    let mut builder = Harness::load(build_driver(crate_dir).expect("linuxbridge builds"));
    for agent in agents {
        builder = builder.agent(agent);
    }
    builder.build().await.expect("linuxbridge loads")
}

fn bound(result: BindResult) -> Binding {
    match result {
        BindResult::Bound(b) => b,
        other => panic!("expected a binding, got {other:?}"),
    }
}

#[tokio::test]
async fn binds_a_vlan_on_a_physnet_from_interface_mappings() {
    let lb = driver(vec![
        fixtures::linuxbridge_agent(HOST)
            .interface_mapping("physnet1", "eth1")
            .build(),
    ])
    .await;
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vlan("physnet1", 100))
        .build();

    let binding = bound(lb.bind_port(&port).await.unwrap());

    assert_eq!(binding.segment_id, "vlan-physnet1-100");
    assert_eq!(binding.vif_type, "bridge");
    assert_eq!(
        serde_json::Value::Object(binding.vif_details),
        json!({"port_filter": true, "connectivity": "l2"})
    );
}

#[tokio::test]
async fn binds_a_flat_network_on_a_physnet_from_bridge_mappings() {
    let lb = driver(vec![
        fixtures::linuxbridge_agent(HOST)
            .bridge_mapping("physnet2", "br-ext")
            .build(),
    ])
    .await;
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::flat("physnet2"))
        .build();

    assert_eq!(
        bound(lb.bind_port(&port).await.unwrap()).segment_id,
        "flat-physnet2"
    );
}

#[tokio::test]
async fn does_not_bind_unmapped_physnets_or_unsupported_tunnels() {
    let lb = driver(vec![
        fixtures::linuxbridge_agent(HOST)
            .interface_mapping("physnet1", "eth1")
            .build(),
    ])
    .await;
    let other_physnet = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vlan("physnet9", 100))
        .build();
    let vxlan = fixtures::port("p2")
        .host(HOST)
        .segment(fixtures::vxlan(5))
        .build();

    assert_eq!(
        lb.bind_port(&other_physnet).await.unwrap(),
        BindResult::NotBound
    );
    assert_eq!(lb.bind_port(&vxlan).await.unwrap(), BindResult::NotBound);
}

#[tokio::test]
async fn binds_vxlan_when_the_agent_supports_it() {
    let lb = driver(vec![
        fixtures::linuxbridge_agent(HOST)
            .tunnel_types(&["vxlan"])
            .build(),
    ])
    .await;
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vxlan(5))
        .build();

    assert_eq!(
        bound(lb.bind_port(&port).await.unwrap()).segment_id,
        "vxlan-5"
    );
}

#[tokio::test]
async fn ignores_dead_agents_and_ovs_agents() {
    let lb = driver(vec![
        fixtures::linuxbridge_agent(HOST)
            .interface_mapping("physnet1", "eth1")
            .dead()
            .build(),
        fixtures::ovs_agent(HOST)
            .bridge_mapping("physnet1", "br-eth1")
            .build(),
    ])
    .await;
    let port = fixtures::port("p1")
        .host(HOST)
        .segment(fixtures::vlan("physnet1", 100))
        .build();

    assert_eq!(lb.bind_port(&port).await.unwrap(), BindResult::NotBound);
}

#[tokio::test]
async fn binds_only_normal_vnic_ports() {
    let lb = driver(vec![
        fixtures::linuxbridge_agent(HOST)
            .interface_mapping("physnet1", "eth1")
            .build(),
    ])
    .await;
    let port = fixtures::port("p1")
        .host(HOST)
        .vnic_type("macvtap")
        .segment(fixtures::vlan("physnet1", 100))
        .build();

    assert_eq!(lb.bind_port(&port).await.unwrap(), BindResult::NotBound);
}
