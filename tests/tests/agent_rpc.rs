//! The server's RPC layer as an agent sees it, over the bus: state reports make an agent
//! listed and alive, device details and device up/down drive a port's status, port changes
//! reach the L2 agents' fanouts and the DHCP agents, and a DHCP agent gets its own port. A
//! port on a DHCP network goes `ACTIVE` only once both its L2 agent and its DHCP agent said
//! so, in either order (provisioning blocks), also with 32 ports at once on two servers.
//! Each test runs on the in-process bus and, when RabbitMQ is there, with the server and the
//! "agent" on separate AMQP connections (SKIPPED line without a broker, unless
//! `NEUTRINO_TEST_REQUIRE_RABBITMQ` is set).

use std::time::Duration;

use neutrino_bus::neutron::{self, AgentState, AgentStateWrapper};
use neutrino_bus::{Bus, Dispatcher, Endpoint, Listener, RemoteError};
use neutrino_tests::rabbit::{self, Vhost};
use neutrino_tests::{Backend, TestDb, TestServer, s};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// `(name, server, the agent's bus, the broker's virtual host)` for each available
/// transport.
async fn setups(test: &str) -> Vec<(&'static str, TestServer, Bus, Option<Vhost>)> {
    let server = TestServer::start().await;
    let bus = server.bus().clone();
    let mut out = vec![("memory", server, bus, None)];
    if let Some(vhost) = rabbit::vhost(test) {
        let url = vhost.url.clone();
        let server = TestServer::with_config(|c| c.transport_url = url.clone()).await;
        let bus = Bus::connect(&url)
            .await
            .expect("agent connects to RabbitMQ");
        out.push(("amqp", server, bus, Some(vhost)));
    }
    out
}

fn unique_host(name: &str) -> String {
    format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

async fn report(bus: &Bus, host: &str, start: bool) -> String {
    bus.client(neutron::REPORTS)
        .call::<neutron::ReportState>(&neutron::ReportStateArgs {
            agent_state: AgentStateWrapper {
                agent_state: AgentState {
                    binary: "neutron-openvswitch-agent".into(),
                    host: host.into(),
                    topic: "N/A".into(),
                    agent_type: neutron::agent_type::OVS.into(),
                    configurations: json!({
                        "tunnel_types": ["vxlan"],
                        "bridge_mappings": {"physnet1": "br-ex"},
                        "integration_bridge": "br-int",
                        "datapath_type": "netdev",
                    }),
                    start_flag: start.then_some(true),
                    availability_zone: None,
                },
            },
            time: "2026-01-01T00:00:00.000000".into(),
        })
        .await
        .expect("report_state answered")
}

/// A DHCP agent's state report from `host` (networks are scheduled to DHCP agents).
async fn report_dhcp(bus: &Bus, host: &str) {
    bus.client(neutron::REPORTS)
        .call::<neutron::ReportState>(&neutron::ReportStateArgs {
            agent_state: AgentStateWrapper {
                agent_state: AgentState {
                    binary: "neutron-dhcp-agent".into(),
                    host: host.into(),
                    topic: neutron::DHCP_AGENT.into(),
                    agent_type: neutron::agent_type::DHCP.into(),
                    configurations: json!({}),
                    start_flag: Some(true),
                    availability_zone: None,
                },
            },
            time: "2026-01-01T00:00:00.000000".into(),
        })
        .await
        .expect("report_state answered");
}

/// Records every notification a topic's listener gets: (method, args).
async fn record(
    bus: &Bus,
    topic: &str,
    host: &str,
) -> (Box<dyn Listener>, mpsc::UnboundedReceiver<(String, Value)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut ep = Endpoint::new("1.10");
    macro_rules! rec {
        ($($m:ty),*) => {$(
            let t = tx.clone();
            ep = ep.on::<$m, _, _>(move |_ctx, a| {
                let t = t.clone();
                async move {
                    let _ = t.send((<$m as neutrino_bus::Method>::NAME.to_string(), serde_json::to_value(&a).unwrap()));
                    Ok::<_, RemoteError>(())
                }
            });
        )*};
    }
    rec!(
        neutron::PortUpdate,
        neutron::PortDelete,
        neutron::PortCreateEnd,
        neutron::PortUpdateEnd,
        neutron::PortDeleteEnd,
        neutron::NetworkDeleteEnd,
        neutron::SubnetUpdateEnd
    );
    let l = bus
        .serve(topic, host, Dispatcher::default().with(ep))
        .await
        .unwrap();
    (l, rx)
}

/// The next notification of `method` whose arguments satisfy `pred`.
async fn expect(
    rx: &mut mpsc::UnboundedReceiver<(String, Value)>,
    method: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((m, a))) if m == method && pred(&a) => return a,
            Ok(Some(_)) => {}
            _ => panic!("no {method} notification arrived"),
        }
    }
}

/// A DHCP agent's `dhcp_ready_on_ports`.
async fn dhcp_ready(bus: &Bus, ports: &[&str]) {
    bus.client(neutron::PLUGIN)
        .call::<neutron::DhcpReadyOnPorts>(&neutron::DhcpReadyArgs {
            port_ids: ports.iter().map(|p| p.to_string()).collect(),
        })
        .await
        .expect("dhcp_ready_on_ports answered");
}

/// An L2 agent's `update_device_list` with one device up (`up`) or down; whether the server
/// took it.
async fn device(bus: &Bus, host: &str, port_id: &str, up: bool) -> bool {
    let tap = format!("tap{}", &port_id[..11]);
    let mut args = neutron::DeviceListArgs {
        host: host.into(),
        ..Default::default()
    };
    if up {
        args.devices_up = vec![tap.clone()];
    } else {
        args.devices_down = vec![tap.clone()];
    }
    let r = bus
        .client(neutron::PLUGIN)
        .call::<neutron::UpdateDeviceList>(&args)
        .await
        .expect("update_device_list answered");
    r.devices_up.contains(&tap) || r.devices_down.contains(&tap)
}

async fn status(c: &neutrino_tests::Client, port: &str) -> String {
    let r = c.get(&format!("/v2.0/ports/{port}")).await;
    r.get("port")["status"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reports_wires_a_port_and_the_port_goes_active_then_down() {
    for (name, server, bus, _vhost) in setups("agent wiring").await {
        let host = unique_host("compute");
        assert_eq!(report(&bus, &host, true).await, "new", "{name}");
        assert_eq!(report(&bus, &host, false).await, "alive", "{name}");
        let c = server.admin();
        let agents = c.get(&format!("/v2.0/agents?host={host}")).await;
        let agents = agents.items("agents");
        assert_eq!(agents.len(), 1, "{name}");
        assert_eq!(agents[0]["agent_type"], "Open vSwitch agent", "{name}");
        assert_eq!(agents[0]["alive"], true, "{name}");
        assert_eq!(
            agents[0]["configurations"]["datapath_type"], "netdev",
            "{name}"
        );

        let (_l1, mut updates) = record(&bus, neutron::PORT_UPDATE, &host).await;
        let (_l2, mut deletes) = record(&bus, neutron::PORT_DELETE, &host).await;
        let (_l3, mut dhcp) = record(&bus, neutron::DHCP_AGENT, &host).await;
        report_dhcp(&bus, &host).await;

        let net = c.network("n").await;
        let subnet = c.subnet(s(&net, "id"), "10.9.0.0/24").await;
        let port = c
            .port(
                s(&net, "id"),
                json!({"binding:host_id": host, "device_owner": "compute:nova"}),
            )
            .await;
        let port_id = s(&port, "id").to_string();
        assert_eq!(
            port["binding:vif_type"], "ovs",
            "{name}: bound thanks to the report"
        );
        assert_eq!(port["status"], "DOWN", "{name}");
        expect(&mut dhcp, "port_create_end", |a| {
            a["payload"]["port"]["id"] == port_id.as_str()
        })
        .await;

        let tap = format!("tap{}", &port_id[..11]);
        let asked = bus
            .client(neutron::PLUGIN)
            .call::<neutron::GetDevicesDetailsListAndFailedDevices>(&neutron::DevicesArgs {
                devices: vec![tap.clone(), port_id.clone(), "tapnothing000".into()],
                agent_id: format!("ovs-agent-{host}"),
                host: host.clone(),
            })
            .await
            .unwrap();
        assert!(asked.failed_devices.is_empty(), "{name}");
        let d = &asked.devices[0];
        assert_eq!(d.device, tap, "{name}");
        assert_eq!(d.port_id.as_deref(), Some(port_id.as_str()), "{name}");
        assert_eq!(d.network_id.as_deref(), Some(s(&net, "id")), "{name}");
        assert_eq!(
            d.mac_address.as_deref(),
            Some(s(&port, "mac_address")),
            "{name}"
        );
        assert_eq!(d.network_type.as_deref(), Some("vxlan"), "{name}");
        assert_eq!(
            d.segmentation_id,
            net["provider:segmentation_id"].as_i64(),
            "{name}"
        );
        assert_eq!(d.mtu, net["mtu"].as_i64(), "{name}");
        assert_eq!(d.fixed_ips[0].subnet_id, s(&subnet, "id"), "{name}");
        assert_eq!(
            d.fixed_ips[0].ip_address,
            s(&port["fixed_ips"][0], "ip_address"),
            "{name}"
        );
        assert_eq!(
            asked.devices[1].port_id.as_deref(),
            Some(port_id.as_str()),
            "{name}"
        );
        assert_eq!(
            asked.devices[2].port_id, None,
            "{name}: an unknown device gets no details"
        );
        assert_eq!(status(&c, &port_id).await, "BUILD", "{name}");

        let up = bus
            .client(neutron::PLUGIN)
            .call::<neutron::UpdateDeviceList>(&neutron::DeviceListArgs {
                devices_up: vec![tap.clone()],
                host: host.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(up.devices_up, vec![tap.clone()], "{name}");
        assert_eq!(
            status(&c, &port_id).await,
            "BUILD",
            "{name}: wired, but the DHCP agent serving the network has not said it is ready"
        );
        dhcp_ready(&bus, &[&port_id]).await;
        assert_eq!(status(&c, &port_id).await, "ACTIVE", "{name}");

        // Another host's agent can neither read nor activate the port.
        let other = bus
            .client(neutron::PLUGIN)
            .call::<neutron::UpdateDeviceList>(&neutron::DeviceListArgs {
                devices_up: vec![tap.clone()],
                host: "elsewhere".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(other.failed_devices_up, vec![tap.clone()], "{name}");

        // Admin state down: the L2 agents hear it.
        c.put(
            &format!("/v2.0/ports/{port_id}"),
            json!({"port": {"admin_state_up": false}}),
        )
        .await;
        let u = expect(&mut updates, "port_update", |a| {
            a["port"]["id"] == port_id.as_str()
        })
        .await;
        assert_eq!(u["port"]["admin_state_up"], false, "{name}");
        assert_eq!(u["network_type"], "vxlan", "{name}");

        let down = bus
            .client(neutron::PLUGIN)
            .call::<neutron::UpdateDeviceList>(&neutron::DeviceListArgs {
                devices_down: vec![tap.clone()],
                host: host.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(down.devices_down, vec![tap.clone()], "{name}");
        assert_eq!(status(&c, &port_id).await, "DOWN", "{name}");

        c.delete(&format!("/v2.0/ports/{port_id}")).await;
        expect(&mut deletes, "port_delete", |a| {
            a["port_id"] == port_id.as_str()
        })
        .await;
        expect(&mut dhcp, "port_delete_end", |a| {
            a["payload"]["port_id"] == port_id.as_str()
        })
        .await;
        server.stop().await;
        bus.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_with_dhcp_goes_active_once_its_l2_agent_and_its_dhcp_agent_both_said_so() {
    for (name, server, bus, _vhost) in setups("provisioning blocks").await {
        let host = unique_host("compute");
        report(&bus, &host, true).await;
        report_dhcp(&bus, &host).await;
        let c = server.admin();
        let plugin = server.plugin();
        let net = c.network("pb").await;
        let net_id = s(&net, "id").to_string();
        c.subnet(&net_id, "10.7.0.0/24").await;
        let vm = json!({"binding:host_id": host, "device_owner": "compute:nova"});
        let blocks = |id: String| async move { plugin.provisioning_blocks(&id).await.unwrap() };

        // L2 first, then DHCP.
        let p1 = c.port(&net_id, vm.clone()).await;
        let p1 = s(&p1, "id").to_string();
        assert_eq!(blocks(p1.clone()).await, ["DHCP", "L2"], "{name}");
        assert!(device(&bus, &host, &p1, true).await, "{name}");
        assert_eq!(blocks(p1.clone()).await, ["DHCP"], "{name}");
        assert_eq!(
            status(&c, &p1).await,
            "DOWN",
            "{name}: still waiting for DHCP"
        );
        dhcp_ready(&bus, &[&p1]).await;
        assert_eq!(status(&c, &p1).await, "ACTIVE", "{name}");
        assert!(blocks(p1.clone()).await.is_empty(), "{name}");

        // DHCP first, then L2.
        let p2 = c.port(&net_id, vm.clone()).await;
        let p2 = s(&p2, "id").to_string();
        dhcp_ready(&bus, &[&p2]).await;
        assert_eq!(blocks(p2.clone()).await, ["L2"], "{name}");
        assert_eq!(
            status(&c, &p2).await,
            "DOWN",
            "{name}: still waiting for its L2 agent"
        );
        assert!(device(&bus, &host, &p2, true).await, "{name}");
        assert_eq!(status(&c, &p2).await, "ACTIVE", "{name}");

        // A DHCP agent repeating itself does not bring back a port its L2 agent took down.
        assert!(device(&bus, &host, &p2, false).await, "{name}");
        dhcp_ready(&bus, &[&p2]).await;
        assert_eq!(status(&c, &p2).await, "DOWN", "{name}");

        // A new address means new DHCP entries: the port waits for DHCP again.
        assert!(device(&bus, &host, &p2, true).await, "{name}");
        let r = c
            .put(
                &format!("/v2.0/ports/{p2}"),
                json!({"port": {"fixed_ips": [{"ip_address": "10.7.0.77"}]}}),
            )
            .await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        assert_eq!(blocks(p2.clone()).await, ["DHCP"], "{name}");

        // Without DHCP on its subnet a port needs only its L2 agent.
        let plain = c.network("pb-plain").await;
        let plain_id = s(&plain, "id").to_string();
        c.subnet_with(json!({
            "network_id": plain_id, "cidr": "10.6.0.0/24", "ip_version": 4, "enable_dhcp": false,
        }))
        .await;
        let p3 = c.port(&plain_id, vm.clone()).await;
        let p3 = s(&p3, "id").to_string();
        assert_eq!(blocks(p3.clone()).await, ["L2"], "{name}");
        assert!(device(&bus, &host, &p3, true).await, "{name}");
        assert_eq!(status(&c, &p3).await, "ACTIVE", "{name}");

        // Service ports are never blocked.
        let dhcp_port = c
            .port(
                &net_id,
                json!({"binding:host_id": host, "device_owner": "network:dhcp"}),
            )
            .await;
        assert!(
            blocks(s(&dhcp_port, "id").to_string()).await.is_empty(),
            "{name}"
        );
        server.stop().await;
        bus.close().await;
    }
}

/// 32 ports provisioned at once, each by its L2 agent and its DHCP agent concurrently;
/// `servers` are the servers (sharing one database) the agents talk to, in turn.
async fn thirty_two_ports_provisioned_at_once(what: &str, servers: &[&TestServer]) {
    let host = unique_host("compute");
    let bus0 = servers[0].bus().clone();
    report(&bus0, &host, true).await;
    report_dhcp(&bus0, &host).await;
    let c = servers[0].admin();
    let net = c.network("pb32").await;
    let net_id = s(&net, "id").to_string();
    c.subnet(&net_id, "10.5.0.0/24").await;
    let mut creates = Vec::new();
    for i in 0..32 {
        let c = servers[i % servers.len()].admin();
        let (net_id, host) = (net_id.clone(), host.clone());
        creates.push(tokio::spawn(async move {
            let p = c
                .port(
                    &net_id,
                    json!({"binding:host_id": host, "device_owner": "compute:nova"}),
                )
                .await;
            s(&p, "id").to_string()
        }));
    }
    let mut ports = Vec::new();
    for t in creates {
        ports.push(t.await.unwrap());
    }
    let mut tasks = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        // The L2 agent's call and the DHCP agent's at once, through different servers.
        let l2_bus = servers[i % servers.len()].bus().clone();
        let dhcp_bus = servers[(i + 1) % servers.len()].bus().clone();
        let (p, host) = (p.clone(), host.clone());
        tasks.push(tokio::spawn(async move {
            let ids = [p.as_str()];
            let l2 = device(&l2_bus, &host, &p, true);
            let dhcp = dhcp_ready(&dhcp_bus, &ids);
            if i % 2 == 0 {
                tokio::join!(l2, dhcp).0
            } else {
                tokio::join!(dhcp, l2).1
            }
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap(), "{what}: the device was taken up");
    }
    let c = servers[servers.len() - 1].admin();
    for p in &ports {
        assert_eq!(status(&c, p).await, "ACTIVE", "{what}: port {p}");
        assert!(
            servers[0]
                .plugin()
                .provisioning_blocks(p)
                .await
                .unwrap()
                .is_empty(),
            "{what}: port {p}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_ports_whose_agents_report_at_once_all_go_active() {
    let server = TestServer::start().await;
    thirty_two_ports_provisioned_at_once("one server", &[&server]).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_two_servers_sharing_postgresql_32_ports_whose_agents_report_at_once_all_go_active() {
    let first = TestServer::on_db(TestDb::new(Backend::Postgres).await, |_| {}).await;
    let second = TestServer::on_db(TestDb::existing(&first.db.url), |_| {}).await;
    thirty_two_ports_provisioned_at_once("two servers on PostgreSQL", &[&first, &second]).await;
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dhcp_agent_gets_one_port_per_network_and_the_network_with_its_ports() {
    for (name, server, bus, _vhost) in setups("DHCP RPC").await {
        let host = unique_host("network");
        report_dhcp(&bus, &host).await;
        let c = server.admin();
        let net = c.network("d").await;
        let net_id = s(&net, "id").to_string();
        let subnet = c.subnet(&net_id, "10.8.0.0/24").await;
        let vm = c
            .port(&net_id, json!({"device_owner": "compute:nova"}))
            .await;
        let device_id = format!("dhcp-{host}-{net_id}");
        let dhcp = bus.client(neutron::PLUGIN);
        let ask = neutron::DhcpPortArgs {
            port: json!({"port": {"network_id": net_id, "device_id": device_id}}),
            host: host.clone(),
        };
        let p = dhcp
            .call::<neutron::CreateDhcpPort>(&ask)
            .await
            .unwrap()
            .expect("a DHCP port");
        assert_eq!(p["device_owner"], "network:dhcp", "{name}");
        assert_eq!(p["binding:host_id"], host.as_str(), "{name}");
        assert_eq!(p["fixed_ips"][0]["subnet_id"], s(&subnet, "id"), "{name}");
        let again = dhcp
            .call::<neutron::CreateDhcpPort>(&ask)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            again["id"], p["id"],
            "{name}: asking twice gives the same port"
        );

        let info = dhcp
            .call::<neutron::GetNetworkInfo>(&neutron::NetworkArgs {
                network_id: net_id.clone(),
                host: host.clone(),
            })
            .await
            .unwrap()
            .expect("network info");
        assert_eq!(info["subnets"][0]["cidr"], "10.8.0.0/24", "{name}");
        let ports: Vec<&str> = info["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert!(
            ports.contains(&s(&vm, "id")) && ports.contains(&p["id"].as_str().unwrap()),
            "{name}: {ports:?}"
        );
        let active = dhcp
            .call::<neutron::GetActiveNetworksInfo>(&neutron::HostArgs { host: host.clone() })
            .await
            .unwrap();
        assert!(active.iter().any(|n| n["id"] == net_id.as_str()), "{name}");

        dhcp.call::<neutron::ReleaseDhcpPort>(&neutron::ReleaseDhcpPortArgs {
            network_id: net_id.clone(),
            device_id: device_id.clone(),
            host: host.clone(),
        })
        .await
        .unwrap();
        let left = c.get(&format!("/v2.0/ports?device_id={device_id}")).await;
        assert!(left.items("ports").is_empty(), "{name}: released");
        server.stop().await;
        bus.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_table_runs_the_roles_inside_the_server_on_its_bus() {
    let host = unique_host("allinone");
    let h = host.clone();
    let server = TestServer::with_config(move |c| {
        c.agent.roles = vec!["linuxbridge".into()];
        c.agent.host = Some(h);
    })
    .await;
    let c = server.admin();
    let listed = c.get(&format!("/v2.0/agents?host={host}")).await;
    let agents = listed.items("agents");
    assert_eq!(
        agents.len(),
        1,
        "the role reported before the server answered"
    );
    assert_eq!(agents[0]["agent_type"], "Linux bridge agent");
    assert_eq!(agents[0]["binary"], "neutron-linuxbridge-agent");
    assert_eq!(agents[0]["alive"], true);
    server.stop().await;
}

#[test]
fn an_unknown_agent_role_stops_the_configuration() {
    let mut c = neutrino_server::Config::default();
    c.agent.roles = vec!["sriov".into()];
    let e = c.settings().unwrap_err().to_string();
    assert!(e.contains("agent.roles") && e.contains("sriov"), "{e}");
    // One L2 agent per host.
    c.agent.roles = vec!["linuxbridge".into(), "openvswitch".into()];
    let e = c.settings().unwrap_err().to_string();
    assert!(e.contains("one L2 agent per host"), "{e}");
}
