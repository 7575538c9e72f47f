//! Neutron's `openvswitch` mechanism driver
//! (`neutron/plugins/ml2/drivers/openvswitch/mech_driver/mech_openvswitch.py`).
//!
//! Binds ports of vnic type `normal` on an alive "Open vSwitch agent" on the
//! port's host, on the first segment the agent reaches: one of its
//! `tunnel_types`, `local`, or `flat`/`vlan` on a physnet in its
//! `bridge_mappings`. The result is vif type `ovs` with the agent's
//! integration bridge, datapath and hybrid-plug setting, or `vhostuser` when
//! the agent runs a DPDK (`netdev`) datapath that offers vhost-user ports.
//!
//! Configuration: `port_filter` (bool, default `true`): whether the security
//! group firewall filters the port, reported as `vif_details.port_filter`.

use neutrino_driver::agents::{self, Agent};
use neutrino_driver::{
    BindResult, DriverError, MechanismDriver, PortContext, agent_based, binding, config,
};
use serde_json::{Value, json};

/// Where the OVS agent puts vhost-user sockets unless it says otherwise.
const DEFAULT_VHOSTUSER_SOCKET_DIR: &str = "/var/run/openvswitch";
/// Socket names are `vhu` + the port id, cut to a Linux interface name.
const VHOSTUSER_SOCKET_NAME_LEN: usize = 14;

#[derive(Default)]
struct OpenVswitch;

impl MechanismDriver for OpenVswitch {
    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        let port_filter = config::get_or("port_filter", true)?;
        Ok(agent_based::bind(
            ctx,
            agents::OPEN_VSWITCH,
            &["normal"],
            |agent, segment| {
                let physnets = agent.configurations.bridge_mappings.keys();
                if !agent_based::segment_reachable(agent, segment, physnets) {
                    return None;
                }
                let (vif_type, details) = vif(agent, &ctx.current.id, port_filter);
                Some(binding::bound(segment, vif_type, details))
            },
        ))
    }
}

/// The vif type and details for a port bound on `agent`
/// (`OpenvswitchMechanismDriver.get_vif_type/get_vif_details`).
fn vif(agent: &Agent, port_id: &str, port_filter: bool) -> (&'static str, Value) {
    let conf = &agent.configurations;
    let datapath = conf.datapath_type.as_deref().unwrap_or("system");
    let iface_types = &conf.ovs_capabilities.iface_types;
    let has = |t: &str| iface_types.iter().any(|i| i == t);
    if datapath == "netdev" && (has("dpdkvhostuser") || has("dpdkvhostuserclient")) {
        // With `dpdkvhostuserclient` OVS is the socket's client, so QEMU
        // must be the server.
        let mode = if has("dpdkvhostuserclient") {
            "server"
        } else {
            "client"
        };
        let dir = conf
            .vhostuser_socket_dir
            .as_deref()
            .unwrap_or(DEFAULT_VHOSTUSER_SOCKET_DIR);
        let name: String = format!("vhu{port_id}")
            .chars()
            .take(VHOSTUSER_SOCKET_NAME_LEN)
            .collect();
        let details = json!({
            "port_filter": false,
            "ovs_hybrid_plug": false,
            "vhostuser_mode": mode,
            "vhostuser_ovs_plug": true,
            "vhostuser_socket": format!("{dir}/{name}"),
            "datapath_type": datapath,
        });
        return (binding::VIF_TYPE_VHOSTUSER, details);
    }
    let details = json!({
        "port_filter": port_filter,
        "connectivity": "l2",
        "ovs_hybrid_plug": conf.ovs_hybrid_plug.unwrap_or(false),
        "datapath_type": datapath,
        "bridge_name": conf.integration_bridge.as_deref().unwrap_or("br-int"),
    });
    (binding::VIF_TYPE_OVS, details)
}

neutrino_driver::export!(OpenVswitch);
