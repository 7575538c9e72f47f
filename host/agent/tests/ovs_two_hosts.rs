//! Two Open vSwitch hosts, for real: each host is an Open vSwitch agent (in this process, on
//! the in-process bus) with its own integration bridge and its own provider bridge for
//! `physnet1` (`bridge_mappings`), all on the one running Open vSwitch with the userspace
//! datapath (`netdev`, which tags VLANs itself, so no 802.1Q in the kernel is needed). The
//! two provider bridges are joined by a veth pair, the "wire" between the hosts. VMs (network
//! namespaces whose veth's host end is plugged into their host's integration bridge, as
//! os-vif does) on one provider VLAN network, one per host, get their addresses from the DHCP
//! agent on the first host and ping each other, the provider bridges' flows retagging each
//! host's local VLAN to the segmentation id; likewise for a flat network (sent untagged).
//!
//! Needs root, `ip`, `dnsmasq`, busybox and a running Open vSwitch (`ovs-vsctl show`
//! answers): without them it prints SKIPPED, unless `NEUTRINO_TEST_REQUIRE_DATAPLANE` is set.
//! Every namespace, veth, OVS bridge (with its ports) and dnsmasq it makes is removed when
//! it ends, also on failure.

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

mod support;

use support::{dhcp, ok, pings, sh, wait_status};

use neutrino_agent::plug::{self, InterfaceDriver, OvsConfig};
use neutrino_agent::{AgentConfig, Agents};
use neutrino_tests::{TestServer, s};
use serde_json::{Value, json};

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
        && Command::new("ovs-vsctl")
            .args(["--timeout=5", "show"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("NEUTRINO_TEST_REQUIRE_DATAPLANE").is_none(),
            "the two-host Open vSwitch test is required but needs root, ip, dnsmasq, busybox \
             and a running Open vSwitch"
        );
        println!("SKIPPED: two Open vSwitch hosts: needs root, ip, dnsmasq, busybox and OVS");
    }
    ok
}

/// Removes what the test made, whatever happens.
#[derive(Default)]
struct Cleanup {
    namespaces: Mutex<Vec<String>>,
    links: Mutex<Vec<String>>,
    bridges: Mutex<Vec<String>>,
    states: Mutex<Vec<tempfile::TempDir>>,
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
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for st in self.states.lock().unwrap().iter() {
            if let Ok(dirs) = std::fs::read_dir(st.path().join("dhcp")) {
                for d in dirs.flatten() {
                    if let Ok(pid) = std::fs::read_to_string(d.path().join("pid")) {
                        let _ = Command::new("kill").arg(pid.trim()).output();
                    }
                }
            }
        }
        for n in self.namespaces.lock().unwrap().iter() {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
        for l in self.links.lock().unwrap().iter() {
            let _ = Command::new("ip").args(["link", "del", l]).output();
        }
        for br in self.bridges.lock().unwrap().iter() {
            let _ = Command::new("ovs-vsctl")
                .args(["--timeout=10", "--if-exists", "del-br", br])
                .output();
        }
    }
}

/// A VM on the host whose integration bridge is `ovs`'s: a namespace whose `eth0` (the
/// port's MAC) is the peer of `tap<port id[..11]>`, plugged as os-vif does.
async fn boot_vm(clean: &Cleanup, port: &Value, ovs: &OvsConfig) -> String {
    let id = s(port, "id");
    let vm = format!("vm-{}", &id[..8]);
    let tap = format!("tap{}", &id[..11]);
    clean.namespace(&vm);
    clean.link(&tap);
    ok(&["ip", "netns", "add", &vm]);
    ok(&[
        "ip", "link", "add", &tap, "type", "veth", "peer", "name", "eth0", "netns", &vm,
    ]);
    ok(&[
        "ip",
        "-n",
        &vm,
        "link",
        "set",
        "eth0",
        "address",
        s(port, "mac_address"),
    ]);
    ok(&["ip", "-n", &vm, "link", "set", "lo", "up"]);
    ok(&["ip", "-n", &vm, "link", "set", "eth0", "up"]);
    ok(&["ip", "link", "set", &tap, "up"]);
    plug::plug(
        &InterfaceDriver::Openvswitch,
        ovs,
        &tap,
        id,
        s(port, "mac_address"),
    )
    .await
    .unwrap();
    vm
}

/// The flows of `bridge` (`ovs-ofctl dump-flows`).
fn flows(bridge: &str) -> String {
    String::from_utf8_lossy(&sh(&["ovs-ofctl", "dump-flows", bridge]).stdout).into_owned()
}

/// A VM per host on `net`: each gets its Neutron address by DHCP from the first host and
/// pings the other. Returns the VMs and their ports.
async fn vms_on_both_hosts_talk(
    c: &neutrino_tests::Client,
    clean: &Cleanup,
    net: &str,
    hosts: &[(String, OvsConfig)],
    script: &std::path::Path,
) -> Vec<(String, Value)> {
    let mut vms = Vec::new();
    for (host, ovs) in hosts {
        let port = c
            .port(
                net,
                json!({"binding:host_id": host, "device_owner": "compute:nova",
                       "device_id": uuid::Uuid::new_v4().to_string()}),
            )
            .await;
        assert_eq!(port["binding:vif_type"], "ovs", "bound on {host}");
        let vm = boot_vm(clean, &port, ovs).await;
        vms.push((vm, port));
    }
    for (_, port) in &vms {
        wait_status(c, s(port, "id"), "ACTIVE").await;
    }
    let (script2, vms2) = (script.to_path_buf(), vms.clone());
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
    vms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_on_two_open_vswitch_hosts_reach_each_other_over_a_provider_vlan_and_a_flat_network() {
    if !runnable() {
        return;
    }
    let clean = Cleanup::default();
    let tag = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let server = TestServer::start().await;

    // Each host: an integration bridge and a provider bridge for physnet1; the provider
    // bridges joined by a veth pair.
    let hosts: Vec<(String, OvsConfig)> = (1..=2)
        .map(|i| {
            let ovs = OvsConfig {
                integration_bridge: format!("bi{i}-{tag}"),
                datapath_type: "netdev".into(),
                bridge_mappings: vec![format!("physnet1:bp{i}-{tag}")],
                ..OvsConfig::default()
            };
            clean.bridge(&ovs.integration_bridge);
            clean.bridge(&format!("bp{i}-{tag}"));
            (format!("ovh{i}-{tag}"), ovs)
        })
        .collect();
    let (wa, wb) = (format!("wa{tag}"), format!("wb{tag}"));
    clean.link(&wa);
    ok(&[
        "ip", "link", "add", &wa, "type", "veth", "peer", "name", &wb,
    ]);
    ok(&["ip", "link", "set", &wa, "up"]);
    ok(&["ip", "link", "set", &wb, "up"]);

    let mut running = Vec::new();
    for (i, (host, ovs)) in hosts.iter().enumerate() {
        let st = tempfile::tempdir().unwrap();
        let roles = if i == 0 {
            vec!["openvswitch".into(), "dhcp".into()]
        } else {
            vec!["openvswitch".into()]
        };
        let config = AgentConfig {
            roles,
            host: host.clone(),
            state_path: st.path().to_path_buf(),
            ovs: ovs.clone(),
            ..AgentConfig::default()
        };
        clean.states.lock().unwrap().push(st);
        running.push(Agents::start(server.bus().clone(), &config).await.unwrap());
    }
    // The wire, once the agents made the provider bridges.
    for (dev, i) in [(&wa, 1), (&wb, 2)] {
        ok(&[
            "ovs-vsctl",
            "--timeout=10",
            "add-port",
            &format!("bp{i}-{tag}"),
            dev,
        ]);
    }
    for (host, ovs) in &hosts {
        let ports = String::from_utf8_lossy(
            &sh(&[
                "ovs-vsctl",
                "--timeout=10",
                "list-ports",
                &ovs.integration_bridge,
            ])
            .stdout,
        )
        .into_owned();
        let int_port = format!("int-bp{}", &host[3..4]);
        assert!(
            ports.lines().any(|p| p.starts_with(&int_port)),
            "{host}'s integration bridge has the patch port to its provider bridge: {ports}"
        );
    }

    let c = server.admin();
    for (host, _) in &hosts {
        let mut agent = Value::Null;
        for _ in 0..50 {
            let got = c
                .get(&format!(
                    "/v2.0/agents?host={host}&agent_type=Open%20vSwitch%20agent"
                ))
                .await;
            if let Some(a) = got.items("agents").first() {
                agent = a.clone();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            agent["configurations"]["bridge_mappings"]["physnet1"],
            format!("bp{}-{tag}", &host[3..4]),
            "the agent on {host} reports its bridge_mappings"
        );
    }

    let net = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": format!("ovl-{tag}"), "provider:network_type": "vlan",
                                "provider:physical_network": "physnet1",
                                "provider:segmentation_id": 321}}),
        )
        .await
        .get("network")
        .clone();
    let net_id = s(&net, "id").to_string();
    clean.namespace(&format!("qdhcp-{net_id}"));
    c.subnet(&net_id, "10.238.0.0/24").await;

    let script = {
        let st = tempfile::tempdir().unwrap();
        let p = support::udhcpc_script(st.path());
        clean.states.lock().unwrap().push(st);
        p
    };
    let vms = vms_on_both_hosts_talk(&c, &clean, &net_id, &hosts, &script).await;
    // Each provider bridge retags its host's local VLAN to the segment, and back.
    for i in 1..=2 {
        let f = flows(&format!("bp{i}-{tag}"));
        assert!(
            f.contains("actions=mod_vlan_vid:321,NORMAL"),
            "host {i}'s provider bridge puts the segment's VLAN on the wire: {f}"
        );
        let f = flows(&format!("bi{i}-{tag}"));
        assert!(
            f.contains("dl_vlan=321"),
            "host {i}'s integration bridge takes the segment's VLAN in: {f}"
        );
    }

    // A flat network on the same physnet: untagged on the wire.
    let flat = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": format!("ofl-{tag}"), "provider:network_type": "flat",
                                "provider:physical_network": "physnet1"}}),
        )
        .await
        .get("network")
        .clone();
    let flat_id = s(&flat, "id").to_string();
    clean.namespace(&format!("qdhcp-{flat_id}"));
    c.subnet(&flat_id, "10.239.0.0/24").await;
    vms_on_both_hosts_talk(&c, &clean, &flat_id, &hosts, &script).await;
    for i in 1..=2 {
        let f = flows(&format!("bp{i}-{tag}"));
        assert!(
            f.contains("actions=strip_vlan,NORMAL"),
            "host {i}'s provider bridge sends the flat network untagged: {f}"
        );
    }

    // The port on the second host goes: its network's flows go with its last port there.
    c.delete(&format!("/v2.0/ports/{}", s(&vms[1].1, "id")))
        .await;
    let _ = sh(&[
        "ovs-vsctl",
        "--timeout=10",
        "--if-exists",
        "del-port",
        &hosts[1].1.integration_bridge,
        &format!("tap{}", &s(&vms[1].1, "id")[..11]),
    ]);
    let mut gone = false;
    for _ in 0..50 {
        if !flows(&format!("bp2-{tag}")).contains("mod_vlan_vid:321") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "the second host's provider bridge no longer carries the network"
    );
    assert!(
        flows(&format!("bp1-{tag}")).contains("mod_vlan_vid:321"),
        "the first host still carries it"
    );

    for a in running.into_iter().rev() {
        a.stop().await;
    }
    server.stop().await;
}
