//! Test driver for hierarchical port binding, modelled on Cisco Nexus' VXLAN binding: at the
//! top level it takes the network's `vxlan` segment and asks the next level to bind a dynamic
//! `vlan` segment on the physical network named by config `physnet` (default `physnet1`),
//! which an agent-based driver (Open vSwitch) then binds on the host.

use neutrino_driver::{BindResult, DriverError, MechanismDriver, PortContext, binding, config};

#[derive(Default)]
struct Fabric;

impl MechanismDriver for Fabric {
    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        // Only the top level: below it, another driver binds the VLAN.
        if !ctx.binding_levels.is_empty() {
            return Ok(BindResult::NotBound);
        }
        let Some(vxlan) = ctx
            .segments_to_bind
            .iter()
            .find(|s| s.network_type == "vxlan")
        else {
            return Ok(BindResult::NotBound);
        };
        let physnet = config::get("physnet").unwrap_or_else(|| "physnet1".into());
        neutrino_driver::info!(
            "continuing {} on a dynamic vlan of {physnet}",
            ctx.current.id
        );
        Ok(binding::continue_binding(
            vxlan,
            vec![binding::dynamic_segment("vlan", Some(&physnet))],
        ))
    }
}

neutrino_driver::export!(Fabric);
