//! Fixture builders for contexts, segments and agents. Every resource gets
//! its `json` API dict filled from its typed fields, so drivers that read
//! the JSON see the same data.
//!
//! ```ignore
//! let port = fixtures::port("p1")
//!     .host("compute-1")
//!     .segment(fixtures::vlan("physnet1", 100))
//!     .build();
//! let agent = fixtures::ovs_agent("compute-1").bridge_mapping("physnet1", "br-eth1").build();
//! ```

use crate::{
    Agent, FixedIp, Network, NetworkContext, Port, PortContext, Segment, Subnet, SubnetContext,
};
use serde_json::{Value, json};

/// A VLAN segment on `physnet` (id `vlan-<physnet>-<vlan>`).
pub fn vlan(physnet: &str, vlan: u32) -> Segment {
    Segment {
        id: format!("vlan-{physnet}-{vlan}"),
        network_type: "vlan".into(),
        physical_network: Some(physnet.into()),
        segmentation_id: Some(vlan),
        mtu: Some(1500),
    }
}

/// A flat segment on `physnet` (id `flat-<physnet>`).
pub fn flat(physnet: &str) -> Segment {
    Segment {
        id: format!("flat-{physnet}"),
        network_type: "flat".into(),
        physical_network: Some(physnet.into()),
        segmentation_id: None,
        mtu: Some(1500),
    }
}

/// A VXLAN segment (id `vxlan-<vni>`).
pub fn vxlan(vni: u32) -> Segment {
    tunnel("vxlan", vni)
}

/// A tunnel segment of `network_type` (`vxlan`, `gre`, `geneve`).
pub fn tunnel(network_type: &str, id: u32) -> Segment {
    Segment {
        id: format!("{network_type}-{id}"),
        network_type: network_type.into(),
        physical_network: None,
        segmentation_id: Some(id),
        mtu: Some(1450),
    }
}

/// A local segment (id `local`).
pub fn local() -> Segment {
    Segment {
        id: "local".into(),
        network_type: "local".into(),
        ..Segment::default()
    }
}

/// A network `id` with `segments`, its `json` filled in.
pub fn network(id: &str, segments: Vec<Segment>) -> NetworkContext {
    let current = Network {
        id: id.into(),
        name: format!("{id}-name"),
        project_id: "project-1".into(),
        admin_state_up: true,
        status: "ACTIVE".into(),
        shared: false,
        external: false,
        mtu: Some(1500),
        revision_number: 1,
        json: String::new(),
    };
    let mut ctx = NetworkContext {
        current,
        original: None,
        segments,
    };
    ctx.current.json = network_json(&ctx).to_string();
    ctx
}

fn network_json(ctx: &NetworkContext) -> Value {
    let n = &ctx.current;
    let mut v = json!({
        "id": n.id, "name": n.name, "tenant_id": n.project_id, "project_id": n.project_id,
        "admin_state_up": n.admin_state_up, "status": n.status, "shared": n.shared,
        "router:external": n.external, "mtu": n.mtu, "revision_number": n.revision_number,
        "subnets": [],
    });
    if let [s] = ctx.segments.as_slice() {
        v["provider:network_type"] = json!(s.network_type);
        v["provider:physical_network"] = json!(s.physical_network);
        v["provider:segmentation_id"] = json!(s.segmentation_id);
    } else {
        v["segments"] = ctx
            .segments
            .iter()
            .map(|s| json!({"provider:network_type": s.network_type, "provider:physical_network": s.physical_network, "provider:segmentation_id": s.segmentation_id}))
            .collect();
    }
    v
}

/// A subnet `id` with `cidr` on `network`, its `json` filled in.
pub fn subnet(id: &str, cidr: &str, network: NetworkContext) -> SubnetContext {
    let ip_version = if cidr.contains(':') { 6 } else { 4 };
    let mut current = Subnet {
        id: id.into(),
        name: format!("{id}-name"),
        project_id: network.current.project_id.clone(),
        network_id: network.current.id.clone(),
        cidr: cidr.into(),
        ip_version,
        gateway_ip: None,
        enable_dhcp: true,
        segment_id: None,
        revision_number: 1,
        json: String::new(),
    };
    current.json = json!({
        "id": current.id, "name": current.name, "tenant_id": current.project_id,
        "project_id": current.project_id, "network_id": current.network_id, "cidr": current.cidr,
        "ip_version": current.ip_version, "gateway_ip": current.gateway_ip,
        "enable_dhcp": current.enable_dhcp, "segment_id": current.segment_id,
        "revision_number": current.revision_number,
    })
    .to_string();
    SubnetContext {
        current,
        original: None,
        network,
    }
}

/// Start a port `id`; see [`PortBuilder`].
pub fn port(id: &str) -> PortBuilder {
    PortBuilder {
        ctx: PortContext {
            current: Port {
                id: id.into(),
                name: format!("{id}-name"),
                project_id: "project-1".into(),
                network_id: "net-1".into(),
                mac_address: "fa:16:3e:00:00:01".into(),
                admin_state_up: true,
                status: "DOWN".into(),
                fixed_ips: Vec::new(),
                device_id: "vm-1".into(),
                device_owner: "compute:nova".into(),
                revision_number: 1,
                json: String::new(),
            },
            original: None,
            network: network("net-1", Vec::new()),
            host: String::new(),
            original_host: String::new(),
            vnic_type: "normal".into(),
            profile: "{}".into(),
            segments_to_bind: Vec::new(),
            binding_levels: Vec::new(),
            vif_type: "unbound".into(),
            vif_details: "{}".into(),
        },
    }
}

/// Builds a [`PortContext`]. By default: vnic type `normal`, no host, an
/// unbound port on network `net-1` with no segments.
pub struct PortBuilder {
    ctx: PortContext,
}

impl PortBuilder {
    /// Set `binding:host_id`.
    pub fn host(mut self, host: &str) -> Self {
        self.ctx.host = host.into();
        self
    }

    /// Set `binding:vnic_type`.
    pub fn vnic_type(mut self, vnic_type: &str) -> Self {
        self.ctx.vnic_type = vnic_type.into();
        self
    }

    /// Set `binding:profile`.
    pub fn profile(mut self, profile: Value) -> Self {
        self.ctx.profile = profile.to_string();
        self
    }

    /// Put the port on `network` (its segments become the segments to
    /// bind, unless set otherwise).
    pub fn network(mut self, network: NetworkContext) -> Self {
        self.ctx.current.network_id = network.current.id.clone();
        self.ctx.network = network;
        self
    }

    /// Add a segment to the network and to the segments to bind.
    pub fn segment(mut self, segment: Segment) -> Self {
        self.ctx.network.segments.push(segment.clone());
        self.ctx.segments_to_bind.push(segment);
        self
    }

    /// Set the segments to bind (e.g. for a lower binding level).
    pub fn segments_to_bind(mut self, segments: Vec<Segment>) -> Self {
        self.ctx.segments_to_bind = segments;
        self
    }

    /// Add a fixed IP.
    pub fn fixed_ip(mut self, subnet_id: &str, ip_address: &str) -> Self {
        self.ctx.current.fixed_ips.push(FixedIp {
            subnet_id: subnet_id.into(),
            ip_address: ip_address.into(),
        });
        self
    }

    /// Set the device owner (`compute:nova`, `network:dhcp`, ...).
    pub fn device_owner(mut self, owner: &str) -> Self {
        self.ctx.current.device_owner = owner.into();
        self
    }

    /// Make this an update: the port as built so far becomes `original`
    /// (and `original_host`), then `change` edits the current one.
    pub fn updated(mut self, change: impl FnOnce(&mut PortContext)) -> Self {
        let before = with_json(self.ctx.clone());
        change(&mut self.ctx);
        self.ctx.original_host = before.host;
        self.ctx.original = Some(before.current);
        self
    }

    /// The context.
    pub fn build(self) -> PortContext {
        let mut ctx = with_json(self.ctx);
        if ctx.network.current.json.is_empty() || ctx.network.segments.len() == 1 {
            ctx.network.current.json = network_json(&ctx.network).to_string();
        }
        ctx
    }
}

fn with_json(mut ctx: PortContext) -> PortContext {
    let p = &ctx.current;
    let profile: Value = serde_json::from_str(&ctx.profile).unwrap_or(json!({}));
    let vif_details: Value = serde_json::from_str(&ctx.vif_details).unwrap_or(json!({}));
    let json = json!({
        "id": p.id, "name": p.name, "tenant_id": p.project_id, "project_id": p.project_id,
        "network_id": p.network_id, "mac_address": p.mac_address,
        "admin_state_up": p.admin_state_up, "status": p.status,
        "fixed_ips": p.fixed_ips.iter().map(|ip| json!({"subnet_id": ip.subnet_id, "ip_address": ip.ip_address})).collect::<Vec<_>>(),
        "device_id": p.device_id, "device_owner": p.device_owner,
        "revision_number": p.revision_number,
        "binding:host_id": ctx.host, "binding:vnic_type": ctx.vnic_type,
        "binding:profile": profile, "binding:vif_type": ctx.vif_type,
        "binding:vif_details": vif_details,
    });
    ctx.current.json = json.to_string();
    ctx
}

/// Start an Open vSwitch agent on `host` (alive, `br-int`, `system`
/// datapath, no mappings or tunnels).
pub fn ovs_agent(host: &str) -> AgentBuilder {
    AgentBuilder::new(
        "Open vSwitch agent",
        "neutron-openvswitch-agent",
        host,
        json!({"bridge_mappings": {}, "tunnel_types": [], "integration_bridge": "br-int", "datapath_type": "system", "ovs_hybrid_plug": false}),
    )
}

/// Start a Linux bridge agent on `host` (alive, no mappings or tunnels).
pub fn linuxbridge_agent(host: &str) -> AgentBuilder {
    AgentBuilder::new(
        "Linux bridge agent",
        "neutron-linuxbridge-agent",
        host,
        json!({"interface_mappings": {}, "bridge_mappings": {}, "tunnel_types": []}),
    )
}

/// Builds an [`Agent`].
pub struct AgentBuilder {
    agent: Agent,
}

impl AgentBuilder {
    /// An agent of any type.
    pub fn new(agent_type: &str, binary: &str, host: &str, configurations: Value) -> Self {
        AgentBuilder {
            agent: Agent {
                id: format!("{binary}-{host}"),
                agent_type: agent_type.into(),
                binary: binary.into(),
                host: host.into(),
                alive: true,
                admin_state_up: true,
                configurations,
            },
        }
    }

    /// Map `physnet` to `bridge` (`bridge_mappings`).
    pub fn bridge_mapping(self, physnet: &str, bridge: &str) -> Self {
        self.map("bridge_mappings", physnet, bridge)
    }

    /// Map `physnet` to `interface` (`interface_mappings`, Linux bridge).
    pub fn interface_mapping(self, physnet: &str, interface: &str) -> Self {
        self.map("interface_mappings", physnet, interface)
    }

    fn map(mut self, key: &str, physnet: &str, target: &str) -> Self {
        self.agent.configurations[key][physnet] = json!(target);
        self
    }

    /// Support these tunnel types (`vxlan`, `gre`, `geneve`).
    pub fn tunnel_types(mut self, types: &[&str]) -> Self {
        self.agent.configurations["tunnel_types"] = json!(types);
        self
    }

    /// Set any `configurations` key.
    pub fn config(mut self, key: &str, value: Value) -> Self {
        self.agent.configurations[key] = value;
        self
    }

    /// The agent missed its heartbeats.
    pub fn dead(mut self) -> Self {
        self.agent.alive = false;
        self
    }

    /// The agent.
    pub fn build(self) -> Agent {
        self.agent
    }
}
