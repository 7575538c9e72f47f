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

    /// Schedule a network whose subnet just got DHCP, before the request answers (as
    /// Neutron's DHCP notifier does on `subnet` create and update), so that the ports created
    /// next know their network is served (their DHCP provisioning block). A failure is
    /// logged: the notifier and the agents' own asks schedule again.
    pub(crate) async fn schedule_dhcp_now(&self, network_id: &str) {
        if let Err(e) = self.schedule_network(network_id).await {
            tracing::warn!(network = %network_id, error = %e, "DHCP scheduling failed");
        }
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

/// Seconds without a report after which a DHCP agent's networks move (Neutron's
/// `agent_dead_limit_seconds`: twice `agent_down_time`).
pub const AGENT_DEAD_LIMIT_SECS: i64 = 2 * crate::mech::host::AGENT_DOWN_TIME_SECS;

/// How often the server looks for dead DHCP agents (Neutron: `agent_down_time / 2`).
pub const FAILOVER_INTERVAL_SECS: i64 = crate::mech::host::AGENT_DOWN_TIME_SECS / 2;

fn seconds_since(stamp: &str) -> Option<i64> {
    let fmt = time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(stamp, &fmt).ok()?;
    Some((time::OffsetDateTime::now_utc() - t).whole_seconds())
}

/// One network moved by [`Plugin::remove_networks_from_down_agents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescheduled {
    /// The network.
    pub network_id: String,
    /// The host of the dead agent it left.
    pub from: String,
    /// The hosts of the agents serving it now.
    pub to: Vec<String>,
}

impl Plugin {
    /// Neutron's `remove_networks_from_down_agents` (with `allow_automatic_dhcp_failover`):
    /// each network bound to a DHCP agent that has not reported for
    /// [`AGENT_DEAD_LIMIT_SECS`] leaves it (the dead agent is not told) and is scheduled
    /// again, to live agents up to `dhcp_agents_per_network`, which are told
    /// (`network_create_end`). Agents still starting up (started less than the limit plus 2 s
    /// per network they serve ago) keep their networks, and nothing moves while no DHCP
    /// agent is alive. Does nothing when failover is off.
    pub async fn remove_networks_from_down_agents(&self) -> Result<Vec<Rescheduled>> {
        if !self.core().allow_automatic_dhcp_failover {
            return Ok(Vec::new());
        }
        let (dead, load) = {
            let mut conn = self.read().await?;
            let all = dhcp_agents(&mut conn).await?;
            if !all.iter().any(is_alive) {
                if !all.is_empty() {
                    tracing::warn!("no DHCP agents available, skipping rescheduling");
                }
                return Ok(Vec::new());
            }
            let load: HashMap<String, i64> = bindings::load(&mut conn).await?.into_iter().collect();
            let dead: Vec<Agent> = all
                .into_iter()
                .filter(|a| {
                    seconds_since(&a.heartbeat_timestamp).is_none_or(|s| s > AGENT_DEAD_LIMIT_SECS)
                })
                .collect();
            (dead, load)
        };
        let mut moved = Vec::new();
        for agent in dead {
            let networks = load.get(&agent.id).copied().unwrap_or(0);
            let starting = seconds_since(&agent.started_at)
                .is_some_and(|s| s < AGENT_DEAD_LIMIT_SECS + 2 * networks);
            if starting {
                tracing::debug!(agent = %agent.id, "DHCP agent is starting up, skipping");
                continue;
            }
            let nets = {
                let mut conn = self.read().await?;
                bindings::networks_of(&mut conn, &agent.id).await?
            };
            for network_id in nets {
                tracing::warn!(network = %network_id, agent = %agent.id, host = %agent.host,
                    dead_time = AGENT_DEAD_LIMIT_SECS,
                    "removing a network from a DHCP agent that did not report");
                let (n, a) = (network_id.clone(), agent.id.clone());
                let removed = crate::in_tx!(self.store(), |tx| {
                    bindings::lock_network(tx, &n).await?;
                    Ok::<_, Error>(bindings::remove(tx, &n, &a).await?)
                })?;
                if !removed {
                    // Another server moved it meanwhile; scheduling again is harmless.
                    tracing::debug!(network = %network_id, "already removed from the agent");
                }
                let before: Vec<String> = {
                    let mut conn = self.read().await?;
                    bindings::agents_of(&mut conn, &network_id).await?
                };
                let to = self.schedule_network(&network_id).await?;
                let after = {
                    let mut conn = self.read().await?;
                    bindings::agents_of(&mut conn, &network_id).await?
                };
                for id in after.iter().filter(|id| !before.contains(id)) {
                    let mut conn = self.read().await?;
                    if let Some(a) = agents::get(&mut conn, id).await? {
                        self.notify_dhcp_binding(&a.host, &network_id, true).await;
                    }
                }
                moved.push(Rescheduled {
                    network_id,
                    from: agent.host.clone(),
                    to,
                });
            }
        }
        Ok(moved)
    }

    /// Run [`Plugin::remove_networks_from_down_agents`] every [`FAILOVER_INTERVAL_SECS`]
    /// until the task is dropped, the first time after a random delay of one to two
    /// intervals (as Neutron's periodic worker, so that servers spread out and agents get
    /// to report after a server start). Nothing runs when failover is off.
    pub async fn dhcp_failover_loop(self) {
        if !self.core().allow_automatic_dhcp_failover {
            tracing::info!(
                "skipping the periodic DHCP agent status check: automatic network \
                 rescheduling is disabled"
            );
            return;
        }
        let interval = FAILOVER_INTERVAL_SECS.max(1) as u64;
        let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * interval / 255;
        tokio::time::sleep(std::time::Duration::from_secs(interval + jitter)).await;
        loop {
            match self.remove_networks_from_down_agents().await {
                Ok(moved) => {
                    for m in moved {
                        tracing::info!(network = %m.network_id, from = %m.from, to = ?m.to,
                            "network rescheduled off a dead DHCP agent");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "DHCP rescheduling failed"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
        }
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
