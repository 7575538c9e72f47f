//! The data plane, for real: a server, an L2 agent (Linux bridge, or Open vSwitch) and the
//! DHCP agent in this process on the in-process bus, VMs played by network namespaces whose
//! veth's host end is the port's `tap…` device (plugged into the integration bridge as
//! os-vif does, for Open vSwitch). Two VMs on one network get exactly their Neutron
//! addresses from dnsmasq and ping each other; a VM on another network reaches neither; a
//! port set `admin_state_up=false` stops passing traffic and passes again when set true. A
//! VM on a `dhcpv6-stateful` subnet gets exactly its Neutron IPv6 address from dnsmasq by
//! DHCPv6 (ISC dhclient).
//!
//! Needs root, `ip`, `dnsmasq` and `busybox` (udhcpc), and a running Open vSwitch
//! (`ovs-vsctl show` answers) for the Open vSwitch case: without them a test prints a
//! SKIPPED line, unless `NEUTRINO_TEST_REQUIRE_DATAPLANE` is set (CI sets it). Everything it
//! creates (namespaces, bridges, OVS bridges and ports, veths, dnsmasq) is removed when it
//! ends, also on failure.

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

mod support;

use support::{dhcp, ok, sh, wait_status};

use neutrino_agent::plug::{self, InterfaceDriver, OvsConfig};
use neutrino_agent::{AgentConfig, Agents};
use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn runnable() -> bool {
    #[allow(unsafe_code)]
    let root = unsafe { libc::geteuid() } == 0;
    let ok = root && have("ip") && have("dnsmasq") && have("busybox");
    if !ok {
        assert!(
            std::env::var_os("NEUTRINO_TEST_REQUIRE_DATAPLANE").is_none(),
            "the data-plane test is required but needs root, ip, dnsmasq and busybox"
        );
        println!("SKIPPED: data plane: needs root, ip, dnsmasq and busybox");
    }
    ok
}

/// Open vSwitch is installed and running (`ovs-vsctl show` answers).
fn ovs_runnable() -> bool {
    let ok = runnable()
        && Command::new("ovs-vsctl")
            .args(["--timeout=5", "show"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("NEUTRINO_TEST_REQUIRE_DATAPLANE").is_none(),
            "the Open vSwitch data-plane test is required but Open vSwitch is not running"
        );
        println!("SKIPPED: Open vSwitch data plane: ovs-vsctl show does not answer");
    }
    ok
}

/// Which L2 agent wires the VMs.
#[derive(Clone, Copy, PartialEq)]
enum L2 {
    LinuxBridge,
    OpenVswitch,
}

/// Removes what the test made, whatever happens.
#[derive(Default)]
struct Cleanup {
    namespaces: Mutex<Vec<String>>,
    links: Mutex<Vec<String>>,
    /// An agent running as its own process.
    child: Mutex<Option<std::process::Child>>,
    /// The DHCP agent's state directory, removed last (its pid files name the dnsmasqs).
    state: Mutex<Option<tempfile::TempDir>>,
    /// An Open vSwitch bridge (with its ports).
    ovs_bridge: Mutex<Option<String>>,
    /// Pid files of daemons a test started (a VM's DHCPv6 client).
    pid_files: Mutex<Vec<std::path::PathBuf>>,
}

impl Cleanup {
    fn namespace(&self, n: &str) {
        self.namespaces.lock().unwrap().push(n.to_string());
    }
    fn link(&self, n: &str) {
        self.links.lock().unwrap().push(n.to_string());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for f in self.pid_files.lock().unwrap().iter() {
            if let Ok(pid) = std::fs::read_to_string(f) {
                let _ = Command::new("kill").arg(pid.trim()).output();
            }
        }
        // dnsmasq processes of the DHCP agent, by their pid files.
        if let Some(state) = self.state.lock().unwrap().as_ref()
            && let Ok(dirs) = std::fs::read_dir(state.path().join("dhcp"))
        {
            for d in dirs.flatten() {
                if let Ok(pid) = std::fs::read_to_string(d.path().join("pid")) {
                    let _ = Command::new("kill").arg(pid.trim()).output();
                }
            }
        }
        for n in self.namespaces.lock().unwrap().iter() {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
        for l in self.links.lock().unwrap().iter() {
            let _ = Command::new("ip").args(["link", "del", l]).output();
        }
        if let Some(br) = self.ovs_bridge.lock().unwrap().take() {
            // The integration bridge and the tunnel bridge (`bt-…` for `bi-…`).
            for b in [br.clone(), br.replacen("bi-", "bt-", 1)] {
                let _ = Command::new("ovs-vsctl")
                    .args(["--timeout=10", "--if-exists", "del-br", &b])
                    .output();
            }
        }
    }
}

/// A VM: a namespace with `eth0` (the port's MAC), whose peer is `tap<port id[..11]>`,
/// plugged into the switch as Nova's os-vif does.
async fn boot_vm(clean: &Cleanup, port: &Value, ovs: Option<&OvsConfig>) -> String {
    let ns = make_vm(clean, port);
    if let Some(ovs) = ovs {
        let tap = format!("tap{}", &s(port, "id")[..11]);
        plug::plug(
            &InterfaceDriver::Openvswitch,
            ovs,
            &tap,
            s(port, "id"),
            s(port, "mac_address"),
        )
        .await
        .unwrap();
    }
    ns
}

fn make_vm(clean: &Cleanup, port: &Value) -> String {
    let id = s(port, "id");
    let ns = format!("vm-{}", &id[..8]);
    let tap = format!("tap{}", &id[..11]);
    clean.namespace(&ns);
    clean.link(&tap);
    ok(&["ip", "netns", "add", &ns]);
    ok(&[
        "ip", "link", "add", &tap, "type", "veth", "peer", "name", "eth0", "netns", &ns,
    ]);
    ok(&[
        "ip",
        "-n",
        &ns,
        "link",
        "set",
        "eth0",
        "address",
        s(port, "mac_address"),
    ]);
    ok(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
    ok(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
    ok(&["ip", "link", "set", &tap, "up"]);
    ns
}

fn ping(vm: &str, ip: &str) -> bool {
    sh(&["ip", "netns", "exec", vm, "ping", "-c", "1", "-W", "1", ip])
        .status
        .success()
}

/// Ping until it works (or until it fails, with `want = false`), for up to 15 s.
fn ping_becomes(vm: &str, ip: &str, want: bool) -> bool {
    for _ in 0..15 {
        if ping(vm, ip) == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    false
}
async fn vm_port(c: &Client, net: &str, host: &str, extra: Value) -> Value {
    let mut body = json!({"binding:host_id": host, "device_owner": "compute:nova", "device_id": uuid::Uuid::new_v4().to_string()});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    c.port(net, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_linux_bridges_vms_get_their_addresses_by_dhcp_and_reach_exactly_their_network() {
    if runnable() {
        vms_get_their_addresses_and_reach_exactly_their_network(L2::LinuxBridge).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_open_vswitch_vms_get_their_addresses_by_dhcp_and_reach_exactly_their_network() {
    if ovs_runnable() {
        vms_get_their_addresses_and_reach_exactly_their_network(L2::OpenVswitch).await;
    }
}

async fn vms_get_their_addresses_and_reach_exactly_their_network(l2: L2) {
    let clean = Cleanup::default();
    let state_path = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        *clean.state.lock().unwrap() = Some(dir);
        path
    };
    let script = support::udhcpc_script(&state_path);

    let server = TestServer::start().await;
    let host = format!("dp-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let ovs = OvsConfig {
        integration_bridge: format!("bi-{}", &host[3..]),
        // The userspace datapath: no kernel module needed.
        datapath_type: "netdev".into(),
        // VXLAN networks bind where the agent has tunnels; on one host there is no
        // other endpoint to tunnel to.
        local_ip: Some("127.0.0.1".into()),
        tunnel_bridge: format!("bt-{}", &host[3..]),
        int_peer_patch_port: format!("pt-{}", &host[3..]),
        tun_peer_patch_port: format!("pi-{}", &host[3..]),
        ..OvsConfig::default()
    };
    let (role, agent_type, vif_type) = match l2 {
        L2::LinuxBridge => ("linuxbridge", "Linux bridge agent", "bridge"),
        L2::OpenVswitch => {
            *clean.ovs_bridge.lock().unwrap() = Some(ovs.integration_bridge.clone());
            ("openvswitch", "Open vSwitch agent", "ovs")
        }
    };
    let vm_ovs = (l2 == L2::OpenVswitch).then_some(&ovs);
    let config = AgentConfig {
        roles: vec![role.into(), "dhcp".into()],
        host: host.clone(),
        state_path: state_path.clone(),
        ovs: ovs.clone(),
        agent: neutrino_agent::L2AgentConfig {
            tunnel_types: vec!["vxlan".into()],
        },
        ..AgentConfig::default()
    };
    let agents = Agents::start(server.bus().clone(), &config).await.unwrap();
    let c = server.admin();
    for _ in 0..50 {
        if c.get(&format!("/v2.0/agents?host={host}"))
            .await
            .items("agents")
            .len()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let agents_listed = c.get(&format!("/v2.0/agents?host={host}")).await;
    let mut types: Vec<&str> = agents_listed
        .items("agents")
        .iter()
        .map(|a| a["agent_type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["DHCP agent", agent_type]);

    let net = c.network("blue").await;
    let net_id = s(&net, "id").to_string();
    clean.link(&format!("brq{}", &net_id[..11]));
    clean.namespace(&format!("qdhcp-{net_id}"));
    let subnet = c.subnet(&net_id, "10.231.0.0/24").await;
    // Addresses the other network (same range) never hands out: .101 and .102 here, .200
    // there, its DHCP port the lowest free one.
    let fixed =
        |ip: &str| json!({"fixed_ips": [{"subnet_id": s(&subnet, "id"), "ip_address": ip}]});
    let p1 = vm_port(&c, &net_id, &host, fixed("10.231.0.101")).await;
    let p2 = vm_port(&c, &net_id, &host, fixed("10.231.0.102")).await;
    assert_eq!(
        p1["binding:vif_type"], vif_type,
        "bound by the agent's mechanism driver"
    );

    let vm1 = boot_vm(&clean, &p1, vm_ovs).await;
    let vm2 = boot_vm(&clean, &p2, vm_ovs).await;
    wait_status(&c, s(&p1, "id"), "ACTIVE").await;
    wait_status(&c, s(&p2, "id"), "ACTIVE").await;

    let (script2, vm1c, vm2c) = (script.clone(), vm1.clone(), vm2.clone());
    let (a1, a2) =
        tokio::task::spawn_blocking(move || (dhcp(&vm1c, &script2), dhcp(&vm2c, &script2)))
            .await
            .unwrap();
    assert_eq!(
        a1.as_deref(),
        Some(s(&p1["fixed_ips"][0], "ip_address")),
        "VM 1 got its Neutron address"
    );
    assert_eq!(
        a2.as_deref(),
        Some(s(&p2["fixed_ips"][0], "ip_address")),
        "VM 2 got its Neutron address"
    );
    let (ip1, ip2) = (a1.unwrap(), a2.unwrap());

    // A second network with an address from the same range: on its own bridge, it reaches nobody.
    let other = c.network("red").await;
    let other_id = s(&other, "id").to_string();
    clean.link(&format!("brq{}", &other_id[..11]));
    clean.namespace(&format!("qdhcp-{other_id}"));
    let other_subnet = c.subnet(&other_id, "10.231.0.0/24").await;
    let p3 = vm_port(
        &c,
        &other_id,
        &host,
        json!({"fixed_ips": [{"subnet_id": s(&other_subnet, "id"), "ip_address": "10.231.0.200"}]}),
    )
    .await;
    let vm3 = boot_vm(&clean, &p3, vm_ovs).await;
    wait_status(&c, s(&p3, "id"), "ACTIVE").await;

    let (vm1c, vm2c, vm3c, ip1c, ip2c) = (
        vm1.clone(),
        vm2.clone(),
        vm3.clone(),
        ip1.clone(),
        ip2.clone(),
    );
    let script3 = script.clone();
    let verdicts = tokio::task::spawn_blocking(move || {
        let a3 = dhcp(&vm3c, &script3);
        (
            ping_becomes(&vm1c, &ip2c, true),
            ping_becomes(&vm2c, &ip1c, true),
            a3,
            ping(&vm3c, &ip1c),
            ping(&vm3c, &ip2c),
        )
    })
    .await
    .unwrap();
    assert!(verdicts.0, "VM 1 pings VM 2");
    assert!(verdicts.1, "VM 2 pings VM 1");
    assert_eq!(
        verdicts.2.as_deref(),
        Some("10.231.0.200"),
        "VM 3 got its address on its own network"
    );
    assert!(
        !verdicts.3 && !verdicts.4,
        "a VM on another network reaches neither"
    );

    // Admin state down: VM 2's port stops passing traffic; up again: it passes.
    c.put(
        &format!("/v2.0/ports/{}", s(&p2, "id")),
        json!({"port": {"admin_state_up": false}}),
    )
    .await;
    wait_status(&c, s(&p2, "id"), "DOWN").await;
    let (vm1c, ip2c) = (vm1.clone(), ip2.clone());
    assert!(
        tokio::task::spawn_blocking(move || ping_becomes(&vm1c, &ip2c, false))
            .await
            .unwrap(),
        "no traffic through a port that is down"
    );
    c.put(
        &format!("/v2.0/ports/{}", s(&p2, "id")),
        json!({"port": {"admin_state_up": true}}),
    )
    .await;
    wait_status(&c, s(&p2, "id"), "ACTIVE").await;
    let (vm1c, ip2c) = (vm1.clone(), ip2.clone());
    assert!(
        tokio::task::spawn_blocking(move || ping_becomes(&vm1c, &ip2c, true))
            .await
            .unwrap(),
        "traffic again once the port is up"
    );

    agents.stop().await;
    assert!(
        !std::path::Path::new(&format!("/run/netns/qdhcp-{net_id}")).exists(),
        "the DHCP agent took its namespace down"
    );
    server.stop().await;
    drop(clean);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ports_extra_dhcp_options_reach_its_vm_and_only_its_vm() {
    if !runnable() {
        return;
    }
    let clean = Cleanup::default();
    let state_path = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        *clean.state.lock().unwrap() = Some(dir);
        path
    };
    // udhcpc asks for the domain name (option 15) by default and hands it over as $domain.
    let script = state_path.join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$1\" = bound ] || [ \"$1\" = renew ] || exit 0\n\
         ip addr flush dev \"$interface\"\nip addr add \"$ip/$subnet\" dev \"$interface\"\n\
         echo \"BOUND $ip domain=$domain\"\n",
    )
    .unwrap();
    ok(&["chmod", "+x", script.to_str().unwrap()]);

    let server = TestServer::start().await;
    let host = format!("dp-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let config = AgentConfig {
        roles: vec!["linuxbridge".into(), "dhcp".into()],
        host: host.clone(),
        state_path: state_path.clone(),
        ..AgentConfig::default()
    };
    let agents = Agents::start(server.bus().clone(), &config).await.unwrap();
    let c = server.admin();
    for _ in 0..50 {
        if c.get(&format!("/v2.0/agents?host={host}"))
            .await
            .items("agents")
            .len()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let net = c.network("opts").await;
    let net_id = s(&net, "id").to_string();
    clean.link(&format!("brq{}", &net_id[..11]));
    clean.namespace(&format!("qdhcp-{net_id}"));
    c.subnet(&net_id, "10.232.0.0/24").await;
    let with = vm_port(
        &c,
        &net_id,
        &host,
        json!({"extra_dhcp_opts": [
            {"opt_name": "domain-name", "opt_value": "pxe.example"},
        ]}),
    )
    .await;
    let without = vm_port(&c, &net_id, &host, json!({})).await;
    let vm1 = boot_vm(&clean, &with, None).await;
    let vm2 = boot_vm(&clean, &without, None).await;
    wait_status(&c, s(&with, "id"), "ACTIVE").await;
    wait_status(&c, s(&without, "id"), "ACTIVE").await;

    let (script2, vm1c, vm2c) = (script.clone(), vm1.clone(), vm2.clone());
    let (a1, a2) =
        tokio::task::spawn_blocking(move || (dhcp(&vm1c, &script2), dhcp(&vm2c, &script2)))
            .await
            .unwrap();
    let ip1 = s(&with["fixed_ips"][0], "ip_address");
    let ip2 = s(&without["fixed_ips"][0], "ip_address");
    assert_eq!(
        a1.as_deref(),
        Some(format!("{ip1} domain=pxe.example").as_str()),
        "the port's option reached its VM"
    );
    assert_eq!(
        a2.as_deref(),
        Some(format!("{ip2} domain=openstacklocal").as_str()),
        "the other VM gets the network's domain"
    );

    // An update rewrites the options and reloads dnsmasq; the next lease carries it.
    let r = c
        .put(
            &format!("/v2.0/ports/{}", s(&with, "id")),
            json!({"port": {"extra_dhcp_opts": [
                {"opt_name": "domain-name", "opt_value": "ipxe.example"},
            ]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let want = format!("{ip1} domain=ipxe.example");
    let mut got = None;
    for _ in 0..20 {
        let (script2, vm1c) = (script.clone(), vm1.clone());
        got = tokio::task::spawn_blocking(move || dhcp(&vm1c, &script2))
            .await
            .unwrap();
        if got.as_deref() == Some(want.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(got.as_deref(), Some(want.as_str()), "the updated option");

    agents.stop().await;
    server.stop().await;
    drop(clean);
}

/// Run ISC dhclient for DHCPv6 in the VM until it binds (up to 10 tries); the address it
/// got. Its script only records the address: the test compares it with Neutron's.
fn dhcp6(clean: &Cleanup, vm: &str, dir: &std::path::Path) -> Option<String> {
    let script = dir.join(format!("dhclient6-{vm}.sh"));
    let got = dir.join(format!("dhclient6-{vm}.addr"));
    let pid = dir.join(format!("dhclient6-{vm}.pid"));
    let leases = dir.join(format!("dhclient6-{vm}.leases"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$reason\" = BOUND6 ] && echo \"$new_ip6_address\" > {}\nexit 0\n",
            got.display()
        ),
    )
    .unwrap();
    ok(&["chmod", "+x", script.to_str().unwrap()]);
    clean.pid_files.lock().unwrap().push(pid.clone());
    for _ in 0..10 {
        // -1: one attempt; once bound it goes to the background (killed below).
        sh(&[
            "ip",
            "netns",
            "exec",
            vm,
            "timeout",
            "30",
            "dhclient",
            "-6",
            "-1",
            "-sf",
            script.to_str().unwrap(),
            "-lf",
            leases.to_str().unwrap(),
            "-pf",
            pid.to_str().unwrap(),
            "eth0",
        ]);
        if let Ok(p) = std::fs::read_to_string(&pid) {
            let _ = sh(&["kill", p.trim()]);
        }
        if let Ok(a) = std::fs::read_to_string(&got) {
            return Some(a.trim().to_string());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_on_a_dhcpv6_stateful_subnet_gets_exactly_its_neutron_address() {
    if !runnable() {
        return;
    }
    if !have("dhclient") {
        assert!(
            std::env::var_os("NEUTRINO_TEST_REQUIRE_DATAPLANE").is_none(),
            "the DHCPv6 data-plane test is required but needs dhclient (isc-dhcp-client)"
        );
        println!("SKIPPED: DHCPv6 data plane: needs dhclient (isc-dhcp-client)");
        return;
    }
    let clean = Cleanup::default();
    let state_path = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        *clean.state.lock().unwrap() = Some(dir);
        path
    };
    let server = TestServer::start().await;
    let host = format!("d6-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let config = AgentConfig {
        roles: vec!["linuxbridge".into(), "dhcp".into()],
        host: host.clone(),
        state_path: state_path.clone(),
        ..AgentConfig::default()
    };
    let agents = Agents::start(server.bus().clone(), &config).await.unwrap();
    let c = server.admin();
    for _ in 0..50 {
        if c.get(&format!("/v2.0/agents?host={host}"))
            .await
            .items("agents")
            .len()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let net = c.network("v6").await;
    let net_id = s(&net, "id").to_string();
    clean.link(&format!("brq{}", &net_id[..11]));
    clean.namespace(&format!("qdhcp-{net_id}"));
    let subnet = c
        .subnet_with(json!({
            "network_id": net_id, "cidr": "fd14:db8:6::/64", "ip_version": 6,
            "ipv6_address_mode": "dhcpv6-stateful", "ipv6_ra_mode": "dhcpv6-stateful",
        }))
        .await;
    let wanted = "fd14:db8:6::14:7";
    let p = vm_port(
        &c,
        &net_id,
        &host,
        json!({"fixed_ips": [{"subnet_id": s(&subnet, "id"), "ip_address": wanted}]}),
    )
    .await;
    let vm = boot_vm(&clean, &p, None).await;
    // ACTIVE needs both the L2 agent and the DHCP agent (provisioning blocks).
    wait_status(&c, s(&p, "id"), "ACTIVE").await;

    let (vmc, dir) = (vm.clone(), state_path.clone());
    let clean = std::sync::Arc::new(clean);
    let clean2 = clean.clone();
    let got = tokio::task::spawn_blocking(move || dhcp6(&clean2, &vmc, &dir))
        .await
        .unwrap();
    assert_eq!(
        got.as_deref(),
        Some(wanted),
        "the VM got exactly its Neutron address by DHCPv6"
    );

    agents.stop().await;
    server.stop().await;
    drop(clean);
}

/// Starts RabbitMQ's application again when dropped, so a failing test leaves it running.
struct BrokerDown;

impl BrokerDown {
    fn now() -> BrokerDown {
        ok(&["rabbitmqctl", "-q", "stop_app"]);
        BrokerDown
    }
}

impl Drop for BrokerDown {
    fn drop(&mut self) {
        let _ = sh(&["rabbitmqctl", "-q", "start_app"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_rabbitmq_an_agent_process_wires_vms_booted_across_a_broker_restart() {
    if !runnable() {
        return;
    }
    let Some(vhost) = neutrino_tests::rabbit::vhost("data plane over RabbitMQ") else {
        return;
    };
    let clean = Cleanup::default();
    let state_path = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        *clean.state.lock().unwrap() = Some(dir);
        path
    };
    let script = support::udhcpc_script(&state_path);

    let url = vhost.url.clone();
    let server = TestServer::with_config(|c| c.transport_url = url.clone()).await;
    let host = format!("mq-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let config = state_path.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "roles = [\"linuxbridge\", \"dhcp\"]\nhost = \"{host}\"\nstate_path = \"{}\"\ntransport_url = \"{}\"\n",
            state_path.display(),
            vhost.url
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_neutrino-agent"))
        .args(["--config", config.to_str().unwrap()])
        .env_remove("NEUTRINO_TRANSPORT_URL")
        .spawn()
        .expect("neutrino-agent starts");
    let pid = child.id();
    *clean.child.lock().unwrap() = Some(child);

    let c = server.admin();
    let mut listed = 0;
    for _ in 0..100 {
        listed = c
            .get(&format!("/v2.0/agents?host={host}"))
            .await
            .items("agents")
            .len();
        if listed == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        listed, 2,
        "both agents of the process reported over RabbitMQ"
    );

    let net = c.network("green").await;
    let net_id = s(&net, "id").to_string();
    clean.link(&format!("brq{}", &net_id[..11]));
    clean.namespace(&format!("qdhcp-{net_id}"));
    c.subnet(&net_id, "10.233.0.0/24").await;
    let p1 = vm_port(&c, &net_id, &host, json!({})).await;
    let vm1 = boot_vm(&clean, &p1, None).await;
    wait_status(&c, s(&p1, "id"), "ACTIVE").await;

    // The broker goes away while the second VM boots, and comes back.
    let down = BrokerDown::now();
    let p2 = vm_port(&c, &net_id, &host, json!({})).await;
    let vm2 = boot_vm(&clean, &p2, None).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(down);

    wait_status(&c, s(&p2, "id"), "ACTIVE").await;
    wait_status(&c, s(&p1, "id"), "ACTIVE").await;
    let (script2, vm1c, vm2c) = (script.clone(), vm1.clone(), vm2.clone());
    let (a1, a2, pinged) = tokio::task::spawn_blocking(move || {
        let a1 = dhcp(&vm1c, &script2);
        let a2 = dhcp(&vm2c, &script2);
        let pinged = a2
            .as_deref()
            .is_some_and(|ip| ping_becomes(&vm1c, ip, true));
        (a1, a2, pinged)
    })
    .await
    .unwrap();
    assert_eq!(a1.as_deref(), Some(s(&p1["fixed_ips"][0], "ip_address")));
    assert_eq!(
        a2.as_deref(),
        Some(s(&p2["fixed_ips"][0], "ip_address")),
        "the VM booted during the restart got its address"
    );
    assert!(pinged, "the VMs reach each other");

    // SIGTERM: the agent takes its DHCP namespace down and exits.
    ok(&["kill", "-TERM", &pid.to_string()]);
    let mut child = clean.child.lock().unwrap().take().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the agent exits cleanly: {status}");
    assert!(!std::path::Path::new(&format!("/run/netns/qdhcp-{net_id}")).exists());
    server.stop().await;
    drop(clean);
    drop(vhost);
}
