//! The stored shape of each resource: plain records, one per table row plus the child rows
//! the API always shows with it (tags, subnet ids, fixed IPs, …).

use serde::{Deserialize, Serialize};

/// A network.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Name (may be empty).
    pub name: String,
    /// Description.
    pub description: String,
    /// Administrative state.
    pub admin_state_up: bool,
    /// `ACTIVE`, `DOWN`, `BUILD` or `ERROR`.
    pub status: String,
    /// Visible to every project.
    pub shared: bool,
    /// `router:external`.
    pub router_external: bool,
    /// MTU computed from the segments.
    pub mtu: i64,
    /// Default for ports created on this network.
    pub port_security_enabled: bool,
    /// Availability zone hints.
    pub availability_zone_hints: Vec<String>,
    /// DNS domain.
    pub dns_domain: String,
    /// Creation time (`YYYY-MM-DDTHH:MM:SSZ`).
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Bumped on every change.
    pub revision_number: i64,
    /// Its RBAC entries (who else may use it), read with the row.
    pub rbac: Vec<RbacGrant>,
    /// Ids of the network's subnets (loaded, not a column).
    pub subnets: Vec<String>,
    /// Tags (loaded, not a column).
    pub tags: Vec<String>,
    /// Segments in index order (loaded, not a column).
    pub segments: Vec<Segment>,
    /// The address scopes of its subnets' pools, IPv4 and IPv6 (loaded, not a column).
    pub address_scopes: [Option<String>; 2],
}

/// One RBAC entry of an object, as its readers need it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RbacGrant {
    /// `access_as_shared` or `access_as_external`.
    pub action: String,
    /// A project, or `*`.
    pub target: String,
}

/// A network segment (static or dynamic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// UUID.
    pub id: String,
    /// Network it belongs to.
    pub network_id: String,
    /// `flat`, `vlan`, `vxlan`, `geneve`, `gre`, `local`, …
    pub network_type: String,
    /// Physical network for flat and vlan.
    pub physical_network: Option<String>,
    /// VLAN id or VNI.
    pub segmentation_id: Option<i64>,
    /// Allocated during binding rather than with the network.
    pub is_dynamic: bool,
    /// Position among the network's segments.
    pub segment_index: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Revision.
    pub revision_number: i64,
}

/// An allocation pool of a subnet (inclusive range).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationPool {
    /// First address.
    pub start: String,
    /// Last address.
    pub end: String,
}

/// A host route of a subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    /// Destination CIDR.
    pub destination: String,
    /// Next hop address.
    pub nexthop: String,
}

/// A subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct Subnet {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Network.
    pub network_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// 4 or 6.
    pub ip_version: i64,
    /// Canonical CIDR.
    pub cidr: String,
    /// Gateway address or none.
    pub gateway_ip: Option<String>,
    /// DHCP enabled.
    pub enable_dhcp: bool,
    /// IPv6 RA mode.
    pub ipv6_ra_mode: Option<String>,
    /// IPv6 address mode.
    pub ipv6_address_mode: Option<String>,
    /// Pool the CIDR came from.
    pub subnetpool_id: Option<String>,
    /// Segment (routed networks).
    pub segment_id: Option<String>,
    /// DNS servers.
    pub dns_nameservers: Vec<String>,
    /// Host routes.
    pub host_routes: Vec<HostRoute>,
    /// Allocation pools.
    pub allocation_pools: Vec<AllocationPool>,
    /// Service types (device owner prefixes).
    pub service_types: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Revision.
    pub revision_number: i64,
    /// Tags (loaded).
    pub tags: Vec<String>,
    /// Its network's `router:external` (read with the subnet; `subnet-external-network`).
    pub router_external: bool,
}

/// A fixed IP of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    /// Subnet the address belongs to.
    pub subnet_id: String,
    /// The address.
    pub ip_address: String,
}

/// An allowed address pair of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    /// Address or CIDR.
    pub ip_address: String,
    /// MAC address.
    pub mac_address: String,
}

/// An extra DHCP option of a port (`extra_dhcp_opt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraDhcpOpt {
    /// Option name (`bootfile-name`, `66`, `tag:ipxe,bootfile-name`, …).
    pub opt_name: String,
    /// Option value.
    pub opt_value: String,
    /// 4 or 6.
    pub ip_version: i64,
}

/// A port.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Network.
    pub network_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// MAC address.
    pub mac_address: String,
    /// Administrative state.
    pub admin_state_up: bool,
    /// `DOWN`, `ACTIVE`, `BUILD`, `ERROR`, `N/A`.
    pub status: String,
    /// Device using the port.
    pub device_id: String,
    /// Kind of device (`compute:nova`, `network:dhcp`, …).
    pub device_owner: String,
    /// Port security.
    pub port_security_enabled: bool,
    /// Allowed address pairs.
    pub allowed_address_pairs: Vec<AddressPair>,
    /// `binding:host_id`.
    pub binding_host_id: String,
    /// `binding:vnic_type`.
    pub binding_vnic_type: String,
    /// `binding:profile` (a JSON object).
    pub binding_profile: serde_json::Value,
    /// `binding:vif_type`.
    pub binding_vif_type: String,
    /// `binding:vif_details` (a JSON object).
    pub binding_vif_details: serde_json::Value,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Revision.
    pub revision_number: i64,
    /// Fixed IPs (loaded).
    pub fixed_ips: Vec<FixedIp>,
    /// Security group ids (loaded).
    pub security_groups: Vec<String>,
    /// Tags (loaded).
    pub tags: Vec<String>,
    /// Binding levels, top first (loaded).
    pub binding_levels: Vec<crate::bindings::BindingLevel>,
    /// `device_profile` (port-device-profile).
    pub device_profile: Option<String>,
    /// `numa_affinity_policy` (port-numa-affinity-policy).
    pub numa_affinity_policy: Option<String>,
    /// `extra_dhcp_opts` (extra_dhcp_opt), in the order they were added.
    pub extra_dhcp_opts: Vec<ExtraDhcpOpt>,
}

/// A subnet pool.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetPool {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// 4 or 6.
    pub ip_version: i64,
    /// Prefix length used when a subnet asks for none.
    pub default_prefixlen: i64,
    /// Smallest prefix length (largest subnet) allowed.
    pub min_prefixlen: i64,
    /// Largest prefix length (smallest subnet) allowed.
    pub max_prefixlen: i64,
    /// Per-project quota in address units, if any.
    pub default_quota: Option<i64>,
    /// The default pool of its IP version.
    pub is_default: bool,
    /// Usable by every project.
    pub shared: bool,
    /// Address scope.
    pub address_scope_id: Option<String>,
    /// Prefixes (canonical CIDRs).
    pub prefixes: Vec<String>,
    /// Compare-and-swap token: changes whenever a prefix is taken from the pool.
    pub hash: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Revision.
    pub revision_number: i64,
    /// Tags (loaded).
    pub tags: Vec<String>,
}

/// A security group.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroup {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Stateful filtering.
    pub stateful: bool,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Revision.
    pub revision_number: i64,
    /// Rules (loaded).
    pub rules: Vec<SecurityGroupRule>,
    /// Tags (loaded).
    pub tags: Vec<String>,
    /// Its RBAC entries, read with the row.
    pub rbac: Vec<RbacGrant>,
    /// Shared with the reader's project or every project (set by the plugin per reader).
    pub shared: bool,
}

/// A security group rule.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroupRule {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Group it belongs to.
    pub security_group_id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// Protocol name or number, none for any.
    pub protocol: Option<String>,
    /// Lowest port (or ICMP type).
    pub port_range_min: Option<i64>,
    /// Highest port (or ICMP code).
    pub port_range_max: Option<i64>,
    /// Remote CIDR.
    pub remote_ip_prefix: Option<String>,
    /// Remote group.
    pub remote_group_id: Option<String>,
    /// Remote address group.
    pub remote_address_group_id: Option<String>,
    /// Whether its group is a project's default group (computed when read).
    pub belongs_to_default_sg: bool,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Revision.
    pub revision_number: i64,
}
