//! `neutrino vm`: Nova's part of the boot flow, for demos and tests. A VM is a network
//! namespace (`nvm-<name>`) whose `eth0` is one end of a veth; the other end is the port's
//! `tap<first 11 chars of the port id>` device, plugged as Nova's os-vif plugs it (into the
//! integration bridge with `iface-id` when the host's L2 agent is Open vSwitch; left for the
//! Linux bridge agent to find by name otherwise). `boot` creates the port as Nova does,
//! makes the device, waits until the agent wires it (`ACTIVE`) and runs a DHCP client
//! (busybox `udhcpc`) inside; `exec` runs a command inside; `list`; `delete` undoes it all.
//! What `boot` made is recorded in `<vm dir>/<name>.json` (default `/var/lib/neutrino/vms`)
//! so that `delete` can undo it. Needs root, `ip` and busybox.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::client::Api;
use crate::output;

/// What `boot` made, kept for `list`, `exec` and `delete`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Vm {
    /// The VM's name.
    pub name: String,
    /// Its port.
    pub port_id: String,
    /// Its network.
    pub network_id: String,
    /// Its host (`binding:host_id`).
    pub host: String,
    /// Its namespace.
    pub namespace: String,
    /// The port's host-side device.
    pub tap: String,
    /// The Open vSwitch bridge the device is plugged into, if any.
    pub ovs_bridge: Option<String>,
    /// The address DHCP gave it.
    pub address: Option<String>,
}

/// The directory of VM records.
pub fn dir() -> PathBuf {
    std::env::var_os("NEUTRINO_VM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/neutrino/vms"))
}

fn record_path(name: &str) -> PathBuf {
    dir().join(format!("{name}.json"))
}

fn load(name: &str) -> anyhow::Result<Vm> {
    let p = record_path(name);
    let text = std::fs::read_to_string(&p).with_context(|| format!("no VM named {name}"))?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", p.display()))
}

fn save(vm: &Vm) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir()).with_context(|| format!("creating {}", dir().display()))?;
    std::fs::write(record_path(&vm.name), serde_json::to_vec_pretty(vm)?)
        .with_context(|| format!("writing {}", record_path(&vm.name).display()))
}

/// Run a command; its stdout, or an error with its stderr.
fn run(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn step(what: &str, detail: &str) {
    output::emit(&format!("{what:<13} {detail}"));
}

fn machine_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// A network by id or by (unique) name.
async fn network(api: &Api, net: &str) -> anyhow::Result<Value> {
    let by_name = api.get(&format!("/v2.0/networks?name={net}")).await?;
    let found = by_name["networks"].as_array().cloned().unwrap_or_default();
    match found.len() {
        1 => return Ok(found[0].clone()),
        0 => {}
        n => bail!("{n} networks are named {net}: give its id"),
    }
    Ok(api
        .get(&format!("/v2.0/networks/{net}"))
        .await
        .with_context(|| format!("no network {net}"))?["network"]
        .clone())
}

/// The integration bridge of the host's Open vSwitch agent, or `None` for a Linux bridge
/// agent; an error when the host has no L2 agent.
async fn l2_plug(api: &Api, host: &str) -> anyhow::Result<Option<String>> {
    let agents = api.get(&format!("/v2.0/agents?host={host}")).await?;
    for a in agents["agents"].as_array().into_iter().flatten() {
        match a["agent_type"].as_str() {
            Some("Open vSwitch agent") => {
                let br = a["configurations"]["integration_bridge"]
                    .as_str()
                    .unwrap_or("br-int");
                return Ok(Some(br.to_string()));
            }
            Some("Linux bridge agent") => return Ok(None),
            _ => {}
        }
    }
    bail!("host {host} has no L2 agent (Open vSwitch or Linux bridge): start one, or give --host")
}

const DHCP_SCRIPT: &str = "#!/bin/sh\n\
[ \"$1\" = bound ] || [ \"$1\" = renew ] || exit 0\n\
ip addr flush dev \"$interface\"\n\
ip addr add \"$ip/$subnet\" dev \"$interface\"\n\
for r in $router; do ip route replace default via \"$r\" dev \"$interface\"; break; done\n\
echo \"BOUND $ip/$subnet\"\n";

/// `udhcpc` in the VM until it binds (about 15 s at most); the address with its prefix.
fn dhcp(ns: &str) -> anyhow::Result<Option<String>> {
    let script = dir().join(format!(".udhcpc-{ns}.sh"));
    std::fs::write(&script, DHCP_SCRIPT)?;
    run(&["chmod", "+x", script.to_str().unwrap_or_default()])?;
    let script = script.display().to_string();
    for _ in 0..3 {
        let out = Command::new("ip")
            .args([
                "netns", "exec", ns, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f",
            ])
            .args(["-t", "5", "-T", "1", "-s", &script])
            .output()
            .context("running busybox udhcpc")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(a) = text.lines().find_map(|l| l.strip_prefix("BOUND ")) {
            let _ = std::fs::remove_file(&script);
            return Ok(Some(with_prefix_len(a.trim())));
        }
    }
    let _ = std::fs::remove_file(&script);
    Ok(None)
}

/// `10.0.0.3/255.255.255.0` (udhcpc's mask) as `10.0.0.3/24`.
fn with_prefix_len(addr: &str) -> String {
    let Some((ip, mask)) = addr.split_once('/') else {
        return addr.to_string();
    };
    match mask.parse::<std::net::Ipv4Addr>() {
        Ok(m) => format!("{ip}/{}", u32::from(m).count_ones()),
        Err(_) => addr.to_string(),
    }
}

/// `neutrino vm boot`.
pub async fn boot(
    api: &Api,
    network_ref: &str,
    host: Option<String>,
    name: &str,
) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 11
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        bail!("a VM name is 1 to 11 letters, digits or '-'");
    }
    if record_path(name).exists() {
        bail!("a VM named {name} exists (neutrino vm delete {name})");
    }
    let host = host.unwrap_or_else(machine_host);
    let net = network(api, network_ref).await?;
    let network_id = net["id"]
        .as_str()
        .context("network without id")?
        .to_string();
    let ovs_bridge = l2_plug(api, &host).await?;

    let device_id = uuid::Uuid::new_v4().to_string();
    let port = api
        .post_json(
            "/v2.0/ports",
            &json!({"port": {
                "network_id": network_id,
                "name": name,
                "device_owner": "compute:nova",
                "device_id": device_id,
                "binding:host_id": host,
            }}),
        )
        .await?["port"]
        .clone();
    let port_id = port["id"].as_str().context("port without id")?.to_string();
    let mac = port["mac_address"].as_str().unwrap_or_default().to_string();
    let ips: Vec<&str> = port["fixed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["ip_address"].as_str())
        .collect();
    step(
        "port created",
        &format!("{port_id} on {network_id}, {mac}, {}", ips.join(" ")),
    );
    if port["binding:vif_type"] == "binding_failed" {
        let _ = api.delete(&format!("/v2.0/ports/{port_id}")).await;
        bail!("no mechanism driver could bind the port to host {host}");
    }
    step(
        "DHCP told",
        "the server sent port_create_end to the DHCP agents with the port's address",
    );

    let namespace = format!("nvm-{name}");
    let tap = format!("tap{}", &port_id[..11]);
    let mut vm = Vm {
        name: name.to_string(),
        port_id: port_id.clone(),
        network_id,
        host,
        namespace: namespace.clone(),
        tap: tap.clone(),
        ovs_bridge: ovs_bridge.clone(),
        address: None,
    };
    save(&vm)?;
    let made = make_device(&vm, &mac);
    if let Err(e) = made {
        let _ = undo(api, &vm).await;
        return Err(e);
    }
    step(
        "device",
        &format!(
            "{tap} (eth0 in namespace {namespace}){}",
            ovs_bridge
                .as_deref()
                .map(|b| format!(", plugged into {b}"))
                .unwrap_or_default()
        ),
    );

    let started = Instant::now();
    loop {
        let p = api.get(&format!("/v2.0/ports/{port_id}")).await?;
        if p["port"]["status"] == "ACTIVE" {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "port {port_id} is not ACTIVE after 60 s (is the L2 agent on {} running?)",
                vm.host
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    step(
        "wired",
        &format!(
            "the L2 agent plugged it in; port ACTIVE after {} ms",
            started.elapsed().as_millis()
        ),
    );

    let address = tokio::task::spawn_blocking({
        let ns = namespace.clone();
        move || dhcp(&ns)
    })
    .await??;
    match &address {
        Some(a) => step("address", &format!("{a} (by DHCP)")),
        None => step(
            "address",
            "none: no DHCP answer (is a DHCP agent serving the network?)",
        ),
    }
    vm.address = address;
    save(&vm)?;
    Ok(())
}

fn make_device(vm: &Vm, mac: &str) -> anyhow::Result<()> {
    let ns = vm.namespace.as_str();
    run(&["ip", "netns", "add", ns])?;
    run(&[
        "ip", "link", "add", &vm.tap, "type", "veth", "peer", "name", "eth0", "netns", ns,
    ])?;
    run(&["ip", "-n", ns, "link", "set", "eth0", "address", mac])?;
    run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
    run(&["ip", "-n", ns, "link", "set", "eth0", "up"])?;
    run(&["ip", "link", "set", &vm.tap, "up"])?;
    if let Some(br) = &vm.ovs_bridge {
        // os-vif: the port names the Neutron port and passes nothing (dead VLAN) until the
        // agent tags it.
        run(&[
            "ovs-vsctl",
            "--timeout=10",
            "--may-exist",
            "add-port",
            br,
            &vm.tap,
            "--",
            "set",
            "Interface",
            &vm.tap,
            &format!("external_ids:iface-id={}", vm.port_id),
            &format!("external_ids:attached-mac={mac}"),
            "external_ids:iface-status=active",
            &format!("external_ids:vm-uuid={}", vm.name),
            "--",
            "set",
            "Port",
            &vm.tap,
            "tag=4095",
        ])?;
    }
    Ok(())
}

/// Remove what a VM record names: namespace (and with it the veth), OVS port, Neutron port,
/// the record.
async fn undo(api: &Api, vm: &Vm) -> anyhow::Result<()> {
    if Path::new("/run/netns").join(&vm.namespace).exists() {
        run(&["ip", "netns", "del", &vm.namespace])?;
    }
    let _ = run(&["ip", "link", "del", &vm.tap]);
    if let Some(br) = &vm.ovs_bridge {
        let _ = run(&[
            "ovs-vsctl",
            "--timeout=10",
            "--if-exists",
            "del-port",
            br,
            &vm.tap,
        ]);
    }
    match api.delete(&format!("/v2.0/ports/{}", vm.port_id)).await {
        Ok(_) => {}
        Err(e) if e.to_string().starts_with("404") => {}
        Err(e) => return Err(e),
    }
    let _ = std::fs::remove_file(record_path(&vm.name));
    Ok(())
}

/// `neutrino vm delete`.
pub async fn delete(api: &Api, name: &str) -> anyhow::Result<()> {
    let vm = load(name)?;
    undo(api, &vm).await?;
    output::emit(&format!(
        "deleted {name} (namespace, device and port {})",
        vm.port_id
    ));
    Ok(())
}

/// `neutrino vm list`.
pub fn list(json_out: bool) -> anyhow::Result<()> {
    let mut vms: Vec<Vm> = std::fs::read_dir(dir())
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|t| serde_json::from_str(&t).ok())
                .collect()
        })
        .unwrap_or_default();
    vms.sort_by(|a, b| a.name.cmp(&b.name));
    if json_out {
        output::emit(&serde_json::to_string_pretty(&vms)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = vms
        .iter()
        .map(|v| {
            vec![
                v.name.clone(),
                v.address.clone().unwrap_or_else(|| "-".into()),
                v.port_id.clone(),
                v.host.clone(),
                v.namespace.clone(),
            ]
        })
        .collect();
    output::table(&["NAME", "ADDRESS", "PORT", "HOST", "NAMESPACE"], &rows);
    Ok(())
}

/// `neutrino vm exec NAME -- CMD…`: the command's exit code.
pub fn exec(name: &str, cmd: &[String]) -> anyhow::Result<i32> {
    let vm = load(name)?;
    if cmd.is_empty() {
        bail!("give a command: neutrino vm exec {name} -- ping -c 1 10.0.0.3");
    }
    let status = Command::new("ip")
        .args(["netns", "exec", &vm.namespace])
        .args(cmd)
        .status()
        .context("running ip netns exec")?;
    Ok(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dhcp_mask_is_shown_as_a_prefix_length() {
        assert_eq!(
            super::with_prefix_len("10.0.0.3/255.255.255.0"),
            "10.0.0.3/24"
        );
        assert_eq!(super::with_prefix_len("10.0.0.3/26"), "10.0.0.3/26");
    }
}
