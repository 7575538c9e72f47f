//! What the agents' RPC asks of the plugin (Neutron's `RpcCallbacks` and `DhcpRpcCallback`):
//! a device's details for the host that wires it, the device's status as the agent reports
//! it, and the DHCP agents' view of networks and their own ports. The bus and the message
//! shapes are the server's business; this module speaks in store records.

use neutrino_store::model::{Network, Port, Subnet};
use neutrino_store::{networks, ports, subnets};

use crate::error::{Error, Result};
use crate::ports::{FixedIpRequest, PortCreate};
use crate::{Plugin, RequestContext};

/// `device_owner` of DHCP ports.
pub const DHCP_OWNER: &str = "network:dhcp";

/// A port as an L2 agent needs it: the port, its network and the segment it is bound to.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// The port (status as it is after the call).
    pub port: Port,
    /// Its network.
    pub network: Network,
    /// The segment bound on the asking host (the top binding level's).
    pub segment: Option<neutrino_store::model::Segment>,
}

/// A network as a DHCP agent needs it.
#[derive(Debug, Clone)]
pub struct DhcpNetwork {
    /// The network.
    pub network: Network,
    /// Its subnets.
    pub subnets: Vec<Subnet>,
    /// Its ports.
    pub ports: Vec<Port>,
}

/// A device name as agents send it: a port id, or `tap` + the first 11 characters of one
/// (Linux bridge, and Nova's tap naming).
fn device_prefix(device: &str) -> &str {
    device.strip_prefix("tap").unwrap_or(device)
}

impl Plugin {
    async fn port_of_device(&self, device: &str) -> Result<Option<Port>> {
        let mut conn = self.read().await?;
        let prefix = device_prefix(device);
        if prefix.len() < 8 {
            return Ok(None);
        }
        let ids = ports::ids_with_prefix(&mut conn, prefix).await?;
        let [id] = ids.as_slice() else {
            return Ok(None);
        };
        Ok(ports::get(&mut conn, id).await?)
    }

    /// Set a port's status (a revision like any change); `None` if it is gone.
    pub async fn set_port_status(&self, port_id: &str, status: &str) -> Result<Option<Port>> {
        let id = port_id.to_string();
        let status = status.to_string();
        crate::in_tx!(self.store(), |tx| {
            ports::lock(tx, &id).await?;
            let Some(p) = ports::get(tx, &id).await? else {
                return Ok::<_, Error>(None);
            };
            Ok(Some(write_status(tx, p, &status).await?))
        })
    }

    /// Details of a device for the agent on `host`, as `get_device_details` gives them:
    /// `None` when the port is unknown or not bound to that host. Sets the port `BUILD`
    /// (`DOWN` if its admin state is down), as Neutron does while the agent wires it.
    pub async fn device_details(&self, device: &str, host: &str) -> Result<Option<DeviceInfo>> {
        let Some(port) = self.port_of_device(device).await? else {
            return Ok(None);
        };
        if port.binding_host_id != host || port.binding_levels.is_empty() {
            return Ok(None);
        }
        let mut conn = self.read().await?;
        let Some(network) = networks::get(&mut conn, &port.network_id).await? else {
            return Ok(None);
        };
        drop(conn);
        let segment = port
            .binding_levels
            .first()
            .and_then(|l| network.segments.iter().find(|s| s.id == l.segment_id))
            .cloned();
        let wanted = if port.admin_state_up { "BUILD" } else { "DOWN" };
        let port = if port.status != wanted && port.status != "ACTIVE" || !port.admin_state_up {
            self.set_port_status(&port.id, wanted)
                .await?
                .unwrap_or(port)
        } else {
            port
        };
        Ok(Some(DeviceInfo {
            port,
            network,
            segment,
        }))
    }

    /// An agent on `host` reports a device wired (`up`) or gone: up, its L2 provisioning
    /// block goes and the port becomes `ACTIVE` unless it still waits for DHCP
    /// ([`crate::provisioning`]); down, the port becomes `DOWN`. `Ok(false)` when the port
    /// is unknown or bound elsewhere.
    pub async fn update_device(&self, device: &str, host: &str, up: bool) -> Result<bool> {
        let Some(port) = self.port_of_device(device).await? else {
            return Ok(false);
        };
        if !port.binding_host_id.is_empty() && port.binding_host_id != host {
            return Ok(false);
        }
        if up && port.admin_state_up {
            let done = self
                .provisioning_complete(&port.id, crate::provisioning::L2_ENTITY)
                .await?;
            return Ok(done.is_some());
        }
        Ok(self.set_port_status(&port.id, "DOWN").await?.is_some())
    }

    /// A network with its subnets and ports, if it exists.
    pub async fn dhcp_network(&self, network_id: &str) -> Result<Option<DhcpNetwork>> {
        let mut conn = self.read().await?;
        let Some(network) = networks::get(&mut conn, network_id).await? else {
            return Ok(None);
        };
        let subnets = subnets::of_network(&mut conn, network_id).await?;
        let ports = ports::of_network(&mut conn, network_id).await?;
        Ok(Some(DhcpNetwork {
            network,
            subnets,
            ports,
        }))
    }

    /// The networks DHCP agents serve: those with a DHCP-enabled subnet.
    pub async fn dhcp_networks(&self) -> Result<Vec<DhcpNetwork>> {
        let ids = {
            let mut conn = self.read().await?;
            subnets::networks_with_dhcp(&mut conn).await?
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(n) = self.dhcp_network(&id).await? {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// The DHCP port of `device_id` on a network, created if missing, as Neutron's
    /// `create_dhcp_port`: owner `network:dhcp`, bound to `host`, an address on each
    /// DHCP-enabled subnet. `None` if the network has no DHCP-enabled subnet (any more).
    pub async fn ensure_dhcp_port(
        &self,
        network_id: &str,
        device_id: &str,
        host: &str,
    ) -> Result<Option<Port>> {
        let Some(n) = self.dhcp_network(network_id).await? else {
            return Ok(None);
        };
        let dhcp_subnets: Vec<&Subnet> = n.subnets.iter().filter(|s| s.enable_dhcp).collect();
        if dhcp_subnets.is_empty() {
            return Ok(None);
        }
        let existing = {
            let mut conn = self.read().await?;
            ports::of_device(&mut conn, network_id, device_id).await?
        };
        if let Some(p) = existing.into_iter().next() {
            return Ok(Some(p));
        }
        let ctx = RequestContext::admin(&n.network.project_id);
        let req = PortCreate {
            project_id: n.network.project_id.clone(),
            network_id: network_id.to_string(),
            admin_state_up: true,
            fixed_ips: Some(
                dhcp_subnets
                    .iter()
                    .map(|s| FixedIpRequest {
                        subnet_id: Some(s.id.clone()),
                        ip_address: None,
                    })
                    .collect(),
            ),
            device_id: device_id.to_string(),
            device_owner: DHCP_OWNER.to_string(),
            binding_host_id: host.to_string(),
            binding_vnic_type: "normal".to_string(),
            binding_profile: serde_json::json!({}),
            ..Default::default()
        };
        let mut created = self.create_ports(&ctx, vec![req]).await?;
        Ok(created.pop())
    }

    /// Delete the DHCP ports of `device_id` on a network (`release_dhcp_port`).
    pub async fn release_dhcp_port(&self, network_id: &str, device_id: &str) -> Result<()> {
        let ports = {
            let mut conn = self.read().await?;
            ports::of_device(&mut conn, network_id, device_id).await?
        };
        for p in ports {
            let ctx = RequestContext::admin(&p.project_id);
            match self.delete_port(&ctx, &p.id, None).await {
                Ok(()) => {}
                Err(Error::Neutron { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Write a port's status in `tx` (the port row locked by the caller): a revision like any
/// change; unchanged when it is the status already.
pub(crate) async fn write_status(
    tx: &mut neutrino_store::Conn,
    mut p: Port,
    status: &str,
) -> Result<Port> {
    if p.status == status {
        return Ok(p);
    }
    let expected = p.revision_number;
    p.status = status.to_string();
    p.revision_number += 1;
    p.updated_at = neutrino_store::now();
    if !ports::update(tx, &p, expected).await? {
        return Err(Error::Store(neutrino_store::StoreError::Retry(
            "port changed while its status was set".into(),
        )));
    }
    Ok(p)
}
