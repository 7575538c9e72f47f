//! The Linux bridge L2 agent (Neutron's `neutron-linuxbridge-agent`): its devices are this
//! host's `tap…` devices (Nova's naming, `tap<first 11 chars of the port id>`); a device is
//! plugged into its network's bridge (`brq<first 11 chars of the network id>`, created on
//! demand), and unplugged and set down while its port is administratively down. The bridge
//! reaches the network's other hosts through its segment's uplink, as Neutron's agent
//! wires it: a VXLAN device `vxlan-<vni>` (multicast `vxlan_group` from `local_ip`) for
//! `vxlan` segments, a VLAN sub-interface `<interface>.<vlan id>` of the physical network's
//! mapped interface for `vlan`, the interface itself for `flat`; `local` segments stay on the
//! host. Ports of different networks never share a bridge. The agent loop is [`crate::l2`].

use std::collections::{BTreeMap, BTreeSet};

use neutrino_bus::neutron::{self, DeviceDetails};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ip;
use crate::l2::Wiring;

/// `[linux_bridge]` (Neutron's option names).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinuxBridgeConfig {
    /// `physical_interface_mappings`: `physnet:interface` entries.
    pub physical_interface_mappings: Vec<String>,
}

/// `[vxlan]` (Neutron's option names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VxlanConfig {
    /// `enable_vxlan`: wire `vxlan` segments (needs `local_ip`).
    pub enable_vxlan: bool,
    /// `local_ip`: this host's tunnel endpoint address.
    pub local_ip: Option<String>,
    /// `vxlan_group`: the multicast group of VXLAN traffic (Neutron's default 224.0.0.1).
    pub vxlan_group: String,
    /// `udp_dstport`: the VXLAN UDP port (default: the kernel's).
    pub udp_dstport: Option<u16>,
    /// `ttl`.
    pub ttl: Option<u8>,
}

impl Default for VxlanConfig {
    fn default() -> Self {
        VxlanConfig {
            enable_vxlan: true,
            local_ip: None,
            vxlan_group: "224.0.0.1".into(),
            udp_dstport: None,
            ttl: None,
        }
    }
}

/// Wiring with kernel bridges, one per network.
#[derive(Debug, Clone, Default)]
pub struct LinuxBridge {
    /// Physical network → interface.
    mappings: BTreeMap<String, String>,
    vxlan: VxlanConfig,
}

impl LinuxBridge {
    /// Wiring with these settings; an ill-formed mapping is refused.
    pub fn new(lb: &LinuxBridgeConfig, vxlan: &VxlanConfig) -> Result<LinuxBridge, crate::Error> {
        let mut mappings = BTreeMap::new();
        for m in &lb.physical_interface_mappings {
            let Some((net, dev)) = m
                .split_once(':')
                .filter(|(n, d)| !n.is_empty() && !d.is_empty())
            else {
                return Err(crate::Error::Config(format!(
                    "[linux_bridge] physical_interface_mappings: '{m}' is not physnet:interface"
                )));
            };
            mappings.insert(net.to_string(), dev.to_string());
        }
        if let Some(ip) = &vxlan.local_ip
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            return Err(crate::Error::Config(format!(
                "[vxlan] local_ip: '{ip}' is not an IP address"
            )));
        }
        Ok(LinuxBridge {
            mappings,
            vxlan: vxlan.clone(),
        })
    }

    fn vxlan_ready(&self) -> Option<&str> {
        self.vxlan
            .enable_vxlan
            .then_some(self.vxlan.local_ip.as_deref())
            .flatten()
    }

    /// The device that carries the segment off the host, made on demand; `None` for a
    /// segment that stays local (or that this host cannot carry).
    async fn uplink(&self, d: &DeviceDetails) -> Result<Option<String>, crate::Error> {
        let seg = d.segmentation_id;
        let physical = d
            .physical_network
            .as_ref()
            .and_then(|p| self.mappings.get(p));
        match (d.network_type.as_deref(), seg, physical) {
            (Some("vxlan"), Some(vni), _) => {
                let Some(local) = self.vxlan_ready() else {
                    return Ok(None);
                };
                let name = format!("vxlan-{vni}");
                if !ip::device_exists(&name) {
                    let dev = ip::device_with_address(local).await?;
                    let (vni, group) = (vni.to_string(), self.vxlan.vxlan_group.clone());
                    let mut args = vec![
                        "link", "add", &name, "type", "vxlan", "id", &vni, "group", &group,
                        "local", local, "dev", &dev,
                    ];
                    let port = self.vxlan.udp_dstport.map(|p| p.to_string());
                    if let Some(p) = &port {
                        args.extend(["dstport", p.as_str()]);
                    }
                    let ttl = self.vxlan.ttl.map(|t| t.to_string());
                    if let Some(t) = &ttl {
                        args.extend(["ttl", t.as_str()]);
                    }
                    make(&name, &args).await?;
                }
                Ok(Some(name))
            }
            (Some("vlan"), Some(vid), Some(dev)) => {
                let name = format!("{dev}.{vid}");
                if !ip::device_exists(&name) {
                    let vid = vid.to_string();
                    make(
                        &name,
                        &[
                            "link", "add", "link", dev, "name", &name, "type", "vlan", "id", &vid,
                        ],
                    )
                    .await?;
                }
                ip::ip(&["link", "set", "dev", dev, "up"]).await?;
                Ok(Some(name))
            }
            (Some("flat"), _, Some(dev)) => Ok(Some(dev.clone())),
            _ => Ok(None),
        }
    }
}

/// `ip ARGS` that makes device `name`, unless it appeared meanwhile.
async fn make(name: &str, args: &[&str]) -> Result<(), crate::Error> {
    match ip::ip(args).await {
        Ok(_) => Ok(()),
        Err(_) if ip::device_exists(name) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl Wiring for LinuxBridge {
    const BINARY: &'static str = "neutron-linuxbridge-agent";
    const AGENT_TYPE: &'static str = neutron::agent_type::LINUXBRIDGE;
    const ID_PREFIX: &'static str = "lb";

    fn watch(
        &self,
        wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        Some(crate::watch::links(wake))
    }

    fn configurations(&self) -> Value {
        // Without `local_ip`, VXLAN networks stay on this host (the one-machine setup).
        let tunnels: Vec<&str> = self
            .vxlan
            .enable_vxlan
            .then_some("vxlan")
            .into_iter()
            .collect();
        json!({
            "interface_mappings": self.mappings,
            "bridge_mappings": {},
            "tunnel_types": tunnels,
            "tunneling_ip": self.vxlan_ready(),
            "devices": 0,
        })
    }

    fn device_of_port(&self, port_id: &str) -> String {
        ip::tap_name(port_id)
    }

    async fn present(&self) -> Result<BTreeSet<String>, crate::Error> {
        Ok(ip::devices_with_prefix("tap").into_iter().collect())
    }

    async fn wire(&self, d: &DeviceDetails) -> Result<Option<String>, crate::Error> {
        let Some(network) = &d.network_id else {
            return Ok(None);
        };
        if d.admin_state_up != Some(true) {
            ip::ip(&["link", "set", "dev", &d.device, "nomaster"]).await?;
            ip::ip(&["link", "set", "dev", &d.device, "down"]).await?;
            return Ok(None);
        }
        let bridge = ip::bridge_name(network);
        if !ip::device_exists(&bridge) {
            match ip::ip(&["link", "add", &bridge, "type", "bridge"]).await {
                Ok(_) => {}
                Err(_) if ip::device_exists(&bridge) => {}
                Err(e) => return Err(e.into()),
            }
            ip::ip(&["link", "set", "dev", &bridge, "up"]).await?;
        }
        if let Some(up) = self.uplink(d).await? {
            ip::ip(&["link", "set", "dev", &up, "master", &bridge]).await?;
            ip::ip(&["link", "set", "dev", &up, "up"]).await?;
        }
        ip::ip(&["link", "set", "dev", &d.device, "master", &bridge]).await?;
        ip::ip(&["link", "set", "dev", &d.device, "up"]).await?;
        Ok(Some(network.clone()))
    }

    async fn forget(&self, _device: &str) {}
}
