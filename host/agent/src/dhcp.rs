//! The DHCP agent (Neutron's `neutron-dhcp-agent` with dnsmasq): for each network with a
//! DHCP-enabled subnet it keeps a namespace `qdhcp-<network id>`, a DHCP port asked of the
//! server (`create_dhcp_port`) whose device is a veth pair (`tap…` on the host, for the L2
//! agent to plug; `ns-…` inside the namespace, with the port's MAC and addresses), and one
//! dnsmasq serving exactly the addresses IPAM gave each port (host entries by MAC, `static`
//! ranges), with the subnet's gateway and DNS servers. IPv6 subnets follow their
//! `ipv6_address_mode` as Neutron's dnsmasq driver does: `dhcpv6-stateful` (or no mode at
//! all) gets a range and host entries with the addresses, `dhcpv6-stateless` a range for
//! options only, `slaac` nothing from dnsmasq. Port changes rewrite the files and reload
//! dnsmasq with SIGHUP (a changed command line, e.g. a new subnet, restarts it); the ports
//! whose entries are new or changed are then reported with `dhcp_ready_on_ports`, which lifts
//! their DHCP provisioning block on the server. A network that goes loses its dnsmasq,
//! namespace and port. It resynchronises from the server after each notification and every
//! few seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use neutrino_bus::neutron::{self, AgentState, AgentStateWrapper};
use neutrino_bus::{Bus, Dispatcher, Endpoint, Listener, RemoteError};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Notify};

use crate::ip;
use crate::plug::{self, InterfaceDriver, OvsConfig};

/// How often the agent resynchronises without being told.
const RESYNC: Duration = Duration::from_secs(5);

/// Owners whose ports get no host entry (`DHCP_CONFIG_NOT_REQUIRED_OWNERS`).
const NO_HOST_ENTRY: [&str; 4] = [
    "network:router_ha_interface",
    "network:floatingip",
    "network:dhcp",
    "network:distributed",
];

/// Where the DHCP agent keeps its files and how it plugs its ports.
#[derive(Debug, Clone)]
pub struct DhcpSettings {
    /// `state_path`: files under `<state_path>/dhcp/<network id>/`.
    pub state_path: PathBuf,
    /// `interface_driver`: how the DHCP port's `tap…` device joins the L2 agent's switch.
    pub interface_driver: InterfaceDriver,
    /// `[ovs]`, for the `openvswitch` interface driver.
    pub ovs: OvsConfig,
}

/// A running DHCP agent.
pub struct DhcpAgent {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    listener: Option<Box<dyn Listener>>,
    state: Arc<Mutex<BTreeSet<String>>>,
    settings: DhcpSettings,
    bus: Bus,
    host: String,
}

impl DhcpAgent {
    /// Start on `bus` as `host`.
    pub async fn start(
        bus: Bus,
        host: String,
        settings: DhcpSettings,
    ) -> neutrino_bus::Result<DhcpAgent> {
        let wake = Arc::new(Notify::new());
        let mut ep = Endpoint::new("1.0");
        macro_rules! wake_on {
            ($($m:ty),*) => {$(
                let w = wake.clone();
                ep = ep.on::<$m, _, _>(move |_ctx, _a| {
                    let w = w.clone();
                    async move {
                        w.notify_one();
                        Ok::<_, RemoteError>(())
                    }
                });
            )*};
        }
        wake_on!(
            neutron::PortCreateEnd,
            neutron::PortUpdateEnd,
            neutron::PortDeleteEnd,
            neutron::NetworkCreateEnd,
            neutron::NetworkUpdateEnd,
            neutron::NetworkDeleteEnd,
            neutron::SubnetCreateEnd,
            neutron::SubnetUpdateEnd,
            neutron::SubnetDeleteEnd
        );
        let listener = bus
            .serve(neutron::DHCP_AGENT, &host, Dispatcher::default().with(ep))
            .await?;
        let state = Arc::new(Mutex::new(BTreeSet::new()));
        let reporter = tokio::spawn(report_loop(bus.clone(), host.clone()));
        let worker = tokio::spawn(work_loop(
            bus.clone(),
            host.clone(),
            settings.clone(),
            state.clone(),
            wake,
        ));
        Ok(DhcpAgent {
            tasks: vec![reporter, worker],
            listener: Some(listener),
            state,
            settings,
            bus,
            host,
        })
    }

    /// Stop, and take down every network this agent served (dnsmasq, namespace, port).
    pub async fn stop(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            // Wait until it stopped, so that no resync runs beside the teardown below.
            let _ = t.await;
        }
        if let Some(l) = self.listener.take() {
            l.stop().await;
        }
        let nets: Vec<String> = self.state.lock().await.iter().cloned().collect();
        for n in nets {
            disable(&self.bus, &self.host, &self.settings, &n, true).await;
        }
    }
}

async fn report_loop(bus: Bus, host: String) {
    let mut first = true;
    loop {
        let args = neutron::ReportStateArgs {
            agent_state: AgentStateWrapper {
                agent_state: AgentState {
                    binary: "neutron-dhcp-agent".into(),
                    host: host.clone(),
                    topic: neutron::DHCP_AGENT.into(),
                    agent_type: neutron::agent_type::DHCP.into(),
                    configurations: json!({"dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq"}),
                    start_flag: first.then_some(true),
                    availability_zone: None,
                },
            },
            time: crate::l2::now(),
        };
        match bus
            .client(neutron::REPORTS)
            .with_timeout(Duration::from_secs(10))
            .call::<neutron::ReportState>(&args)
            .await
        {
            Ok(_) => first = false,
            Err(e) => tracing::warn!(error = %e, "state report failed"),
        }
        tokio::time::sleep(crate::l2::REPORT_INTERVAL).await;
    }
}

async fn work_loop(
    bus: Bus,
    host: String,
    settings: DhcpSettings,
    served: Arc<Mutex<BTreeSet<String>>>,
    wake: Arc<Notify>,
) {
    // What was last reported ready, per port: its entry's inputs (MAC, addresses).
    let mut reported = BTreeMap::new();
    loop {
        if let Err(e) = sync(&bus, &host, &settings, &served, &mut reported).await {
            tracing::warn!(error = %e, "DHCP resync failed; retrying");
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(RESYNC) => {}
        }
    }
}

/// `dhcp<uuid5(DNS, host)>-<network id>`, Neutron's DHCP port `device_id`.
pub fn device_id(host: &str, network_id: &str) -> String {
    let u = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, host.as_bytes());
    format!("dhcp{u}-{network_id}")
}

/// `qdhcp-<network id>`.
pub fn namespace(network_id: &str) -> String {
    format!("qdhcp-{network_id}")
}

async fn sync(
    bus: &Bus,
    host: &str,
    settings: &DhcpSettings,
    served: &Mutex<BTreeSet<String>>,
    reported: &mut BTreeMap<String, String>,
) -> Result<(), crate::Error> {
    let nets = bus
        .client(neutron::PLUGIN)
        .with_timeout(Duration::from_secs(30))
        .call::<neutron::GetActiveNetworksInfo>(&neutron::HostArgs {
            host: host.to_string(),
        })
        .await?;
    let mut wanted = BTreeSet::new();
    for n in &nets {
        let Some(id) = n["id"].as_str() else { continue };
        if !has_dhcp(n) {
            continue;
        }
        wanted.insert(id.to_string());
        served.lock().await.insert(id.to_string());
        match enable(bus, host, settings, n).await {
            Ok(true) => report_ready(bus, n, reported).await,
            Ok(false) => {}
            Err(e) => tracing::warn!(network = %id, error = %e, "DHCP for a network failed"),
        }
    }
    let gone: Vec<String> = served
        .lock()
        .await
        .iter()
        .filter(|n| !wanted.contains(*n))
        .cloned()
        .collect();
    for n in gone {
        disable(bus, host, settings, &n, true).await;
        served.lock().await.remove(&n);
    }
    // Forget ports that are gone (a port back on a network is reported again).
    let present: BTreeSet<&str> = nets
        .iter()
        .flat_map(|n| n["ports"].as_array().into_iter().flatten())
        .filter_map(|p| p["id"].as_str())
        .collect();
    reported.retain(|id, _| present.contains(id.as_str()));
    Ok(())
}

/// Tell the server which ports dnsmasq now serves as they are (`dhcp_ready_on_ports`): those
/// whose MAC or addresses it had not reported yet. A failed call is repeated next time.
async fn report_ready(bus: &Bus, n: &Value, reported: &mut BTreeMap<String, String>) {
    let mut ready = Vec::new();
    let mut prints = Vec::new();
    for p in n["ports"].as_array().into_iter().flatten() {
        let owner = p["device_owner"].as_str().unwrap_or_default();
        let Some(id) = p["id"].as_str() else { continue };
        if NO_HOST_ENTRY.contains(&owner) {
            continue;
        }
        let print = format!("{}|{}", p["mac_address"], p["fixed_ips"]);
        if reported.get(id) != Some(&print) {
            ready.push(id.to_string());
            prints.push(print);
        }
    }
    if ready.is_empty() {
        return;
    }
    let r = bus
        .client(neutron::PLUGIN)
        .with_timeout(Duration::from_secs(30))
        .call::<neutron::DhcpReadyOnPorts>(&neutron::DhcpReadyArgs {
            port_ids: ready.clone(),
        })
        .await;
    match r {
        Ok(()) => {
            tracing::debug!(ports = ready.len(), "DHCP ready on ports");
            reported.extend(ready.into_iter().zip(prints));
        }
        Err(e) => tracing::warn!(error = %e, "dhcp_ready_on_ports failed; retrying"),
    }
}

/// Neutron's `ipv6_address_mode` values.
const SLAAC: &str = "slaac";
const STATELESS: &str = "dhcpv6-stateless";
const STATEFUL: &str = "dhcpv6-stateful";

fn address_mode(s: &Value) -> Option<&str> {
    s["ipv6_address_mode"].as_str()
}

/// The DHCP-enabled subnets of a network (both IP versions).
fn dhcp_subnets(n: &Value) -> Vec<&Value> {
    n["subnets"]
        .as_array()
        .map(|s| s.iter().filter(|s| s["enable_dhcp"] == true).collect())
        .unwrap_or_default()
}

fn has_dhcp(n: &Value) -> bool {
    !dhcp_subnets(n).is_empty()
}

/// Whether dnsmasq gets a `--dhcp-range` for the subnet (Neutron's `_build_cmdline_callback`):
/// IPv4; IPv6 in `dhcpv6-stateful` or `dhcpv6-stateless` address mode, or with neither
/// address nor RA mode set. A SLAAC subnet (or one with only an RA mode) has none.
fn has_range(s: &Value) -> bool {
    if s["ip_version"] != 6 {
        return true;
    }
    match address_mode(s) {
        Some(m) => m == STATEFUL || m == STATELESS,
        None => s["ipv6_ra_mode"].as_str().is_none(),
    }
}

/// Whether dnsmasq runs with tags on host entries (`tag:dhcpv6,`), as Neutron checks it
/// (`dnsmasq --test --dhcp-host=tag:foo`), once.
pub fn host_tag_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        std::process::Command::new("dnsmasq")
            .args(["--test", "--dhcp-host=tag:foo"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

fn dir(state_path: &Path, network_id: &str) -> PathBuf {
    state_path.join("dhcp").join(network_id)
}

/// An address as dnsmasq's files take it (IPv6 in brackets).
fn dnsmasq_addr(addr: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    }
}

/// The dnsmasq files of a network: `(host, opts)`, as Neutron's dnsmasq driver writes them.
/// `host_tag`: whether IPv6 host entries carry `tag:dhcpv6,` ([`host_tag_supported`]).
pub fn render(n: &Value, host_tag: bool) -> (String, String) {
    let subnets = dhcp_subnets(n);
    let ids: BTreeSet<&str> = subnets.iter().filter_map(|s| s["id"].as_str()).collect();
    // Every IPv6 subnet's address mode, DHCP-enabled or not.
    let v6: BTreeMap<&str, Option<&str>> = n["subnets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["ip_version"] == 6)
        .filter_map(|s| Some((s["id"].as_str()?, address_mode(s))))
        .collect();
    let mut hosts = String::new();
    for p in n["ports"].as_array().into_iter().flatten() {
        let owner = p["device_owner"].as_str().unwrap_or_default();
        if NO_HOST_ENTRY.contains(&owner) {
            continue;
        }
        let mac = p["mac_address"].as_str().unwrap_or_default();
        let id = p["id"].as_str().unwrap_or_default();
        let opts = port_opts(p);
        let mut fixed: Vec<(&str, &str)> = p["fixed_ips"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| Some((f["subnet_id"].as_str()?, f["ip_address"].as_str()?)))
            .collect();
        // Stateless IPv6 entries first: dnsmasq would otherwise take such an address-less
        // entry for the port's IPv4 requests (Neutron's `_sort_fixed_ips_for_dnsmasq`).
        fixed.sort_by_key(|(sid, _)| v6.get(sid) != Some(&Some(STATELESS)));
        for (sid, addr) in fixed {
            let (mut no_dhcp, mut no_opts, mut tag) = (false, false, "");
            if let Some(mode) = v6.get(sid) {
                no_dhcp = matches!(*mode, Some(SLAAC) | Some(STATELESS));
                no_opts = *mode == Some(SLAAC);
                if host_tag {
                    tag = "tag:dhcpv6,";
                }
            }
            if no_dhcp {
                // No address from dnsmasq; a stateless port's options still need its tag.
                if !no_opts && !opts.is_empty() {
                    hosts.push_str(&format!("{mac},{tag}set:port-{id}\n"));
                }
                continue;
            }
            if !ids.contains(sid) {
                continue;
            }
            let name = format!("host-{}", addr.replace(['.', ':'], "-"));
            let addr = dnsmasq_addr(addr);
            // As Neutron's dnsmasq driver: a port with extra DHCP options is tagged
            // `port-<id>` (their lines in the opts file name the tag); a `client-id` option
            // identifies the client instead of being sent.
            match (client_id(&opts), opts.len()) {
                (_, 0) => hosts.push_str(&format!("{mac},{tag}{name}.openstacklocal,{addr}\n")),
                (Some(cid), 1) => hosts.push_str(&format!(
                    "{mac},{tag}id:{cid},{name}.openstacklocal,{addr}\n"
                )),
                (Some(cid), _) => hosts.push_str(&format!(
                    "{mac},{tag}id:{cid},{name}.openstacklocal,{addr},set:port-{id}\n"
                )),
                (None, _) => hosts.push_str(&format!(
                    "{mac},{tag}{name}.openstacklocal,{addr},set:port-{id}\n"
                )),
            }
        }
    }
    let mut opts = String::new();
    for s in &subnets {
        let sid = s["id"].as_str().unwrap_or_default();
        let version = if s["ip_version"] == 6 { 6 } else { 4 };
        if version == 6 && address_mode(s) == Some(SLAAC) {
            // Nothing for clients that do not use DHCP.
            continue;
        }
        let tag = format!("subnet-{sid}");
        let dns: Vec<String> = s["dns_nameservers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(dnsmasq_addr)
            .collect();
        if !dns.is_empty() {
            opts.push_str(&format_option(version, &tag, "dns-server", &dns.join(",")));
            opts.push('\n');
        }
        if version == 6 {
            opts.push_str(&format_option(6, &tag, "domain-search", "openstacklocal"));
            opts.push('\n');
            continue;
        }
        let mut routes: Vec<String> = s["host_routes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some(format!(
                    "{},{}",
                    r["destination"].as_str()?,
                    r["nexthop"].as_str()?
                ))
            })
            .collect();
        match s["gateway_ip"].as_str() {
            Some(gw) => {
                if !routes.is_empty() {
                    routes.push(format!("0.0.0.0/0,{gw}"));
                }
                opts.push_str(&format!("tag:{tag},option:router,{gw}\n"));
            }
            None => opts.push_str(&format!("tag:{tag},option:router\n")),
        }
        if !routes.is_empty() {
            let r = routes.join(",");
            opts.push_str(&format!("tag:{tag},option:classless-static-route,{r}\n"));
            opts.push_str(&format!("tag:{tag},249,{r}\n"));
        }
    }
    for p in n["ports"].as_array().into_iter().flatten() {
        let extra = port_opts(p);
        if extra.is_empty() {
            continue;
        }
        let id = p["id"].as_str().unwrap_or_default();
        let versions: BTreeSet<i64> = p["fixed_ips"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["ip_address"].as_str()?.parse::<std::net::IpAddr>().ok())
            .map(|a| if a.is_ipv4() { 4 } else { 6 })
            .collect();
        for (name, value, version) in extra {
            if is_client_id(name) {
                continue;
            }
            if versions.contains(&version) {
                opts.push_str(&format_option(version, &format!("port-{id}"), name, value));
                opts.push('\n');
            } else {
                tracing::info!(
                    port = id,
                    option = name,
                    version,
                    "cannot apply a DHCP option of an IP version the port has no address of"
                );
            }
        }
    }
    (hosts, opts)
}

/// A port's `extra_dhcp_opts`: `(opt_name, opt_value, ip_version)`.
fn port_opts(p: &Value) -> Vec<(&str, &str, i64)> {
    p["extra_dhcp_opts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some((
                o["opt_name"].as_str()?,
                o["opt_value"].as_str()?,
                o["ip_version"].as_i64().unwrap_or(4),
            ))
        })
        .collect()
}

/// Neutron's `client-id` option names (DHCP option 61).
fn is_client_id(name: &str) -> bool {
    matches!(name, "client-id" | "61")
}

fn client_id<'a>(opts: &[(&str, &'a str, i64)]) -> Option<&'a str> {
    opts.iter()
        .find(|(name, _, _)| is_client_id(name))
        .map(|(_, value, _)| *value)
}

/// One `dhcp-option` line of the opts file for the hosts tagged `tag` (Neutron's
/// `_format_option`): a name may carry its own tags (`tag:ipxe,bootfile-name`); names are
/// `option:<name>` (IPv4) or `option6:<name>` (IPv6), numbers stay numbers in IPv4; only
/// the first line of a name or value counts.
pub fn format_option(ip_version: i64, tag: &str, name: &str, value: &str) -> String {
    let first = |s: &str| s.split('\n').next().unwrap_or_default().to_string();
    let name = first(name);
    let (extra_tag, option) = match name.strip_prefix("tag:").and_then(|_| name.rfind(',')) {
        Some(comma) => (Some(&name[..comma]), &name[comma + 1..]),
        None => (None, name.as_str()),
    };
    let option = if ip_version == 6 {
        format!("option6:{option}")
    } else if !option.is_empty() && option.chars().all(|c| c.is_ascii_digit()) {
        option.to_string()
    } else {
        format!("option:{option}")
    };
    let mut parts = vec![format!("tag:{tag}")];
    parts.extend(extra_tag.map(String::from));
    parts.push(option);
    parts.push(first(value));
    parts.join(",")
}

fn pid_of(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// Bring a network's DHCP up to date: namespace, port, files, dnsmasq. `true` when dnsmasq
/// serves the network's ports as they are now.
async fn enable(
    bus: &Bus,
    host: &str,
    settings: &DhcpSettings,
    n: &Value,
) -> Result<bool, crate::Error> {
    let id = n["id"].as_str().unwrap_or_default();
    let port = bus
        .client(neutron::PLUGIN)
        .with_timeout(Duration::from_secs(30))
        .call::<neutron::CreateDhcpPort>(&neutron::DhcpPortArgs {
            port: json!({"port": {"network_id": id, "device_id": device_id(host, id)}}),
            host: host.to_string(),
        })
        .await?;
    let Some(port) = port else { return Ok(false) };
    let port_id = port["id"].as_str().unwrap_or_default();
    let ns = namespace(id);
    if !ip::netns_exists(&ns) {
        ip::ip(&["netns", "add", &ns]).await?;
        ip::ip_in(&ns, &["link", "set", "lo", "up"]).await?;
        // Neutron's DHCP checksum rules: replies leave with checksums the kernel left to
        // the NIC, which a veth into a userspace switch (Open vSwitch's netdev datapath)
        // never fills, and DHCP clients drop them.
        for (tool, port) in [("iptables", "68"), ("ip6tables", "546")] {
            let fill = [
                "netns",
                "exec",
                &ns,
                tool,
                "-t",
                "mangle",
                "-A",
                "POSTROUTING",
                "-p",
                "udp",
                "-m",
                "udp",
                "--dport",
                port,
                "-j",
                "CHECKSUM",
                "--checksum-fill",
            ];
            if let Err(e) = ip::ip(&fill).await {
                tracing::warn!(namespace = %ns, error = %e, tool, "no DHCP checksum rule");
            }
        }
    }
    let tap = ip::tap_name(port_id);
    let inner = format!("ns-{}", &port_id[..11.min(port_id.len())]);
    let d = dir(&settings.state_path, id);
    std::fs::create_dir_all(&d).map_err(|e| crate::Error::Io(d.display().to_string(), e))?;
    let write = |p: &Path, s: &str| {
        std::fs::write(p, s).map_err(|e| crate::Error::Io(p.display().to_string(), e))
    };
    let read = |f: &str| std::fs::read_to_string(d.join(f)).ok();
    if !ip::device_exists(&tap) {
        ip::ip(&[
            "link", "add", &tap, "type", "veth", "peer", "name", &inner, "netns", &ns,
        ])
        .await?;
        let mac = port["mac_address"].as_str().unwrap_or_default();
        ip::ip_in(&ns, &["link", "set", "dev", &inner, "address", mac]).await?;
        ip::ip_in(&ns, &["link", "set", "dev", &inner, "up"]).await?;
        ip::ip(&["link", "set", "dev", &tap, "up"]).await?;
        plug::plug(
            &settings.interface_driver,
            &settings.ovs,
            &tap,
            port_id,
            mac,
        )
        .await?;
        let _ = std::fs::remove_file(d.join("addresses"));
    }
    // The device to unplug when the network goes.
    write(&d.join("interface"), &tap)?;
    // The port's addresses on the namespace's device, following its fixed IPs (a subnet
    // added later gives the port another one).
    let addresses = port_addresses(n, &port);
    let had: Vec<String> = read("addresses")
        .map(|a| a.lines().map(String::from).collect())
        .unwrap_or_default();
    if had != addresses {
        for a in had.iter().filter(|a| !addresses.contains(a)) {
            let _ = ip::ip_in(&ns, &["addr", "del", a, "dev", &inner]).await;
        }
        for a in &addresses {
            let mut args = vec!["addr", "replace", a.as_str(), "dev", &inner];
            if a.contains(':') {
                // dnsmasq binds to it at once: no duplicate address detection.
                args.push("nodad");
            }
            ip::ip_in(&ns, &args).await?;
        }
        write(&d.join("addresses"), &addresses.join("\n"))?;
    }
    let (hosts, opts) = render(n, host_tag_supported());
    let host_file = d.join("host");
    let opts_file = d.join("opts");
    let changed = read("host").as_deref() != Some(hosts.as_str())
        || read("opts").as_deref() != Some(opts.as_str());
    if changed {
        write(&host_file, &hosts)?;
        write(&opts_file, &opts)?;
        write(&d.join("addn_hosts"), "")?;
    }
    let args = dnsmasq_args(&d, n);
    let cmdline = args.join("\n");
    let running = pid_of(&d);
    match running {
        Some(pid) if read("cmdline").as_deref() != Some(cmdline.as_str()) => {
            // Neutron's restart: the subnets (so the ranges) changed.
            tracing::info!(network = %id, "restarting dnsmasq");
            stop_pid(pid).await;
            spawn_dnsmasq(&ns, &args).await?;
        }
        Some(pid) if changed => {
            // Neutron's reload_allocations: new files, SIGHUP.
            tracing::info!(network = %id, "reloading dnsmasq");
            ip::run("kill", &["-HUP", &pid.to_string()]).await?;
        }
        Some(_) => {}
        None => spawn_dnsmasq(&ns, &args).await?,
    }
    write(&d.join("cmdline"), &cmdline)?;
    Ok(true)
}

/// The DHCP port's addresses with their subnets' prefix lengths (`10.0.0.2/24`).
fn port_addresses(n: &Value, port: &Value) -> Vec<String> {
    let cidrs: BTreeMap<&str, &str> = n["subnets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["id"].as_str()?, s["cidr"].as_str()?)))
        .collect();
    port["fixed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            let prefix = cidrs
                .get(f["subnet_id"].as_str()?)?
                .parse::<IpNet>()
                .ok()?
                .prefix_len();
            Some(format!("{}/{prefix}", f["ip_address"].as_str()?))
        })
        .collect()
}

/// dnsmasq's arguments for a network whose files are in `d` (Neutron's command line): a
/// `static` range per DHCP-enabled IPv4 subnet (with its netmask) and per IPv6 subnet that
/// has one ([`has_range`]: with its prefix length; prefixes longer than /64 are skipped, as
/// Neutron does), the MTU, and a lease limit of the ranges' size.
pub fn dnsmasq_args(d: &Path, n: &Value) -> Vec<String> {
    let p = |f: &str| d.join(f).display().to_string();
    let mut args: Vec<String> = vec![
        "dnsmasq".into(),
        "--no-hosts".into(),
        "--no-resolv".into(),
        format!("--pid-file={}", p("pid")),
        format!("--dhcp-hostsfile={}", p("host")),
        format!("--addn-hosts={}", p("addn_hosts")),
        format!("--dhcp-optsfile={}", p("opts")),
        format!("--dhcp-leasefile={}", p("leases")),
        "--dhcp-match=set:ipxe,175".into(),
        "--dhcp-userclass=set:ipxe6,iPXE".into(),
        "--local-service".into(),
        "--bind-dynamic".into(),
        "--user=root".into(),
    ];
    let mut size: u128 = 0;
    for s in dhcp_subnets(n) {
        let (Some(sid), Some(cidr)) = (s["id"].as_str(), s["cidr"].as_str()) else {
            continue;
        };
        if !has_range(s) {
            continue;
        }
        match cidr.parse::<IpNet>() {
            Ok(IpNet::V4(net)) => {
                size += 1u128 << (32 - u32::from(net.prefix_len()));
                args.push(format!(
                    "--dhcp-range=set:subnet-{sid},{},static,{},86400s",
                    net.network(),
                    net.netmask()
                ));
            }
            Ok(IpNet::V6(net)) if net.prefix_len() >= 64 => {
                size = size.saturating_add(1u128 << (128 - u32::from(net.prefix_len())));
                args.push(format!(
                    "--dhcp-range=set:subnet-{sid},{},static,{},86400s",
                    net.network(),
                    net.prefix_len()
                ));
            }
            Ok(IpNet::V6(_)) => {
                tracing::debug!(
                    subnet = sid,
                    cidr,
                    "prefix shorter than /64: no DHCPv6 range"
                );
            }
            Err(_) => {}
        }
    }
    if let Some(mtu) = n["mtu"].as_i64().filter(|m| *m > 0) {
        args.push(format!("--dhcp-option-force=option:mtu,{mtu}"));
    }
    args.push(format!("--dhcp-lease-max={}", size.min(1 << 24)));
    args.push("--conf-file=/dev/null".into());
    args.push("--domain=openstacklocal".into());
    args
}

async fn spawn_dnsmasq(ns: &str, args: &[String]) -> Result<(), crate::Error> {
    let mut all: Vec<&str> = vec!["netns", "exec", ns];
    all.extend(args.iter().map(String::as_str));
    tracing::info!(namespace = %ns, "starting dnsmasq");
    ip::run("ip", &all).await?;
    Ok(())
}

/// The processes whose command line names `<d>/pid` as their pid file.
fn dnsmasqs_of(d: &Path) -> Vec<i32> {
    let arg = format!("--pid-file={}", d.join("pid").display());
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
        })
        .collect()
}

/// Stop a dnsmasq and wait (up to 1 s) until it is gone.
async fn stop_pid(pid: i32) {
    let _ = ip::run("kill", &[&pid.to_string()]).await;
    for _ in 0..50 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Take a network down: dnsmasq, the veth, the namespace, the files, and (if `release`) the
/// DHCP port.
async fn disable(bus: &Bus, host: &str, settings: &DhcpSettings, network_id: &str, release: bool) {
    let d = dir(&settings.state_path, network_id);
    if let Some(pid) = pid_of(&d) {
        stop_pid(pid).await;
    }
    // A dnsmasq started just before (its pid file not written yet) is found by its command line.
    for pid in dnsmasqs_of(&d) {
        stop_pid(pid).await;
    }
    let ns = namespace(network_id);
    if ip::netns_exists(&ns) {
        let _ = ip::ip(&["netns", "del", &ns]).await;
    }
    if let Ok(tap) = std::fs::read_to_string(d.join("interface")) {
        plug::unplug(&settings.interface_driver, &settings.ovs, tap.trim()).await;
    }
    let _ = std::fs::remove_dir_all(&d);
    if release {
        let r = bus
            .client(neutron::PLUGIN)
            .with_timeout(Duration::from_secs(10))
            .call::<neutron::ReleaseDhcpPort>(&neutron::ReleaseDhcpPortArgs {
                network_id: network_id.to_string(),
                device_id: device_id(host, network_id),
                host: host.to_string(),
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(network = %network_id, error = %e, "releasing the DHCP port failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(ports: Value) -> Value {
        json!({
            "id": "net",
            "subnets": [{
                "id": "sub4", "ip_version": 4, "enable_dhcp": true, "cidr": "10.0.0.0/24",
                "gateway_ip": "10.0.0.1", "dns_nameservers": [], "host_routes": [],
            }],
            "ports": ports,
        })
    }

    fn render_v4(n: &Value) -> (String, String) {
        render(n, true)
    }

    #[test]
    fn a_port_without_extra_options_has_a_plain_host_entry() {
        let (hosts, opts) = render_v4(&network(json!([{
            "id": "p1", "mac_address": "fa:16:3e:00:00:01", "device_owner": "compute:nova",
            "fixed_ips": [{"subnet_id": "sub4", "ip_address": "10.0.0.5"}],
            "extra_dhcp_opts": [],
        }])));
        assert_eq!(
            hosts,
            "fa:16:3e:00:00:01,host-10-0-0-5.openstacklocal,10.0.0.5\n"
        );
        assert_eq!(opts, "tag:subnet-sub4,option:router,10.0.0.1\n");
    }

    #[test]
    fn extra_options_are_tagged_with_the_port_as_neutrons_dnsmasq_driver_does() {
        let (hosts, opts) = render_v4(&network(json!([{
            "id": "p1", "mac_address": "fa:16:3e:00:00:01", "device_owner": "compute:nova",
            "fixed_ips": [{"subnet_id": "sub4", "ip_address": "10.0.0.5"}],
            "extra_dhcp_opts": [
                {"opt_name": "bootfile-name", "opt_value": "pxelinux.0", "ip_version": 4},
                {"opt_name": "66", "opt_value": "10.0.0.9", "ip_version": 4},
                {"opt_name": "tag:ipxe,bootfile-name", "opt_value": "http://boot/x", "ip_version": 4},
                {"opt_name": "dns-server", "opt_value": "[2001:db8::1]", "ip_version": 6},
            ],
        }])));
        assert_eq!(
            hosts,
            "fa:16:3e:00:00:01,host-10-0-0-5.openstacklocal,10.0.0.5,set:port-p1\n"
        );
        assert_eq!(
            opts,
            "tag:subnet-sub4,option:router,10.0.0.1\n\
             tag:port-p1,option:bootfile-name,pxelinux.0\n\
             tag:port-p1,66,10.0.0.9\n\
             tag:port-p1,tag:ipxe,option:bootfile-name,http://boot/x\n",
            "the IPv6 option is left out: the port has no IPv6 address"
        );
    }

    #[test]
    fn a_client_id_option_identifies_the_client_instead() {
        let port = |opts: Value| {
            json!([{
                "id": "p1", "mac_address": "fa:16:3e:00:00:01", "device_owner": "compute:nova",
                "fixed_ips": [{"subnet_id": "sub4", "ip_address": "10.0.0.5"}],
                "extra_dhcp_opts": opts,
            }])
        };
        let (hosts, opts) = render_v4(&network(port(json!([
            {"opt_name": "client-id", "opt_value": "cid-1", "ip_version": 4},
        ]))));
        assert_eq!(
            hosts,
            "fa:16:3e:00:00:01,id:cid-1,host-10-0-0-5.openstacklocal,10.0.0.5\n"
        );
        assert!(!opts.contains("cid-1"), "{opts}");
        let (hosts, opts) = render_v4(&network(port(json!([
            {"opt_name": "61", "opt_value": "cid-1", "ip_version": 4},
            {"opt_name": "tftp-server", "opt_value": "10.0.0.9", "ip_version": 4},
        ]))));
        assert_eq!(
            hosts,
            "fa:16:3e:00:00:01,id:cid-1,host-10-0-0-5.openstacklocal,10.0.0.5,set:port-p1\n"
        );
        assert!(
            opts.ends_with("tag:port-p1,option:tftp-server,10.0.0.9\n"),
            "{opts}"
        );
    }

    #[test]
    fn options_are_formatted_as_neutron_formats_them() {
        assert_eq!(
            format_option(6, "port-p", "dns-server", "[2001:db8::1]"),
            "tag:port-p,option6:dns-server,[2001:db8::1]"
        );
        assert_eq!(
            format_option(4, "port-p", "tag:a,tag:b,67", "x\ny"),
            "tag:port-p,tag:a,tag:b,67,x"
        );
    }

    /// A network with an IPv4 subnet and one IPv6 subnet per address mode, and a VM port
    /// with an address on each.
    fn dual_stack(extra_opts: Value) -> Value {
        let v6 = |id: &str, cidr: &str, mode: Value, ra: Value| {
            json!({
                "id": id, "ip_version": 6, "enable_dhcp": true, "cidr": cidr,
                "gateway_ip": null, "dns_nameservers": ["2001:db8::53"], "host_routes": [],
                "ipv6_address_mode": mode, "ipv6_ra_mode": ra,
            })
        };
        json!({
            "id": "net", "mtu": 1450,
            "subnets": [
                {"id": "sub4", "ip_version": 4, "enable_dhcp": true, "cidr": "10.0.0.0/24",
                 "gateway_ip": "10.0.0.1", "dns_nameservers": [], "host_routes": []},
                v6("full", "2001:db8:1::/64", json!("dhcpv6-stateful"), json!("dhcpv6-stateful")),
                v6("opts", "2001:db8:2::/64", json!("dhcpv6-stateless"), json!("dhcpv6-stateless")),
                v6("auto", "2001:db8:3::/64", json!("slaac"), json!("slaac")),
                v6("plain", "2001:db8:4::/64", Value::Null, Value::Null),
                v6("wide", "2001:db8:5::/56", json!("dhcpv6-stateful"), Value::Null),
            ],
            "ports": [{
                "id": "p1", "mac_address": "fa:16:3e:00:00:01", "device_owner": "compute:nova",
                "fixed_ips": [
                    {"subnet_id": "sub4", "ip_address": "10.0.0.5"},
                    {"subnet_id": "full", "ip_address": "2001:db8:1::5"},
                    {"subnet_id": "opts", "ip_address": "2001:db8:2::f816:3eff:fe00:1"},
                    {"subnet_id": "auto", "ip_address": "2001:db8:3::f816:3eff:fe00:1"},
                ],
                "extra_dhcp_opts": extra_opts,
            }],
        })
    }

    /// dnsmasq itself accepts `args` (`--test`: a syntax check that starts nothing).
    fn dnsmasq_accepts(args: &[String]) {
        let o = std::process::Command::new("dnsmasq")
            .arg("--test")
            .args(args)
            .output();
        match o {
            Ok(o) => assert!(
                o.status.success(),
                "dnsmasq refuses {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => {
                assert!(
                    std::env::var_os("NEUTRINO_TEST_REQUIRE_DATAPLANE").is_none(),
                    "dnsmasq is required: {e}"
                );
                println!("SKIPPED: dnsmasq syntax check: {e}");
            }
        }
    }

    #[test]
    fn ipv6_subnets_get_ranges_by_address_mode_as_neutron_gives_them() {
        let args = dnsmasq_args(Path::new("/d"), &dual_stack(json!([])));
        let ranges: Vec<&str> = args
            .iter()
            .filter_map(|a| a.strip_prefix("--dhcp-range="))
            .collect();
        assert_eq!(
            ranges,
            [
                "set:subnet-sub4,10.0.0.0,static,255.255.255.0,86400s",
                "set:subnet-full,2001:db8:1::,static,64,86400s",
                "set:subnet-opts,2001:db8:2::,static,64,86400s",
                "set:subnet-plain,2001:db8:4::,static,64,86400s",
            ],
            "stateful, stateless and mode-less IPv6 subnets get a static range; SLAAC none; \
             a prefix shorter than /64 none"
        );
        assert!(args.contains(&"--dhcp-lease-max=16777216".to_string()));
        assert!(args.contains(&"--dhcp-option-force=option:mtu,1450".to_string()));
        dnsmasq_accepts(&args[1..]);
    }

    #[test]
    fn only_stateful_ipv6_addresses_are_in_the_host_file() {
        let (hosts, opts) = render(&dual_stack(json!([])), true);
        assert_eq!(
            hosts,
            "fa:16:3e:00:00:01,host-10-0-0-5.openstacklocal,10.0.0.5\n\
             fa:16:3e:00:00:01,tag:dhcpv6,host-2001-db8-1--5.openstacklocal,[2001:db8:1::5]\n",
            "stateless and SLAAC addresses are the client's own business"
        );
        assert_eq!(
            opts,
            "tag:subnet-sub4,option:router,10.0.0.1\n\
             tag:subnet-full,option6:dns-server,[2001:db8::53]\n\
             tag:subnet-full,option6:domain-search,openstacklocal\n\
             tag:subnet-opts,option6:dns-server,[2001:db8::53]\n\
             tag:subnet-opts,option6:domain-search,openstacklocal\n\
             tag:subnet-plain,option6:dns-server,[2001:db8::53]\n\
             tag:subnet-plain,option6:domain-search,openstacklocal\n\
             tag:subnet-wide,option6:dns-server,[2001:db8::53]\n\
             tag:subnet-wide,option6:domain-search,openstacklocal\n",
            "options for DHCPv6 subnets, none for SLAAC"
        );
        let (without_tag, _) = render(&dual_stack(json!([])), false);
        assert!(
            without_tag
                .contains("fa:16:3e:00:00:01,host-2001-db8-1--5.openstacklocal,[2001:db8:1::5]\n")
        );
        let mut lines: Vec<String> = hosts.lines().map(|l| format!("--dhcp-host={l}")).collect();
        lines.extend(opts.lines().map(|l| format!("--dhcp-option={l}")));
        if host_tag_supported() {
            dnsmasq_accepts(&lines);
        }
    }

    #[test]
    fn a_stateless_port_with_options_gets_an_address_less_tagged_entry_first() {
        let (hosts, opts) = render(
            &dual_stack(json!([
                {"opt_name": "dns-server", "opt_value": "[2001:db8::99]", "ip_version": 6},
            ])),
            true,
        );
        assert_eq!(
            hosts,
            "fa:16:3e:00:00:01,tag:dhcpv6,set:port-p1\n\
             fa:16:3e:00:00:01,host-10-0-0-5.openstacklocal,10.0.0.5,set:port-p1\n\
             fa:16:3e:00:00:01,tag:dhcpv6,host-2001-db8-1--5.openstacklocal,[2001:db8:1::5],set:port-p1\n",
            "the stateless entry comes first (else dnsmasq takes it for IPv4); SLAAC has none"
        );
        assert!(
            opts.ends_with("tag:port-p1,option6:dns-server,[2001:db8::99]\n"),
            "{opts}"
        );
    }
}
