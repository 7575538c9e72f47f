//! The Open vSwitch agent's tunnels (Neutron's tunnel bridge, `br-tun`): a bridge joined to
//! the integration bridge by a pair of patch ports (`int_peer_patch_port` on the
//! integration bridge, `tun_peer_patch_port` on the tunnel bridge), one VXLAN port per
//! other host's endpoint (`vxlan-<endpoint address in hex>`, `remote_ip`, this host's
//! `local_ip`, the VNI taken from and given to the flow: `in_key=flow`, `out_key=flow`),
//! and Neutron's flow tables:
//!
//! | table | what |
//! |---|---|
//! | 0 | from the integration bridge → 2; from a tunnel → 4; else drop |
//! | 2 | unicast → 20, broadcast and multicast → 22 |
//! | 4 | a VNI with ports here → its local VLAN, → 10; else drop |
//! | 10 | learn where the sender's MAC is (into 20), → integration bridge |
//! | 20 | learned MACs → their tunnel; else → 22 |
//! | 22 | a local VLAN with ports here → its VNI, out of every tunnel; else drop |
//!
//! The endpoints come from the server (`tunnel_sync` at start, `tunnel_update` and
//! `tunnel_delete` after); a network's flows exist while it has ports on this host.
//! With the userspace datapath (`netdev`), Open vSwitch sends and receives the encapsulated
//! packets itself: `local_ip` must be the address of an Open vSwitch bridge of this host
//! whose port is the host's link to the others (a `br-phy`), so its routing and neighbour
//! tables (`ovs-appctl ovs/route/show`, `tnl/neigh/show`) lead there.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::plug::{OvsConfig, vsctl};

/// The tunnel types this agent carries.
pub const SUPPORTED: &[&str] = &["vxlan"];

/// The name of the tunnel port to `remote` (Neutron's `<type>-<address in hex>`).
pub fn port_name(tunnel_type: &str, remote: Ipv4Addr) -> String {
    format!("{tunnel_type}-{:08x}", u32::from(remote))
}

/// The flows every tunnel bridge has (`table=…,priority=…,match,actions=…`), given the
/// OpenFlow port of its patch to the integration bridge.
pub fn base_flows(patch_int: &str) -> Vec<String> {
    vec![
        format!("table=0,priority=1,in_port={patch_int},actions=resubmit(,2)"),
        "table=0,priority=0,actions=drop".into(),
        "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)"
            .into(),
        "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)"
            .into(),
        "table=4,priority=0,actions=drop".into(),
        format!(
            "table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,\
             NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],\
             load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],\
             output:OXM_OF_IN_PORT[]),output:{patch_int}"
        ),
        "table=20,priority=0,actions=resubmit(,22)".into(),
        "table=22,priority=0,actions=drop".into(),
    ]
}

/// What arrives from tunnel port `ofport` is looked up by VNI.
pub fn tunnel_in_flow(ofport: &str) -> String {
    format!("table=0,priority=1,in_port={ofport},actions=resubmit(,4)")
}

/// The match of a network's inbound flow (strict, for removal).
pub fn network_in_match(vni: i64) -> String {
    format!("table=4,priority=1,tun_id={vni:#x}")
}

/// A network's traffic from the tunnels gets its local VLAN.
pub fn network_in_flow(vni: i64, lvid: u16) -> String {
    format!(
        "{},actions=mod_vlan_vid:{lvid},resubmit(,10)",
        network_in_match(vni)
    )
}

/// The match of a network's flooding flow (strict, for removal).
pub fn flood_match(lvid: u16) -> String {
    format!("table=22,priority=1,dl_vlan={lvid}")
}

/// A network's broadcasts and unknown unicasts go out of every tunnel with its VNI.
pub fn flood_flow(lvid: u16, vni: i64, ports: &[String]) -> String {
    let actions = if ports.is_empty() {
        "drop".to_string()
    } else {
        let outs: Vec<String> = ports.iter().map(|p| format!("output:{p}")).collect();
        format!("strip_vlan,set_tunnel:{vni:#x},{}", outs.join(","))
    };
    format!("{},actions={actions}", flood_match(lvid))
}

/// The tunnel bridge's ports and networks.
#[derive(Debug, Default)]
struct State {
    /// Remote endpoint → OpenFlow port of its tunnel port.
    ports: BTreeMap<Ipv4Addr, String>,
    /// Local VLAN → VNI, for the VXLAN networks with ports here.
    networks: BTreeMap<u16, i64>,
}

/// A running tunnel bridge.
pub struct Tunnels {
    ovs: OvsConfig,
    local_ip: Ipv4Addr,
    state: std::sync::Mutex<State>,
    /// Flood flows are rewritten by one task at a time, from the state as it is then.
    writer: tokio::sync::Mutex<()>,
}

impl Tunnels {
    /// Build the tunnel bridge (created when missing, its tunnel ports and flows reset) and
    /// patch it to the integration bridge.
    pub async fn setup(ovs: &OvsConfig, local_ip: Ipv4Addr) -> Result<Tunnels, crate::Error> {
        let (br_int, br_tun) = (&ovs.integration_bridge, &ovs.tunnel_bridge);
        crate::plug::ensure_named_bridge(ovs, br_tun).await?;
        let (int_p, tun_p) = (&ovs.int_peer_patch_port, &ovs.tun_peer_patch_port);
        crate::plug::patch_pair(ovs, (br_int, int_p), (br_tun, tun_p)).await?;
        let patch_int = vsctl(ovs, &["get", "Interface", tun_p, "ofport"])
            .await?
            .trim()
            .to_string();
        // Rebuilt from scratch: the tunnels come back from `tunnel_sync`, so one to an
        // endpoint that went while the agent was away does not linger.
        for port in vsctl(ovs, &["list-ports", br_tun]).await?.lines() {
            if port.starts_with("vxlan-") {
                vsctl(ovs, &["--if-exists", "del-port", br_tun, port]).await?;
            }
        }
        ovs.ofctl(&["del-flows", br_tun]).await?;
        for f in base_flows(&patch_int) {
            ovs.ofctl(&["add-flow", br_tun, &f]).await?;
        }
        tracing::info!(bridge = %br_tun, %local_ip, "tunnel bridge patched to {br_int}");
        Ok(Tunnels {
            ovs: ovs.clone(),
            local_ip,
            state: Default::default(),
            writer: Default::default(),
        })
    }

    fn br(&self) -> &str {
        &self.ovs.tunnel_bridge
    }

    /// This host's endpoint.
    pub fn local_ip(&self) -> Ipv4Addr {
        self.local_ip
    }

    /// A tunnel to another host's endpoint (nothing for this host's own, or a known one).
    pub async fn add_endpoint(&self, remote: &str) -> Result<(), crate::Error> {
        let Ok(remote) = remote.parse::<Ipv4Addr>() else {
            tracing::warn!(%remote, "tunnel endpoint is not an IPv4 address; ignored");
            return Ok(());
        };
        if remote == self.local_ip
            || self
                .state
                .lock()
                .expect("tunnels")
                .ports
                .contains_key(&remote)
        {
            return Ok(());
        }
        let name = port_name("vxlan", remote);
        vsctl(
            &self.ovs,
            &[
                "--may-exist",
                "add-port",
                self.br(),
                &name,
                "--",
                "set",
                "Interface",
                &name,
                "type=vxlan",
                &format!("options:remote_ip={remote}"),
                &format!("options:local_ip={}", self.local_ip),
                "options:in_key=flow",
                "options:out_key=flow",
                "options:df_default=true",
            ],
        )
        .await?;
        let ofport = vsctl(&self.ovs, &["get", "Interface", &name, "ofport"])
            .await?
            .trim()
            .to_string();
        if ofport.parse::<u32>().is_err() {
            let error = vsctl(&self.ovs, &["get", "Interface", &name, "error"]).await;
            return Err(crate::Error::Config(format!(
                "tunnel port {name} has no OpenFlow port ({ofport}): {error:?}"
            )));
        }
        self.ovs
            .ofctl(&["add-flow", self.br(), &tunnel_in_flow(&ofport)])
            .await?;
        self.state
            .lock()
            .expect("tunnels")
            .ports
            .insert(remote, ofport);
        tracing::info!(%remote, port = %name, "tunnel up");
        self.flood().await
    }

    /// The tunnel to a stale endpoint goes.
    pub async fn remove_endpoint(&self, remote: &str) -> Result<(), crate::Error> {
        let Ok(remote) = remote.parse::<Ipv4Addr>() else {
            return Ok(());
        };
        let Some(ofport) = self.state.lock().expect("tunnels").ports.remove(&remote) else {
            return Ok(());
        };
        self.flood().await?;
        let m = format!("table=0,priority=1,in_port={ofport}");
        self.ovs
            .ofctl(&["--strict", "del-flows", self.br(), &m])
            .await?;
        // Learned MACs behind it.
        let _ = self
            .ovs
            .ofctl(&[
                "del-flows",
                self.br(),
                &format!("table=20,out_port={ofport}"),
            ])
            .await;
        vsctl(
            &self.ovs,
            &[
                "--if-exists",
                "del-port",
                self.br(),
                &port_name("vxlan", remote),
            ],
        )
        .await?;
        tracing::info!(%remote, "tunnel down");
        Ok(())
    }

    /// A VXLAN network (VNI `vni`) has ports here on local VLAN `lvid`.
    pub async fn add_network(&self, lvid: u16, vni: i64) -> Result<(), crate::Error> {
        self.state
            .lock()
            .expect("tunnels")
            .networks
            .insert(lvid, vni);
        self.ovs
            .ofctl(&["add-flow", self.br(), &network_in_flow(vni, lvid)])
            .await?;
        self.flood().await
    }

    /// The network on local VLAN `lvid` has no ports here any more.
    pub async fn remove_network(&self, lvid: u16) {
        let Some(vni) = self.state.lock().expect("tunnels").networks.remove(&lvid) else {
            return;
        };
        let _guard = self.writer.lock().await;
        let strict = [network_in_match(vni), flood_match(lvid)];
        for m in &strict {
            if let Err(e) = self
                .ovs
                .ofctl(&["--strict", "del-flows", self.br(), m])
                .await
            {
                tracing::warn!(flow = %m, error = %e, "removing a tunnel flow failed");
            }
        }
        // What was learned on that VLAN must not follow it to the next network that has it.
        let learned = format!("table=20,dl_vlan={lvid}");
        if let Err(e) = self.ovs.ofctl(&["del-flows", self.br(), &learned]).await {
            tracing::warn!(flow = %learned, error = %e, "removing learned flows failed");
        }
    }

    /// Rewrite every network's flooding flow from the state as it is now.
    async fn flood(&self) -> Result<(), crate::Error> {
        let _guard = self.writer.lock().await;
        let flows: Vec<String> = {
            let st = self.state.lock().expect("tunnels");
            let ports: Vec<String> = st.ports.values().cloned().collect();
            st.networks
                .iter()
                .map(|(lvid, vni)| flood_flow(*lvid, *vni, &ports))
                .collect()
        };
        for f in flows {
            self.ovs.ofctl(&["add-flow", self.br(), &f]).await?;
        }
        Ok(())
    }

    /// The remote endpoints with a tunnel.
    pub fn endpoints(&self) -> Vec<Ipv4Addr> {
        self.state
            .lock()
            .expect("tunnels")
            .ports
            .keys()
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_ports_are_named_by_the_remote_address_in_hex() {
        assert_eq!(
            port_name("vxlan", "172.30.7.2".parse().unwrap()),
            "vxlan-ac1e0702"
        );
        assert_eq!(port_name("vxlan", "10.0.0.1".parse().unwrap()).len(), 14);
    }

    #[test]
    fn a_network_goes_out_of_every_tunnel_with_its_vni_and_comes_back_on_its_local_vlan() {
        assert_eq!(
            flood_flow(3, 1001, &["5".into(), "7".into()]),
            "table=22,priority=1,dl_vlan=3,actions=strip_vlan,set_tunnel:0x3e9,output:5,output:7"
        );
        assert_eq!(
            flood_flow(3, 1001, &[]),
            "table=22,priority=1,dl_vlan=3,actions=drop",
            "no tunnel yet: nothing leaves"
        );
        assert_eq!(
            network_in_flow(1001, 3),
            "table=4,priority=1,tun_id=0x3e9,actions=mod_vlan_vid:3,resubmit(,10)"
        );
        assert_eq!(
            tunnel_in_flow("5"),
            "table=0,priority=1,in_port=5,actions=resubmit(,4)"
        );
    }

    #[test]
    fn the_base_tables_drop_what_no_network_claims_and_learn_from_what_arrives() {
        let f = base_flows("1");
        assert!(f.contains(&"table=0,priority=1,in_port=1,actions=resubmit(,2)".to_string()));
        for t in [0, 4, 22] {
            assert!(
                f.contains(&format!("table={t},priority=0,actions=drop")),
                "table {t} drops by default"
            );
        }
        assert!(f.iter().any(|l| l.starts_with("table=10,")
            && l.contains("learn(table=20")
            && l.ends_with("output:1")));
        assert!(f.contains(&"table=20,priority=0,actions=resubmit(,22)".to_string()));
    }
}
