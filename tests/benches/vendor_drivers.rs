//! The four vendor drivers together (benchmark, not a test): port creation from 32 concurrent
//! clients on a VLAN network with Open vSwitch alone, then with `cisco_nexus`, `nsx`,
//! `opendaylight` and `midonet` loaded beside it (all four journaled), each talking to its fake
//! backend on loopback (`tests/src/fakes`, `tests/src/vendors`); and how long a backlog of 100
//! entries takes to drain once OpenDaylight, refusing connections while the ports were
//! created, listens again. Reports API ports/s, p50/p99, and when every backend had every
//! port.
//!
//! Run with `cargo bench -p neutrino-tests --bench vendor_drivers` (add `--profile dev` for a
//! debug build, labelled as such in BENCHMARKS.md). Settings: `NEUTRINO_BENCH_PORTS` (default
//! 1000), `NEUTRINO_BENCH_CLIENTS` (32). SQLite.

use neutrino_tests::bench::{env_usize, percentile};
use std::time::{Duration, Instant};

use neutrino_ml2::agents::AgentReport;
use neutrino_tests::fakes::FakeServer;
use neutrino_tests::fakes::midonet::{Midonet, ROOT};
use neutrino_tests::fakes::odl::{NORTHBOUND, Odl};
use neutrino_tests::vendors::http::FakeHttp;
use neutrino_tests::vendors::nexus::FakeNexus;
use neutrino_tests::vendors::nsx::FakeNsx;
use neutrino_tests::{Client, TestServer};
use serde_json::{Value, json};

const VENDORS: [&str; 4] = ["cisco_nexus", "nsx", "opendaylight", "midonet"];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Backends {
    nexus: FakeHttp<FakeNexus>,
    nsx: FakeHttp<FakeNsx>,
    odl: FakeServer<Odl>,
    midonet: FakeServer<Midonet>,
}

impl Backends {
    async fn start() -> Backends {
        Backends {
            nexus: FakeHttp::start(FakeNexus::new("admin", "nexus-pw")).await,
            nsx: FakeHttp::start(FakeNsx::new("admin", "nsx-pw")).await,
            odl: FakeServer::start(Odl::synced("odl", "odl-pw")).await,
            midonet: FakeServer::start(Midonet::new("mido", "mido-pw", "mido-project")).await,
        }
    }

    /// Each vendor driver's operator settings, pointing at its fake.
    fn settings(&self) -> Vec<(&'static str, Value)> {
        let grants = json!(["log", "config", "state", "http", "session"]);
        vec![
            (
                "cisco_nexus",
                json!({"grants": grants, "http": {"allow": [self.nexus.url()]}, "config": {
                    "switches": {"10.0.0.1": {
                        "username": "admin", "password": "nexus-pw", "url": self.nexus.url(),
                        "physnet": "physnet1",
                        "host_ports_mapping": {"compute-1": ["ethernet1/1"], "compute-2": ["ethernet1/2"]},
                    }},
                }}),
            ),
            (
                "nsx",
                json!({"grants": grants, "http": {"allow": [self.nsx.url()]}, "config": {
                    "nsx_api_managers": [self.nsx.url()], "nsx_api_user": "admin",
                    "nsx_api_password": "nsx-pw",
                    "default_overlay_tz": "1b3a2f36-bfd1-443e-a0f6-4de01abc963e",
                    "default_vlan_tz": "7a5b2a7e-8f0e-4bd6-9bd4-2c7d8e1f0a11",
                    "realization_wait_sec": 0.05, "realization_max_attempts": 5,
                }}),
            ),
            (
                "opendaylight",
                json!({"grants": grants, "http": {"allow": [self.odl.url()]}, "config": {
                    "url": format!("{}{NORTHBOUND}", self.odl.url()),
                    "username": "odl", "password": "odl-pw",
                }}),
            ),
            (
                "midonet",
                json!({"grants": grants, "http": {"allow": [self.midonet.url()]}, "config": {
                    "midonet_uri": format!("{}{ROOT}", self.midonet.url()),
                    "username": "mido", "password": "mido-pw", "project_id": "mido-project",
                }}),
            ),
        ]
    }

    /// Ports NSX and OpenDaylight hold (the switch's trunks are not per port; MidoNet takes
    /// only `midonet` and `uplink` networks, so its hooks run and journal for these VLAN
    /// ports but send nothing).
    fn ports_held(&self) -> [usize; 2] {
        let nsx: usize = self
            .nsx
            .backend()
            .segments()
            .values()
            .map(|s| s.ports.len())
            .sum();
        [nsx, self.odl.backend().stored("ports").len()]
    }
}

async fn ovs_agent(server: &TestServer, host: &str) {
    server
        .plugin()
        .report_agent_state(AgentReport {
            agent_type: "Open vSwitch agent".into(),
            binary: "neutron-openvswitch-agent".into(),
            topic: "N/A".into(),
            host: host.into(),
            configurations: json!({
                "tunnel_types": [], "bridge_mappings": {"physnet1": "br-eth1"},
                "integration_bridge": "br-int", "datapath_type": "system",
                "ovs_hybrid_plug": false,
            }),
            availability_zone: None,
            start_flag: true,
        })
        .await
        .expect("agent report");
}

async fn create_ports(c: &Client, network: &str, ports: usize, clients: usize) -> Vec<Duration> {
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let c = c.clone();
            let network = network.to_string();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for n in (i..ports).step_by(clients) {
                    let host = if n % 2 == 0 { "compute-1" } else { "compute-2" };
                    let started = Instant::now();
                    let r = c
                        .post(
                            "/v2.0/ports",
                            json!({"port": {"network_id": network, "binding:host_id": host,
                                "device_owner": "compute:nova"}}),
                        )
                        .await;
                    assert_eq!(r.status, 201, "{}", r.body);
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all
}

async fn pending(c: &Client, driver: &str) -> u64 {
    let r = c
        .get(&format!("/v2.0/mechanism-drivers/{driver}/journal"))
        .await;
    r.body["journal"]["pending"].as_u64().unwrap_or(u64::MAX)
}

/// Wait until no vendor driver has a pending journal entry and each backend holds `ports`.
async fn drained(c: &Client, backends: &Backends, ports: usize) {
    let started = Instant::now();
    loop {
        if started.elapsed() > Duration::from_secs(120) {
            let mut journals = Vec::new();
            for d in VENDORS {
                journals.push(format!("{d}: {}", pending(c, d).await));
            }
            panic!(
                "not drained after 120 s: want {ports} ports; held (NSX, ODL) {:?}; pending {journals:?}",
                backends.ports_held()
            );
        }
        let mut all_empty = true;
        for d in VENDORS {
            if pending(c, d).await != 0 {
                all_empty = false;
            }
        }
        if all_empty && backends.ports_held().iter().all(|n| *n >= ports) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn server(vendors: Option<&Backends>) -> TestServer {
    let server = TestServer::with_config(|c| {
        c.ml2.mechanism_drivers = vec!["openvswitch".into()];
    })
    .await;
    let c = server.admin();
    let r = c
        .put("/v2.0/quotas/admin", json!({"quota": {"port": -1}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    if let Some(b) = vendors {
        for (name, settings) in b.settings() {
            let r = c.load_driver(name, name, settings).await;
            assert!(r.status == 201 || r.status == 200, "{name}: {}", r.body);
        }
    }
    ovs_agent(&server, "compute-1").await;
    ovs_agent(&server, "compute-2").await;
    server
}

async fn vlan_network(c: &Client) -> String {
    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "bench", "provider:network_type": "vlan",
                "provider:physical_network": "physnet1", "provider:segmentation_id": 100}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["network"]["id"].as_str().unwrap().to_string();
    c.subnet(&id, "10.0.0.0/16").await;
    id
}

fn row(label: &str, ports: usize, elapsed: Duration, latencies: &[Duration], delivered: &str) {
    println!(
        "| {label} | {ports} | {:.0} | {:.1} ms | {:.1} ms | {delivered} |",
        ports as f64 / elapsed.as_secs_f64(),
        ms(percentile(latencies, 50.0)),
        ms(percentile(latencies, 99.0)),
    );
}

async fn run(ports: usize, clients: usize) {
    println!("| drivers | ports | API ports/s | p50 | p99 | every backend had every port after |");
    println!("|---|---|---|---|---|---|");

    let alone = server(None).await;
    let c = alone.admin();
    let net = vlan_network(&c).await;
    create_ports(&c, &net, 2 * clients, clients).await;
    let started = Instant::now();
    let latencies = create_ports(&c, &net, ports, clients).await;
    row(
        "Open vSwitch alone",
        ports,
        started.elapsed(),
        &latencies,
        "—",
    );
    alone.stop().await;

    let backends = Backends::start().await;
    let all = server(Some(&backends)).await;
    let c = all.admin();
    let net = vlan_network(&c).await;
    let warm = 2 * clients;
    create_ports(&c, &net, warm, clients).await;
    drained(&c, &backends, warm).await;
    let started = Instant::now();
    let latencies = create_ports(&c, &net, ports, clients).await;
    let api = started.elapsed();
    drained(&c, &backends, warm + ports).await;
    let delivered = started.elapsed();
    row(
        "Open vSwitch + the four vendor drivers (journaled)",
        ports,
        api,
        &latencies,
        &format!("{:.1} s", delivered.as_secs_f64()),
    );

    // A backlog: OpenDaylight refuses connections while 100 ports are created.
    backends.odl.refuse_connections();
    let before = warm + ports;
    let r = create_ports(&c, &net, 100, clients.min(100)).await;
    assert_eq!(r.len(), 100);
    let backlog = pending(&c, "opendaylight").await;
    let started = Instant::now();
    backends.odl.accept_connections().await;
    drained(&c, &backends, before + 100).await;
    println!();
    println!(
        "OpenDaylight refused connections while 100 ports were created ({backlog} entries pending): \
         every API call succeeded; the backlog drained {:.2} s after it listened again.",
        started.elapsed().as_secs_f64()
    );
    let held = backends.ports_held();
    println!(
        "ports held: NSX {}, OpenDaylight {}; switch VLANs {:?}",
        held[0],
        held[1],
        backends.nexus.backend().vlans()
    );
    all.stop().await;
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "vendor_drivers benchmark: run it with `cargo bench -p neutrino-tests --bench vendor_drivers`"
        );
        return;
    }
    let ports = env_usize("NEUTRINO_BENCH_PORTS", 1000);
    let clients = env_usize("NEUTRINO_BENCH_CLIENTS", 32);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(ports, clients));
}
