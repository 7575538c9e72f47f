//! Neutrino's agents: one library (and the `neutrino-agent` binary) whose roles run on the
//! host they network. They talk to the server only through the bus (`neutrino-bus`).
//!
//! * `linuxbridge` ([`linuxbridge`]): the L2 agent that plugs `tap…` devices into a bridge
//!   per network and reports them up or down;
//! * `openvswitch` ([`ovs`]): the L2 agent that tags the integration bridge's ports with
//!   their network's local VLAN, and carries flat and VLAN networks to other hosts through
//!   provider bridges (`bridge_mappings`) and VXLAN networks through the tunnel bridge
//!   ([`tunnel`]);
//!
//! both on the same agent loop ([`l2`]);
//! * `dhcp` ([`dhcp`]): dnsmasq per network in a `qdhcp-…` namespace.
//!
//! Roles run as their own process (`neutrino-agent --config FILE`) or inside any other
//! process that has a bus, through [`Agents::start`].

pub mod dhcp;
pub mod ip;
pub mod l2;
pub mod linuxbridge;
pub mod ovs;
pub mod plug;
pub mod tunnel;
pub mod watch;

use std::path::PathBuf;

use serde::Deserialize;

/// An agent's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be asked.
    #[error(transparent)]
    Bus(#[from] neutrino_bus::Error),
    /// A network tool failed.
    #[error(transparent)]
    Command(#[from] ip::CommandError),
    /// A file could not be written.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The configuration is wrong.
    #[error("configuration: {0}")]
    Config(String),
}

/// The agents' settings (Neutron's option names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// `linuxbridge` or `openvswitch` (one L2 agent per host), `dhcp`.
    pub roles: Vec<String>,
    /// This host's name, as ports' `binding:host_id` name it.
    pub host: String,
    /// Where the DHCP agent keeps its files (`state_path`).
    pub state_path: PathBuf,
    /// The bus (`transport_url`; `NEUTRINO_TRANSPORT_URL`).
    pub transport_url: String,
    /// How the DHCP agent plugs its ports (`interface_driver`): by default `openvswitch`
    /// when this host runs the `openvswitch` role, else `linuxbridge`.
    pub interface_driver: Option<plug::InterfaceDriver>,
    /// `[ovs]`: the integration bridge, its datapath and the provider bridges.
    pub ovs: plug::OvsConfig,
    /// `[linux_bridge]`: `physical_interface_mappings`.
    pub linux_bridge: linuxbridge::LinuxBridgeConfig,
    /// `[vxlan]`: `enable_vxlan`, `local_ip`, `vxlan_group`, `udp_dstport`, `ttl`.
    pub vxlan: linuxbridge::VxlanConfig,
    /// `[agent]`: `tunnel_types` (the Open vSwitch agent's).
    pub agent: L2AgentConfig,
}

/// `[agent]` of the L2 agents (Neutron's option names).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct L2AgentConfig {
    /// `tunnel_types`: the tunnel types the Open vSwitch agent carries (`vxlan`; default
    /// none). Needs `[ovs] local_ip`.
    pub tunnel_types: Vec<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            roles: vec!["linuxbridge".into(), "dhcp".into()],
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "localhost".into()),
            state_path: PathBuf::from("/var/lib/neutrino"),
            transport_url: String::new(),
            interface_driver: None,
            ovs: plug::OvsConfig::default(),
            linux_bridge: linuxbridge::LinuxBridgeConfig::default(),
            vxlan: linuxbridge::VxlanConfig::default(),
            agent: L2AgentConfig::default(),
        }
    }
}

impl AgentConfig {
    /// Refuse unknown roles and an empty host.
    pub fn check(&self) -> Result<(), Error> {
        for r in &self.roles {
            if !["linuxbridge", "openvswitch", "dhcp"].contains(&r.as_str()) {
                return Err(Error::Config(format!(
                    "unknown role '{r}' (known: linuxbridge, openvswitch, dhcp)"
                )));
            }
        }
        if self.has("linuxbridge") && self.has("openvswitch") {
            return Err(Error::Config(
                "roles: one L2 agent per host (linuxbridge or openvswitch, not both)".into(),
            ));
        }
        if !["system", "netdev"].contains(&self.ovs.datapath_type.as_str()) {
            return Err(Error::Config(format!(
                "[ovs] datapath_type '{}' (known: system, netdev)",
                self.ovs.datapath_type
            )));
        }
        if self.host.is_empty() {
            return Err(Error::Config("host must not be empty".into()));
        }
        Ok(())
    }

    fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The DHCP agent's `interface_driver`, configured or implied by the L2 role.
    pub fn interface_driver(&self) -> plug::InterfaceDriver {
        self.interface_driver
            .clone()
            .unwrap_or(if self.has("openvswitch") {
                plug::InterfaceDriver::Openvswitch
            } else {
                plug::InterfaceDriver::Linuxbridge
            })
    }
}

/// The roles running in this process.
pub struct Agents {
    l2: Option<l2::L2Agent>,
    dhcp: Option<dhcp::DhcpAgent>,
}

impl Agents {
    /// Start the configured roles on a bus.
    pub async fn start(bus: neutrino_bus::Bus, config: &AgentConfig) -> Result<Agents, Error> {
        config.check()?;
        let mut agents = Agents {
            l2: None,
            dhcp: None,
        };
        let host = config.host.clone();
        if config.has("linuxbridge") {
            let wiring = linuxbridge::LinuxBridge::new(&config.linux_bridge, &config.vxlan)?;
            agents.l2 = Some(l2::L2Agent::start(bus.clone(), host.clone(), wiring).await?);
        }
        if config.has("openvswitch") {
            let wiring = ovs::Ovs::new(config.ovs.clone(), &config.agent.tunnel_types).await?;
            agents.l2 = Some(l2::L2Agent::start(bus.clone(), host.clone(), wiring).await?);
        }
        if config.has("dhcp") {
            let settings = dhcp::DhcpSettings {
                state_path: config.state_path.clone(),
                interface_driver: config.interface_driver(),
                ovs: config.ovs.clone(),
            };
            agents.dhcp = Some(dhcp::DhcpAgent::start(bus, host, settings).await?);
        }
        tracing::info!(roles = ?config.roles, host = %config.host, "agents started");
        Ok(agents)
    }

    /// Stop every role; the DHCP agent takes its networks down.
    pub async fn stop(self) {
        if let Some(d) = self.dhcp {
            d.stop().await;
        }
        if let Some(l) = self.l2 {
            l.stop().await;
        }
    }
}
