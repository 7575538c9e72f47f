//! networking-cisco's `cisco_nexus` mechanism driver
//! (`networking_cisco/ml2_drivers/nexus/mech_cisco_nexus.py`) as a Neutrino driver.
//!
//! Top-of-rack Nexus switches carry the VLANs of the ports bound on the hosts cabled to
//! them: while a bound port of a supported owner (`compute*`, `baremetal*`, `manila*`,
//! DHCP, router and trunk subports) needs a VLAN on a switch, the switch has the VLAN
//! (`l2BD`) and it is on the trunk of every interface `host_ports_mapping` maps the port's
//! host to — or of the interfaces a baremetal port's `binding:profile.local_link_information`
//! names. The last port to go takes the VLAN off the trunks and deletes it.
//!
//! - Postcommit port hooks make the port a member of the switch objects it needs now
//!   ([`ledger`]) and the switches match over NX-API REST ([`nxapi`]).
//! - A baremetal port with several interfaces gets a port channel with a vPC id from the
//!   switches' `vpc_pool` ([`vpc`]); VXLAN VNIs get a multicast group from `mcast_ranges`
//!   ([`mcast`]).
//! - `bind_port`: baremetal ports bind on VLAN segments with `vif_type` `other`; a VXLAN
//!   segment of a port on a host cabled to a switch with a `physnet` is bound partially, with
//!   a dynamic VLAN of that physnet below (networking-cisco's `nexus_vxlan`), which the host's
//!   L2 agent driver (Open vSwitch) binds; the switch maps the VLAN to the VNI.
//! - A switch that stopped answering is replayed from the driver's state when it answers again
//!   ([`ledger::replay`]): at the next call for it, or by the heartbeat ([`heartbeat`]).

mod ledger;
mod mcast;
mod nxapi;
mod settings;
mod vpc;

use ledger::Object;
use neutrino_driver::{
    BindResult, DriverError, MechanismDriver, NetworkContext, PortContext, Segment, binding,
    session, state,
};
use nxapi::{Nexus, Vlan};
use serde_json::{Map, Value, json};
use settings::{Interface, Settings};
use std::time::Duration;

#[derive(Default)]
struct CiscoNexus;

/// networking-cisco's `_is_supported_deviceowner`.
fn supported_owner(owner: &str) -> bool {
    owner.starts_with("compute")
        || owner.starts_with("baremetal")
        || owner.starts_with("manila")
        || matches!(
            owner,
            "trunk:subport"
                | "network:dhcp"
                | "network:router_interface"
                | "network:router_gateway"
                | "network:router_ha_interface"
        )
}

fn is_bound(vif_type: &str) -> bool {
    !matches!(vif_type, "" | "unbound" | "binding_failed")
}

/// `binding:profile.local_link_information` of a baremetal port: (switch, interface).
fn local_links(profile: &Map<String, Value>) -> Vec<(String, String)> {
    profile
        .get("local_link_information")
        .and_then(Value::as_array)
        .map(|links| {
            links
                .iter()
                .filter_map(|l| {
                    Some((
                        l.get("switch_ip")?.as_str()?.to_string(),
                        l.get("port_id")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_baremetal(ctx: &PortContext) -> bool {
    ctx.vnic_type == "baremetal"
}

/// The (switch, interface) pairs a port reaches: its local links when baremetal (on
/// configured switches), else the interfaces its host is mapped to.
fn connections(settings: &Settings, ctx: &PortContext) -> Vec<(String, Interface)> {
    let mut out = Vec::new();
    if is_baremetal(ctx) {
        for (ip, port_id) in local_links(&ctx.profile_json()) {
            if settings.switch(&ip).is_none() {
                continue;
            }
            match Interface::parse(&port_id) {
                Ok(iface) => out.push((ip, iface)),
                Err(e) => neutrino_driver::warn!("port {}: {e}", ctx.current.id),
            }
        }
        return out;
    }
    if ctx.host.is_empty() {
        return out;
    }
    for (ip, switch) in &settings.switches {
        if let Some(ifaces) = switch.host_ports_mapping.0.get(&ctx.host) {
            for name in ifaces {
                // Names were checked at load.
                if let Ok(iface) = Interface::parse(name) {
                    out.push((ip.clone(), iface));
                }
            }
        }
    }
    out
}

/// The VLAN segment and VNI of a binding (networking-cisco's `_get_segments`): a VXLAN top
/// level puts the VLAN at the bottom level and gives the VNI.
fn bound_vlan(levels: &[neutrino_driver::BindingLevel]) -> Option<(&Segment, u32)> {
    let top = &levels.first()?.bound_segment;
    let (vlan, vni) = if top.network_type == "vxlan" {
        (&levels.last()?.bound_segment, top.segmentation_id?)
    } else {
        (top, 0)
    };
    (vlan.network_type == "vlan" && vlan.segmentation_id.is_some()).then_some((vlan, vni))
}

fn provider_key(network_id: &str) -> String {
    format!("provider/{network_id}")
}

/// The objects (state keys) a port needs now, and the link set whose port channel it uses.
fn wanted_objects(
    settings: &Settings,
    ctx: &PortContext,
) -> Result<(Vec<String>, Option<String>), DriverError> {
    let port = &ctx.current;
    let none = Ok((Vec::new(), None));
    if !is_bound(&ctx.vif_type) || !supported_owner(&port.device_owner) {
        return none;
    }
    let Some((segment, vni)) = bound_vlan(&ctx.binding_levels) else {
        return none;
    };
    let physnet = segment.physical_network.as_deref();
    if !settings.manages(physnet) {
        return none;
    }
    let vlan = segment.segmentation_id.expect("checked by bound_vlan");
    let provider = state::get(&provider_key(&port.network_id))?.is_some();
    let create = !provider || settings.provider_vlan_auto_create;
    let trunk = !provider || settings.provider_vlan_auto_trunk;
    let links: Vec<(String, Interface)> = connections(settings, ctx)
        .into_iter()
        .filter(|(ip, _)| {
            let switch = settings
                .switch(ip)
                .expect("connections are configured switches");
            match (&switch.physnet, physnet) {
                (Some(p), Some(seg)) => p == seg,
                _ => true,
            }
        })
        .collect();
    // Several interfaces of a baremetal port: one port channel with a vPC id.
    let channel = if is_baremetal(ctx) && vpc::wanted(settings, &links) {
        Some(vpc::acquire(settings, &port.id, &links)?)
    } else {
        None
    };
    let mut keys = Vec::new();
    for (ip, iface) in &links {
        let switch = ip.clone();
        if create {
            keys.push(
                Object::Vlan {
                    switch: switch.clone(),
                    vlan: Vlan { id: vlan, vni },
                }
                .key(),
            );
        }
        if vni != 0 {
            keys.push(
                Object::Nve {
                    switch: switch.clone(),
                    vni,
                }
                .key(),
            );
        }
        let trunked = match channel {
            Some(vpc::Channel { id, learned: true }) => Interface::PortChannel(id.to_string()),
            Some(vpc::Channel { id, learned: false }) => {
                keys.push(
                    Object::Channel {
                        switch: switch.clone(),
                        id,
                    }
                    .key(),
                );
                keys.push(
                    Object::Member {
                        switch: switch.clone(),
                        id,
                        iface: iface.clone(),
                    }
                    .key(),
                );
                Interface::PortChannel(id.to_string())
            }
            None => iface.clone(),
        };
        if trunk {
            keys.push(
                Object::Trunk {
                    switch,
                    vlan,
                    iface: trunked,
                }
                .key(),
            );
        }
    }
    Ok((keys, channel.map(|_| vpc::link_set(&links))))
}

/// Make the port a member of the objects it needs now (none when `deleted`), then bring
/// the objects that changed to their switches; a port channel the port no longer uses is
/// given back afterwards.
fn sync_port(ctx: &PortContext, deleted: bool) -> Result<(), DriverError> {
    let settings = Settings::load()?;
    let (wanted, link_set) = if deleted {
        (Vec::new(), None)
    } else {
        wanted_objects(&settings, ctx)?
    };
    ledger::set_members(&ctx.current.id, wanted)?;
    ledger::flush(&settings, &ctx.current.id)?;
    if is_baremetal(ctx) {
        vpc::release(&ctx.current.id, link_set.as_deref())?;
    }
    Ok(())
}

impl MechanismDriver for CiscoNexus {
    fn initialize(&self) -> Result<(), DriverError> {
        let settings = Settings::load()?;
        neutrino_driver::info!(
            "cisco_nexus: {} switch(es) configured",
            settings.switches.len()
        );
        for (ip, switch) in &settings.switches {
            if !switch.https_verify {
                // As networking-cisco warns; the host skips the verification (`tls_verify`).
                neutrino_driver::warn!(
                    "https_verify is false: the connection to Nexus switch {ip} is insecure"
                );
            }
        }
        Ok(())
    }

    /// networking-cisco records provider networks, whose VLANs `provider_vlan_auto_create`
    /// and `provider_vlan_auto_trunk` govern.
    fn create_network_precommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        let net = ctx.current.json_value();
        if net.get("is_provider_network").and_then(Value::as_bool) == Some(true) {
            state::set(&provider_key(&ctx.current.id), b"1")?;
        }
        mcast::allocate(&Settings::load()?, ctx)
    }

    fn delete_network_precommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        state::delete(&provider_key(&ctx.current.id))?;
        mcast::release(ctx)
    }

    fn create_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        sync_port(ctx, false)
    }

    fn update_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        sync_port(ctx, false)
    }

    fn delete_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        sync_port(ctx, true)
    }

    /// Every `periodic_interval` (2 s); the heartbeat itself keeps to
    /// `switch_heartbeat_time`.
    fn periodic(&self) -> Result<(), DriverError> {
        heartbeat()
    }

    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        let settings = Settings::load()?;
        let links = connections(&settings, ctx);
        if links.is_empty() {
            return Ok(BindResult::NotBound);
        }
        if is_baremetal(ctx) {
            // networking-cisco's `_supported_baremetal_transaction`: the switch is the wire.
            if let Some(segment) = ctx.segments_to_bind.iter().find(|s| {
                s.network_type == "vlan" && settings.manages(s.physical_network.as_deref())
            }) {
                neutrino_driver::info!(
                    "binding baremetal port {} on VLAN {:?}",
                    ctx.current.id,
                    segment.segmentation_id
                );
                return Ok(binding::bound_with_status(
                    segment,
                    binding::VIF_TYPE_OTHER,
                    json!({}),
                    "ACTIVE",
                ));
            }
        }
        if !ctx.binding_levels.is_empty() {
            return Ok(BindResult::NotBound);
        }
        let Some(vxlan) = ctx
            .segments_to_bind
            .iter()
            .find(|s| s.network_type == "vxlan")
        else {
            return Ok(BindResult::NotBound);
        };
        let Some(physnet) = links
            .iter()
            .find_map(|(ip, _)| settings.switch(ip).and_then(|s| s.physnet.clone()))
        else {
            neutrino_driver::warn!(
                "port {}: no switch of host {} has a physnet for VXLAN segments",
                ctx.current.id,
                ctx.host
            );
            return Ok(BindResult::NotBound);
        };
        neutrino_driver::info!(
            "port {}: VXLAN {:?} continues on a dynamic VLAN of {physnet}",
            ctx.current.id,
            vxlan.segmentation_id
        );
        Ok(binding::continue_binding(
            vxlan,
            vec![binding::dynamic_segment("vlan", Some(&physnet))],
        ))
    }
}

/// The switch heartbeat (networking-cisco's `check_connections`), run by `periodic`: every
/// `switch_heartbeat_time` seconds (kept in the session cache) probe each switch
/// (`GET api/mo/sys/ch.json`); a switch that
/// does not answer is marked down, and one that answers after being down (or at the first
/// probe) is replayed from the driver's state.
fn heartbeat() -> Result<(), DriverError> {
    let settings = Settings::load()?;
    if settings.switch_heartbeat_time == 0 {
        return Ok(());
    }
    let period = Duration::from_secs(settings.switch_heartbeat_time);
    let mut first_error = None;
    for (ip, switch) in &settings.switches {
        let key = format!("heartbeat/{ip}");
        if session::get(&key).is_some() {
            continue;
        }
        session::set(&key, b"1", period);
        let nexus = Nexus::new(ip, switch);
        let result = nexus.chassis().and_then(|descr| {
            let was = state::get(&format!("switch/{ip}"))?;
            if was.as_deref() != Some(b"up".as_slice()) {
                neutrino_driver::info!("Nexus switch {ip} ({descr}) answers; replaying it");
                ledger::replay(&nexus)?;
                ledger::mark_up(ip)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            ledger::note_failure(ip, &e);
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

neutrino_driver::export!(CiscoNexus);
