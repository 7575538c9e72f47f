//! The values drivers see and return, as plain Rust types independent of any
//! contract version (the [`abi`](crate::abi) modules convert them).
//!
//! They mirror `wit/types.wit`; see there for the meaning of each field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A fixed IP address of a port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    /// The subnet the address belongs to.
    pub subnet_id: String,
    /// The address.
    pub ip_address: String,
}

/// A network segment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Empty only in [`Continuation::next_segments`]: a dynamic segment ML2
    /// must allocate.
    pub id: String,
    /// `local`, `flat`, `vlan`, `vxlan`, `gre`, `geneve` or a custom type.
    pub network_type: String,
    /// The physnet of a `flat` or `vlan` segment.
    pub physical_network: Option<String>,
    /// The VLAN id or tunnel id.
    pub segmentation_id: Option<u32>,
    /// The MTU, if known.
    pub mtu: Option<u32>,
}

/// A network as the API returns it; `json` is the full API dict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// The UUID.
    pub id: String,
    /// The name.
    pub name: String,
    /// The owning project.
    pub project_id: String,
    /// Whether an operator enabled it.
    pub admin_state_up: bool,
    /// `ACTIVE`, `DOWN`, `BUILD`, `ERROR`.
    pub status: String,
    /// Whether it is shared with all projects.
    pub shared: bool,
    /// `router:external`.
    pub external: bool,
    /// The MTU, if known.
    pub mtu: Option<u32>,
    /// Incremented on every change.
    pub revision_number: u64,
    /// The full API dict, as JSON.
    pub json: String,
}

/// A subnet as the API returns it; `json` is the full API dict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// The UUID.
    pub id: String,
    /// The name.
    pub name: String,
    /// The owning project.
    pub project_id: String,
    /// The network it belongs to.
    pub network_id: String,
    /// The CIDR, e.g. `10.0.0.0/24`.
    pub cidr: String,
    /// 4 or 6.
    pub ip_version: u8,
    /// The gateway address, if any.
    pub gateway_ip: Option<String>,
    /// Whether DHCP serves it.
    pub enable_dhcp: bool,
    /// The segment it belongs to, if any.
    pub segment_id: Option<String>,
    /// Incremented on every change.
    pub revision_number: u64,
    /// The full API dict, as JSON.
    pub json: String,
}

/// A port as the API returns it; `json` is the full API dict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// The UUID.
    pub id: String,
    /// The name.
    pub name: String,
    /// The owning project.
    pub project_id: String,
    /// The network it belongs to.
    pub network_id: String,
    /// The MAC address.
    pub mac_address: String,
    /// Whether an operator enabled it.
    pub admin_state_up: bool,
    /// `ACTIVE`, `DOWN`, `BUILD`, `ERROR`.
    pub status: String,
    /// Its fixed IP addresses.
    pub fixed_ips: Vec<FixedIp>,
    /// The device (VM, router) using it.
    pub device_id: String,
    /// e.g. `compute:nova`, `network:dhcp`.
    pub device_owner: String,
    /// Incremented on every change.
    pub revision_number: u64,
    /// The full API dict, as JSON.
    pub json: String,
}

/// Neutron's `NetworkContext`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkContext {
    /// The resource as it is now.
    pub current: Network,
    /// Only in update hooks.
    pub original: Option<Network>,
    /// The network's static segments.
    pub segments: Vec<Segment>,
}

/// Neutron's `SubnetContext`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetContext {
    /// The resource as it is now.
    pub current: Subnet,
    /// Only in update hooks.
    pub original: Option<Subnet>,
    /// The context of the resource's network.
    pub network: NetworkContext,
}

/// One level of a port binding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingLevel {
    /// The driver that bound this level.
    pub bound_driver: String,
    /// The segment bound at this level.
    pub bound_segment: Segment,
}

/// Neutron's `PortContext`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortContext {
    /// The resource as it is now.
    pub current: Port,
    /// Only in update hooks.
    pub original: Option<Port>,
    /// The context of the resource's network.
    pub network: NetworkContext,
    /// `binding:host_id`, empty when unset.
    pub host: String,
    /// The host before the update.
    pub original_host: String,
    /// `binding:vnic_type`.
    pub vnic_type: String,
    /// `binding:profile`, a JSON object.
    pub profile: String,
    /// Only in `bind_port`: the segments this level may bind.
    pub segments_to_bind: Vec<Segment>,
    /// The binding levels, top (0) first.
    pub binding_levels: Vec<BindingLevel>,
    /// `binding:vif_type`.
    pub vif_type: String,
    /// `binding:vif_details`, a JSON object.
    pub vif_details: String,
}

/// A complete binding returned by `bind_port`, already validated: the
/// segment was offered, `vif_details` is a JSON object within limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// The segment it belongs to, if any.
    pub segment_id: String,
    /// `binding:vif_type`.
    pub vif_type: String,
    /// `binding:vif_details`, a JSON object.
    pub vif_details: Map<String, Value>,
    /// `ACTIVE`, `DOWN`, `BUILD`, `ERROR`.
    pub status: Option<String>,
}

/// A partial binding: the next level binds one of `next_segments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    /// The segment it belongs to, if any.
    pub segment_id: String,
    /// The segments the next level may bind.
    pub next_segments: Vec<Segment>,
}

/// What `bind_port` decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BindResult {
    /// The port is bound at this level.
    Bound(Binding),
    /// The next level continues the binding.
    Continue(Continuation),
    /// The driver declined; ML2 tries the next one.
    NotBound,
}

/// A security group as the API returns it (contract 0.2); `json` is the
/// full API dict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// The UUID.
    pub id: String,
    /// The name.
    pub name: String,
    /// The owning project.
    pub project_id: String,
    /// The description.
    pub description: String,
    /// Whether connection tracking applies.
    pub stateful: bool,
    /// Incremented on every change.
    pub revision_number: u64,
    /// The full API dict, as JSON.
    pub json: String,
}

/// A security group rule as the API returns it (contract 0.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    /// The UUID.
    pub id: String,
    /// The group it belongs to.
    pub security_group_id: String,
    /// The owning project.
    pub project_id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// The protocol, if any.
    pub protocol: Option<String>,
    /// The lowest port (or ICMP type).
    pub port_range_min: Option<u32>,
    /// The highest port (or ICMP code).
    pub port_range_max: Option<u32>,
    /// The remote CIDR, if any.
    pub remote_ip_prefix: Option<String>,
    /// The remote group, if any.
    pub remote_group_id: Option<String>,
    /// Incremented on every change.
    pub revision_number: u64,
    /// The full API dict, as JSON.
    pub json: String,
}

/// The security group a hook is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupContext {
    /// The group now.
    pub current: SecurityGroup,
    /// The group before an update.
    pub original: Option<SecurityGroup>,
}

/// The security group rule a hook is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRuleContext {
    /// The rule.
    pub current: SecurityGroupRule,
}

/// How a driver classified its own refusal; ML2 maps it to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// 400
    InvalidInput,
    /// 409
    Conflict,
    /// 404
    NotFound,
    /// 503
    Unavailable,
    /// 500
    Internal,
}

/// An agent, as the host's agent table has it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// The UUID.
    pub id: String,
    /// e.g. `Open vSwitch agent`.
    pub agent_type: String,
    /// e.g. `neutron-openvswitch-agent`.
    pub binary: String,
    /// The host (`binding:host_id` for ports).
    pub host: String,
    /// Whether it reported its state recently.
    pub alive: bool,
    /// Whether an operator enabled it.
    pub admin_state_up: bool,
    /// The agent's `configurations` object.
    pub configurations: Value,
}

/// A guest log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

/// Which of the six create/update/delete × precommit/postcommit hooks to
/// call (for networks, subnets and ports alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Hook {
    /// `create_*_precommit`.
    CreatePrecommit,
    /// `create_*_postcommit`.
    CreatePostcommit,
    /// `update_*_precommit`.
    UpdatePrecommit,
    /// `update_*_postcommit`.
    UpdatePostcommit,
    /// `delete_*_precommit`.
    DeletePrecommit,
    /// `delete_*_postcommit`.
    DeletePostcommit,
}

impl Hook {
    /// All six hooks.
    pub const ALL: [Hook; 6] = [
        Hook::CreatePrecommit,
        Hook::CreatePostcommit,
        Hook::UpdatePrecommit,
        Hook::UpdatePostcommit,
        Hook::DeletePrecommit,
        Hook::DeletePostcommit,
    ];

    /// Whether the hook runs inside the transaction.
    pub fn is_precommit(self) -> bool {
        matches!(
            self,
            Hook::CreatePrecommit | Hook::UpdatePrecommit | Hook::DeletePrecommit
        )
    }
}

/// What a driver is being asked to do; also names the phase that decides
/// its limits and what its imports may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `initialize`, when the driver is loaded.
    Initialize,
    /// A `*_precommit` hook, inside the transaction.
    Precommit,
    /// A `*_postcommit` hook, after the commit.
    Postcommit,
    /// `bind_port`, outside any transaction, may be retried.
    BindPort,
}

impl Phase {
    /// The phase's name as errors show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Initialize => "initialize",
            Phase::Precommit => "precommit",
            Phase::Postcommit => "postcommit",
            Phase::BindPort => "bind_port",
        }
    }

    /// Whether outbound HTTP is allowed.
    pub fn has_network(self) -> bool {
        self == Phase::Postcommit
    }

    /// Whether the driver's state may be written.
    pub fn may_write_state(self) -> bool {
        self != Phase::BindPort
    }
}
