//! What each resource looks like on the wire. Views borrow the stored records and serialize
//! straight to JSON; attributes the policy guards (`get_network:provider:*`,
//! `get_port:binding:*`) are left out unless the caller's [`Shown`] has them.

use neutrino_ml2::store::model::{
    AddressPair, ExtraDhcpOpt, FixedIp, Network, Port, SecurityGroup, SecurityGroupRule, Segment,
    Subnet, SubnetPool,
};
use serde::Serialize;
use serde_json::Value;

pub use crate::policy::Shown;

/// Provider attributes of a network (admins only).
#[derive(Serialize)]
#[serde(untagged)]
pub enum ProviderView<'a> {
    /// One segment: `provider:*` attributes.
    Single {
        /// Type.
        #[serde(rename = "provider:network_type")]
        network_type: &'a str,
        /// Physical network.
        #[serde(rename = "provider:physical_network")]
        physical_network: Option<&'a str>,
        /// Segmentation id.
        #[serde(rename = "provider:segmentation_id")]
        segmentation_id: Option<i64>,
    },
    /// Several segments: the multi-provider `segments` list.
    Multi {
        /// Segments.
        segments: Vec<SegmentView<'a>>,
    },
}

/// One entry of `segments`.
#[derive(Serialize)]
pub struct SegmentView<'a> {
    #[serde(rename = "provider:network_type")]
    network_type: &'a str,
    #[serde(rename = "provider:physical_network")]
    physical_network: Option<&'a str>,
    #[serde(rename = "provider:segmentation_id")]
    segmentation_id: Option<i64>,
}

fn segment_view(s: &Segment) -> SegmentView<'_> {
    SegmentView {
        network_type: &s.network_type,
        physical_network: s.physical_network.as_deref(),
        segmentation_id: s.segmentation_id,
    }
}

/// A network.
#[derive(Serialize)]
pub struct NetworkView<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    tenant_id: &'a str,
    project_id: &'a str,
    admin_state_up: bool,
    status: &'a str,
    shared: bool,
    #[serde(rename = "router:external")]
    router_external: bool,
    mtu: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    port_security_enabled: Option<bool>,
    availability_zone_hints: &'a [String],
    availability_zones: [&'a str; 0],
    ipv4_address_scope: Option<&'a str>,
    ipv6_address_scope: Option<&'a str>,
    subnets: &'a [String],
    tags: &'a [String],
    created_at: &'a str,
    updated_at: &'a str,
    revision_number: i64,
    #[serde(flatten)]
    provider: Option<ProviderView<'a>>,
}

/// The guarded attributes of networks, in [`Shown`] bit order.
pub const NETWORK_GUARDED: &[&str] = &[
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "segments",
    // Left out when the `port_security` extension driver is off.
    "port_security_enabled",
];

/// Render a network; the provider attributes (one segment) or `segments` (several) when
/// `shown` has them all.
pub fn network(n: &Network, shown: Shown) -> NetworkView<'_> {
    let statics: Vec<&Segment> = n.segments.iter().filter(|s| !s.is_dynamic).collect();
    let visible = if statics.len() == 1 {
        shown.has(0) && shown.has(1) && shown.has(2)
    } else {
        shown.has(3)
    };
    let provider = visible.then(|| match statics.as_slice() {
        [one] => ProviderView::Single {
            network_type: &one.network_type,
            physical_network: one.physical_network.as_deref(),
            segmentation_id: one.segmentation_id,
        },
        many => ProviderView::Multi {
            segments: many.iter().map(|s| segment_view(s)).collect(),
        },
    });
    NetworkView {
        id: &n.id,
        name: &n.name,
        description: &n.description,
        tenant_id: &n.project_id,
        project_id: &n.project_id,
        admin_state_up: n.admin_state_up,
        status: &n.status,
        shared: n.shared,
        router_external: n.router_external,
        mtu: n.mtu,
        port_security_enabled: shown.has(4).then_some(n.port_security_enabled),
        availability_zone_hints: &n.availability_zone_hints,
        availability_zones: [],
        ipv4_address_scope: n.address_scopes[0].as_deref(),
        ipv6_address_scope: n.address_scopes[1].as_deref(),
        subnets: &n.subnets,
        tags: &n.tags,
        created_at: &n.created_at,
        updated_at: &n.updated_at,
        revision_number: n.revision_number,
        provider,
    }
}

/// A subnet.
#[derive(Serialize)]
pub struct SubnetView<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    network_id: &'a str,
    tenant_id: &'a str,
    project_id: &'a str,
    ip_version: i64,
    cidr: &'a str,
    gateway_ip: Option<&'a str>,
    enable_dhcp: bool,
    ipv6_ra_mode: Option<&'a str>,
    ipv6_address_mode: Option<&'a str>,
    subnetpool_id: Option<&'a str>,
    #[serde(rename = "router:external")]
    router_external: bool,
    dns_nameservers: &'a [String],
    host_routes: &'a [neutrino_ml2::store::model::HostRoute],
    allocation_pools: &'a [neutrino_ml2::store::model::AllocationPool],
    service_types: &'a [String],
    tags: &'a [String],
    created_at: &'a str,
    updated_at: &'a str,
    revision_number: i64,
}

/// Render a subnet.
pub fn subnet(s: &Subnet) -> SubnetView<'_> {
    SubnetView {
        id: &s.id,
        name: &s.name,
        description: &s.description,
        network_id: &s.network_id,
        tenant_id: &s.project_id,
        project_id: &s.project_id,
        ip_version: s.ip_version,
        cidr: &s.cidr,
        gateway_ip: s.gateway_ip.as_deref(),
        enable_dhcp: s.enable_dhcp,
        ipv6_ra_mode: s.ipv6_ra_mode.as_deref(),
        ipv6_address_mode: s.ipv6_address_mode.as_deref(),
        subnetpool_id: s.subnetpool_id.as_deref(),
        router_external: s.router_external,
        dns_nameservers: &s.dns_nameservers,
        host_routes: &s.host_routes,
        allocation_pools: &s.allocation_pools,
        service_types: &s.service_types,
        tags: &s.tags,
        created_at: &s.created_at,
        updated_at: &s.updated_at,
        revision_number: s.revision_number,
    }
}

/// Binding attributes, each shown when the policy lets the caller read it (admins and the
/// service role by default).
#[derive(Serialize)]
pub struct BindingView<'a> {
    #[serde(rename = "binding:host_id", skip_serializing_if = "Option::is_none")]
    host_id: Option<&'a str>,
    #[serde(rename = "binding:profile", skip_serializing_if = "Option::is_none")]
    profile: Option<&'a Value>,
    #[serde(rename = "binding:vif_type", skip_serializing_if = "Option::is_none")]
    vif_type: Option<&'a str>,
    #[serde(
        rename = "binding:vif_details",
        skip_serializing_if = "Option::is_none"
    )]
    vif_details: Option<&'a Value>,
    /// Neutrino extension: which driver bound which segment at each level (shown with
    /// `binding:host_id`).
    #[serde(rename = "binding:levels", skip_serializing_if = "Option::is_none")]
    levels: Option<Vec<LevelView<'a>>>,
}

/// The guarded attributes of ports, in [`Shown`] bit order.
pub const PORT_GUARDED: &[&str] = &[
    "binding:host_id",
    "binding:profile",
    "binding:vif_type",
    "binding:vif_details",
    // Bits 4-6: attributes of ML2 extension drivers, left out when their driver is off.
    "port_security_enabled",
    "device_profile",
    "numa_affinity_policy",
];

/// One binding level (admins only).
#[derive(Serialize)]
pub struct LevelView<'a> {
    level: i64,
    driver: &'a str,
    segment_id: &'a str,
}

/// A port.
#[derive(Serialize)]
pub struct PortView<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    network_id: &'a str,
    tenant_id: &'a str,
    project_id: &'a str,
    mac_address: &'a str,
    admin_state_up: bool,
    status: &'a str,
    device_id: &'a str,
    device_owner: &'a str,
    fixed_ips: &'a [FixedIp],
    allowed_address_pairs: &'a [AddressPair],
    security_groups: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    port_security_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_profile: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    numa_affinity_policy: Option<Option<&'a str>>,
    extra_dhcp_opts: &'a [ExtraDhcpOpt],
    #[serde(rename = "binding:vnic_type")]
    vnic_type: &'a str,
    #[serde(flatten)]
    binding: Option<BindingView<'a>>,
    tags: &'a [String],
    created_at: &'a str,
    updated_at: &'a str,
    revision_number: i64,
}

/// Render a port with the binding attributes `shown` has.
pub fn port(p: &Port, shown: Shown) -> PortView<'_> {
    PortView {
        id: &p.id,
        name: &p.name,
        description: &p.description,
        network_id: &p.network_id,
        tenant_id: &p.project_id,
        project_id: &p.project_id,
        mac_address: &p.mac_address,
        admin_state_up: p.admin_state_up,
        status: &p.status,
        device_id: &p.device_id,
        device_owner: &p.device_owner,
        fixed_ips: &p.fixed_ips,
        allowed_address_pairs: &p.allowed_address_pairs,
        security_groups: &p.security_groups,
        port_security_enabled: shown.has(4).then_some(p.port_security_enabled),
        device_profile: shown.has(5).then_some(p.device_profile.as_deref()),
        numa_affinity_policy: shown.has(6).then_some(p.numa_affinity_policy.as_deref()),
        extra_dhcp_opts: &p.extra_dhcp_opts,
        vnic_type: &p.binding_vnic_type,
        binding: (shown.0 & 0xf != 0).then(|| BindingView {
            host_id: shown.has(0).then_some(p.binding_host_id.as_str()),
            profile: shown.has(1).then_some(&p.binding_profile),
            vif_type: shown.has(2).then_some(p.binding_vif_type.as_str()),
            vif_details: shown.has(3).then_some(&p.binding_vif_details),
            levels: shown.has(0).then(|| {
                p.binding_levels
                    .iter()
                    .map(|l| LevelView {
                        level: l.level,
                        driver: &l.driver,
                        segment_id: &l.segment_id,
                    })
                    .collect()
            }),
        }),
        tags: &p.tags,
        created_at: &p.created_at,
        updated_at: &p.updated_at,
        revision_number: p.revision_number,
    }
}

/// A subnet pool.
#[derive(Serialize)]
pub struct SubnetPoolView<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    tenant_id: &'a str,
    project_id: &'a str,
    ip_version: i64,
    prefixes: &'a [String],
    #[serde(serialize_with = "as_string")]
    default_prefixlen: i64,
    #[serde(serialize_with = "as_string")]
    min_prefixlen: i64,
    #[serde(serialize_with = "as_string")]
    max_prefixlen: i64,
    default_quota: Option<i64>,
    is_default: bool,
    shared: bool,
    address_scope_id: Option<&'a str>,
    tags: &'a [String],
    created_at: &'a str,
    updated_at: &'a str,
    revision_number: i64,
}

/// Neutron 29 answers a subnet pool's prefix lengths as JSON strings (`"24"`).
fn as_string<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Render a subnet pool.
pub fn subnetpool(p: &SubnetPool) -> SubnetPoolView<'_> {
    SubnetPoolView {
        id: &p.id,
        name: &p.name,
        description: &p.description,
        tenant_id: &p.project_id,
        project_id: &p.project_id,
        ip_version: p.ip_version,
        prefixes: &p.prefixes,
        default_prefixlen: p.default_prefixlen,
        min_prefixlen: p.min_prefixlen,
        max_prefixlen: p.max_prefixlen,
        default_quota: p.default_quota,
        is_default: p.is_default,
        shared: p.shared,
        address_scope_id: p.address_scope_id.as_deref(),
        tags: &p.tags,
        created_at: &p.created_at,
        updated_at: &p.updated_at,
        revision_number: p.revision_number,
    }
}

/// A security group rule.
#[derive(Serialize)]
pub struct RuleView<'a> {
    id: &'a str,
    tenant_id: &'a str,
    project_id: &'a str,
    security_group_id: &'a str,
    direction: &'a str,
    ethertype: &'a str,
    protocol: Option<&'a str>,
    port_range_min: Option<i64>,
    port_range_max: Option<i64>,
    remote_ip_prefix: Option<&'a str>,
    normalized_cidr: Option<String>,
    remote_group_id: Option<&'a str>,
    remote_address_group_id: Option<&'a str>,
    belongs_to_default_sg: bool,
    description: &'a str,
    created_at: &'a str,
    updated_at: &'a str,
    revision_number: i64,
}

/// Render a rule.
pub fn rule(r: &SecurityGroupRule) -> RuleView<'_> {
    RuleView {
        id: &r.id,
        tenant_id: &r.project_id,
        project_id: &r.project_id,
        security_group_id: &r.security_group_id,
        direction: &r.direction,
        ethertype: &r.ethertype,
        protocol: r.protocol.as_deref(),
        port_range_min: r.port_range_min,
        port_range_max: r.port_range_max,
        remote_ip_prefix: r.remote_ip_prefix.as_deref(),
        normalized_cidr: r.remote_ip_prefix.as_deref().map(|p| {
            p.parse::<ipnet::IpNet>()
                .map_or_else(|_| p.to_string(), |n| n.trunc().to_string())
        }),
        remote_group_id: r.remote_group_id.as_deref(),
        remote_address_group_id: r.remote_address_group_id.as_deref(),
        belongs_to_default_sg: r.belongs_to_default_sg,
        description: &r.description,
        created_at: &r.created_at,
        updated_at: &r.updated_at,
        revision_number: r.revision_number,
    }
}

/// A security group.
#[derive(Serialize)]
pub struct SecurityGroupView<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    tenant_id: &'a str,
    project_id: &'a str,
    stateful: bool,
    shared: bool,
    security_group_rules: Vec<RuleView<'a>>,
    tags: &'a [String],
    created_at: &'a str,
    updated_at: &'a str,
    revision_number: i64,
}

/// Render a security group.
pub fn security_group(g: &SecurityGroup) -> SecurityGroupView<'_> {
    SecurityGroupView {
        id: &g.id,
        name: &g.name,
        description: &g.description,
        tenant_id: &g.project_id,
        project_id: &g.project_id,
        stateful: g.stateful,
        shared: g.shared,
        security_group_rules: g.rules.iter().map(rule).collect(),
        tags: &g.tags,
        created_at: &g.created_at,
        updated_at: &g.updated_at,
        revision_number: g.revision_number,
    }
}

/// Renders resources for mechanism drivers' contexts: the API dict as an admin sees it.
#[derive(Debug, Default)]
pub struct DriverRenderer;

impl neutrino_ml2::mech::Renderer for DriverRenderer {
    fn network(&self, n: &Network) -> String {
        serde_json::to_string(&network(n, Shown::ALL)).unwrap_or_else(|_| "{}".into())
    }
    fn subnet(&self, s: &Subnet) -> String {
        serde_json::to_string(&subnet(s)).unwrap_or_else(|_| "{}".into())
    }
    fn port(&self, p: &Port) -> String {
        serde_json::to_string(&port(p, Shown::ALL)).unwrap_or_else(|_| "{}".into())
    }
    fn security_group(&self, g: &SecurityGroup) -> String {
        serde_json::to_string(&security_group(g)).unwrap_or_else(|_| "{}".into())
    }
    fn security_group_rule(&self, r: &SecurityGroupRule) -> String {
        serde_json::to_string(&rule(r)).unwrap_or_else(|_| "{}".into())
    }
}
