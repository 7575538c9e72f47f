//! Two Open vSwitch hosts joined by VXLAN tunnels, for real. Each host is an Open vSwitch
//! agent (in this process, on the in-process bus) with `local_ip` and `tunnel_types =
//! ["vxlan"]`, and each has an Open vSwitch of its own with the userspace datapath
//! (`netdev`): the first host uses the machine's running one, the second a second
//! `ovsdb-server` and `ovs-vswitchd` this test starts inside a network namespace (its
//! agent reaches it through `ovsdb_connection`). Two hosts need two: a userspace datapath
//! routes tunnel packets with its process's view of the kernel's routes, and one process
//! would see both endpoints as its own addresses. Each host has an underlay bridge (as an
//! operator makes a `br-phy`) holding its endpoint address and its end of a veth pair, the
//! only wire between the two Open vSwitches, so encapsulated packets really cross it.
//!
//! The agents learn each other's endpoint from the server (`tunnel_sync`, `tunnel_update`)
//! and make `vxlan-<hex address>` ports on their tunnel bridges. VMs of one VXLAN network,
//! one per host, get their addresses by DHCP from the first host's DHCP agent and ping each
//! other; a VM of a second VXLAN network (same addresses) on the second host gets its own
//! address from the first host too and reaches neither. When the first host's agent
//! restarts, it rebuilds its tunnels and the VMs reach each other again. When the second
//! host's endpoint
//! moves, the first host's tunnel to the old address goes (`tunnel_delete`) and one to the
//! new address comes.
//!
//! Needs root, `ip`, `dnsmasq`, busybox, `ovsdb-tool` and a running Open vSwitch: without
//! them it prints SKIPPED, unless `NEUTRINO_TEST_REQUIRE_DATAPLANE` is set. Every namespace,
//! veth, bridge, Open vSwitch process and dnsmasq it makes is removed when it ends, also on
//! failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

mod support;

use support::{dhcp, ok, pings, sh, wait_status};

use neutrino_agent::plug::{self, InterfaceDriver, OvsConfig};
use neutrino_agent::{AgentConfig, Agents, L2AgentConfig};
use neutrino_tests::{TestServer, s};
use serde_json::{Value, json};

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

fn runnable() -> bool {
    #[allow(unsafe_code)]
    let root = unsafe { libc::geteuid() } == 0;
    let have = |c: &str| {
        sh(&["sh", "-c", &format!("command -v {c}")])
            .status
            .success()
    };
    let ok = root
        && have("ip")
        && have("dnsmasq")
        && have("busybox")
        && have("ovsdb-tool")
        && have("ovs-vswitchd")
        && Path::new(SCHEMA).exists()
        && Command::new("ovs-vsctl")
            .args(["--timeout=5", "show"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("NEUTRINO_TEST_REQUIRE_DATAPLANE").is_none(),
            "the VXLAN Open vSwitch test is required but needs root, ip, dnsmasq, busybox, \
             ovsdb-tool and a running Open vSwitch"
        );
        println!(
            "SKIPPED: VXLAN between Open vSwitch hosts: needs root, ip, dnsmasq, busybox, OVS"
        );
    }
    ok
}

/// Removes what the test made, whatever happens.
#[derive(Default)]
struct Cleanup {
    /// Processes (pid files) of the second host's Open vSwitch.
    pidfiles: Mutex<Vec<PathBuf>>,
    namespaces: Mutex<Vec<String>>,
    links: Mutex<Vec<String>>,
    bridges: Mutex<Vec<String>>,
    dirs: Mutex<Vec<tempfile::TempDir>>,
}

impl Cleanup {
    fn namespace(&self, n: &str) {
        self.namespaces.lock().unwrap().push(n.to_string());
    }
    fn link(&self, n: &str) {
        self.links.lock().unwrap().push(n.to_string());
    }
    fn bridge(&self, n: &str) {
        self.bridges.lock().unwrap().push(n.to_string());
    }
    fn dir(&self) -> PathBuf {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().to_path_buf();
        self.dirs.lock().unwrap().push(d);
        p
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for d in self.dirs.lock().unwrap().iter() {
            if let Ok(dirs) = std::fs::read_dir(d.path().join("dhcp")) {
                for n in dirs.flatten() {
                    if let Ok(pid) = std::fs::read_to_string(n.path().join("pid")) {
                        let _ = Command::new("kill").arg(pid.trim()).output();
                    }
                }
            }
        }
        for p in self.pidfiles.lock().unwrap().iter() {
            if let Ok(pid) = std::fs::read_to_string(p) {
                let _ = Command::new("kill").arg(pid.trim()).output();
            }
        }
        for br in self.bridges.lock().unwrap().iter() {
            let _ = Command::new("ovs-vsctl")
                .args(["--timeout=10", "--if-exists", "del-br", br])
                .output();
        }
        for n in self.namespaces.lock().unwrap().iter() {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
        for l in self.links.lock().unwrap().iter() {
            let _ = Command::new("ip").args(["link", "del", l]).output();
        }
    }
}

/// Start an `ovsdb-server` and an `ovs-vswitchd` in namespace `ns`, their files and sockets
/// in `dir`; the `ovsdb_connection` that reaches them.
fn second_open_vswitch(clean: &Cleanup, ns: &str, dir: &Path) -> String {
    let d = dir.display().to_string();
    let db = format!("{d}/conf.db");
    let sock = format!("unix:{d}/db.sock");
    ok(&["ovsdb-tool", "create", &db, SCHEMA]);
    clean
        .pidfiles
        .lock()
        .unwrap()
        .extend([dir.join("ovsdb-server.pid"), dir.join("ovs-vswitchd.pid")]);
    let env = [
        format!("OVS_RUNDIR={d}"),
        format!("OVS_DBDIR={d}"),
        format!("OVS_LOGDIR={d}"),
    ];
    let mut args = vec!["ip", "netns", "exec", ns, "env"];
    args.extend(env.iter().map(String::as_str));
    let (remote, pid1, ctl1, log1) = (
        format!("--remote=p{sock}"),
        format!("--pidfile={d}/ovsdb-server.pid"),
        format!("--unixctl={d}/ovsdb-server.ctl"),
        format!("--log-file={d}/ovsdb-server.log"),
    );
    let mut server = args.clone();
    server.extend([
        "ovsdb-server",
        &db,
        &remote,
        &pid1,
        &ctl1,
        &log1,
        "--detach",
    ]);
    ok(&server);
    ok(&[
        "ovs-vsctl",
        "--timeout=10",
        &format!("--db={sock}"),
        "--no-wait",
        "init",
    ]);
    let (pid2, ctl2, log2) = (
        format!("--pidfile={d}/ovs-vswitchd.pid"),
        format!("--unixctl={d}/ovs-vswitchd.ctl"),
        format!("--log-file={d}/ovs-vswitchd.log"),
    );
    let mut vswitchd = args;
    vswitchd.extend(["ovs-vswitchd", &sock, &pid2, &ctl2, &log2, "--detach"]);
    ok(&vswitchd);
    sock
}

/// `ovs-vsctl` on a host's Open vSwitch.
fn vsctl(ovs: &OvsConfig, args: &[&str]) -> String {
    let mut all = vec!["ovs-vsctl".to_string(), "--timeout=10".to_string()];
    if let Some(db) = &ovs.ovsdb_connection {
        all.push(format!("--db={db}"));
    }
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let o = sh(&all);
    assert!(
        o.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// `ovs-ofctl dump-flows` of a host's bridge.
fn flows(ovs: &OvsConfig, bridge: &str) -> String {
    let mut c = Command::new("ovs-ofctl");
    c.args(["dump-flows", bridge]);
    if let Some(dir) = ovs
        .ovsdb_connection
        .as_deref()
        .and_then(|s| s.strip_prefix("unix:"))
        .and_then(|p| p.rsplit_once('/'))
        .map(|(d, _)| d.to_string())
    {
        c.env("OVS_RUNDIR", dir);
    }
    String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned()
}

/// A VM on a host: a namespace whose `eth0` (the port's MAC) is the peer of
/// `tap<port id[..11]>` in the host's namespace (`host_ns`, `None` for this one), plugged
/// into the host's integration bridge as os-vif does.
async fn boot_vm(clean: &Cleanup, port: &Value, ovs: &OvsConfig, host_ns: Option<&str>) -> String {
    let id = s(port, "id");
    let vm = format!("vm-{}", &id[..8]);
    let tap = format!("tap{}", &id[..11]);
    clean.namespace(&vm);
    ok(&["ip", "netns", "add", &vm]);
    let on_host = |args: &[&str]| {
        let mut all = vec!["ip"];
        if let Some(ns) = host_ns {
            all.extend(["-n", ns]);
        }
        all.extend_from_slice(args);
        ok(&all);
    };
    if host_ns.is_none() {
        clean.link(&tap);
    }
    on_host(&[
        "link", "add", &tap, "type", "veth", "peer", "name", "eth0", "netns", &vm,
    ]);
    let mac = s(port, "mac_address");
    ok(&["ip", "-n", &vm, "link", "set", "eth0", "address", mac]);
    ok(&["ip", "-n", &vm, "link", "set", "lo", "up"]);
    ok(&["ip", "-n", &vm, "link", "set", "eth0", "up"]);
    on_host(&["link", "set", &tap, "up"]);
    plug::plug(&InterfaceDriver::Openvswitch, ovs, &tap, id, mac)
        .await
        .unwrap();
    vm
}

async fn agent_on(c: &neutrino_tests::Client, host: &str) -> Value {
    for _ in 0..100 {
        let got = c
            .get(&format!(
                "/v2.0/agents?host={host}&agent_type=Open%20vSwitch%20agent"
            ))
            .await;
        if let Some(a) = got.items("agents").first() {
            return a.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no Open vSwitch agent on {host}");
}

/// Wait until a host's tunnel bridge has the tunnel port `name`.
async fn tunnel_port(ovs: &OvsConfig, name: &str) {
    for _ in 0..100 {
        let ports = vsctl(ovs, &["list-ports", &ovs.tunnel_bridge]);
        if ports.lines().any(|p| p == name) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{} never got tunnel port {name}: {}",
        ovs.tunnel_bridge,
        vsctl(ovs, &["show"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_on_two_open_vswitch_hosts_reach_each_other_over_vxlan_and_another_network_reaches_neither()
 {
    if !runnable() {
        return;
    }
    let clean = Cleanup::default();
    let tag = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    // The underlay: 172.30.<n>.0/24, <n> from the tag.
    let n = u8::from_str_radix(&tag[..2], 16).unwrap() % 250 + 1;
    let (ip1, ip2) = (format!("172.30.{n}.1"), format!("172.30.{n}.2"));
    let host_ns = format!("hb-{tag}");
    clean.namespace(&host_ns);
    ok(&["ip", "netns", "add", &host_ns]);
    ok(&["ip", "-n", &host_ns, "link", "set", "lo", "up"]);
    let ovs_dir = clean.dir();
    let db = second_open_vswitch(&clean, &host_ns, &ovs_dir);

    let ovs_of = |i: u8, db: Option<String>, local_ip: &str| OvsConfig {
        integration_bridge: format!("bi{i}-{tag}"),
        datapath_type: "netdev".into(),
        local_ip: Some(local_ip.to_string()),
        tunnel_bridge: format!("bt{i}-{tag}"),
        int_peer_patch_port: format!("pt{i}-{tag}"),
        tun_peer_patch_port: format!("pi{i}-{tag}"),
        ovsdb_connection: db,
        ..OvsConfig::default()
    };
    let ovs1 = ovs_of(1, None, &ip1);
    let ovs2 = ovs_of(2, Some(db), &ip2);
    for b in [&ovs1.integration_bridge, &ovs1.tunnel_bridge] {
        clean.bridge(b);
    }

    // The underlay bridges (what an operator sets up), joined by a veth pair.
    let (u1, u2) = (format!("bu1-{tag}"), format!("bu2-{tag}"));
    let (wa, wb) = (format!("wa{tag}"), format!("wb{tag}"));
    clean.bridge(&u1);
    clean.link(&wa);
    ok(&[
        "ip", "link", "add", &wa, "type", "veth", "peer", "name", &wb, "netns", &host_ns,
    ]);
    ok(&["ip", "link", "set", &wa, "up"]);
    ok(&["ip", "-n", &host_ns, "link", "set", &wb, "up"]);
    let dp = "datapath_type=netdev";
    vsctl(
        &ovs1,
        &[
            "add-br", &u1, "--", "set", "Bridge", &u1, dp, "--", "add-port", &u1, &wa,
        ],
    );
    vsctl(
        &ovs2,
        &[
            "add-br", &u2, "--", "set", "Bridge", &u2, dp, "--", "add-port", &u2, &wb,
        ],
    );
    ok(&["ip", "addr", "add", &format!("{ip1}/24"), "dev", &u1]);
    ok(&["ip", "link", "set", &u1, "up"]);
    ok(&[
        "ip",
        "-n",
        &host_ns,
        "addr",
        "add",
        &format!("{ip2}/24"),
        "dev",
        &u2,
    ]);
    ok(&["ip", "-n", &host_ns, "link", "set", &u2, "up"]);

    let server = TestServer::start().await;
    let hosts = [
        (format!("ovx1-{tag}"), ovs1.clone()),
        (format!("ovx2-{tag}"), ovs2.clone()),
    ];
    let mut running = Vec::new();
    let mut configs = Vec::new();
    for (i, (host, ovs)) in hosts.iter().enumerate() {
        let st = clean.dir();
        let roles = if i == 0 {
            vec!["openvswitch".into(), "dhcp".into()]
        } else {
            vec!["openvswitch".into()]
        };
        let config = AgentConfig {
            roles,
            host: host.clone(),
            state_path: st,
            ovs: ovs.clone(),
            agent: L2AgentConfig {
                tunnel_types: vec!["vxlan".into()],
            },
            ..AgentConfig::default()
        };
        running.push(Agents::start(server.bus().clone(), &config).await.unwrap());
        configs.push(config);
    }
    let c = server.admin();
    for ((host, _), ip) in hosts.iter().zip([&ip1, &ip2]) {
        let agent = agent_on(&c, host).await;
        assert_eq!(
            agent["configurations"]["tunnel_types"],
            json!(["vxlan"]),
            "{host} reports the tunnels it has"
        );
        assert_eq!(agent["configurations"]["tunneling_ip"], json!(ip));
    }
    // Each learned the other's endpoint: a VXLAN port to it.
    let hex = |ip: &str| {
        let a: std::net::Ipv4Addr = ip.parse().unwrap();
        format!("vxlan-{:08x}", u32::from(a))
    };
    tunnel_port(&ovs1, &hex(&ip2)).await;
    tunnel_port(&ovs2, &hex(&ip1)).await;
    let options = vsctl(&ovs1, &["get", "Interface", &hex(&ip2), "options"]);
    for want in [
        format!("remote_ip=\"{ip2}\""),
        format!("local_ip=\"{ip1}\""),
        "in_key=flow".into(),
        "out_key=flow".into(),
    ] {
        assert!(options.contains(&want), "{want} in {options}");
    }
    assert_eq!(
        vsctl(&ovs1, &["get", "Interface", &hex(&ip2), "type"]),
        "vxlan"
    );

    let script = support::udhcpc_script(&clean.dir());

    let cidr = format!("10.241.{n}.0/24");
    let net = c.network(&format!("vx-{tag}")).await;
    assert_eq!(net["provider:network_type"], "vxlan");
    let vni = net["provider:segmentation_id"].as_i64().unwrap();
    let net_id = s(&net, "id").to_string();
    clean.namespace(&format!("qdhcp-{net_id}"));
    c.subnet(&net_id, &cidr).await;

    let mut vms = Vec::new();
    for (i, (host, ovs)) in hosts.iter().enumerate() {
        let port = c
            .port(
                &net_id,
                json!({"binding:host_id": host, "device_owner": "compute:nova",
                       "device_id": uuid::Uuid::new_v4().to_string()}),
            )
            .await;
        assert_eq!(port["binding:vif_type"], "ovs", "bound on {host}");
        let ns = (i == 1).then_some(host_ns.as_str());
        vms.push((boot_vm(&clean, &port, ovs, ns).await, port));
    }
    for (_, port) in &vms {
        wait_status(&c, s(port, "id"), "ACTIVE").await;
    }
    let wire = |dir: &str| -> u64 {
        std::fs::read_to_string(format!("/sys/class/net/{wa}/statistics/{dir}_packets"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = (wire("tx"), wire("rx"));
    let (script2, vms2) = (script.clone(), vms.clone());
    let (got, ab, ba) = tokio::task::spawn_blocking(move || {
        let got: Vec<Option<String>> = vms2.iter().map(|(vm, _)| dhcp(vm, &script2)).collect();
        let ip = |i: usize| got[i].clone().unwrap_or_default();
        let ab = pings(&vms2[0].0, &ip(1));
        let ba = pings(&vms2[1].0, &ip(0));
        (got, ab, ba)
    })
    .await
    .unwrap();
    for (i, (_, port)) in vms.iter().enumerate() {
        assert_eq!(
            got[i].as_deref(),
            Some(s(&port["fixed_ips"][0], "ip_address")),
            "the VM on host {} got its Neutron address by DHCP from the first host",
            i + 1
        );
    }
    assert!(ab, "the VM on the first host pings the one on the second");
    assert!(ba, "the VM on the second host pings the one on the first");
    assert!(
        wire("tx") > before.0 && wire("rx") > before.1,
        "the traffic crossed the wire between the hosts both ways"
    );
    // The network's VNI on the tunnel bridges, both ways.
    for ovs in [&ovs1, &ovs2] {
        let f = flows(ovs, &ovs.tunnel_bridge);
        assert!(
            f.contains(&format!("tun_id={vni:#x}")) && f.contains(&format!("set_tunnel:{vni:#x}")),
            "{} carries VNI {vni}: {f}",
            ovs.tunnel_bridge
        );
    }

    // A second VXLAN network with the same addresses: its VM on the second host gets its
    // own address (from the first host's DHCP agent, over its own VNI) and reaches neither.
    let other = c.network(&format!("vy-{tag}")).await;
    let other_id = s(&other, "id").to_string();
    assert_ne!(other["provider:segmentation_id"].as_i64().unwrap(), vni);
    clean.namespace(&format!("qdhcp-{other_id}"));
    // Its addresses (its DHCP port's too) are none the first network's VMs have.
    let sub = c
        .subnet_with(
            json!({"network_id": &other_id, "cidr": &cidr, "ip_version": 4,
                            "allocation_pools": [{"start": format!("10.241.{n}.200"),
                                                  "end": format!("10.241.{n}.254")}]}),
        )
        .await;
    let lone_ip = format!("10.241.{n}.250");
    let port = c
        .port(
            &other_id,
            json!({"binding:host_id": &hosts[1].0, "device_owner": "compute:nova",
                   "device_id": uuid::Uuid::new_v4().to_string(),
                   "fixed_ips": [{"subnet_id": s(&sub, "id"), "ip_address": &lone_ip}]}),
        )
        .await;
    let lone = boot_vm(&clean, &port, &ovs2, Some(&host_ns)).await;
    wait_status(&c, s(&port, "id"), "ACTIVE").await;
    let targets: Vec<String> = got.iter().map(|g| g.clone().unwrap_or_default()).collect();
    assert!(
        targets
            .iter()
            .all(|t| !t.ends_with(".250")
                && t.rsplit('.').next().unwrap().parse::<u8>().unwrap() < 200),
        "the first network's VMs have addresses the second network does not use: {targets:?}"
    );
    let (script3, lone2, targets2) = (script.clone(), lone.clone(), targets.clone());
    let (own, reached) = tokio::task::spawn_blocking(move || {
        let own = dhcp(&lone2, &script3);
        let reached: Vec<bool> = targets2
            .iter()
            .map(|t| {
                sh(&[
                    "ip", "netns", "exec", &lone2, "ping", "-c", "2", "-W", "1", t,
                ])
                .status
                .success()
            })
            .collect();
        (own, reached)
    })
    .await
    .unwrap();
    assert_eq!(
        own.as_deref(),
        Some(lone_ip.as_str()),
        "the second network's VM got its address over its own VNI"
    );
    assert_eq!(
        reached,
        [false, false],
        "it reaches neither VM of the first network"
    );

    // The first host's agent restarts: it rebuilds its tunnel bridge from `tunnel_sync`, and
    // the VMs reach each other again.
    running.remove(0).stop().await;
    running.insert(
        0,
        Agents::start(server.bus().clone(), &configs[0])
            .await
            .unwrap(),
    );
    tunnel_port(&ovs1, &hex(&ip2)).await;
    let (vm1, ip_of_vm2) = (vms[0].0.clone(), targets[1].clone());
    let again = tokio::task::spawn_blocking(move || pings(&vm1, &ip_of_vm2))
        .await
        .unwrap();
    assert!(
        again,
        "after the first host's agent restarts, its VM pings the other again"
    );

    // The second host's endpoint moves (as its agent reports when its `local_ip` changes):
    // the first host drops the tunnel to the old address and makes one to the new.
    let ip3 = format!("172.30.{n}.3");
    server
        .bus()
        .client(neutrino_bus::neutron::PLUGIN)
        .call::<neutrino_bus::neutron::TunnelSync>(&neutrino_bus::neutron::TunnelSyncArgs {
            tunnel_ip: ip3.clone(),
            tunnel_type: "vxlan".into(),
            host: Some(hosts[1].0.clone()),
        })
        .await
        .unwrap();
    tunnel_port(&ovs1, &hex(&ip3)).await;
    let mut old_gone = false;
    for _ in 0..100 {
        let ports = vsctl(&ovs1, &["list-ports", &ovs1.tunnel_bridge]);
        if !ports.lines().any(|p| p == hex(&ip2)) {
            old_gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(old_gone, "the tunnel to the stale endpoint {ip2} is gone");

    for a in running.into_iter().rev() {
        a.stop().await;
    }
    server.stop().await;
    drop(clean);
}
