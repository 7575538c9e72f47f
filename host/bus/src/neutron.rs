//! Neutron's topics and RPC methods (`neutron_lib/agent/topics.py`, ML2's `rpc.py`, the DHCP
//! RPC), as typed [`Method`]s. Argument names are Neutron's keyword arguments; versions are
//! those Neutron's clients send.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rpc::Method;

/// Agent → server calls (device details, device up/down, DHCP).
pub const PLUGIN: &str = "q-plugin";
/// Agent state reports.
pub const REPORTS: &str = "q-reports-plugin";
/// DHCP agents (directed `dhcp_agent.<host>`).
pub const DHCP_AGENT: &str = "dhcp_agent";
/// L2 agents hear port updates here (fanout).
pub const PORT_UPDATE: &str = "q-agent-notifier-port-update";
/// L2 agents hear port deletions here (fanout).
pub const PORT_DELETE: &str = "q-agent-notifier-port-delete";
/// L2 agents hear network updates here (fanout).
pub const NETWORK_UPDATE: &str = "q-agent-notifier-network-update";
/// L2 agents hear network deletions here (fanout).
pub const NETWORK_DELETE: &str = "q-agent-notifier-network-delete";

/// L2 agents that tunnel hear new tunnel endpoints here (fanout).
pub const TUNNEL_UPDATE: &str = "q-agent-notifier-tunnel-update";
/// L2 agents that tunnel hear stale tunnel endpoints here (fanout).
pub const TUNNEL_DELETE: &str = "q-agent-notifier-tunnel-delete";

/// `q-agent-notifier-<table>-<op>` (`topics.get_topic_name`).
pub fn agent_notifier(table: &str, op: &str) -> String {
    format!("q-agent-notifier-{table}-{op}")
}

/// Agent type strings (`neutron_lib.constants`).
pub mod agent_type {
    /// `AGENT_TYPE_OVS`.
    pub const OVS: &str = "Open vSwitch agent";
    /// `AGENT_TYPE_LINUXBRIDGE`.
    pub const LINUXBRIDGE: &str = "Linux bridge agent";
    /// `AGENT_TYPE_DHCP`.
    pub const DHCP: &str = "DHCP agent";
}

macro_rules! method {
    ($(#[$doc:meta])* $ty:ident = $name:literal @ $ver:literal ($args:ty) -> $reply:ty) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $ty {}
        impl Method for $ty {
            const NAME: &'static str = $name;
            const VERSION: &'static str = $ver;
            type Args = $args;
            type Reply = $reply;
        }
    };
}

/// What an agent says about itself (`agent_state` of `report_state`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// e.g. `neutron-openvswitch-agent`.
    pub binary: String,
    /// Host name.
    pub host: String,
    /// The agent's topic (`N/A` for L2 agents, `dhcp_agent`).
    pub topic: String,
    /// e.g. `Open vSwitch agent`.
    pub agent_type: String,
    /// `bridge_mappings`, `tunnel_types`, `interface_mappings`, …
    #[serde(default)]
    pub configurations: Value,
    /// True in the first report after a start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_flag: Option<bool>,
    /// Availability zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

/// `agent_state` wraps the state once more, as Neutron's `PluginReportStateAPI` does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentStateWrapper {
    /// The state.
    pub agent_state: AgentState,
}

/// Arguments of `report_state`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportStateArgs {
    /// `{"agent_state": {...}}`.
    pub agent_state: AgentStateWrapper,
    /// `%Y-%m-%dT%H:%M:%S.%f` of the report.
    pub time: String,
}

method!(
    /// `report_state` on `q-reports-plugin`: returns `new`, `revived` or `alive`.
    ReportState = "report_state" @ "1.4" (ReportStateArgs) -> String
);

/// Arguments of the device-details calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevicesArgs {
    /// Devices (port ids, or tap names / MACs).
    pub devices: Vec<String>,
    /// The asking agent's id.
    pub agent_id: String,
    /// The asking agent's host.
    pub host: String,
}

/// One fixed IP of a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    /// Subnet.
    pub subnet_id: String,
    /// Address.
    pub ip_address: String,
}

/// What an agent needs to wire a device; only `device` when the port is unknown or not
/// bound to the asking host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceDetails {
    /// The device as asked.
    pub device: String,
    /// Port id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_id: Option<String>,
    /// Network id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_id: Option<String>,
    /// MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Port admin state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_state_up: Option<bool>,
    /// Segment type (`flat`, `vlan`, `vxlan`, `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_type: Option<String>,
    /// Segment id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation_id: Option<i64>,
    /// Physical network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_network: Option<String>,
    /// Network MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i64>,
    /// Fixed IPs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixed_ips: Vec<FixedIp>,
    /// Device owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_owner: Option<String>,
}

/// Reply of `get_devices_details_list_and_failed_devices`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevicesDetails {
    /// Details of the devices that could be read.
    pub devices: Vec<DeviceDetails>,
    /// Devices the server failed on.
    pub failed_devices: Vec<String>,
}

method!(
    /// `get_devices_details_list_and_failed_devices` on `q-plugin` (1.5).
    GetDevicesDetailsListAndFailedDevices =
        "get_devices_details_list_and_failed_devices" @ "1.5" (DevicesArgs) -> DevicesDetails
);

/// Arguments of `update_device_list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceListArgs {
    /// Devices now wired.
    pub devices_up: Vec<String>,
    /// Devices now gone or unwired.
    pub devices_down: Vec<String>,
    /// The agent's id.
    pub agent_id: String,
    /// The agent's host.
    pub host: String,
    /// Whether tunnels should be refreshed.
    #[serde(default)]
    pub refresh_tunnels: bool,
}

/// Reply of `update_device_list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceListResult {
    /// Devices set up.
    pub devices_up: Vec<String>,
    /// Devices that could not be set up.
    pub failed_devices_up: Vec<String>,
    /// Devices set down.
    pub devices_down: Vec<String>,
    /// Devices that could not be set down.
    pub failed_devices_down: Vec<String>,
}

method!(
    /// `update_device_list` on `q-plugin` (1.9 in Neutron's client).
    UpdateDeviceList = "update_device_list" @ "1.9" (DeviceListArgs) -> DeviceListResult
);

/// Arguments of `tunnel_sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelSyncArgs {
    /// The agent's tunnel endpoint address (its `local_ip`).
    pub tunnel_ip: String,
    /// `vxlan`, `gre` or `geneve`.
    pub tunnel_type: String,
    /// The agent's host (since 1.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// One tunnel endpoint in a `tunnel_sync` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelEndpoint {
    /// Address.
    pub ip_address: String,
    /// Host (absent for agents that did not say).
    #[serde(default)]
    pub host: Option<String>,
}

/// Reply of `tunnel_sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelSyncReply {
    /// Every endpoint of the type, the caller's included.
    pub tunnels: Vec<TunnelEndpoint>,
}

method!(
    /// `tunnel_sync` on `q-plugin` (1.4): record the caller's endpoint, list all; the other
    /// agents hear `tunnel_update`.
    TunnelSync = "tunnel_sync" @ "1.4" (TunnelSyncArgs) -> TunnelSyncReply
);

/// Arguments of `tunnel_update` and `tunnel_delete`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelArgs {
    /// The endpoint's address.
    pub tunnel_ip: String,
    /// Its tunnel type.
    pub tunnel_type: String,
}

method!(
    /// `tunnel_update` fanout on `q-agent-notifier-tunnel-update`: a new endpoint.
    TunnelUpdate = "tunnel_update" @ "1.0" (TunnelArgs) -> ()
);

method!(
    /// `tunnel_delete` fanout on `q-agent-notifier-tunnel-delete`: a stale endpoint.
    TunnelDelete = "tunnel_delete" @ "1.0" (TunnelArgs) -> ()
);

/// Arguments of `port_update`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortUpdateArgs {
    /// The port as the API shows it.
    pub port: Value,
    /// Its segment's type.
    #[serde(default)]
    pub network_type: Option<String>,
    /// Its segment's id.
    #[serde(default)]
    pub segmentation_id: Option<i64>,
    /// Its segment's physical network.
    #[serde(default)]
    pub physical_network: Option<String>,
}

method!(
    /// `port_update` fanout on `q-agent-notifier-port-update`.
    PortUpdate = "port_update" @ "1.0" (PortUpdateArgs) -> ()
);

/// Arguments of `port_delete`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDeleteArgs {
    /// The deleted port.
    pub port_id: String,
}

method!(
    /// `port_delete` fanout on `q-agent-notifier-port-delete`.
    PortDelete = "port_delete" @ "1.0" (PortDeleteArgs) -> ()
);

/// Arguments of `network_update`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkUpdateArgs {
    /// The network as the API shows it.
    pub network: Value,
}

method!(
    /// `network_update` fanout on `q-agent-notifier-network-update` (1.4).
    NetworkUpdate = "network_update" @ "1.4" (NetworkUpdateArgs) -> ()
);

/// Arguments of `network_delete`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDeleteArgs {
    /// The deleted network.
    pub network_id: String,
}

method!(
    /// `network_delete` fanout on `q-agent-notifier-network-delete`.
    NetworkDelete = "network_delete" @ "1.0" (NetworkDeleteArgs) -> ()
);

/// Arguments of the DHCP calls that name a host only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostArgs {
    /// The DHCP agent's host.
    pub host: String,
}

/// Arguments of the DHCP calls about one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkArgs {
    /// The network.
    pub network_id: String,
    /// The DHCP agent's host.
    pub host: String,
}

method!(
    /// `get_active_networks_info` (DHCP, 1.10): the networks scheduled to the host, each
    /// with its subnets and ports.
    GetActiveNetworksInfo = "get_active_networks_info" @ "1.10" (HostArgs) -> Vec<Value>
);

method!(
    /// `get_network_info` (DHCP, 1.10): one network with its subnets and ports.
    GetNetworkInfo = "get_network_info" @ "1.10" (NetworkArgs) -> Option<Value>
);

/// Arguments of `create_dhcp_port`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DhcpPortArgs {
    /// `{"port": {network_id, device_id, fixed_ips, …}}`.
    pub port: Value,
    /// The DHCP agent's host.
    pub host: String,
}

method!(
    /// `create_dhcp_port` (DHCP, 1.10): the agent's port on a network.
    CreateDhcpPort = "create_dhcp_port" @ "1.10" (DhcpPortArgs) -> Option<Value>
);

/// Arguments of `release_dhcp_port`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseDhcpPortArgs {
    /// The network.
    pub network_id: String,
    /// The port's `device_id`.
    pub device_id: String,
    /// The DHCP agent's host.
    pub host: String,
}

method!(
    /// `release_dhcp_port` (DHCP, 1.10).
    ReleaseDhcpPort = "release_dhcp_port" @ "1.10" (ReleaseDhcpPortArgs) -> ()
);

/// Arguments of `dhcp_ready_on_ports`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpReadyArgs {
    /// Ports whose addresses dnsmasq now serves.
    pub port_ids: Vec<String>,
}

method!(
    /// `dhcp_ready_on_ports` (DHCP, 1.10): clears the DHCP provisioning block.
    DhcpReadyOnPorts = "dhcp_ready_on_ports" @ "1.10" (DhcpReadyArgs) -> ()
);

/// The `payload` of a notification to DHCP agents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DhcpPayload {
    /// `{"port": {...}}`, `{"network": {...}}`, `{"port_id", "network_id", "fixed_ips"}`, …
    pub payload: Value,
}

method!(
    /// `network_create_end` cast to `dhcp_agent.<host>`.
    NetworkCreateEnd = "network_create_end" @ "1.0" (DhcpPayload) -> ()
);
method!(
    /// `network_update_end` cast to `dhcp_agent.<host>`.
    NetworkUpdateEnd = "network_update_end" @ "1.0" (DhcpPayload) -> ()
);
method!(
    /// `network_delete_end` cast to `dhcp_agent.<host>`.
    NetworkDeleteEnd = "network_delete_end" @ "1.0" (DhcpPayload) -> ()
);
method!(
    /// `subnet_create_end` cast to `dhcp_agent.<host>`.
    SubnetCreateEnd = "subnet_create_end" @ "1.0" (DhcpPayload) -> ()
);
method!(
    /// `subnet_update_end` cast to `dhcp_agent.<host>`.
    SubnetUpdateEnd = "subnet_update_end" @ "1.0" (DhcpPayload) -> ()
);
method!(
    /// `subnet_delete_end` cast to `dhcp_agent.<host>`.
    SubnetDeleteEnd = "subnet_delete_end" @ "1.0" (DhcpPayload) -> ()
);
method!(
    /// `port_create_end` cast to `dhcp_agent.<host>`.
    PortCreateEnd = "port_create_end" @ "1.0" (DhcpPayload) -> ()
);
method!(
    /// `port_update_end` cast to `dhcp_agent.<host>`.
    PortUpdateEnd = "port_update_end" @ "1.0" (DhcpPayload) -> ()
);
method!(
    /// `port_delete_end` cast to `dhcp_agent.<host>`.
    PortDeleteEnd = "port_delete_end" @ "1.0" (DhcpPayload) -> ()
);
