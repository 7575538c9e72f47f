//! How a device's host end joins the L2 agent's switch (Neutron's `interface_driver`, and
//! what Nova's os-vif does for a VM): with Linux bridges the `tap…` device only has to
//! exist (the L2 agent finds it by name); with Open vSwitch it is added to the integration
//! bridge as a port whose `external_ids` name the Neutron port (`iface-id`), its MAC and
//! `iface-status`, tagged with the dead VLAN (4095) until the agent wires it (os-vif's
//! `isolate_vif`), so it passes no traffic before then.

use serde::Deserialize;

use crate::ip;

/// The VLAN tag of ports that must pass no traffic (Neutron's `DEAD_VLAN_TAG`).
pub const DEAD_VLAN: u16 = 4095;

/// Which switch devices are plugged into.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterfaceDriver {
    /// Kernel bridges (the Linux bridge agent plugs `tap…` devices by name).
    Linuxbridge,
    /// Open vSwitch: ports on the integration bridge, found by `external_ids:iface-id`.
    Openvswitch,
}

/// `[ovs]`: the Open vSwitch agent's settings (Neutron's option names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OvsConfig {
    /// `integration_bridge` (Neutron's default `br-int`).
    pub integration_bridge: String,
    /// `datapath_type`: `system` (the kernel module, Neutron's default) or `netdev` (the
    /// userspace datapath, which needs no kernel module).
    pub datapath_type: String,
    /// `bridge_mappings`: `physnet:bridge` entries (Neutron's format), the provider
    /// bridges carrying flat and VLAN networks of each physical network. The agent creates
    /// a missing bridge (with `datapath_type`) and patches it to the integration bridge.
    pub bridge_mappings: Vec<String>,
    /// `local_ip`: this host's tunnel endpoint address. With `[agent] tunnel_types`, the
    /// agent builds the tunnel bridge and carries VXLAN networks to the other hosts'
    /// endpoints; without it, it reports no tunnel types (VXLAN networks do not bind here).
    pub local_ip: Option<String>,
    /// `tunnel_bridge` (Neutron's default `br-tun`): where the tunnel ports are.
    pub tunnel_bridge: String,
    /// `int_peer_patch_port` (default `patch-tun`): the integration bridge's patch port to
    /// the tunnel bridge.
    pub int_peer_patch_port: String,
    /// `tun_peer_patch_port` (default `patch-int`): the tunnel bridge's patch port to the
    /// integration bridge.
    pub tun_peer_patch_port: String,
    /// `ovsdb_connection`: the OVSDB this agent configures (`unix:/run/openvswitch/db.sock`
    /// style; default: `ovs-vsctl`'s own default). A `unix:` socket's directory is also
    /// where the agent finds the bridges' OpenFlow sockets (`<bridge>.mgmt`, Open vSwitch's
    /// run directory), so one setting names one Open vSwitch.
    pub ovsdb_connection: Option<String>,
}

impl Default for OvsConfig {
    fn default() -> Self {
        OvsConfig {
            integration_bridge: "br-int".into(),
            datapath_type: "system".into(),
            bridge_mappings: Vec::new(),
            local_ip: None,
            tunnel_bridge: "br-tun".into(),
            int_peer_patch_port: "patch-tun".into(),
            tun_peer_patch_port: "patch-int".into(),
            ovsdb_connection: None,
        }
    }
}

impl OvsConfig {
    /// Open vSwitch's run directory, when `ovsdb_connection` is a `unix:` socket.
    fn rundir(&self) -> Option<&str> {
        let path = self.ovsdb_connection.as_deref()?.strip_prefix("unix:")?;
        path.rsplit_once('/').map(|(dir, _)| dir)
    }

    /// Run an Open vSwitch tool (`ovs-vsctl`, `ovs-ofctl`, `ovs-appctl`) against this
    /// agent's Open vSwitch.
    pub async fn tool(&self, program: &str, args: &[&str]) -> Result<String, ip::CommandError> {
        let mut all: Vec<String> = Vec::new();
        if program == "ovs-vsctl" {
            all.push("--timeout=10".into());
            if let Some(db) = &self.ovsdb_connection {
                all.push(format!("--db={db}"));
            }
        }
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        match self.rundir() {
            Some(dir) => ip::run_with_env(program, &all, &[("OVS_RUNDIR", dir)]).await,
            None => ip::run(program, &all).await,
        }
    }

    /// `ovs-ofctl ARGS…` on this agent's Open vSwitch.
    pub async fn ofctl(&self, args: &[&str]) -> Result<String, ip::CommandError> {
        self.tool("ovs-ofctl", args).await
    }
}

/// `ovs-vsctl --timeout=10 ARGS…` on `ovs`'s Open vSwitch.
pub async fn vsctl(ovs: &OvsConfig, args: &[&str]) -> Result<String, ip::CommandError> {
    ovs.tool("ovs-vsctl", args).await
}

/// Join bridges `a` and `b` with a pair of patch ports (`a_port` on `a`, `b_port` on `b`),
/// each the other's peer; ports already there are kept.
pub async fn patch_pair(
    ovs: &OvsConfig,
    (a, a_port): (&str, &str),
    (b, b_port): (&str, &str),
) -> Result<(), ip::CommandError> {
    for (bridge, port, peer) in [(a, a_port, b_port), (b, b_port, a_port)] {
        vsctl(
            ovs,
            &[
                "--may-exist",
                "add-port",
                bridge,
                port,
                "--",
                "set",
                "Interface",
                port,
                "type=patch",
                &format!("options:peer={peer}"),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Make sure the integration bridge exists, with the configured datapath.
pub async fn ensure_bridge(ovs: &OvsConfig) -> Result<(), ip::CommandError> {
    ensure_named_bridge(ovs, &ovs.integration_bridge).await
}

/// Make sure bridge `br` exists, with the configured datapath, and is up.
pub async fn ensure_named_bridge(ovs: &OvsConfig, br: &str) -> Result<(), ip::CommandError> {
    let dp = format!("datapath_type={}", ovs.datapath_type);
    vsctl(
        ovs,
        &["--may-exist", "add-br", br, "--", "set", "Bridge", br, &dp],
    )
    .await?;
    // Up through Open vSwitch itself (its device lives where that Open vSwitch runs).
    ovs.ofctl(&["mod-port", br, br, "up"]).await.map(|_| ())
}

/// Plug an existing device for `port_id` (with `mac`) into the switch.
pub async fn plug(
    driver: &InterfaceDriver,
    ovs: &OvsConfig,
    device: &str,
    port_id: &str,
    mac: &str,
) -> Result<(), ip::CommandError> {
    match driver {
        InterfaceDriver::Linuxbridge => Ok(()),
        InterfaceDriver::Openvswitch => {
            let br = ovs.integration_bridge.as_str();
            let id = format!("external_ids:iface-id={port_id}");
            let mac = format!("external_ids:attached-mac={mac}");
            let tag = format!("tag={DEAD_VLAN}");
            vsctl(
                ovs,
                &[
                    "--may-exist",
                    "add-port",
                    br,
                    device,
                    "--",
                    "set",
                    "Interface",
                    device,
                    &id,
                    &mac,
                    "external_ids:iface-status=active",
                    "--",
                    "set",
                    "Port",
                    device,
                    &tag,
                ],
            )
            .await
            .map(|_| ())
        }
    }
}

/// Remove a device's port from the switch (the device itself is the caller's).
pub async fn unplug(driver: &InterfaceDriver, ovs: &OvsConfig, device: &str) {
    if *driver == InterfaceDriver::Openvswitch {
        let _ = vsctl(
            ovs,
            &["--if-exists", "del-port", &ovs.integration_bridge, device],
        )
        .await;
    }
}
