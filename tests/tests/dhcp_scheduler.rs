//! DHCP agent scheduling (`dhcp_agent_scheduler`): networks with a DHCP-enabled subnet are
//! served by `dhcp_agents_per_network` alive DHCP agents, the least loaded first, never
//! more under concurrency; a DHCP agent asking for its networks gets exactly those
//! scheduled to it; admins list, add and remove bindings with Neutron's answers; networks of
//! a DHCP agent that stopped reporting move to a live one (`allow_automatic_dhcp_failover`).

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

/// Make the DHCP agent of `host` look as if it had started and last reported long ago
/// (what a crashed agent leaves behind), as its report would have stored it.
async fn silence(server: &TestServer, host: &str) {
    use neutrino_ml2::store::agents;
    let store = server.plugin().store();
    let mut agent = {
        let mut conn = store.reader().acquire().await.unwrap();
        agents::find(&mut conn, neutron::agent_type::DHCP, host)
            .await
            .unwrap()
            .expect("the agent reported")
    };
    agent.started_at = "2000-01-01T00:00:00Z".into();
    agent.heartbeat_timestamp = "2000-01-01T00:00:00Z".into();
    let mut tx = store.begin().await.unwrap();
    agents::upsert(&mut tx, &agent).await.unwrap();
    tx.commit().await.unwrap();
}

/// Records the networks the DHCP agent of `host` is told it got (`network_create_end`).
async fn told_networks(
    bus: &Bus,
    host: &str,
) -> (
    Box<dyn neutrino_bus::Listener>,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let ep =
        neutrino_bus::Endpoint::new("1.0").on::<neutron::NetworkCreateEnd, _, _>(move |_ctx, a| {
            let tx = tx.clone();
            async move {
                let id = a.payload["network"]["id"].as_str().unwrap_or_default();
                let _ = tx.send(id.to_string());
                Ok::<_, neutrino_bus::RemoteError>(())
            }
        });
    let l = bus
        .serve(
            neutron::DHCP_AGENT,
            host,
            neutrino_bus::Dispatcher::default().with(ep),
        )
        .await
        .unwrap();
    (l, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_leaves_a_dead_dhcp_agent_for_a_live_one() {
    let server = TestServer::start().await;
    let bus = server.bus().clone();
    report_dhcp(&bus, "dhcp-a").await;
    let nets = networks(&server, 3).await;
    report_dhcp(&bus, "dhcp-b").await;
    let c = server.admin();
    for n in &nets {
        assert_eq!(agents_of(&c, n).await, ["dhcp-a"]);
    }
    let (_l, mut told) = told_networks(&bus, "dhcp-b").await;
    let plugin = server.plugin();

    // Both alive: nothing moves.
    assert!(
        plugin
            .remove_networks_from_down_agents()
            .await
            .unwrap()
            .is_empty()
    );
    silence(&server, "dhcp-a").await;
    let moved = plugin.remove_networks_from_down_agents().await.unwrap();
    let mut moved_nets: Vec<String> = moved.iter().map(|m| m.network_id.clone()).collect();
    moved_nets.sort();
    assert_eq!(moved_nets, nets, "every network of the dead agent moved");
    assert!(
        moved
            .iter()
            .all(|m| m.from == "dhcp-a" && m.to == ["dhcp-b"])
    );
    for n in &nets {
        assert_eq!(
            agents_of(&c, n).await,
            ["dhcp-b"],
            "the dead agent is off network {n}, the live one on it"
        );
    }
    assert_eq!(active_networks(&bus, "dhcp-b").await, nets);
    let mut got = Vec::new();
    for _ in &nets {
        let id = tokio::time::timeout(std::time::Duration::from_secs(20), told.recv())
            .await
            .expect("the new agent is told")
            .unwrap();
        got.push(id);
    }
    got.sort();
    assert_eq!(got, nets, "the live agent was told of each network");
    // Done once: nothing is left to move.
    assert!(
        plugin
            .remove_networks_from_down_agents()
            .await
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_live_dhcp_agent_or_with_failover_off_networks_stay() {
    // No live agent to take over: the dead agent keeps the network.
    let server = TestServer::start().await;
    let bus = server.bus().clone();
    report_dhcp(&bus, "dhcp-a").await;
    let net = networks(&server, 1).await.remove(0);
    silence(&server, "dhcp-a").await;
    let plugin = server.plugin();
    assert!(
        plugin
            .remove_networks_from_down_agents()
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(agents_of(&server.admin(), &net).await, ["dhcp-a"]);
    server.stop().await;

    // `allow_automatic_dhcp_failover = false`: nothing moves.
    let server = TestServer::with_config(|c| c.allow_automatic_dhcp_failover = false).await;
    let bus = server.bus().clone();
    report_dhcp(&bus, "dhcp-a").await;
    let net = networks(&server, 1).await.remove(0);
    report_dhcp(&bus, "dhcp-b").await;
    silence(&server, "dhcp-a").await;
    assert!(
        server
            .plugin()
            .remove_networks_from_down_agents()
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(agents_of(&server.admin(), &net).await, ["dhcp-a"]);
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
