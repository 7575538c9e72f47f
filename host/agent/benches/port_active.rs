//! Port create to `ACTIVE` (not a test): a server and an L2 agent (Linux bridge, or Open
//! vSwitch with `NEUTRINO_BENCH_L2=openvswitch`, userspace datapath) in one process on the
//! in-process bus; each "VM" is a veth whose host end is the port's `tap…` device, made
//! (and, for Open vSwitch, plugged as os-vif does) right after the port is created (Nova's
//! order). The time runs from sending the create request until `GET` shows the port
//! `ACTIVE` (polled every 5 ms): 100 ports one after another, then 20 at once. Needs root
//! and `ip` (and a running Open vSwitch); removes every veth and bridge it made.
//!
//! Run with `cargo bench -p neutrino-agent --bench port_active` (settings:
//! `NEUTRINO_BENCH_SERIAL`, default 100; `NEUTRINO_BENCH_PARALLEL`, default 20;
//! `NEUTRINO_BENCH_L2`, `linuxbridge` or `openvswitch`).

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use neutrino_agent::plug::{self, InterfaceDriver, OvsConfig};
use neutrino_agent::{AgentConfig, Agents};
use neutrino_tests::{Client, TestServer, s};
use serde_json::json;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Veths and bridges (and an OVS bridge) to delete at the end, whatever happens.
#[derive(Default)]
struct Made(Mutex<Vec<String>>, Mutex<Option<String>>);

impl Drop for Made {
    fn drop(&mut self) {
        for l in self.0.lock().unwrap().iter() {
            let _ = Command::new("ip").args(["link", "del", l]).output();
        }
        if let Some(br) = self.1.lock().unwrap().take() {
            // The integration bridge and the tunnel bridge (`bt-…` for `bb-…`).
            for b in [br.clone(), br.replacen("bb-", "bt-", 1)] {
                let _ = Command::new("ovs-vsctl")
                    .args(["--timeout=10", "--if-exists", "del-br", &b])
                    .output();
            }
        }
    }
}

async fn one(c: &Client, net: &str, host: &str, made: &Made, ovs: Option<&OvsConfig>) -> Duration {
    let start = Instant::now();
    let port = c
        .port(
            net,
            json!({"binding:host_id": host, "device_owner": "compute:nova"}),
        )
        .await;
    let id = s(&port, "id").to_string();
    let tap = format!("tap{}", &id[..11]);
    made.0.lock().unwrap().push(tap.clone());
    let peer = format!("vm{}", &id[..11]);
    let out = tokio::process::Command::new("ip")
        .args(["link", "add", &tap, "type", "veth", "peer", "name", &peer])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = tokio::process::Command::new("ip")
        .args(["link", "set", &peer, "up"])
        .output()
        .await;
    if let Some(ovs) = ovs {
        let mac = s(&port, "mac_address");
        plug::plug(&InterfaceDriver::Openvswitch, ovs, &tap, &id, mac)
            .await
            .unwrap();
    }
    loop {
        let r = c.get(&format!("/v2.0/ports/{id}")).await;
        if r.get("port")["status"] == "ACTIVE" {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "port {id} never became ACTIVE"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn summary(what: &str, mut d: Vec<Duration>) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    let q = |p: f64| d[((d.len() - 1) as f64 * p).round() as usize];
    println!(
        "{what}: n={} p50={:.0} ms p90={:.0} ms max={:.0} ms",
        d.len(),
        ms(q(0.5)),
        ms(q(0.9)),
        ms(d[d.len() - 1])
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    #[allow(unsafe_code)]
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIPPED: port_active needs root");
        return;
    }
    let made = Arc::new(Made::default());
    let server = TestServer::with_config(|c| c.quotas.quota_port = -1).await;
    let host = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let l2 = std::env::var("NEUTRINO_BENCH_L2").unwrap_or_else(|_| "linuxbridge".into());
    let ovs_config = OvsConfig {
        integration_bridge: format!("bb-{}", &host[6..]),
        datapath_type: "netdev".into(),
        // VXLAN networks bind where the agent has tunnels (none to reach on one host).
        local_ip: Some("127.0.0.1".into()),
        tunnel_bridge: format!("bt-{}", &host[6..]),
        int_peer_patch_port: format!("pt-{}", &host[6..]),
        tun_peer_patch_port: format!("pi-{}", &host[6..]),
        ..OvsConfig::default()
    };
    let ovs = (l2 == "openvswitch").then_some(ovs_config.clone());
    if ovs.is_some() {
        *made.1.lock().unwrap() = Some(ovs_config.integration_bridge.clone());
    }
    println!("L2 agent: {l2}");
    let config = AgentConfig {
        roles: vec![l2.clone()],
        host: host.clone(),
        ovs: ovs_config,
        agent: neutrino_agent::L2AgentConfig {
            tunnel_types: vec!["vxlan".into()],
        },
        ..AgentConfig::default()
    };
    let agents = Agents::start(server.bus().clone(), &config).await.unwrap();
    let c = server.admin();
    let net = c.network("bench").await;
    let net_id = s(&net, "id").to_string();
    made.0.lock().unwrap().push(format!("brq{}", &net_id[..11]));
    c.subnet(&net_id, "10.240.0.0/16").await;

    let serial = env_usize("NEUTRINO_BENCH_SERIAL", 100);
    let mut times = Vec::new();
    for _ in 0..serial {
        times.push(one(&c, &net_id, &host, &made, ovs.as_ref()).await);
    }
    summary("one after another", times);

    let parallel = env_usize("NEUTRINO_BENCH_PARALLEL", 20);
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..parallel {
        let (c, net_id, host, made) = (c.clone(), net_id.clone(), host.clone(), made.clone());
        let ovs = ovs.clone();
        tasks.push(tokio::spawn(async move {
            one(&c, &net_id, &host, &made, ovs.as_ref()).await
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await.unwrap());
    }
    summary(&format!("{parallel} at once"), times);
    println!(
        "{parallel} at once, all ACTIVE after {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    agents.stop().await;
    server.stop().await;
}
