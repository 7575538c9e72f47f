//! The Open vSwitch L2 agent (Neutron's `neutron-openvswitch-agent`): its devices are the
//! ports of the integration bridge (`br-int`) whose `external_ids:iface-id` names a Neutron
//! port (as Nova's os-vif plugs them); the device it reports is that port id. A wired port
//! gets its network's *local VLAN* as its tag (one per network on this host, as Neutron's
//! `LocalVLANMapping`), so the bridge's `NORMAL` switching keeps networks apart; a port
//! that is administratively down, unknown or bound elsewhere gets the dead VLAN (4095) and a
//! drop flow for everything it sends. After a restart, a port's existing tag is kept for
//! its network when no other network has it, so ports that are right are not disturbed.
//! The wiring is local to the host (no tunnels or provider bridges yet).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use neutrino_bus::neutron::{self, DeviceDetails};
use serde_json::{Value, json};

use crate::ip;
use crate::l2::Wiring;
use crate::plug::{DEAD_VLAN, OvsConfig, vsctl};

/// What the agent knows of the integration bridge.
#[derive(Default)]
struct Bridge {
    /// Port id (`iface-id`) → interface name.
    interfaces: HashMap<String, String>,
    /// Port id → the tag its port had when first seen (kept across agent restarts).
    seen_tags: HashMap<String, u16>,
    /// Network → its local VLAN.
    vlans: HashMap<String, u16>,
    /// Port id → network, for ports wired into a network.
    members: HashMap<String, String>,
}

impl Bridge {
    /// The local VLAN of `network`: the one it has, else `preferred` when free, else the
    /// lowest free one.
    fn vlan(&mut self, network: &str, preferred: Option<u16>) -> Option<u16> {
        if let Some(v) = self.vlans.get(network) {
            return Some(*v);
        }
        let used: BTreeSet<u16> = self.vlans.values().copied().collect();
        let v = preferred
            .filter(|p| (1..DEAD_VLAN).contains(p) && !used.contains(p))
            .or_else(|| (1..DEAD_VLAN).find(|v| !used.contains(v)))?;
        self.vlans.insert(network.to_string(), v);
        Some(v)
    }

    /// A port leaves its network; the network's VLAN is freed with its last port.
    fn leave(&mut self, port: &str) {
        if let Some(net) = self.members.remove(port)
            && !self.members.values().any(|n| *n == net)
        {
            self.vlans.remove(&net);
        }
    }
}

/// Wiring with one Open vSwitch integration bridge.
pub struct Ovs {
    config: OvsConfig,
    bridge: Mutex<Bridge>,
}

impl Ovs {
    /// Wiring on the configured integration bridge (created when missing).
    pub async fn new(config: OvsConfig) -> Result<Ovs, crate::Error> {
        crate::plug::ensure_bridge(&config).await?;
        Ok(Ovs {
            config,
            bridge: Mutex::new(Bridge::default()),
        })
    }

    fn br(&self) -> &str {
        &self.config.integration_bridge
    }

    /// Tag `iface` with `tag`; a dead port also gets a drop flow for what it sends.
    async fn set_tag(&self, iface: &str, tag: u16) -> Result<(), crate::Error> {
        let ofport = vsctl(&["get", "Interface", iface, "ofport"]).await?;
        let ofport = ofport.trim();
        let flow = format!("priority=2,in_port={ofport}");
        if tag == DEAD_VLAN {
            ip::run(
                "ovs-ofctl",
                &["add-flow", self.br(), &format!("{flow},actions=drop")],
            )
            .await?;
        }
        vsctl(&["set", "Port", iface, &format!("tag={tag}")]).await?;
        if tag != DEAD_VLAN {
            ip::run("ovs-ofctl", &["--strict", "del-flows", self.br(), &flow]).await?;
        }
        Ok(())
    }
}

/// The rows of `ovs-vsctl --format=json list …`: `data` as arrays of cells.
fn rows(json: &str) -> Vec<Vec<Value>> {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| v["data"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.as_array().cloned())
        .collect()
}

/// A value of an OVSDB `map` cell.
fn map_get<'a>(cell: &'a Value, key: &str) -> Option<&'a str> {
    cell.get(1)?
        .as_array()?
        .iter()
        .find(|kv| kv[0] == key)
        .and_then(|kv| kv[1].as_str())
}

impl Wiring for Ovs {
    const BINARY: &'static str = "neutron-openvswitch-agent";
    const AGENT_TYPE: &'static str = neutron::agent_type::OVS;
    const ID_PREFIX: &'static str = "ovs";

    fn configurations(&self) -> Value {
        json!({
            "bridge_mappings": {},
            "tunnel_types": ["vxlan"],
            "integration_bridge": self.config.integration_bridge,
            "datapath_type": self.config.datapath_type,
            "ovs_hybrid_plug": false,
            "devices": 0,
        })
    }

    fn device_of_port(&self, port_id: &str) -> String {
        port_id.to_string()
    }

    async fn present(&self) -> Result<BTreeSet<String>, crate::Error> {
        let ports: BTreeSet<String> = vsctl(&["list-ports", self.br()])
            .await?
            .lines()
            .map(str::to_string)
            .collect();
        let ifaces = vsctl(&[
            "--format=json",
            "--columns=name,external_ids",
            "list",
            "Interface",
        ])
        .await?;
        let tags = vsctl(&["--format=json", "--columns=name,tag", "list", "Port"]).await?;
        let tags: HashMap<String, u16> = rows(&tags)
            .into_iter()
            .filter_map(|r| {
                let tag = r.get(1)?.as_u64()?;
                Some((r.first()?.as_str()?.to_string(), u16::try_from(tag).ok()?))
            })
            .collect();
        let mut found = BTreeSet::new();
        let mut untagged = Vec::new();
        {
            let mut b = self.bridge.lock().expect("bridge state");
            b.interfaces.clear();
            for r in rows(&ifaces) {
                let (Some(name), Some(ids)) = (r.first().and_then(Value::as_str), r.get(1)) else {
                    continue;
                };
                if !ports.contains(name) {
                    continue;
                }
                if let Some(id) = map_get(ids, "iface-id") {
                    b.interfaces.insert(id.to_string(), name.to_string());
                    match tags.get(name) {
                        Some(t) => {
                            b.seen_tags.entry(id.to_string()).or_insert(*t);
                        }
                        None => untagged.push(name.to_string()),
                    }
                    found.insert(id.to_string());
                }
            }
        }
        // An untagged port is a trunk of every VLAN: isolate it until it is wired.
        for name in untagged {
            self.set_tag(&name, DEAD_VLAN).await?;
        }
        Ok(found)
    }

    async fn wire(&self, d: &DeviceDetails) -> Result<Option<String>, crate::Error> {
        let (iface, tag, network) = {
            let mut b = self.bridge.lock().expect("bridge state");
            let Some(iface) = b.interfaces.get(&d.device).cloned() else {
                return Ok(None);
            };
            match (&d.network_id, d.admin_state_up) {
                (Some(net), Some(true)) => {
                    if b.members.get(&d.device) != Some(net) {
                        b.leave(&d.device);
                    }
                    let preferred = b.seen_tags.get(&d.device).copied();
                    let Some(vlan) = b.vlan(net, preferred) else {
                        tracing::warn!(network = %net, "no local VLAN left on this host");
                        return Ok(None);
                    };
                    b.members.insert(d.device.clone(), net.clone());
                    (iface, vlan, Some(net.clone()))
                }
                _ => {
                    b.leave(&d.device);
                    (iface, DEAD_VLAN, None)
                }
            }
        };
        self.set_tag(&iface, tag).await?;
        Ok(network)
    }

    async fn forget(&self, device: &str) {
        let mut b = self.bridge.lock().expect("bridge state");
        b.leave(device);
        b.seen_tags.remove(device);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_network_gets_its_own_local_vlan_freed_with_its_last_port() {
        let mut b = Bridge::default();
        assert_eq!(b.vlan("net-a", None), Some(1));
        b.members.insert("p1".into(), "net-a".into());
        assert_eq!(b.vlan("net-b", None), Some(2));
        b.members.insert("p2".into(), "net-b".into());
        assert_eq!(
            b.vlan("net-a", Some(9)),
            Some(1),
            "a network keeps its VLAN"
        );
        b.leave("p1");
        assert_eq!(b.vlan("net-c", None), Some(1), "net-a's VLAN is free again");
    }

    #[test]
    fn a_tag_found_after_a_restart_is_kept_when_free() {
        let mut b = Bridge::default();
        assert_eq!(b.vlan("net-a", Some(7)), Some(7));
        assert_eq!(b.vlan("net-b", Some(7)), Some(1), "7 is taken by net-a");
        assert_eq!(
            b.vlan("net-c", Some(DEAD_VLAN)),
            Some(2),
            "never the dead VLAN"
        );
    }

    #[test]
    fn ovsdb_json_rows_and_maps_are_read() {
        let j = r#"{"data":[["tap1",["map",[["attached-mac","fa:16:3e:00:00:01"],["iface-id","abc"]]]]],"headings":["name","external_ids"]}"#;
        let r = rows(j);
        assert_eq!(r[0][0], "tap1");
        assert_eq!(map_get(&r[0][1], "iface-id"), Some("abc"));
        assert_eq!(map_get(&r[0][1], "missing"), None);
    }
}
