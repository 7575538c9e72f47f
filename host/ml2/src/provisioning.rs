//! Provisioning blocks, as Neutron's `provisioning_blocks` and ML2 keep them: a port becomes
//! `ACTIVE` only when every entity that wires it has said so. Two entities block a port:
//!
//! - `L2`: added when the port's binding to a host with an L2 agent (Open vSwitch, Linux
//!   bridge) is committed, unless the port is `ACTIVE` already; cleared by the agent's
//!   `update_device_list` (device up).
//! - `DHCP`: added in the port's own transaction (create, or an update changing its fixed IPs
//!   or MAC) when one of its fixed IPs is on a DHCP-enabled subnet and DHCP agents serve its
//!   network; removed when that stops being true; cleared by a DHCP agent's
//!   `dhcp_ready_on_ports`.
//!
//! Service ports (`network:dhcp`, router ports, floating IPs, and ports without an owner)
//! get no blocks, as in Neutron's `NO_PBLOCKS_TYPES`. Blocks are rows of the database
//! (`provisioning_blocks`), so servers sharing it agree; completing one locks the port's
//! row, so an L2 agent and a DHCP agent finishing at once on two servers cannot both see
//! the other's block and leave the port waiting.

use neutrino_store::model::Port;
use neutrino_store::provisioning_blocks as blocks;
use neutrino_store::query::SqlValue;
use neutrino_store::{Conn, Tx, agents, ports};

use crate::Plugin;
use crate::error::{Error, Result};

/// Neutron's `L2_AGENT_ENTITY`.
pub const L2_ENTITY: &str = "L2";
/// Neutron's `DHCP_ENTITY`.
pub const DHCP_ENTITY: &str = "DHCP";

/// Owners whose ports are never blocked (Neutron's `NO_PBLOCKS_TYPES`).
const UNBLOCKED_OWNERS: &[&str] = &[
    "",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
    "network:router_interface",
    "network:router_gateway",
    "network:router_centralized_snat",
    "network:dhcp",
    "network:floatingip_agent_gateway",
    "network:router_ha_interface",
    "network:floatingip",
];

/// Agent types whose agents report a device up (`update_device_list`).
const L2_AGENT_TYPES: &[&str] = &["Open vSwitch agent", "Linux bridge agent"];

fn blockable(p: &Port) -> bool {
    !UNBLOCKED_OWNERS.contains(&p.device_owner.as_str())
}

/// Set the port's DHCP block (Neutron's `_setup_dhcp_agent_provisioning_component`):
/// blocked while one of its fixed IPs is on a DHCP-enabled subnet and DHCP agents serve the
/// network, otherwise not. Call inside the port's transaction, after the port row is
/// written; `fresh` for a new port (which has no block to remove). The statements are
/// deferred (they travel with the next query or the commit of a batched transaction).
pub(crate) async fn setup_dhcp_block(tx: &mut Tx, p: &Port, fresh: bool) -> Result<()> {
    if !blockable(p) {
        return Ok(());
    }
    let classify = neutrino_store::StoreError::classify;
    if !fresh {
        tx.defer(
            "DELETE FROM provisioning_blocks WHERE port_id = ? AND entity = ?",
            vec![p.id.as_str().into(), DHCP_ENTITY.into()],
        )
        .await
        .map_err(classify)?;
    }
    if p.fixed_ips.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; p.fixed_ips.len()].join(", ");
    let sql = format!(
        "INSERT INTO provisioning_blocks (port_id, entity) SELECT ?, ? \
         WHERE EXISTS (SELECT 1 FROM network_dhcp_agent_bindings WHERE network_id = ?) \
         AND EXISTS (SELECT 1 FROM subnets WHERE enable_dhcp = 1 AND id IN ({marks})) \
         ON CONFLICT DO NOTHING"
    );
    let mut values: Vec<SqlValue> = vec![
        p.id.as_str().into(),
        DHCP_ENTITY.into(),
        p.network_id.as_str().into(),
    ];
    values.extend(p.fixed_ips.iter().map(|f| f.subnet_id.as_str().into()));
    tx.defer(&sql, values).await.map_err(classify)?;
    Ok(())
}

/// Add the port's L2 block when its binding is committed (Neutron's agent mechanism
/// drivers' `_insert_provisioning_block`): the port is bound to a host where an L2 agent
/// reported, is not `ACTIVE` yet, and is not a service port.
pub(crate) async fn setup_l2_block(conn: &mut Conn, p: &Port) -> Result<()> {
    if !blockable(p)
        || p.binding_host_id.is_empty()
        || p.status == "ACTIVE"
        || p.binding_levels.is_empty()
    {
        return Ok(());
    }
    for t in L2_AGENT_TYPES {
        if agents::find(conn, t, &p.binding_host_id).await?.is_some() {
            if blocks::add(conn, &p.id, L2_ENTITY).await? {
                tracing::debug!(port = %p.id, host = %p.binding_host_id,
                    "port waits for its L2 agent");
            }
            return Ok(());
        }
    }
    Ok(())
}

/// Whether a port's binding lets it be `ACTIVE` (Neutron's `_port_provisioned` checks).
fn bound(p: &Port) -> bool {
    !matches!(p.binding_vif_type.as_str(), "unbound" | "binding_failed")
}

impl Plugin {
    /// `entity` finished provisioning the port (Neutron's `provisioning_complete`): its block
    /// goes, and when none is left the port becomes `ACTIVE` if it is administratively up
    /// (and, when DHCP finished last, bound). A DHCP agent's word on a port that was not
    /// waiting for DHCP changes nothing (it repeats it for every port on each reload; a
    /// port its L2 agent reported down stays down). `None` if the port is gone.
    pub async fn provisioning_complete(&self, port_id: &str, entity: &str) -> Result<Option<Port>> {
        let (id, entity) = (port_id.to_string(), entity.to_string());
        crate::in_tx!(self.store(), |tx| {
            ports::lock(tx, &id).await?;
            let Some(p) = ports::get(tx, &id).await? else {
                return Ok::<_, Error>(None);
            };
            let removed = blocks::remove(tx, &id, &entity).await?;
            if !blocks::of_port(tx, &id).await?.is_empty() {
                return Ok(Some(p));
            }
            let ready = match entity.as_str() {
                DHCP_ENTITY => removed && bound(&p),
                _ => true,
            };
            if !ready || !p.admin_state_up {
                return Ok(Some(p));
            }
            tracing::debug!(port = %id, %entity, "provisioning complete");
            Ok(Some(crate::agent_rpc::write_status(tx, p, "ACTIVE").await?))
        })
    }

    /// The entities a port still waits for, sorted (`DHCP`, `L2`).
    pub async fn provisioning_blocks(&self, port_id: &str) -> Result<Vec<String>> {
        let mut conn = self.read().await?;
        Ok(blocks::of_port(&mut conn, port_id).await?)
    }

    /// `dhcp_ready_on_ports`: a DHCP agent serves these ports now.
    pub async fn dhcp_ready_on_ports(&self, port_ids: &[String]) -> Result<()> {
        for id in port_ids {
            self.provisioning_complete(id, DHCP_ENTITY).await?;
        }
        Ok(())
    }
}
