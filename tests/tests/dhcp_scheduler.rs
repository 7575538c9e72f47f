//! DHCP agent scheduling (`dhcp_agent_scheduler`): networks with a DHCP-enabled subnet are
//! served by `dhcp_agents_per_network` alive DHCP agents, the least loaded first, never
//! more under concurrency; a DHCP agent asking for its networks gets exactly those
//! scheduled to it; admins list, add and remove bindings with Neutron's answers.

use neutrino_bus::Bus;
use neutrino_bus::neutron::{self, AgentState, AgentStateWrapper};
use neutrino_tests::{Backend, TestDb, TestServer, s};
use serde_json::{Value, json};

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

/// What the DHCP agent of `host` is told to serve.
async fn active_networks(bus: &Bus, host: &str) -> Vec<String> {
    let nets: Vec<Value> = bus
        .client(neutron::PLUGIN)
        .call::<neutron::GetActiveNetworksInfo>(&neutron::HostArgs {
            host: host.to_string(),
        })
        .await
        .unwrap();
    let mut ids: Vec<String> = nets.iter().map(|n| s(n, "id").to_string()).collect();
    ids.sort();
    ids
}

/// `n` networks with a DHCP subnet, created concurrently (through the servers in turn).
async fn networks_on(servers: &[&TestServer], n: usize) -> Vec<String> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let c = servers[i % servers.len()].admin();
        tasks.push(tokio::spawn(async move {
            let net = c.network(&format!("n{i}")).await;
            let id = s(&net, "id").to_string();
            c.subnet(&id, &format!("10.{}.0.0/24", 100 + i)).await;
            id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort();
    ids
}

async fn networks(server: &TestServer, n: usize) -> Vec<String> {
    networks_on(&[server], n).await
}

async fn agents_of(c: &neutrino_tests::Client, net: &str) -> Vec<String> {
    let r = c.get(&format!("/v2.0/networks/{net}/dhcp-agents")).await;
    r.items("agents")
        .iter()
        .map(|a| s(a, "host").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_network_gets_exactly_one_dhcp_agent_under_concurrency_and_agents_share_the_load() {
    let server = TestServer::start().await;
    let bus = server.bus().clone();
    let (a, b) = ("dhcp-a", "dhcp-b");
    report_dhcp(&bus, a).await;
    report_dhcp(&bus, b).await;
    let nets = networks(&server, 32).await;
    // Both agents ask for their networks at once, 32 times over (each ask schedules).
    let mut asks = Vec::new();
    for i in 0..32 {
        let bus = bus.clone();
        let host = if i % 2 == 0 { a } else { b };
        asks.push(tokio::spawn(
            async move { active_networks(&bus, host).await },
        ));
    }
    for t in asks {
        t.await.unwrap();
    }
    let (on_a, on_b) = (
        active_networks(&bus, a).await,
        active_networks(&bus, b).await,
    );
    let mut all: Vec<String> = on_a.iter().chain(&on_b).cloned().collect();
    all.sort();
    assert_eq!(
        all, nets,
        "every network is served exactly once (dhcp_agents_per_network = 1)"
    );
    assert!(
        !on_a.is_empty() && !on_b.is_empty(),
        "both agents serve networks: {} and {}",
        on_a.len(),
        on_b.len()
    );
    let c = server.admin();
    for n in &nets {
        assert_eq!(
            agents_of(&c, n).await.len(),
            1,
            "network {n} has one DHCP agent"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_agents_per_network_every_network_is_on_both() {
    let server = TestServer::with_config(|c| c.dhcp_agents_per_network = 2).await;
    let bus = server.bus().clone();
    report_dhcp(&bus, "dhcp-x").await;
    report_dhcp(&bus, "dhcp-y").await;
    let nets = networks(&server, 8).await;
    assert_eq!(active_networks(&bus, "dhcp-x").await, nets);
    assert_eq!(active_networks(&bus, "dhcp-y").await, nets);
    // A third agent gets nothing: every network has its two.
    report_dhcp(&bus, "dhcp-z").await;
    assert!(active_networks(&bus, "dhcp-z").await.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_add_and_remove_bindings_with_neutrons_answers() {
    let server = TestServer::start().await;
    let bus = server.bus().clone();
    report_dhcp(&bus, "dhcp-1").await;
    report_dhcp(&bus, "dhcp-2").await;
    let c = server.admin();
    let agents = c.get("/v2.0/agents?agent_type=DHCP%20agent").await;
    let id_of = |host: &str| {
        agents
            .items("agents")
            .iter()
            .find(|a| a["host"] == host)
            .map(|a| s(a, "id").to_string())
            .unwrap()
    };
    let (one, two) = (id_of("dhcp-1"), id_of("dhcp-2"));
    // A network without a subnet is scheduled by hand only.
    let net = c.network("manual").await;
    let net_id = s(&net, "id").to_string();
    let r = c
        .post(
            &format!("/v2.0/agents/{one}/dhcp-networks"),
            json!({"network_id": net_id}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c
        .post(
            &format!("/v2.0/agents/{one}/dhcp-networks"),
            json!({"network_id": net_id}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["NeutronError"]["type"], "NetworkHostedByDHCPAgent");
    let listed = c.get(&format!("/v2.0/agents/{one}/dhcp-networks")).await;
    assert_eq!(listed.items("networks").len(), 1);
    assert_eq!(listed.items("networks")[0]["id"], net_id.as_str());
    assert_eq!(agents_of(&c, &net_id).await, ["dhcp-1"]);
    assert!(
        c.get(&format!("/v2.0/agents/{two}/dhcp-networks"))
            .await
            .items("networks")
            .is_empty()
    );

    // Not a DHCP agent, an unknown network, a binding that is not there.
    let r = c
        .post(
            "/v2.0/agents/00000000-0000-0000-0000-000000000000/dhcp-networks",
            json!({"network_id": net_id}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["NeutronError"]["type"], "InvalidDHCPAgent");
    let r = c
        .post(
            &format!("/v2.0/agents/{two}/dhcp-networks"),
            json!({"network_id": "00000000-0000-0000-0000-000000000000"}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["NeutronError"]["type"], "NetworkNotFound");
    let r = c
        .delete(&format!("/v2.0/agents/{two}/dhcp-networks/{net_id}"))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body["NeutronError"]["type"],
        "NetworkNotHostedByDhcpAgent"
    );

    let r = c
        .delete(&format!("/v2.0/agents/{one}/dhcp-networks/{net_id}"))
        .await;
    assert_eq!(r.status, 204);
    assert!(agents_of(&c, &net_id).await.is_empty());

    // Members may not look.
    let member = server.project("p1");
    let r = member
        .get(&format!("/v2.0/networks/{net_id}/dhcp-agents"))
        .await;
    assert_eq!(r.status, 403);
    // The extension is advertised.
    let ext = c.get("/v2.0/extensions/dhcp_agent_scheduler").await;
    assert_eq!(ext.body["extension"]["name"], "DHCP Agent Scheduler");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgresql_never_schedule_a_network_twice() {
    let first = TestServer::on_db(TestDb::new(Backend::Postgres).await, |_| {}).await;
    let second = TestServer::on_db(TestDb::existing(&first.db.url), |_| {}).await;
    let (bus1, bus2) = (first.bus().clone(), second.bus().clone());
    report_dhcp(&bus1, "dhcp-p").await;
    report_dhcp(&bus2, "dhcp-q").await;
    let nets = networks_on(&[&first, &second], 32).await;
    // 32 asks at once, from both agents, through both servers.
    let mut asks = Vec::new();
    for i in 0..32 {
        let bus = if i % 2 == 0 {
            bus1.clone()
        } else {
            bus2.clone()
        };
        let host = if i % 4 < 2 { "dhcp-p" } else { "dhcp-q" };
        asks.push(tokio::spawn(
            async move { active_networks(&bus, host).await },
        ));
    }
    for t in asks {
        t.await.unwrap();
    }
    let (p, q) = (
        active_networks(&bus1, "dhcp-p").await,
        active_networks(&bus2, "dhcp-q").await,
    );
    let mut all: Vec<String> = p.iter().chain(&q).cloned().collect();
    all.sort();
    assert_eq!(
        all, nets,
        "every network is served exactly once across both servers"
    );
    let c = second.admin();
    for n in &nets {
        assert_eq!(
            agents_of(&c, n).await.len(),
            1,
            "network {n} has one DHCP agent"
        );
    }
    // 32 schedulers of one new network at once, half on each server (what notifications
    // about a new network's ports do): one agent, never two.
    for round in 0..8 {
        let net = networks_on(&[&first], 1).await.remove(0);
        let mut tasks = Vec::new();
        for i in 0..32 {
            let plugin = if i % 2 == 0 {
                first.plugin().clone()
            } else {
                second.plugin().clone()
            };
            let net = net.clone();
            tasks.push(tokio::spawn(async move {
                plugin.schedule_network(&net).await.unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(
                t.await.unwrap().len(),
                1,
                "round {round}: every scheduler sees one agent"
            );
        }
        assert_eq!(
            agents_of(&c, &net).await.len(),
            1,
            "round {round}: one DHCP agent"
        );
    }
    second.stop().await;
    first.stop().await;
}
