//! The agents known to Neutron, with their `configurations` parsed. Needs the
//! `agents` capability.

use crate::bindings::neutrino::ml2::agents as host;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `agent_type` of the Open vSwitch L2 agent.
pub const OPEN_VSWITCH: &str = "Open vSwitch agent";
/// `agent_type` of the Linux bridge L2 agent.
pub const LINUX_BRIDGE: &str = "Linux bridge agent";

/// An agent, as `GET /v2.0/agents` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// The agent's UUID.
    pub id: String,
    /// e.g. [`OPEN_VSWITCH`].
    pub agent_type: String,
    /// e.g. `neutron-openvswitch-agent`.
    pub binary: String,
    /// The host the agent runs on.
    pub host: String,
    /// Whether the agent reported its state recently.
    pub alive: bool,
    /// Whether an operator enabled the agent.
    pub admin_state_up: bool,
    /// The agent's `configurations`.
    pub configurations: Configurations,
}

/// The keys of an agent's `configurations` that mechanism drivers use. Keys
/// that are absent or of the wrong type read as empty; everything is also in
/// [`raw`](Self::raw).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Configurations {
    /// physnet -> bridge (`bridge_mappings`).
    #[serde(deserialize_with = "lenient")]
    pub bridge_mappings: BTreeMap<String, String>,
    /// physnet -> interface (`interface_mappings`, Linux bridge).
    #[serde(deserialize_with = "lenient")]
    pub interface_mappings: BTreeMap<String, String>,
    /// Tunnel types the agent supports (`vxlan`, `gre`, `geneve`).
    #[serde(deserialize_with = "lenient")]
    pub tunnel_types: Vec<String>,
    /// The OVS integration bridge (`br-int`).
    #[serde(deserialize_with = "lenient")]
    pub integration_bridge: Option<String>,
    /// `system` or `netdev` (DPDK).
    #[serde(deserialize_with = "lenient")]
    pub datapath_type: Option<String>,
    /// Whether the agent plugs VMs through a Linux bridge for iptables.
    #[serde(deserialize_with = "lenient")]
    pub ovs_hybrid_plug: Option<bool>,
    /// Where the OVS agent creates vhost-user sockets.
    #[serde(deserialize_with = "lenient")]
    pub vhostuser_socket_dir: Option<String>,
    /// OVS capabilities, e.g. `{"iface_types": ["dpdkvhostuser", ...]}`.
    #[serde(deserialize_with = "lenient")]
    pub ovs_capabilities: OvsCapabilities,
    /// The whole `configurations` object.
    #[serde(skip)]
    pub raw: serde_json::Map<String, serde_json::Value>,
}

/// `configurations.ovs_capabilities` of an OVS agent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OvsCapabilities {
    /// Interface types OVS supports (`dpdkvhostuser`, `dpdkvhostuserclient`, ...).
    #[serde(deserialize_with = "lenient")]
    pub iface_types: Vec<String>,
}

impl Configurations {
    /// Parse an agent's `configurations` JSON; anything unparsable reads as
    /// empty.
    pub fn parse(json: &str) -> Self {
        let raw: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).unwrap_or_default();
        let mut parsed: Configurations =
            serde_json::from_value(serde_json::Value::Object(raw.clone())).unwrap_or_default();
        parsed.raw = raw;
        parsed
    }
}

/// Deserialize a field, or its default when it has the wrong shape: agents
/// of other versions report other shapes and must not break binding.
fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

impl From<host::Agent> for Agent {
    fn from(a: host::Agent) -> Self {
        Agent {
            configurations: Configurations::parse(&a.configurations),
            id: a.id,
            agent_type: a.agent_type,
            binary: a.binary,
            host: a.host,
            alive: a.alive,
            admin_state_up: a.admin_state_up,
        }
    }
}

/// The agents of `agent_type` on `host`; `None` matches any.
pub fn list(agent_type: Option<&str>, host: Option<&str>) -> Vec<Agent> {
    host::list(agent_type, host)
        .into_iter()
        .map(Agent::from)
        .collect()
}
