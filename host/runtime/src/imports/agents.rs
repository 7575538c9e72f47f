//! `neutrino:ml2/agents`: Neutron's agents, from
//! [`HostServices::agents`](crate::HostServices::agents). A failing host
//! gives the driver an empty list (and the server a warning): binding then
//! declines, as Neutron does without agents.

use super::HostContext;
use crate::limits::MAX_AGENTS;
use crate::types::Agent;

/// The agents of `agent_type` on `host`.
pub async fn list(cx: &HostContext, agent_type: Option<&str>, host: Option<&str>) -> Vec<Agent> {
    match cx.services.agents(agent_type, host).await {
        Ok(mut agents) => {
            agents.truncate(MAX_AGENTS);
            agents
        }
        Err(e) => {
            tracing::warn!(driver = %cx.env.name, error = %e, "cannot list agents for the driver");
            Vec::new()
        }
    }
}
