//! `neutrino vm`, as a user runs it: a server with the L2 and DHCP agents on its in-process
//! bus, two VMs booted with `neutrino vm boot` get their Neutron addresses and ping each
//! other through `neutrino vm exec`, `neutrino vm list` shows them, and `neutrino vm
//! delete` removes namespace, device and port. Once with Linux bridges, once with Open
//! vSwitch (userspace datapath).
//!
//! Needs root, `ip`, `dnsmasq`, busybox and (for Open vSwitch) a running Open vSwitch; a
//! test says SKIPPED without them unless `NEUTRINO_TEST_REQUIRE_DATAPLANE` is set. What it
//! makes is removed when it ends, also on failure.

use std::process::{Command, Output};
use std::sync::Mutex;

use neutrino_agent::plug::OvsConfig;
use neutrino_agent::{AgentConfig, Agents};
use neutrino_tests::{TestServer, s};

fn have(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn runnable(ovs: bool) -> bool {
    #[allow(unsafe_code)]
    let root = unsafe { libc::geteuid() } == 0;
    let ok = root
        && have(&["ip", "-V"])
        && have(&["dnsmasq", "--version"])
        && have(&["busybox", "true"])
        && (!ovs || have(&["ovs-vsctl", "--timeout=5", "show"]));
    if !ok {
        assert!(
            std::env::var_os("NEUTRINO_TEST_REQUIRE_DATAPLANE").is_none(),
            "the VM test is required but needs root, ip, dnsmasq, busybox (and Open vSwitch)"
        );
        println!("SKIPPED: neutrino vm: needs root, ip, dnsmasq, busybox (and Open vSwitch)");
    }
    ok
}

/// Removes what the test and the VMs made, whatever happens.
struct Cleanup {
    vms: Vec<String>,
    namespaces: Mutex<Vec<String>>,
    ovs_bridge: Option<String>,
    state: tempfile::TempDir,
    vm_dir: tempfile::TempDir,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for vm in &self.vms {
            let _ = Command::new("ip")
                .args(["netns", "del", &format!("nvm-{vm}")])
                .output();
        }
        if let Ok(dirs) = std::fs::read_dir(self.state.path().join("dhcp")) {
            for d in dirs.flatten() {
                if let Ok(pid) = std::fs::read_to_string(d.path().join("pid")) {
                    let _ = Command::new("kill").arg(pid.trim()).output();
                }
            }
        }
        for n in self.namespaces.lock().unwrap().iter() {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
        if let Some(br) = &self.ovs_bridge {
            // The integration bridge and the tunnel bridge (`bt-…` for `bv-…`).
            for b in [br.clone(), br.replacen("bv-", "bt-", 1)] {
                let _ = Command::new("ovs-vsctl")
                    .args(["--timeout=10", "--if-exists", "del-br", &b])
                    .output();
            }
        }
    }
}

/// `neutrino ARGS…` against the server, with the test's VM directory.
async fn neutrino(server: &TestServer, clean: &Cleanup, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_neutrino"));
    cmd.args(args)
        .env("NEUTRINO_URL", &server.url)
        .env("NEUTRINO_VM_DIR", clean.vm_dir.path());
    tokio::task::spawn_blocking(move || cmd.output().expect("neutrino runs"))
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn boot_two_vms_that_ping_each_other(ovs: bool) {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let host = format!("vm-{tag}");
    let (a, b) = (format!("a{tag}"), format!("b{tag}"));
    let clean = Cleanup {
        vms: vec![a.clone(), b.clone()],
        namespaces: Mutex::new(Vec::new()),
        ovs_bridge: ovs.then(|| format!("bv-{tag}")),
        state: tempfile::tempdir().unwrap(),
        vm_dir: tempfile::tempdir().unwrap(),
    };
    let server = TestServer::start().await;
    let config = AgentConfig {
        roles: vec![
            if ovs { "openvswitch" } else { "linuxbridge" }.into(),
            "dhcp".into(),
        ],
        host: host.clone(),
        state_path: clean.state.path().to_path_buf(),
        ovs: OvsConfig {
            integration_bridge: format!("bv-{tag}"),
            datapath_type: "netdev".into(),
            // VXLAN networks bind where the agent has tunnels (none to reach on one host).
            local_ip: Some("127.0.0.1".into()),
            tunnel_bridge: format!("bt-{tag}"),
            int_peer_patch_port: format!("pt-{tag}"),
            tun_peer_patch_port: format!("pi-{tag}"),
            ..OvsConfig::default()
        },
        agent: neutrino_agent::L2AgentConfig {
            tunnel_types: vec!["vxlan".into()],
        },
        ..AgentConfig::default()
    };
    let agents = Agents::start(server.bus().clone(), &config).await.unwrap();
    let c = server.admin();
    let net = c.network(&format!("demo-{tag}")).await;
    let net_id = s(&net, "id").to_string();
    clean
        .namespaces
        .lock()
        .unwrap()
        .push(format!("qdhcp-{net_id}"));
    c.subnet(&net_id, "10.232.0.0/24").await;
    // The agents' first reports (the drivers bind by them).
    for _ in 0..50 {
        if c.get(&format!("/v2.0/agents?host={host}"))
            .await
            .items("agents")
            .len()
            == 2
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let mut addresses = Vec::new();
    for vm in [&a, &b] {
        let o = neutrino(
            &server,
            &clean,
            &[
                "vm",
                "boot",
                "--network",
                &format!("demo-{tag}"),
                "--host",
                &host,
                vm,
            ],
        )
        .await;
        let out = stdout(&o);
        assert!(
            o.status.success(),
            "boot {vm}: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        for step in ["port created", "DHCP told", "device", "wired", "address"] {
            assert!(out.contains(step), "boot prints the step '{step}': {out}");
        }
        let line = out.lines().find(|l| l.starts_with("address")).unwrap();
        let addr = line.split_whitespace().nth(1).unwrap().to_string();
        assert!(
            addr.starts_with("10.232.0."),
            "{vm} got an address by DHCP: {out}"
        );
        // Exactly the address IPAM gave its port.
        let ports = c.get(&format!("/v2.0/ports?name={vm}")).await;
        let ip = s(&ports.items("ports")[0]["fixed_ips"][0], "ip_address").to_string();
        assert_eq!(addr.split('/').next().unwrap(), ip);
        assert_eq!(ports.items("ports")[0]["status"], "ACTIVE");
        addresses.push(ip);
    }

    let o = neutrino(
        &server,
        &clean,
        &[
            "vm",
            "exec",
            &a,
            "--",
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            &addresses[1],
        ],
    )
    .await;
    assert!(o.status.success(), "{a} pings {b}: {}", stdout(&o));
    let o = neutrino(
        &server,
        &clean,
        &[
            "vm",
            "exec",
            &b,
            "--",
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            &addresses[0],
        ],
    )
    .await;
    assert!(o.status.success(), "{b} pings {a}: {}", stdout(&o));

    let listed = stdout(&neutrino(&server, &clean, &["vm", "list"]).await);
    for (vm, ip) in [(&a, &addresses[0]), (&b, &addresses[1])] {
        let line = listed
            .lines()
            .find(|l| l.starts_with(vm.as_str()))
            .unwrap_or_default();
        assert!(
            line.contains(ip.as_str()),
            "vm list shows {vm} with {ip}: {listed}"
        );
    }

    for vm in [&a, &b] {
        let o = neutrino(&server, &clean, &["vm", "delete", vm]).await;
        assert!(
            o.status.success(),
            "delete {vm}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!std::path::Path::new(&format!("/run/netns/nvm-{vm}")).exists());
        assert!(
            c.get(&format!("/v2.0/ports?name={vm}"))
                .await
                .items("ports")
                .is_empty(),
            "its port is gone"
        );
    }
    assert_eq!(
        stdout(&neutrino(&server, &clean, &["vm", "list"]).await)
            .lines()
            .count(),
        1,
        "only the header"
    );
    let o = neutrino(&server, &clean, &["vm", "exec", &a, "--", "true"]).await;
    assert!(!o.status.success(), "a deleted VM cannot be entered");

    agents.stop().await;
    server.stop().await;
    drop(clean);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_linux_bridges_two_booted_vms_get_their_addresses_and_ping_each_other() {
    if runnable(false) {
        boot_two_vms_that_ping_each_other(false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_open_vswitch_two_booted_vms_get_their_addresses_and_ping_each_other() {
    if runnable(true) {
        boot_two_vms_that_ping_each_other(true).await;
    }
}
