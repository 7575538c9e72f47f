//! DHCP agent scheduling (Neutron's `dhcp_agent_scheduler` with its default
//! `WeightScheduler`): each network with a DHCP-enabled subnet is served by up to
//! `dhcp_agents_per_network` DHCP agents that are alive and administratively up, the least
//! loaded first. A network is scheduled when a DHCP agent asks for its networks (Neutron's
//! `network_auto_schedule`) and before the server notifies DHCP agents about it; admins
//! add and remove bindings by hand (`/v2.0/agents/{id}/dhcp-networks`). Scheduling a
//! network locks it (PostgreSQL) or holds the one writer (SQLite), so concurrent schedulers
//! never bind more agents than asked, on one server or several.

use std::collections::HashMap;

use neutrino_store::agents::{self, Agent};
use neutrino_store::dhcp_bindings as bindings;
use neutrino_store::model::Network;
use neutrino_store::networks;
use neutrino_store::query::ListQuery;

use crate::agents::is_alive;
use crate::error::{Error, Result};
use crate::{Plugin, RequestContext};

/// Neutron's `AGENT_TYPE_DHCP`.
pub const DHCP_AGENT_TYPE: &str = "DHCP agent";

fn dhcp_agent_not_found(id: &str) -> Error {
    Error::neutron(
        "InvalidDHCPAgent",
        404,
        format!("Agent {id} is not a valid DHCP Agent or has been disabled."),
    )
}

async fn dhcp_agents(conn: &mut neutrino_store::Conn) -> Result<Vec<Agent>> {
    let all = agents::list(conn, &ListQuery::default()).await?;
    Ok(all
        .into_iter()
        .filter(|a| a.agent_type == DHCP_AGENT_TYPE)
        .collect())
}

impl Plugin {
    /// Bind a network with a DHCP-enabled subnet to more agents until it has
    /// `dhcp_agents_per_network` alive ones (or no candidate is left); the hosts of the
    /// agents that serve it afterwards.
    pub async fn schedule_network(&self, network_id: &str) -> Result<Vec<String>> {
        let want = self.core().dhcp_agents_per_network;
        // Most calls find the network served: a read, no write transaction.
        {
            let mut conn = self.read().await?;
            let bound = bindings::agents_of(&mut conn, network_id).await?;
            let all = dhcp_agents(&mut conn).await?;
            let serving: Vec<&Agent> = all.iter().filter(|a| bound.contains(&a.id)).collect();
            let alive = serving.iter().filter(|a| is_alive(a)).count();
            let needs = alive < want
                && all
                    .iter()
                    .any(|a| a.admin_state_up && is_alive(a) && !bound.contains(&a.id))
                && neutrino_store::subnets::of_network(&mut conn, network_id)
                    .await?
                    .iter()
                    .any(|s| s.enable_dhcp);
            if !needs {
                return Ok(serving.iter().map(|a| a.host.clone()).collect());
            }
        }
        let network_id = network_id.to_string();
        crate::in_tx!(self.store(), |tx| {
            bindings::lock_network(tx, &network_id).await?;
            let has_dhcp = neutrino_store::subnets::of_network(tx, &network_id)
                .await?
                .iter()
                .any(|s| s.enable_dhcp);
            let candidates = dhcp_agents(tx).await?;
            let bound = bindings::agents_of(tx, &network_id).await?;
            let by_id: HashMap<&str, &Agent> =
                candidates.iter().map(|a| (a.id.as_str(), a)).collect();
            let alive_bound = bound
                .iter()
                .filter(|id| by_id.get(id.as_str()).is_some_and(|a| is_alive(a)))
                .count();
            let mut serving: Vec<String> = bound
                .iter()
                .filter_map(|id| by_id.get(id.as_str()).map(|a| a.host.clone()))
                .collect();
            if has_dhcp && alive_bound < want {
                let load: HashMap<String, i64> = bindings::load(tx).await?.into_iter().collect();
                let mut free: Vec<&Agent> = candidates
                    .iter()
                    .filter(|a| a.admin_state_up && is_alive(a) && !bound.contains(&a.id))
                    .collect();
                free.sort_by_key(|a| (load.get(&a.id).copied().unwrap_or(0), a.host.clone()));
                for a in free.into_iter().take(want - alive_bound) {
                    if bindings::add(tx, &network_id, &a.id).await? {
                        tracing::info!(network = %network_id, agent = %a.id, host = %a.host,
                            "network scheduled to a DHCP agent");
                        serving.push(a.host.clone());
                    }
                }
            }
            Ok::<_, Error>(serving)
        })
    }

    /// The DHCP agent of `host`, if it reported.
    async fn dhcp_agent_of_host(&self, host: &str) -> Result<Option<Agent>> {
        let mut conn = self.read().await?;
        Ok(agents::find(&mut conn, DHCP_AGENT_TYPE, host).await?)
    }

    /// The networks the DHCP agent of `host` serves, after scheduling every DHCP network
    /// that lacks agents (`network_auto_schedule`).
    pub async fn dhcp_network_ids_for_host(&self, host: &str) -> Result<Vec<String>> {
        let Some(agent) = self.dhcp_agent_of_host(host).await? else {
            return Ok(Vec::new());
        };
        let want = self.core().dhcp_agents_per_network;
        let wanting: Vec<String> = {
            let mut conn = self.read().await?;
            let mut out = Vec::new();
            for id in neutrino_store::subnets::networks_with_dhcp(&mut conn).await? {
                if bindings::agents_of(&mut conn, &id).await?.len() < want {
                    out.push(id);
                }
            }
            out
        };
        for id in wanting {
            self.schedule_network(&id).await?;
        }
        let mut conn = self.read().await?;
        Ok(bindings::networks_of(&mut conn, &agent.id).await?)
    }

    async fn dhcp_agent(&self, id: &str) -> Result<Agent> {
        let mut conn = self.read().await?;
        agents::get(&mut conn, id)
            .await?
            .filter(|a| a.agent_type == DHCP_AGENT_TYPE)
            .ok_or_else(|| dhcp_agent_not_found(id))
    }

    /// `GET /v2.0/agents/{id}/dhcp-networks`.
    pub async fn networks_on_dhcp_agent(
        &self,
        _ctx: &RequestContext,
        agent_id: &str,
    ) -> Result<Vec<Network>> {
        let agent = self.dhcp_agent(agent_id).await?;
        let mut conn = self.read().await?;
        let mut out = Vec::new();
        for id in bindings::networks_of(&mut conn, &agent.id).await? {
            if let Some(n) = networks::get(&mut conn, &id).await? {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// `POST /v2.0/agents/{id}/dhcp-networks`: the agent's host, to notify.
    pub async fn add_network_to_dhcp_agent(
        &self,
        _ctx: &RequestContext,
        agent_id: &str,
        network_id: &str,
    ) -> Result<String> {
        let agent = self.dhcp_agent(agent_id).await?;
        if !agent.admin_state_up {
            return Err(dhcp_agent_not_found(agent_id));
        }
        let (agent_id, network_id) = (agent.id.clone(), network_id.to_string());
        crate::in_tx!(self.store(), |tx| {
            bindings::lock_network(tx, &network_id).await?;
            if networks::get(tx, &network_id).await?.is_none() {
                return Err(Error::not_found("NetworkNotFound", "Network", &network_id));
            }
            if !bindings::add(tx, &network_id, &agent_id).await? {
                return Err(Error::conflict(
                    "NetworkHostedByDHCPAgent",
                    format!(
                        "The network {network_id} has been already hosted by the DHCP Agent {agent_id}."
                    ),
                ));
            }
            Ok::<_, Error>(())
        })?;
        Ok(agent.host)
    }

    /// `DELETE /v2.0/agents/{id}/dhcp-networks/{network_id}`: the agent's host, to notify.
    pub async fn remove_network_from_dhcp_agent(
        &self,
        _ctx: &RequestContext,
        agent_id: &str,
        network_id: &str,
    ) -> Result<String> {
        let agent = self.dhcp_agent(agent_id).await?;
        let (agent_id, network_id) = (agent.id.clone(), network_id.to_string());
        crate::in_tx!(self.store(), |tx| {
            if !bindings::remove(tx, &network_id, &agent_id).await? {
                return Err(Error::conflict(
                    "NetworkNotHostedByDhcpAgent",
                    format!("The network {network_id} is not hosted by the DHCP agent {agent_id}."),
                ));
            }
            Ok::<_, Error>(())
        })?;
        Ok(agent.host)
    }

    /// `GET /v2.0/networks/{id}/dhcp-agents`.
    pub async fn dhcp_agents_hosting_network(
        &self,
        _ctx: &RequestContext,
        network_id: &str,
    ) -> Result<Vec<Agent>> {
        let mut conn = self.read().await?;
        if networks::get(&mut conn, network_id).await?.is_none() {
            return Err(Error::not_found("NetworkNotFound", "Network", network_id));
        }
        let mut out = Vec::new();
        for id in bindings::agents_of(&mut conn, network_id).await? {
            if let Some(a) = agents::get(&mut conn, &id).await? {
                out.push(a);
            }
        }
        Ok(out)
    }
}

impl Plugin {
    /// Tell the host's DHCP agent that an admin bound (or unbound) a network to it.
    pub async fn notify_dhcp_binding(&self, host: &str, network_id: &str, bound: bool) {
        self.emit(crate::events::Event::DhcpBindingChanged(
            host.to_string(),
            network_id.to_string(),
            bound,
        ));
    }
}
