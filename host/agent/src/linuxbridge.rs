//! The Linux bridge L2 agent (Neutron's `neutron-linuxbridge-agent`): its devices are this
//! host's `tap…` devices (Nova's naming, `tap<first 11 chars of the port id>`); a device is
//! plugged into its network's bridge (`brq<first 11 chars of the network id>`, created on
//! demand), and unplugged and set down while its port is administratively down. The wiring
//! is local to the host: ports of one network on this host share a bridge, and ports of
//! different networks never share one. The agent loop itself is [`crate::l2`].

use std::collections::BTreeSet;

use neutrino_bus::neutron::{self, DeviceDetails};
use serde_json::{Value, json};

use crate::ip;
use crate::l2::Wiring;

/// Wiring with kernel bridges, one per network.
pub struct LinuxBridge;

impl Wiring for LinuxBridge {
    const BINARY: &'static str = "neutron-linuxbridge-agent";
    const AGENT_TYPE: &'static str = neutron::agent_type::LINUXBRIDGE;
    const ID_PREFIX: &'static str = "lb";

    fn configurations(&self) -> Value {
        json!({
            "interface_mappings": {},
            "bridge_mappings": {},
            "tunnel_types": ["vxlan"],
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
        ip::ip(&["link", "set", "dev", &d.device, "master", &bridge]).await?;
        ip::ip(&["link", "set", "dev", &d.device, "up"]).await?;
        Ok(Some(network.clone()))
    }

    async fn forget(&self, _device: &str) {}
}
