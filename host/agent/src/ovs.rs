//! The Open vSwitch L2 agent (Neutron's `neutron-openvswitch-agent`): its devices are the
//! ports of the integration bridge (`br-int`) whose `external_ids:iface-id` names a Neutron
//! port (as Nova's os-vif plugs them); the device it reports is that port id. A wired port
//! gets its network's *local VLAN* as its tag (one per network on this host, as Neutron's
//! `LocalVLANMapping`), so the bridge's `NORMAL` switching keeps networks apart; a port
//! that is administratively down, unknown or bound elsewhere gets the dead VLAN (4095) and a
//! drop flow for everything it sends. After a restart, a port's existing tag is kept for
//! its network when no other network has it, so ports that are right are not disturbed.
//!
//! Flat and VLAN networks leave the host through provider bridges (`bridge_mappings`,
//! `physnet:bridge`): each is joined to the integration bridge by a pair of patch ports
//! (`int-<bridge>` on `br-int`, `phy-<bridge>` on the provider bridge), and while a network
//! has ports here, flows translate its local VLAN to its segment on the way out
//! (`mod_vlan_vid:<segmentation_id>` for VLAN, `strip_vlan` for flat) and back on the way in,
//! as Neutron's agent does; anything else crossing the patch is dropped. VXLAN networks
//! reach the other hosts through the tunnel bridge ([`crate::tunnel`]) when `local_ip` and
//! `tunnel_types` are set (only then does the agent report `tunnel_types` and
//! `tunneling_ip`); other networks stay on the host.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use neutrino_bus::neutron::{self, DeviceDetails};
use serde_json::{Value, json};

use crate::l2::Wiring;
use crate::plug::{DEAD_VLAN, OvsConfig, vsctl};
use crate::tunnel::Tunnels;

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
    /// Network → the flows carrying it to its provider bridge (bridge, strict match),
    /// removed with its local VLAN.
    flows: HashMap<String, Vec<(String, String)>>,
    /// Network → its local VLAN, for VXLAN networks carried by the tunnel bridge.
    tunneled: HashMap<String, u16>,
    /// Local VLANs of tunneled networks that left this host (their tunnel flows to remove).
    untunnel: Vec<u16>,
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

    /// A port leaves its network; the network's VLAN is freed with its last port, and the
    /// flows that carried it are returned (to be removed).
    fn leave(&mut self, port: &str) -> Vec<(String, String)> {
        if let Some(net) = self.members.remove(port)
            && !self.members.values().any(|n| *n == net)
        {
            self.vlans.remove(&net);
            if let Some(lvid) = self.tunneled.remove(&net) {
                self.untunnel.push(lvid);
            }
            return self.flows.remove(&net).unwrap_or_default();
        }
        Vec::new()
    }
}

/// A provider bridge patched to the integration bridge.
#[derive(Debug, Clone)]
struct Provider {
    bridge: String,
    /// OpenFlow port of `int-<bridge>` on the integration bridge.
    int_ofport: String,
    /// OpenFlow port of `phy-<bridge>` on the provider bridge.
    phy_ofport: String,
}

/// `bridge_mappings` entries (`physnet:bridge`) as a map.
fn parse_mappings(entries: &[String]) -> Result<BTreeMap<String, String>, crate::Error> {
    let mut m = BTreeMap::new();
    for e in entries {
        match e.split_once(':') {
            Some((net, br)) if !net.is_empty() && !br.is_empty() && !br.contains(':') => {
                if m.insert(net.to_string(), br.to_string()).is_some() {
                    return Err(crate::Error::Config(format!(
                        "[ovs] bridge_mappings: physical network '{net}' is mapped twice"
                    )));
                }
            }
            _ => {
                return Err(crate::Error::Config(format!(
                    "[ovs] bridge_mappings: '{e}' is not physnet:bridge"
                )));
            }
        }
    }
    Ok(m)
}

/// The flows (bridge, match, actions) carrying a network with local VLAN `lvid` through
/// provider `p`: `segmentation_id` for VLAN, `None` for flat.
fn provider_flows(
    br_int: &str,
    p: &Provider,
    lvid: u16,
    segmentation_id: Option<i64>,
) -> [(String, String, String); 2] {
    let (int_in, phy_out) = match segmentation_id {
        Some(seg) => (
            format!("dl_vlan={seg}"),
            format!("mod_vlan_vid:{seg},NORMAL"),
        ),
        None => ("vlan_tci=0x0000/0x1fff".into(), "strip_vlan,NORMAL".into()),
    };
    [
        (
            br_int.to_string(),
            format!("priority=3,in_port={},{int_in}", p.int_ofport),
            format!("mod_vlan_vid:{lvid},NORMAL"),
        ),
        (
            p.bridge.clone(),
            format!("priority=4,in_port={},dl_vlan={lvid}", p.phy_ofport),
            phy_out,
        ),
    ]
}

/// Patch port names (at most 15 characters, as Neutron keeps them).
fn patch_names(bridge: &str) -> (String, String) {
    let cut = |s: String| s.chars().take(15).collect::<String>();
    (cut(format!("int-{bridge}")), cut(format!("phy-{bridge}")))
}

/// Wiring with one Open vSwitch integration bridge.
pub struct Ovs {
    config: OvsConfig,
    bridge: Mutex<Bridge>,
    /// Physical network → its provider bridge.
    providers: BTreeMap<String, Provider>,
    /// The tunnel bridge, with `local_ip` and `tunnel_types`.
    tunnels: Option<Tunnels>,
}

/// The tunnel endpoint of `[ovs] local_ip` for `[agent] tunnel_types` (`None`: no tunnels);
/// tunnel types need an IPv4 `local_ip`, and only VXLAN is carried.
fn tunnel_endpoint(
    config: &OvsConfig,
    tunnel_types: &[String],
) -> Result<Option<std::net::Ipv4Addr>, crate::Error> {
    if let Some(t) = tunnel_types
        .iter()
        .find(|t| !crate::tunnel::SUPPORTED.contains(&t.as_str()))
    {
        return Err(crate::Error::Config(format!(
            "[agent] tunnel_types: '{t}' is not supported by the Open vSwitch agent (vxlan is)"
        )));
    }
    if tunnel_types.is_empty() {
        return Ok(None);
    }
    let Some(ip) = &config.local_ip else {
        return Err(crate::Error::Config(
            "[agent] tunnel_types needs [ovs] local_ip, this host's tunnel endpoint".into(),
        ));
    };
    ip.parse()
        .map(Some)
        .map_err(|_| crate::Error::Config(format!("[ovs] local_ip: '{ip}' is not an IPv4 address")))
}

impl Ovs {
    /// Wiring on the configured integration bridge (created when missing), with the
    /// provider bridges of `bridge_mappings` (created when missing) patched to it, and the
    /// tunnel bridge when `tunnel_types` names any (which needs `local_ip`).
    pub async fn new(config: OvsConfig, tunnel_types: &[String]) -> Result<Ovs, crate::Error> {
        let mappings = parse_mappings(&config.bridge_mappings)?;
        let endpoint = tunnel_endpoint(&config, tunnel_types)?;
        crate::plug::ensure_bridge(&config).await?;
        let br_int = config.integration_bridge.clone();
        let mut providers = BTreeMap::new();
        for (physnet, br) in mappings {
            providers.insert(physnet, setup_provider(&config, &br_int, &br).await?);
        }
        let tunnels = match endpoint {
            Some(ip) => Some(Tunnels::setup(&config, ip).await?),
            None => None,
        };
        Ok(Ovs {
            config,
            bridge: Mutex::new(Bridge::default()),
            providers,
            tunnels,
        })
    }

    /// Remove the tunnel flows of tunneled networks that left this host.
    async fn untunnel(&self) {
        let gone = std::mem::take(&mut self.bridge.lock().expect("bridge state").untunnel);
        if let Some(t) = &self.tunnels {
            for lvid in gone {
                t.remove_network(lvid).await;
            }
        }
    }

    /// Remove flows (bridge, strict match) of a network that left this host.
    async fn remove_flows(&self, flows: Vec<(String, String)>) {
        for (br, m) in flows {
            if let Err(e) = self.config.ofctl(&["--strict", "del-flows", &br, &m]).await {
                tracing::warn!(bridge = %br, flow = %m, error = %e, "removing a flow failed");
            }
        }
    }

    fn br(&self) -> &str {
        &self.config.integration_bridge
    }

    /// Tag `iface` with `tag`; a dead port also gets a drop flow for what it sends.
    async fn set_tag(&self, iface: &str, tag: u16) -> Result<(), crate::Error> {
        let ofport = vsctl(&self.config, &["get", "Interface", iface, "ofport"]).await?;
        let ofport = ofport.trim();
        let flow = format!("priority=2,in_port={ofport}");
        if tag == DEAD_VLAN {
            self.config
                .ofctl(&["add-flow", self.br(), &format!("{flow},actions=drop")])
                .await?;
        }
        vsctl(&self.config, &["set", "Port", iface, &format!("tag={tag}")]).await?;
        if tag != DEAD_VLAN {
            self.config
                .ofctl(&["--strict", "del-flows", self.br(), &flow])
                .await?;
        }
        Ok(())
    }
}

/// Create provider bridge `br` when missing and patch it to `br_int`: `int-<br>` and
/// `phy-<br>`, each dropping what crosses it until a network's flows let it through.
async fn setup_provider(
    config: &OvsConfig,
    br_int: &str,
    br: &str,
) -> Result<Provider, crate::Error> {
    crate::plug::ensure_named_bridge(config, br).await?;
    let (int_p, phy_p) = patch_names(br);
    crate::plug::patch_pair(config, (br_int, &int_p), (br, &phy_p)).await?;
    let int_ofport = vsctl(config, &["get", "Interface", &int_p, "ofport"])
        .await?
        .trim()
        .to_string();
    let phy_ofport = vsctl(config, &["get", "Interface", &phy_p, "ofport"])
        .await?
        .trim()
        .to_string();
    for (bridge, flow) in [
        (
            br_int,
            format!("priority=2,in_port={int_ofport},actions=drop"),
        ),
        (br, format!("priority=2,in_port={phy_ofport},actions=drop")),
        (br, "priority=0,actions=NORMAL".to_string()),
    ] {
        config.ofctl(&["add-flow", bridge, &flow]).await?;
    }
    tracing::info!(bridge = %br, "provider bridge patched to {br_int}");
    Ok(Provider {
        bridge: br.to_string(),
        int_ofport,
        phy_ofport,
    })
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

    fn watch(
        &self,
        wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        Some(crate::watch::ovsdb_interfaces(
            self.config.ovsdb_connection.as_deref(),
            wake,
        ))
    }

    fn configurations(&self) -> Value {
        json!({
            "bridge_mappings": self
                .providers
                .iter()
                .map(|(n, p)| (n.clone(), p.bridge.clone()))
                .collect::<BTreeMap<_, _>>(),
            "tunnel_types": if self.tunnels.is_some() { vec!["vxlan"] } else { vec![] },
            "tunneling_ip": self.tunnels.as_ref().map(|t| t.local_ip().to_string()),
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
        let ports: BTreeSet<String> = vsctl(&self.config, &["list-ports", self.br()])
            .await?
            .lines()
            .map(str::to_string)
            .collect();
        let ifaces = vsctl(
            &self.config,
            &[
                "--format=json",
                "--columns=name,external_ids",
                "list",
                "Interface",
            ],
        )
        .await?;
        let tags = vsctl(
            &self.config,
            &["--format=json", "--columns=name,tag", "list", "Port"],
        )
        .await?;
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
        let mut install = Vec::new();
        let mut tunnel_net = None;
        let (iface, tag, network, freed) = {
            let mut b = self.bridge.lock().expect("bridge state");
            let Some(iface) = b.interfaces.get(&d.device).cloned() else {
                return Ok(None);
            };
            match (&d.network_id, d.admin_state_up) {
                (Some(net), Some(true)) => {
                    let mut freed = Vec::new();
                    if b.members.get(&d.device) != Some(net) {
                        freed = b.leave(&d.device);
                    }
                    let preferred = b.seen_tags.get(&d.device).copied();
                    let Some(vlan) = b.vlan(net, preferred) else {
                        tracing::warn!(network = %net, "no local VLAN left on this host");
                        return Ok(None);
                    };
                    b.members.insert(d.device.clone(), net.clone());
                    // A flat or VLAN network on a mapped physnet: its flows, once.
                    let provider = d
                        .physical_network
                        .as_ref()
                        .and_then(|p| self.providers.get(p));
                    let seg = match d.network_type.as_deref() {
                        Some("vlan") => d.segmentation_id.map(Some),
                        Some("flat") => Some(None),
                        _ => None,
                    };
                    if let (Some(p), Some(seg)) = (provider, seg)
                        && !b.flows.contains_key(net)
                    {
                        let flows = provider_flows(self.br(), p, vlan, seg);
                        b.flows.insert(
                            net.clone(),
                            flows
                                .iter()
                                .map(|(br, m, _)| (br.clone(), m.clone()))
                                .collect(),
                        );
                        install.extend(flows);
                    }
                    // A VXLAN network: carried by the tunnel bridge, once.
                    if let (Some(_), Some("vxlan"), Some(vni)) =
                        (&self.tunnels, d.network_type.as_deref(), d.segmentation_id)
                        && !b.tunneled.contains_key(net)
                    {
                        b.tunneled.insert(net.clone(), vlan);
                        tunnel_net = Some((vlan, vni));
                    }
                    (iface, vlan, Some(net.clone()), freed)
                }
                _ => {
                    let freed = b.leave(&d.device);
                    (iface, DEAD_VLAN, None, freed)
                }
            }
        };
        self.remove_flows(freed).await;
        for (br, m, actions) in &install {
            self.config
                .ofctl(&["add-flow", br, &format!("{m},actions={actions}")])
                .await?;
        }
        self.untunnel().await;
        if let (Some(t), Some((lvid, vni))) = (&self.tunnels, tunnel_net)
            && let Err(e) = t.add_network(lvid, vni).await
        {
            // Tried again with the device's next wiring.
            if let Some(net) = &network {
                self.bridge
                    .lock()
                    .expect("bridge state")
                    .tunneled
                    .remove(net);
            }
            return Err(e);
        }
        self.set_tag(&iface, tag).await?;
        Ok(network)
    }

    async fn forget(&self, device: &str) {
        let freed = {
            let mut b = self.bridge.lock().expect("bridge state");
            b.seen_tags.remove(device);
            b.leave(device)
        };
        self.remove_flows(freed).await;
        self.untunnel().await;
    }

    fn tunneling(&self) -> Option<(String, Vec<String>)> {
        self.tunnels
            .as_ref()
            .map(|t| (t.local_ip().to_string(), vec!["vxlan".to_string()]))
    }

    async fn tunnel_update(&self, ip: &str, tunnel_type: &str) -> Result<(), crate::Error> {
        match &self.tunnels {
            Some(t) if tunnel_type == "vxlan" => t.add_endpoint(ip).await,
            _ => Ok(()),
        }
    }

    async fn tunnel_delete(&self, ip: &str, tunnel_type: &str) -> Result<(), crate::Error> {
        match &self.tunnels {
            Some(t) if tunnel_type == "vxlan" => t.remove_endpoint(ip).await,
            _ => Ok(()),
        }
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

    #[test]
    fn bridge_mappings_are_physnet_colon_bridge() {
        let m = parse_mappings(&["physnet1:br-eth1".into(), "physnet2:br-ex".into()]).unwrap();
        assert_eq!(m["physnet1"], "br-eth1");
        assert_eq!(m["physnet2"], "br-ex");
        assert!(parse_mappings(&["physnet1".into()]).is_err());
        assert!(parse_mappings(&["a:b".into(), "a:c".into()]).is_err());
    }

    #[test]
    fn vlan_networks_are_retagged_and_flat_ones_stripped_at_the_provider_bridge() {
        let p = Provider {
            bridge: "br-eth1".into(),
            int_ofport: "7".into(),
            phy_ofport: "1".into(),
        };
        let [int, phy] = provider_flows("br-int", &p, 3, Some(123));
        assert_eq!(int.0, "br-int");
        assert_eq!(int.1, "priority=3,in_port=7,dl_vlan=123");
        assert_eq!(int.2, "mod_vlan_vid:3,NORMAL");
        assert_eq!(phy.0, "br-eth1");
        assert_eq!(phy.1, "priority=4,in_port=1,dl_vlan=3");
        assert_eq!(phy.2, "mod_vlan_vid:123,NORMAL");
        let [int, phy] = provider_flows("br-int", &p, 4, None);
        assert_eq!(int.1, "priority=3,in_port=7,vlan_tci=0x0000/0x1fff");
        assert_eq!(phy.2, "strip_vlan,NORMAL");
        assert_eq!(
            patch_names("br-eth1"),
            ("int-br-eth1".into(), "phy-br-eth1".into())
        );
    }

    #[test]
    fn tunnels_need_an_ipv4_local_ip_and_only_vxlan_is_carried() {
        let mut c = OvsConfig::default();
        assert_eq!(
            tunnel_endpoint(&c, &[]).unwrap(),
            None,
            "no tunnel types: no tunnels"
        );
        let vxlan = ["vxlan".to_string()];
        assert!(
            tunnel_endpoint(&c, &vxlan).is_err(),
            "tunnel types without local_ip are refused"
        );
        c.local_ip = Some("192.0.2.5".into());
        assert_eq!(
            tunnel_endpoint(&c, &vxlan).unwrap(),
            Some("192.0.2.5".parse().unwrap())
        );
        assert_eq!(
            tunnel_endpoint(&c, &[]).unwrap(),
            None,
            "local_ip alone: none"
        );
        assert!(tunnel_endpoint(&c, &["gre".to_string()]).is_err());
        c.local_ip = Some("2001:db8::5".into());
        assert!(tunnel_endpoint(&c, &vxlan).is_err());
    }

    #[test]
    fn a_networks_flows_go_with_its_last_port() {
        let mut b = Bridge::default();
        b.vlan("net-a", None);
        b.members.insert("p1".into(), "net-a".into());
        b.members.insert("p2".into(), "net-a".into());
        b.flows
            .insert("net-a".into(), vec![("br-int".into(), "m".into())]);
        assert!(b.leave("p1").is_empty(), "p2 is still on net-a");
        assert_eq!(b.leave("p2"), vec![("br-int".to_string(), "m".to_string())]);
        assert!(b.flows.is_empty());
    }
}
