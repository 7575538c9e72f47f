//! The DHCP agent (Neutron's `neutron-dhcp-agent` with dnsmasq): for each network with a
//! DHCP-enabled IPv4 subnet it keeps a namespace `qdhcp-<network id>`, a DHCP port asked of
//! the server (`create_dhcp_port`) whose device is a veth pair (`tap…` on the host, for the
//! L2 agent to plug; `ns-…` inside the namespace, with the port's MAC and addresses), and one
//! dnsmasq serving exactly the addresses IPAM gave each port (host entries by MAC, `static`
//! ranges), with the subnet's gateway and DNS servers. Port changes rewrite the files and
//! reload dnsmasq with SIGHUP; a network that goes loses its dnsmasq, namespace and port.
//! It resynchronises from the server after each notification and every few seconds.

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
    loop {
        if let Err(e) = sync(&bus, &host, &settings, &served).await {
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
        if !has_v4_dhcp(n) {
            continue;
        }
        wanted.insert(id.to_string());
        served.lock().await.insert(id.to_string());
        if let Err(e) = enable(bus, host, settings, n).await {
            tracing::warn!(network = %id, error = %e, "DHCP for a network failed");
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
    Ok(())
}

fn dhcp_subnets(n: &Value) -> Vec<&Value> {
    n["subnets"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter(|s| s["enable_dhcp"] == true && s["ip_version"] == 4)
                .collect()
        })
        .unwrap_or_default()
}

fn has_v4_dhcp(n: &Value) -> bool {
    !dhcp_subnets(n).is_empty()
}

fn dir(state_path: &Path, network_id: &str) -> PathBuf {
    state_path.join("dhcp").join(network_id)
}

/// The dnsmasq files of a network: `(host, opts)`.
pub fn render(n: &Value) -> (String, String) {
    let subnets = dhcp_subnets(n);
    let ids: BTreeSet<&str> = subnets.iter().filter_map(|s| s["id"].as_str()).collect();
    let mut hosts = String::new();
    for p in n["ports"].as_array().into_iter().flatten() {
        let owner = p["device_owner"].as_str().unwrap_or_default();
        if NO_HOST_ENTRY.contains(&owner) {
            continue;
        }
        let mac = p["mac_address"].as_str().unwrap_or_default();
        for f in p["fixed_ips"].as_array().into_iter().flatten() {
            let (Some(sid), Some(addr)) = (f["subnet_id"].as_str(), f["ip_address"].as_str())
            else {
                continue;
            };
            if !ids.contains(sid) {
                continue;
            }
            let name = format!("host-{}", addr.replace(['.', ':'], "-"));
            let opts = port_opts(p);
            let id = p["id"].as_str().unwrap_or_default();
            // As Neutron's dnsmasq driver: a port with extra DHCP options is tagged
            // `port-<id>` (their lines in the opts file name the tag); a `client-id` option
            // identifies the client instead of being sent.
            match (client_id(&opts), opts.len()) {
                (_, 0) => hosts.push_str(&format!("{mac},{name}.openstacklocal,{addr}\n")),
                (Some(cid), 1) => {
                    hosts.push_str(&format!("{mac},id:{cid},{name}.openstacklocal,{addr}\n"))
                }
                (Some(cid), _) => hosts.push_str(&format!(
                    "{mac},id:{cid},{name}.openstacklocal,{addr},set:port-{id}\n"
                )),
                (None, _) => hosts.push_str(&format!(
                    "{mac},{name}.openstacklocal,{addr},set:port-{id}\n"
                )),
            }
        }
    }
    let mut opts = String::new();
    for s in &subnets {
        let sid = s["id"].as_str().unwrap_or_default();
        let dns: Vec<&str> = s["dns_nameservers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !dns.is_empty() {
            opts.push_str(&format!(
                "tag:subnet-{sid},option:dns-server,{}\n",
                dns.join(",")
            ));
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
                opts.push_str(&format!("tag:subnet-{sid},option:router,{gw}\n"));
            }
            None => opts.push_str(&format!("tag:subnet-{sid},option:router\n")),
        }
        if !routes.is_empty() {
            let r = routes.join(",");
            opts.push_str(&format!(
                "tag:subnet-{sid},option:classless-static-route,{r}\n"
            ));
            opts.push_str(&format!("tag:subnet-{sid},249,{r}\n"));
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

async fn enable(
    bus: &Bus,
    host: &str,
    settings: &DhcpSettings,
    n: &Value,
) -> Result<(), crate::Error> {
    let id = n["id"].as_str().unwrap_or_default();
    let port = bus
        .client(neutron::PLUGIN)
        .with_timeout(Duration::from_secs(30))
        .call::<neutron::CreateDhcpPort>(&neutron::DhcpPortArgs {
            port: json!({"port": {"network_id": id, "device_id": device_id(host, id)}}),
            host: host.to_string(),
        })
        .await?;
    let Some(port) = port else { return Ok(()) };
    let port_id = port["id"].as_str().unwrap_or_default();
    let ns = namespace(id);
    if !ip::netns_exists(&ns) {
        ip::ip(&["netns", "add", &ns]).await?;
        ip::ip_in(&ns, &["link", "set", "lo", "up"]).await?;
        // Neutron's DHCP checksum rule: replies leave with checksums the kernel left to
        // the NIC, which a veth into a userspace switch (Open vSwitch's netdev datapath)
        // never fills, and DHCP clients drop them.
        let fill = [
            "netns",
            "exec",
            &ns,
            "iptables",
            "-t",
            "mangle",
            "-A",
            "POSTROUTING",
            "-p",
            "udp",
            "-m",
            "udp",
            "--dport",
            "68",
            "-j",
            "CHECKSUM",
            "--checksum-fill",
        ];
        if let Err(e) = ip::ip(&fill).await {
            tracing::warn!(namespace = %ns, error = %e, "no DHCP checksum rule");
        }
    }
    let tap = ip::tap_name(port_id);
    let inner = format!("ns-{}", &port_id[..11.min(port_id.len())]);
    if !ip::device_exists(&tap) {
        ip::ip(&[
            "link", "add", &tap, "type", "veth", "peer", "name", &inner, "netns", &ns,
        ])
        .await?;
        let mac = port["mac_address"].as_str().unwrap_or_default();
        ip::ip_in(&ns, &["link", "set", "dev", &inner, "address", mac]).await?;
        let cidrs: BTreeMap<&str, &str> = n["subnets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| Some((s["id"].as_str()?, s["cidr"].as_str()?)))
            .collect();
        for f in port["fixed_ips"].as_array().into_iter().flatten() {
            let (Some(sid), Some(addr)) = (f["subnet_id"].as_str(), f["ip_address"].as_str())
            else {
                continue;
            };
            if let Some(prefix) = cidrs
                .get(sid)
                .and_then(|c| c.parse::<IpNet>().ok())
                .map(|c| c.prefix_len())
            {
                ip::ip_in(
                    &ns,
                    &["addr", "add", &format!("{addr}/{prefix}"), "dev", &inner],
                )
                .await?;
            }
        }
        ip::ip_in(&ns, &["link", "set", "dev", &inner, "up"]).await?;
        ip::ip(&["link", "set", "dev", &tap, "up"]).await?;
        let mac = port["mac_address"].as_str().unwrap_or_default();
        plug::plug(
            &settings.interface_driver,
            &settings.ovs,
            &tap,
            port_id,
            mac,
        )
        .await?;
    }
    let d = dir(&settings.state_path, id);
    std::fs::create_dir_all(&d).map_err(|e| crate::Error::Io(d.display().to_string(), e))?;
    // The device to unplug when the network goes.
    std::fs::write(d.join("interface"), &tap)
        .map_err(|e| crate::Error::Io(d.display().to_string(), e))?;
    let (hosts, opts) = render(n);
    let host_file = d.join("host");
    let opts_file = d.join("opts");
    let changed = std::fs::read_to_string(&host_file).ok().as_deref() != Some(hosts.as_str())
        || std::fs::read_to_string(&opts_file).ok().as_deref() != Some(opts.as_str());
    if changed {
        let write = |p: &Path, s: &str| {
            std::fs::write(p, s).map_err(|e| crate::Error::Io(p.display().to_string(), e))
        };
        write(&host_file, &hosts)?;
        write(&opts_file, &opts)?;
        write(&d.join("addn_hosts"), "")?;
    }
    match pid_of(&d) {
        Some(pid) if changed => {
            // Neutron's reload_allocations: new files, SIGHUP.
            tracing::info!(network = %id, "reloading dnsmasq");
            ip::run("kill", &["-HUP", &pid.to_string()]).await?;
        }
        Some(_) => {}
        None => spawn_dnsmasq(&ns, &d, n).await?,
    }
    Ok(())
}

async fn spawn_dnsmasq(ns: &str, d: &Path, n: &Value) -> Result<(), crate::Error> {
    let p = |f: &str| d.join(f).display().to_string();
    let mut args: Vec<String> = vec![
        "netns".into(),
        "exec".into(),
        ns.into(),
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
    let mut size: u64 = 0;
    for s in dhcp_subnets(n) {
        let (Some(sid), Some(cidr)) = (s["id"].as_str(), s["cidr"].as_str()) else {
            continue;
        };
        let Ok(IpNet::V4(net)) = cidr.parse::<IpNet>() else {
            continue;
        };
        size += 1u64 << (32 - u32::from(net.prefix_len()));
        args.push(format!(
            "--dhcp-range=set:subnet-{sid},{},static,{},86400s",
            net.network(),
            net.netmask()
        ));
    }
    if let Some(mtu) = n["mtu"].as_i64() {
        args.push(format!("--dhcp-option-force=option:mtu,{mtu}"));
    }
    args.push(format!("--dhcp-lease-max={}", size.min(1 << 24)));
    args.push("--conf-file=/dev/null".into());
    args.push("--domain=openstacklocal".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    tracing::info!(namespace = %ns, "starting dnsmasq");
    ip::run("ip", &refs).await?;
    Ok(())
}

/// Take a network down: dnsmasq, the veth, the namespace, the files, and (if `release`) the
/// DHCP port.
async fn disable(bus: &Bus, host: &str, settings: &DhcpSettings, network_id: &str, release: bool) {
    let d = dir(&settings.state_path, network_id);
    if let Some(pid) = pid_of(&d) {
        let _ = ip::run("kill", &[&pid.to_string()]).await;
        for _ in 0..50 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

    #[test]
    fn a_port_without_extra_options_has_a_plain_host_entry() {
        let (hosts, opts) = render(&network(json!([{
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
        let (hosts, opts) = render(&network(json!([{
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
        let (hosts, opts) = render(&network(port(json!([
            {"opt_name": "client-id", "opt_value": "cid-1", "ip_version": 4},
        ]))));
        assert_eq!(
            hosts,
            "fa:16:3e:00:00:01,id:cid-1,host-10-0-0-5.openstacklocal,10.0.0.5\n"
        );
        assert!(!opts.contains("cid-1"), "{opts}");
        let (hosts, opts) = render(&network(port(json!([
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
}
