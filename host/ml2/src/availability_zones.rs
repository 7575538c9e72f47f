//! Availability zones (`availability_zone`, `availability_zone_filter`,
//! `network_availability_zone`): the zones the agents report. A DHCP agent's zone is a
//! `network` zone, an L3 agent's a `router` zone; a zone is `available` while one of its
//! agents is administratively up. Without agents there are none.

use std::collections::BTreeMap;

use neutrino_store::Conn;
use neutrino_store::agents;
use neutrino_store::query::{Condition, ListQuery, SqlValue};

use crate::checks::has_role;
use crate::error::{Error, Result};
use crate::{Plugin, RequestContext};

/// Neutron's agent type of DHCP agents.
pub const DHCP_AGENT: &str = "DHCP agent";
/// Neutron's agent type of L3 agents.
pub const L3_AGENT: &str = "L3 agent";

/// The agent type whose zones are zones of `resource`.
pub fn agent_type_of(resource: &str) -> Option<&'static str> {
    match resource {
        "network" => Some(DHCP_AGENT),
        "router" => Some(L3_AGENT),
        _ => None,
    }
}

/// One availability zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityZone {
    /// Name.
    pub name: String,
    /// `network` or `router`.
    pub resource: String,
    /// `available` or `unavailable`.
    pub state: String,
}

/// Filters of the availability zone list (each: accepted values, none = any).
#[derive(Debug, Clone, Default)]
pub struct ZoneFilter {
    /// Names.
    pub names: Vec<String>,
    /// Resources (`network`, `router`).
    pub resources: Vec<String>,
    /// States.
    pub states: Vec<String>,
}

impl Plugin {
    /// The zones the agents report, sorted by name and resource.
    pub async fn availability_zones(
        &self,
        ctx: &RequestContext,
        f: ZoneFilter,
    ) -> Result<Vec<AvailabilityZone>> {
        if !has_role(ctx, "reader") {
            return Ok(Vec::new());
        }
        let mut q = ListQuery::default();
        let types: Vec<SqlValue> = if f.resources.is_empty() {
            vec![DHCP_AGENT.into(), L3_AGENT.into()]
        } else {
            f.resources
                .iter()
                .filter_map(|r| agent_type_of(r))
                .map(SqlValue::from)
                .collect()
        };
        q.conditions.push(Condition::is_in("agent_type", types));
        if !f.names.is_empty() {
            q.conditions.push(Condition::is_in(
                "availability_zone",
                f.names.iter().cloned().map(SqlValue::Text).collect(),
            ));
        }
        let mut conn = self.read().await?;
        let agents = agents::list(&mut conn, &q).await?;
        let mut zones: BTreeMap<(String, String), bool> = BTreeMap::new();
        for a in agents {
            let Some(zone) = a.availability_zone.filter(|z| !z.is_empty()) else {
                continue;
            };
            let resource = if a.agent_type == DHCP_AGENT {
                "network"
            } else {
                "router"
            };
            let up = zones.entry((zone, resource.to_string())).or_default();
            *up |= a.admin_state_up;
        }
        Ok(zones
            .into_iter()
            .map(|((name, resource), up)| AvailabilityZone {
                name,
                resource,
                state: if up { "available" } else { "unavailable" }.into(),
            })
            .filter(|z| f.states.is_empty() || f.states.contains(&z.state))
            .collect())
    }

    /// Check that every hint names a zone of `resource` some agent reports (Neutron's
    /// `validate_availability_zones`): 404 `AvailabilityZoneNotFound` otherwise.
    pub async fn validate_availability_zones(
        &self,
        conn: &mut Conn,
        resource: &str,
        hints: &[String],
    ) -> Result<()> {
        let Some(agent_type) = agent_type_of(resource).filter(|_| !hints.is_empty()) else {
            return Ok(());
        };
        let q = ListQuery {
            conditions: vec![
                Condition::eq("agent_type", agent_type),
                Condition::is_in(
                    "availability_zone",
                    hints.iter().cloned().map(SqlValue::Text).collect(),
                ),
            ],
            ..Default::default()
        };
        let known: Vec<String> = agents::list(conn, &q)
            .await?
            .into_iter()
            .filter_map(|a| a.availability_zone)
            .collect();
        match hints.iter().find(|h| !known.contains(h)) {
            Some(missing) => Err(Error::neutron(
                "AvailabilityZoneNotFound",
                404,
                format!("AvailabilityZone {missing} could not be found."),
            )),
            None => Ok(()),
        }
    }
}
