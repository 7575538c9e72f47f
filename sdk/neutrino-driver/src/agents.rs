//! The agents known to Neutron, with their `configurations` parsed. Needs the
//! `agents` capability.

use crate::bindings::neutrino::ml2::agents as host;
use serde_json::{Map, Value};
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
/// that are absent or of the wrong type read as empty (agents of other
/// versions report other shapes, and that must not break binding);
/// everything is also in [`raw`](Self::raw).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Configurations {
    /// physnet -> bridge (`bridge_mappings`).
    pub bridge_mappings: BTreeMap<String, String>,
    /// physnet -> interface (`interface_mappings`, Linux bridge).
    pub interface_mappings: BTreeMap<String, String>,
    /// Tunnel types the agent supports (`vxlan`, `gre`, `geneve`).
    pub tunnel_types: Vec<String>,
    /// The OVS integration bridge (`br-int`).
    pub integration_bridge: Option<String>,
    /// `system` or `netdev` (DPDK).
    pub datapath_type: Option<String>,
    /// Whether the agent plugs VMs through a Linux bridge for iptables.
    pub ovs_hybrid_plug: Option<bool>,
    /// Where the OVS agent creates vhost-user sockets.
    pub vhostuser_socket_dir: Option<String>,
    /// OVS capabilities, e.g. `{"iface_types": ["dpdkvhostuser", ...]}`.
    pub ovs_capabilities: OvsCapabilities,
    /// The whole `configurations` object.
    pub raw: Map<String, Value>,
}

/// `configurations.ovs_capabilities` of an OVS agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OvsCapabilities {
    /// Interface types OVS supports (`dpdkvhostuser`, `dpdkvhostuserclient`, ...).
    pub iface_types: Vec<String>,
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| Some(s.as_str()?.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

impl Configurations {
    /// Parse an agent's `configurations` JSON; anything unparsable reads as
    /// empty.
    pub fn parse(json: &str) -> Self {
        let raw: Map<String, Value> = serde_json::from_str(json).unwrap_or_default();
        Configurations {
            bridge_mappings: string_map(raw.get("bridge_mappings")),
            interface_mappings: string_map(raw.get("interface_mappings")),
            tunnel_types: string_list(raw.get("tunnel_types")),
            integration_bridge: string(raw.get("integration_bridge")),
            datapath_type: string(raw.get("datapath_type")),
            ovs_hybrid_plug: raw.get("ovs_hybrid_plug").and_then(Value::as_bool),
            vhostuser_socket_dir: string(raw.get("vhostuser_socket_dir")),
            ovs_capabilities: OvsCapabilities {
                iface_types: string_list(
                    raw.get("ovs_capabilities")
                        .and_then(|c| c.get("iface_types")),
                ),
            },
            raw,
        }
    }
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
