//! Agents: their state reports (what Neutron's `report_state` RPC does) and the admin-only
//! `/v2.0/agents` operations. Drivers read this table through their `agents` import.

use neutrino_store::agents::{self, Agent};
use neutrino_store::query::ListQuery;

use crate::error::{Error, Result};
use crate::mech::host::alive;
use crate::{Plugin, RequestContext};

/// A state report from an agent.
#[derive(Debug, Clone, Default)]
pub struct AgentReport {
    /// e.g. `Open vSwitch agent`.
    pub agent_type: String,
    /// e.g. `neutron-openvswitch-agent`.
    pub binary: String,
    /// RPC topic (`N/A` for L2 agents).
    pub topic: String,
    /// Host it runs on.
    pub host: String,
    /// `configurations` (bridge mappings, tunnel types, …).
    pub configurations: serde_json::Value,
    /// Availability zone.
    pub availability_zone: Option<String>,
    /// First report after the agent started.
    pub start_flag: bool,
}

fn agent_not_found(id: &str) -> Error {
    Error::not_found("AgentNotFound", "Agent", id)
}

/// Whether an agent counts as alive now.
pub fn is_alive(a: &Agent) -> bool {
    alive(&a.heartbeat_timestamp)
}

impl Plugin {
    /// Record a state report; returns `new`, `revived` or `alive` as Neutron does.
    pub async fn report_agent_state(&self, r: AgentReport) -> Result<&'static str> {
        crate::in_tx!(self.store(), |tx| {
            let now = neutrino_store::now();
            let existing = agents::find(tx, &r.agent_type, &r.host).await?;
            let outcome = match &existing {
                None => "new",
                Some(a) if !is_alive(a) => "revived",
                Some(_) => "alive",
            };
            let started_at = match &existing {
                Some(a) if !r.start_flag => a.started_at.clone(),
                _ => now.clone(),
            };
            let agent = Agent {
                id: existing
                    .as_ref()
                    .map(|a| a.id.clone())
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                agent_type: r.agent_type.clone(),
                binary: r.binary.clone(),
                topic: r.topic.clone(),
                host: r.host.clone(),
                admin_state_up: existing.as_ref().map(|a| a.admin_state_up).unwrap_or(true),
                configurations: r.configurations.clone(),
                availability_zone: r.availability_zone.clone(),
                description: existing
                    .as_ref()
                    .map(|a| a.description.clone())
                    .unwrap_or_default(),
                created_at: existing
                    .as_ref()
                    .map(|a| a.created_at.clone())
                    .unwrap_or_else(|| now.clone()),
                started_at,
                heartbeat_timestamp: now,
            };
            agents::upsert(tx, &agent).await?;
            Ok::<_, Error>(outcome)
        })
    }

    /// Agents (the API's policy decides who sees them).
    pub async fn list_agents(&self, _ctx: &RequestContext, q: ListQuery) -> Result<Vec<Agent>> {
        let mut conn = self.read().await?;
        agents::list(&mut conn, &q)
            .await
            .map_err(|e| crate::networks::marker_error(e, "Agent"))
    }

    /// One agent.
    pub async fn get_agent(&self, _ctx: &RequestContext, id: &str) -> Result<Agent> {
        let mut conn = self.read().await?;
        agents::get(&mut conn, id)
            .await?
            .ok_or_else(|| agent_not_found(id))
    }

    /// Change an agent's `admin_state_up` / `description`.
    pub async fn update_agent(
        &self,
        _ctx: &RequestContext,
        id: &str,
        admin_state_up: Option<bool>,
        description: Option<String>,
    ) -> Result<Agent> {
        crate::in_tx!(self.store(), |tx| {
            let a = agents::get(tx, id)
                .await?
                .ok_or_else(|| agent_not_found(id))?;
            let up = admin_state_up.unwrap_or(a.admin_state_up);
            let desc = description.clone().unwrap_or(a.description.clone());
            agents::update_admin(tx, id, up, &desc).await?;
            Ok::<_, Error>(Agent {
                admin_state_up: up,
                description: desc,
                ..a
            })
        })
    }

    /// Delete an agent.
    pub async fn delete_agent(&self, _ctx: &RequestContext, id: &str) -> Result<()> {
        crate::in_tx!(self.store(), |tx| {
            if !agents::delete(tx, id).await? {
                return Err(agent_not_found(id));
            }
            Ok::<_, Error>(())
        })
    }
}
