//! The operator's settings, with networking-cisco's option names: one table per switch
//! (`[ml2_mech_cisco_nexus:<ip>]` there, `switches."<ip>"` here) and the `[ml2_cisco]`
//! options at the top level.

use neutrino_driver::{DriverError, config};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// `switch_heartbeat_time`'s default, in seconds (networking-cisco's).
pub const DEFAULT_HEARTBEAT_SECONDS: u64 = 30;

/// The driver's whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The switches, keyed by their management address.
    #[serde(default)]
    pub switches: BTreeMap<String, Switch>,
    /// Only VLAN segments of this physical network are configured (all when unset).
    #[serde(default)]
    pub managed_physical_network: Option<String>,
    /// Create (and delete) the VLAN of a provider network on the switches.
    #[serde(default = "yes")]
    pub provider_vlan_auto_create: bool,
    /// Add (and remove) the VLAN of a provider network to the hosts' trunks.
    #[serde(default = "yes")]
    pub provider_vlan_auto_trunk: bool,
    /// Seconds between two probes of a switch by the heartbeat (`0`: no heartbeat, no replay).
    #[serde(default = "heartbeat")]
    pub switch_heartbeat_time: u64,
    /// networking-cisco's `[ml2_type_nexus_vxlan] mcast_ranges`: multicast groups for the
    /// VNIs of VXLAN networks (`224.0.0.1:224.0.0.3`), a list or networking-cisco's
    /// comma-separated text.
    #[serde(default)]
    pub mcast_ranges: McastRanges,
}

/// `mcast_ranges`: `low:high` ranges of IPv4 multicast groups.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "ListForm")]
pub struct McastRanges(pub Vec<String>);

#[derive(Deserialize)]
#[serde(untagged)]
enum ListForm {
    List(Vec<String>),
    Text(String),
}

impl From<ListForm> for McastRanges {
    fn from(form: ListForm) -> Self {
        let items = match form {
            ListForm::List(l) => l,
            ListForm::Text(t) => t.split(',').map(str::to_string).collect(),
        };
        McastRanges(
            items
                .into_iter()
                .map(|i| i.trim().to_string())
                .filter(|i| !i.is_empty())
                .collect(),
        )
    }
}

impl McastRanges {
    /// The ranges as (low, high), checked: both ends multicast, low <= high.
    pub fn parse(&self) -> Result<Vec<(Ipv4Addr, Ipv4Addr)>, String> {
        self.0
            .iter()
            .map(|r| {
                let (a, b) = r.split_once(':').unwrap_or((r, r));
                match (a.trim().parse::<Ipv4Addr>(), b.trim().parse::<Ipv4Addr>()) {
                    (Ok(a), Ok(b)) if a.is_multicast() && b.is_multicast() && a <= b => Ok((a, b)),
                    _ => Err(format!(
                        "`{r}` is not a range of multicast groups (224.0.0.1:224.0.0.3)"
                    )),
                }
            })
            .collect()
    }
}

fn yes() -> bool {
    true
}

fn heartbeat() -> u64 {
    DEFAULT_HEARTBEAT_SECONDS
}

/// One switch (`[ml2_mech_cisco_nexus:<ip>]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// NX-API user.
    pub username: String,
    /// Its password.
    pub password: String,
    /// Host name → the switch interfaces it is cabled to.
    #[serde(default)]
    pub host_ports_mapping: HostPorts,
    /// NX-API base URL; default `https://<switch ip>`.
    #[serde(default)]
    pub url: Option<String>,
    /// The physical network of the dynamic VLANs below VXLAN segments, and the only one whose
    /// VLANs this switch carries when set.
    #[serde(default)]
    pub physnet: Option<String>,
    /// vPC ids for the port channels of baremetal ports with several interfaces
    /// (`1001-1025,1030`).
    #[serde(default)]
    pub vpc_pool: Option<String>,
    /// Verify the switch's certificate on `https://` (networking-cisco's default `true`). The
    /// host reads it (the manifest's `tls_verify`): `false` reaches this switch without
    /// verifying its certificate.
    #[serde(default = "yes")]
    pub https_verify: bool,
    /// The loopback the NVE interface sources VXLAN from (`loopback<N>`).
    #[serde(default)]
    pub nve_src_intf: Option<u32>,
}

/// `host_ports_mapping`: a table (`{ compute-1 = ["ethernet1/10"] }`) or networking-cisco's
/// string form (`"compute-1:[ethernet1/10,ethernet1/11],compute-2:[port-channel20]"`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "HostPortsForm")]
pub struct HostPorts(pub BTreeMap<String, Vec<String>>);

#[derive(Deserialize)]
#[serde(untagged)]
enum HostPortsForm {
    Table(BTreeMap<String, Vec<String>>),
    Text(String),
}

impl From<HostPortsForm> for HostPorts {
    fn from(form: HostPortsForm) -> Self {
        match form {
            HostPortsForm::Table(t) => HostPorts(t),
            HostPortsForm::Text(s) => HostPorts(parse_mapping_text(&s)),
        }
    }
}

/// networking-cisco's `host-1:[ethernet1/1,ethernet1/2],host-2:[port-channel20]` (a host may
/// also name one interface without brackets: `host-3:ethernet1/3`).
fn parse_mapping_text(s: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((host, after)) = rest.split_once(':') else {
            break;
        };
        let host = host.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (list, next) = if let Some(inner) = after.strip_prefix('[') {
            match inner.split_once(']') {
                Some((list, next)) => (list, next),
                None => (inner, ""),
            }
        } else {
            match after.split_once(',') {
                Some((one, next)) => (one, next),
                None => (after, ""),
            }
        };
        let ifaces = out.entry(host).or_default();
        ifaces.extend(
            list.split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(str::to_string),
        );
        rest = next.trim().trim_start_matches(',').trim();
    }
    out
}

impl Settings {
    /// The configuration, checked.
    pub fn load() -> Result<Self, DriverError> {
        let settings: Settings = config::load()?;
        settings
            .mcast_ranges
            .parse()
            .map_err(|e| DriverError::invalid_input(format!("config `mcast_ranges`: {e}")))?;
        for (ip, switch) in &settings.switches {
            if let Some(pool) = &switch.vpc_pool
                && !valid_vpc_pool(pool)
            {
                return Err(DriverError::invalid_input(format!(
                    "config `switches.{ip}.vpc_pool`: `{pool}` is not a list of vPC ids and ranges (1001-1025,1030)"
                )));
            }
            for ifaces in switch.host_ports_mapping.0.values() {
                for iface in ifaces {
                    Interface::parse(iface).map_err(|e| {
                        DriverError::invalid_input(format!(
                            "config `switches.{ip}.host_ports_mapping`: {e}"
                        ))
                    })?;
                }
            }
        }
        Ok(settings)
    }

    /// The switch at `ip`, if configured.
    pub fn switch(&self, ip: &str) -> Option<&Switch> {
        self.switches.get(ip)
    }

    /// Whether VLAN segments of `physnet` are this driver's business.
    pub fn manages(&self, physnet: Option<&str>) -> bool {
        match &self.managed_physical_network {
            None => true,
            Some(m) => physnet == Some(m.as_str()),
        }
    }
}

/// The ids of a `vpc_pool` (checked at load), ascending.
pub fn vpc_ids(pool: &str) -> Vec<u32> {
    let mut ids: Vec<u32> = pool
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .filter_map(|part| match part.split_once('-') {
            Some((a, b)) => Some(a.trim().parse::<u32>().ok()?..=b.trim().parse().ok()?),
            None => {
                let a = part.parse::<u32>().ok()?;
                Some(a..=a)
            }
        })
        .flatten()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// networking-cisco's `vpc_pool` syntax: ids and ranges, comma separated, within NX-OS's
/// vPC and port-channel numbers (1-4096).
fn valid_vpc_pool(pool: &str) -> bool {
    pool.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .all(|part| {
            let mut ends = part.splitn(2, '-').map(|n| n.trim().parse::<u32>());
            match (ends.next(), ends.next()) {
                (Some(Ok(a)), None) => (1..=4096).contains(&a),
                (Some(Ok(a)), Some(Ok(b))) => a > 0 && a <= b && b <= 4096,
                _ => false,
            }
        })
}

impl Switch {
    /// The NX-API base URL, without a trailing slash.
    pub fn base_url(&self, ip: &str) -> String {
        match &self.url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("https://{ip}"),
        }
    }
}

/// A switch interface: a physical port (`ethernet1/10`, DME `l1PhysIf` `phys-[eth1/10]`) or
/// a port channel (`port-channel20`, DME `pcAggrIf` `aggr-[po20]`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Interface {
    /// `ethernet<slot>/<port>`.
    Ethernet(String),
    /// `port-channel<n>`.
    PortChannel(String),
}

impl Interface {
    /// Parse an operator's or Ironic's interface name: `ethernet1/10`, `ethernet:1/10`,
    /// `eth1/10`, `Ethernet1/10`, `port-channel20`, `port-channel:20`, `po20`.
    pub fn parse(name: &str) -> Result<Self, String> {
        let lower = name.trim().to_ascii_lowercase();
        let strip = |prefixes: &[&str]| {
            prefixes
                .iter()
                .find_map(|p| lower.strip_prefix(p))
                .map(|r| r.trim_start_matches(':').to_string())
        };
        if let Some(n) = strip(&["port-channel", "po"]) {
            if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) {
                return Ok(Interface::PortChannel(n));
            }
        } else if let Some(n) = strip(&["ethernet", "eth"])
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit() || c == '/')
        {
            return Ok(Interface::Ethernet(n));
        }
        Err(format!(
            "`{name}` is not an interface name (ethernet1/10 or port-channel20)"
        ))
    }

    /// The name as networking-cisco writes it (`ethernet1/10`, `port-channel20`).
    pub fn name(&self) -> String {
        match self {
            Interface::Ethernet(n) => format!("ethernet{n}"),
            Interface::PortChannel(n) => format!("port-channel{n}"),
        }
    }

    /// The DME class of the interface object.
    pub fn class(&self) -> &'static str {
        match self {
            Interface::Ethernet(_) => "l1PhysIf",
            Interface::PortChannel(_) => "pcAggrIf",
        }
    }

    /// The DME path of the interface object below `api/mo/`.
    pub fn dme_path(&self) -> String {
        format!("sys/intf/{}", self.dme_name())
    }

    /// The interface's short name in the DME's keys (`eth1/10`, `po20`).
    pub fn short_name(&self) -> String {
        match self {
            Interface::Ethernet(n) => format!("eth{n}"),
            Interface::PortChannel(n) => format!("po{n}"),
        }
    }

    /// The DME name of the interface object (`phys-[eth1/10]`, `aggr-[po20]`).
    pub fn dme_name(&self) -> String {
        match self {
            Interface::Ethernet(n) => format!("phys-[eth{n}]"),
            Interface::PortChannel(n) => format!("aggr-[po{n}]"),
        }
    }
}
