//! Neutron's `linuxbridge` mechanism driver
//! (`neutron/plugins/ml2/drivers/linuxbridge/mech_driver/mech_linuxbridge.py`).
//!
//! Binds ports of vnic type `normal` on an alive "Linux bridge agent" on the
//! port's host, on the first segment the agent reaches: one of its
//! `tunnel_types`, `local`, or `flat`/`vlan` on a physnet in its
//! `interface_mappings` or `bridge_mappings`. The result is vif type `bridge`
//! with `{port_filter, connectivity: l2}`.
//!
//! Configuration: `port_filter` (bool, default `true`).

use neutrino_driver::{
    BindResult, DriverError, MechanismDriver, PortContext, agent_based, agents, binding, config,
};
use serde_json::json;

#[derive(Default)]
struct LinuxBridge;

impl MechanismDriver for LinuxBridge {
    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        let port_filter = config::get_or("port_filter", true)?;
        Ok(agent_based::bind(
            ctx,
            agents::LINUX_BRIDGE,
            &["normal"],
            |agent, segment| {
                let conf = &agent.configurations;
                let physnets = conf
                    .interface_mappings
                    .keys()
                    .chain(conf.bridge_mappings.keys());
                agent_based::segment_reachable(agent, segment, physnets).then(|| {
                    binding::bound(
                        segment,
                        binding::VIF_TYPE_BRIDGE,
                        json!({ "port_filter": port_filter, "connectivity": "l2" }),
                    )
                })
            },
        ))
    }
}

neutrino_driver::export!(LinuxBridge);
