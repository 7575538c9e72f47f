//! Building the contexts drivers see from stored records: typed core fields plus the full
//! API representation as JSON (rendered by the API layer through [`Renderer`]).

use std::sync::Arc;

use neutrino_runtime as rt;
use neutrino_store::model::{Network, Port, SecurityGroup, SecurityGroupRule, Segment, Subnet};

/// Renders the API representation of resources (as an admin sees them) for drivers.
pub trait Renderer: Send + Sync {
    /// A network as JSON.
    fn network(&self, n: &Network) -> String;
    /// A subnet as JSON.
    fn subnet(&self, s: &Subnet) -> String;
    /// A port as JSON.
    fn port(&self, p: &Port) -> String;
    /// A security group (with its rules) as JSON.
    fn security_group(&self, _g: &SecurityGroup) -> String {
        "{}".into()
    }
    /// A security group rule as JSON.
    fn security_group_rule(&self, _r: &SecurityGroupRule) -> String {
        "{}".into()
    }
}

/// A renderer that gives `{}` (used when the server wires none).
#[derive(Debug, Default)]
pub struct NoRenderer;

impl Renderer for NoRenderer {
    fn network(&self, _: &Network) -> String {
        "{}".into()
    }
    fn subnet(&self, _: &Subnet) -> String {
        "{}".into()
    }
    fn port(&self, _: &Port) -> String {
        "{}".into()
    }
}

/// Converts records to runtime contexts.
#[derive(Clone)]
pub struct Contexts {
    renderer: Arc<dyn Renderer>,
    mtu: Arc<dyn Fn(&Segment) -> i64 + Send + Sync>,
}

impl std::fmt::Debug for Contexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Contexts")
    }
}

fn u32_of(v: i64) -> Option<u32> {
    u32::try_from(v).ok()
}

impl Contexts {
    /// Contexts rendered by `renderer`, with segment MTUs from `mtu`.
    pub fn new(
        renderer: Arc<dyn Renderer>,
        mtu: Arc<dyn Fn(&Segment) -> i64 + Send + Sync>,
    ) -> Contexts {
        Contexts { renderer, mtu }
    }

    /// A segment.
    pub fn segment(&self, s: &Segment) -> rt::Segment {
        rt::Segment {
            id: s.id.clone(),
            network_type: s.network_type.clone(),
            physical_network: s.physical_network.clone(),
            segmentation_id: s.segmentation_id.and_then(u32_of),
            mtu: u32_of((self.mtu)(s)),
        }
    }

    /// A network record.
    pub fn network(&self, n: &Network) -> rt::Network {
        rt::Network {
            id: n.id.clone(),
            name: n.name.clone(),
            project_id: n.project_id.clone(),
            admin_state_up: n.admin_state_up,
            status: n.status.clone(),
            shared: n.shared,
            external: n.router_external,
            mtu: u32_of(n.mtu),
            revision_number: n.revision_number.max(0) as u64,
            json: self.renderer.network(n),
        }
    }

    /// A network context (static segments only).
    pub fn network_context(
        &self,
        current: &Network,
        original: Option<&Network>,
    ) -> rt::NetworkContext {
        rt::NetworkContext {
            current: self.network(current),
            original: original.map(|o| self.network(o)),
            segments: current
                .segments
                .iter()
                .filter(|s| !s.is_dynamic)
                .map(|s| self.segment(s))
                .collect(),
        }
    }

    /// A security group context.
    pub fn security_group_context(
        &self,
        current: &SecurityGroup,
        original: Option<&SecurityGroup>,
    ) -> rt::SecurityGroupContext {
        let group = |g: &SecurityGroup| rt::SecurityGroup {
            id: g.id.clone(),
            name: g.name.clone(),
            project_id: g.project_id.clone(),
            description: g.description.clone(),
            stateful: g.stateful,
            revision_number: u64::try_from(g.revision_number).unwrap_or(0),
            json: self.renderer.security_group(g),
        };
        rt::SecurityGroupContext {
            current: group(current),
            original: original.map(group),
        }
    }

    /// A security group rule context.
    pub fn security_group_rule_context(
        &self,
        r: &SecurityGroupRule,
    ) -> rt::SecurityGroupRuleContext {
        let port = |p: Option<i64>| p.and_then(|p| u32::try_from(p).ok());
        rt::SecurityGroupRuleContext {
            current: rt::SecurityGroupRule {
                id: r.id.clone(),
                security_group_id: r.security_group_id.clone(),
                project_id: r.project_id.clone(),
                direction: r.direction.clone(),
                ethertype: r.ethertype.clone(),
                protocol: r.protocol.clone(),
                port_range_min: port(r.port_range_min),
                port_range_max: port(r.port_range_max),
                remote_ip_prefix: r.remote_ip_prefix.clone(),
                remote_group_id: r.remote_group_id.clone(),
                revision_number: u64::try_from(r.revision_number).unwrap_or(0),
                json: self.renderer.security_group_rule(r),
            },
        }
    }

    /// A subnet context.
    pub fn subnet_context(
        &self,
        current: &Subnet,
        original: Option<&Subnet>,
        network: &Network,
    ) -> rt::SubnetContext {
        let subnet = |s: &Subnet| rt::Subnet {
            id: s.id.clone(),
            name: s.name.clone(),
            project_id: s.project_id.clone(),
            network_id: s.network_id.clone(),
            cidr: s.cidr.clone(),
            ip_version: s.ip_version as u8,
            gateway_ip: s.gateway_ip.clone(),
            enable_dhcp: s.enable_dhcp,
            segment_id: s.segment_id.clone(),
            revision_number: s.revision_number.max(0) as u64,
            json: self.renderer.subnet(s),
        };
        rt::SubnetContext {
            current: subnet(current),
            original: original.map(subnet),
            network: self.network_context(network, None),
        }
    }

    /// A port record.
    pub fn port(&self, p: &Port) -> rt::Port {
        rt::Port {
            id: p.id.clone(),
            name: p.name.clone(),
            project_id: p.project_id.clone(),
            network_id: p.network_id.clone(),
            mac_address: p.mac_address.clone(),
            admin_state_up: p.admin_state_up,
            status: p.status.clone(),
            fixed_ips: p
                .fixed_ips
                .iter()
                .map(|f| rt::FixedIp {
                    subnet_id: f.subnet_id.clone(),
                    ip_address: f.ip_address.clone(),
                })
                .collect(),
            device_id: p.device_id.clone(),
            device_owner: p.device_owner.clone(),
            revision_number: p.revision_number.max(0) as u64,
            json: self.renderer.port(p),
        }
    }

    /// A port context for a hook (no segments to bind).
    pub fn port_context(
        &self,
        current: &Port,
        original: Option<&Port>,
        network: &Network,
        levels: Vec<rt::BindingLevel>,
    ) -> rt::PortContext {
        rt::PortContext {
            current: self.port(current),
            original: original.map(|o| self.port(o)),
            network: self.network_context(network, None),
            host: current.binding_host_id.clone(),
            original_host: original
                .map(|o| o.binding_host_id.clone())
                .unwrap_or_default(),
            vnic_type: current.binding_vnic_type.clone(),
            profile: current.binding_profile.to_string(),
            segments_to_bind: Vec::new(),
            binding_levels: levels,
            vif_type: current.binding_vif_type.clone(),
            vif_details: current.binding_vif_details.to_string(),
        }
    }
}
