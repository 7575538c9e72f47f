//! Cisco Nexus and NSX drivers benchmark (not a test), against the fakes of
//! `neutrino_tests::vendors`:
//!
//! 1. port-create throughput (32 clients, `NEUTRINO_BENCH_PORTS` ports, default 300, bound on
//!    two hosts through Open vSwitch) with Open vSwitch alone, with `cisco_nexus`, with `nsx`,
//!    and with both (journaled), same run, on a VLAN network;
//! 2. how long a 100-entry backlog takes to drain once the switch is back: the switch
//!    refuses connections while 100 bound ports are created, then listens again (empty, as
//!    after a reboot); the time from then until the journal is empty, and that the switch
//!    then carries the VLAN on both hosts' trunks.
//!
//! Run with `cargo bench -p neutrino-tests --bench switch_drivers` (add `--profile dev` for a
//! debug build, labelled as such in BENCHMARKS.md). SQLite.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use neutrino_ml2::agents::AgentReport;
use neutrino_runtime::DriverSettings;
use neutrino_tests::vendors::FakeHttp;
use neutrino_tests::vendors::nexus::FakeNexus;
use neutrino_tests::vendors::nsx::FakeNsx;
use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

fn settings(value: Value) -> DriverSettings {
    serde_json::from_value(value).expect("driver settings")
}

async fn server(
    drivers: &[&str],
    switch: &FakeHttp<FakeNexus>,
    nsx: &FakeHttp<FakeNsx>,
) -> TestServer {
    let nexus = settings(json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": {"switch_heartbeat_time": 0, "switches": {"10.0.0.1": {
            "username": "admin", "password": "pw", "url": switch.url(),
            "host_ports_mapping": {"compute-1": ["ethernet1/1"], "compute-2": ["ethernet1/2"]}}}},
        "http": {"allow": [switch.url()]},
        "limits": {"max_concurrent_calls": 64},
    }));
    let nsx_settings = settings(json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": {"nsx_api_managers": [nsx.url()], "nsx_api_user": "admin",
                   "nsx_api_password": "pw", "default_overlay_tz": "tz-o",
                   "default_vlan_tz": "tz-v"},
        "http": {"allow": [nsx.url()]},
        "limits": {"max_concurrent_calls": 64},
    }));
    let mut names: Vec<String> = drivers.iter().map(|d| d.to_string()).collect();
    names.push("openvswitch".into());
    let server = TestServer::with_config(move |c| {
        c.ml2.mechanism_drivers = names;
        c.drivers.settings.insert("cisco_nexus".into(), nexus);
        c.drivers.settings.insert("nsx".into(), nsx_settings);
    })
    .await;
    for host in ["compute-1", "compute-2"] {
        server
            .plugin()
            .report_agent_state(AgentReport {
                agent_type: "Open vSwitch agent".into(),
                binary: "neutron-openvswitch-agent".into(),
                topic: "N/A".into(),
                host: host.into(),
                configurations: json!({"bridge_mappings": {"physnet1": "br-eth1"},
                    "tunnel_types": [], "integration_bridge": "br-int"}),
                availability_zone: None,
                start_flag: true,
            })
            .await
            .expect("agent report");
    }
    server
}

async fn settled(c: &Client, driver: &str) {
    loop {
        let r = c
            .get(&format!("/v2.0/mechanism-drivers/{driver}/journal"))
            .await;
        if r.body["journal"]["pending"] == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Create `n` compute ports bound on the two hosts from 32 clients; the elapsed time.
async fn create_ports(c: &Client, net_id: &str, n: usize) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (c, net_id, next) = (c.clone(), net_id.to_string(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let host = if i % 2 == 0 { "compute-1" } else { "compute-2" };
                    let p = c
                        .port(
                            &net_id,
                            json!({"binding:host_id": host, "device_owner": "compute:nova"}),
                        )
                        .await;
                    assert_eq!(p["binding:vif_type"], "ovs");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

async fn vlan_network(c: &Client) -> String {
    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "vlan",
                "provider:physical_network": "physnet1", "provider:segmentation_id": 100}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    s(&r.body["network"], "id").to_string()
}

#[tokio::main]
async fn main() {
    let ports: usize = std::env::var("NEUTRINO_BENCH_PORTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let switch = FakeHttp::start(FakeNexus::new("admin", "pw")).await;
    let nsx = FakeHttp::start(FakeNsx::new("admin", "pw")).await;

    println!(
        "| drivers (with openvswitch) | ports | seconds | ports/s | all delivered after (s) |"
    );
    println!("|---|---|---|---|---|");
    for drivers in [
        &[][..],
        &["cisco_nexus"][..],
        &["nsx"][..],
        &["cisco_nexus", "nsx"][..],
    ] {
        switch.backend().wipe();
        let server = server(drivers, &switch, &nsx).await;
        let c = server.admin();
        let net = vlan_network(&c).await;
        for d in drivers {
            settled(&c, d).await;
        }
        let started = Instant::now();
        let elapsed = create_ports(&c, &net, ports).await.as_secs_f64();
        for d in drivers {
            settled(&c, d).await;
        }
        let delivered = started.elapsed().as_secs_f64();
        println!(
            "| {} | {ports} | {elapsed:.2} | {:.0} | {delivered:.2} |",
            if drivers.is_empty() {
                "none".to_string()
            } else {
                drivers.join(" + ")
            },
            ports as f64 / elapsed,
        );
        server.stop().await;
    }

    println!();
    println!("| run | ports | outage (s) | back → journal empty (s) |");
    println!("|---|---|---|---|");
    for run in 1..=3 {
        switch.backend().wipe();
        let server = server(&["cisco_nexus"], &switch, &nsx).await;
        let c = server.admin();
        let net = vlan_network(&c).await;
        settled(&c, "cisco_nexus").await;
        switch.refuse_connections().await;
        let outage = create_ports(&c, &net, 100).await;
        switch.accept_connections().await;
        let back = Instant::now();
        settled(&c, "cisco_nexus").await;
        let drained = back.elapsed();
        assert!(switch.backend().trunk("eth1/1").contains(&100));
        assert!(switch.backend().trunk("eth1/2").contains(&100));
        println!(
            "| {run} | 100 | {:.2} | {:.2} |",
            outage.as_secs_f64(),
            drained.as_secs_f64()
        );
        server.stop().await;
    }
}
