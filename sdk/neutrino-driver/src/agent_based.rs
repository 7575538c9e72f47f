//! The binding logic of Neutron's agent-based mechanism drivers
//! (`neutron.plugins.ml2.drivers.mech_agent`): bind a port on an alive agent
//! of one type on the port's host, on the first segment the agent can reach.
//!
//! The Open vSwitch and Linux bridge drivers in `drivers/` are built on it.
//! Needs the `agents` capability (and `log`, to warn about dead agents).

use crate::agents::{self, Agent};
use crate::{BindResult, PortContext, Segment};

/// Network types every L2 agent supports without tunnels.
pub const LOCAL: &str = "local";
/// A flat (untagged) provider network on a physnet.
pub const FLAT: &str = "flat";
/// A VLAN on a physnet.
pub const VLAN: &str = "vlan";

/// Whether `agent` can reach `segment`: the segment's type is one of the
/// agent's `tunnel_types` or `local`/`flat`/`vlan`, and for `flat`/`vlan` its
/// physnet is in `physnets` (the agent's mappings).
/// (`SimpleAgentMechanismDriverBase.check_segment_for_agent`.)
pub fn segment_reachable<'a>(
    agent: &Agent,
    segment: &Segment,
    physnets: impl IntoIterator<Item = &'a String>,
) -> bool {
    let network_type = segment.network_type.as_str();
    if agent
        .configurations
        .tunnel_types
        .iter()
        .any(|t| t == network_type)
    {
        return true;
    }
    match network_type {
        LOCAL => true,
        FLAT | VLAN => match &segment.physical_network {
            Some(physnet) => physnets.into_iter().any(|p| p == physnet),
            None => false,
        },
        _ => false,
    }
}

/// Try to bind `ctx` with the alive agents of `agent_type` on `ctx.host`
/// (`AgentMechanismDriverBase.bind_port`):
/// - the port's vnic type must be in `vnic_types`, else [`BindResult::NotBound`];
/// - dead agents are skipped with a warning;
/// - for each agent, each segment to bind is offered to `try_segment`, and
///   the first `Some` result is the binding.
pub fn bind(
    ctx: &PortContext,
    agent_type: &str,
    vnic_types: &[&str],
    mut try_segment: impl FnMut(&Agent, &Segment) -> Option<BindResult>,
) -> BindResult {
    if !vnic_types.contains(&ctx.vnic_type.as_str()) {
        crate::debug!(
            "not binding port {}: vnic type {} is not one of {:?}",
            ctx.current.id,
            ctx.vnic_type,
            vnic_types
        );
        return BindResult::NotBound;
    }
    if ctx.host.is_empty() {
        return BindResult::NotBound;
    }
    for agent in agents::list(Some(agent_type), Some(&ctx.host)) {
        if !agent.alive {
            crate::warn!(
                "not binding port {} on {}: {} {} is dead",
                ctx.current.id,
                ctx.host,
                agent_type,
                agent.id
            );
            continue;
        }
        for segment in &ctx.segments_to_bind {
            if let Some(result) = try_segment(&agent, segment) {
                return result;
            }
        }
    }
    BindResult::NotBound
}
