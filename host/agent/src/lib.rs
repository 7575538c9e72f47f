//! Neutrino's agents: one library (and the `neutrino-agent` binary) whose roles run on the
//! host they network. They talk to the server only through the bus (`neutrino-bus`).
//!
//! * `linuxbridge` ([`linuxbridge`]): the L2 agent that plugs `tap…` devices into a bridge
//!   per network and reports them up or down;
//! * `dhcp` ([`dhcp`]): dnsmasq per network in a `qdhcp-…` namespace.
//!
//! Roles run as their own process (`neutrino-agent --config FILE`) or inside any other
//! process that has a bus, through [`Agents::start`].

pub mod dhcp;
pub mod ip;
pub mod linuxbridge;

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
    /// `linuxbridge`, `dhcp` (`openvswitch` is not there yet).
    pub roles: Vec<String>,
    /// This host's name, as ports' `binding:host_id` name it.
    pub host: String,
    /// Where the DHCP agent keeps its files (`state_path`).
    pub state_path: PathBuf,
    /// The bus (`transport_url`; `NEUTRINO_TRANSPORT_URL`).
    pub transport_url: String,
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
        }
    }
}

impl AgentConfig {
    /// Refuse unknown roles and an empty host.
    pub fn check(&self) -> Result<(), Error> {
        for r in &self.roles {
            if !["linuxbridge", "dhcp"].contains(&r.as_str()) {
                return Err(Error::Config(format!(
                    "unknown role '{r}' (known: linuxbridge, dhcp)"
                )));
            }
        }
        if self.host.is_empty() {
            return Err(Error::Config("host must not be empty".into()));
        }
        Ok(())
    }
}

/// The roles running in this process.
pub struct Agents {
    l2: Option<linuxbridge::LinuxBridgeAgent>,
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
        if config.roles.iter().any(|r| r == "linuxbridge") {
            agents.l2 =
                Some(linuxbridge::LinuxBridgeAgent::start(bus.clone(), config.host.clone()).await?);
        }
        if config.roles.iter().any(|r| r == "dhcp") {
            agents.dhcp = Some(
                dhcp::DhcpAgent::start(bus, config.host.clone(), config.state_path.clone()).await?,
            );
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
