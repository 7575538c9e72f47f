//! Multicast groups of VXLAN VNIs (networking-cisco's `nexus_vxlan` type driver with
//! `[ml2_type_nexus_vxlan] mcast_ranges`): a VXLAN network gets a group when it is created
//! and gives it back when it is deleted; the switches' NVE interface joins each VNI to its
//! group (`nvoNw` `mcastGroup`).
//!
//! As networking-cisco allocates: the first group of the ranges that no VNI has, else the
//! group fewest VNIs share. State: `mcast/<vni>` holds the VNI's group and
//! `mcastuse/<group>` how many VNIs have it (written in the network's precommit, so in its
//! transaction).

use crate::settings::Settings;
use neutrino_driver::{DriverError, NetworkContext, state};
use std::net::Ipv4Addr;

fn group_key(vni: u32) -> String {
    format!("mcast/{vni}")
}

fn use_key(group: &str) -> String {
    format!("mcastuse/{group}")
}

/// The multicast group of `vni`, if it has one.
pub fn group(vni: u32) -> Result<Option<String>, DriverError> {
    Ok(state::get(&group_key(vni))?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

fn uses(group: &str) -> Result<i64, DriverError> {
    Ok(state::get_json::<i64>(&use_key(group))?.unwrap_or(0))
}

/// The group for a new VNI: the first unused one of the ranges, else the least used.
fn choose(ranges: &[(Ipv4Addr, Ipv4Addr)]) -> Result<Option<String>, DriverError> {
    let mut least: Option<(i64, String)> = None;
    for (low, high) in ranges {
        for n in u32::from(*low)..=u32::from(*high) {
            let g = Ipv4Addr::from(n).to_string();
            let count = uses(&g)?;
            if count <= 0 {
                return Ok(Some(g));
            }
            if least.as_ref().is_none_or(|(c, _)| count < *c) {
                least = Some((count, g));
            }
        }
    }
    Ok(least.map(|(_, g)| g))
}

/// `create_network_precommit`: give each VXLAN segment's VNI a group.
pub fn allocate(settings: &Settings, ctx: &NetworkContext) -> Result<(), DriverError> {
    let ranges = settings
        .mcast_ranges
        .parse()
        .map_err(DriverError::invalid_input)?;
    if ranges.is_empty() {
        return Ok(());
    }
    for segment in &ctx.segments {
        let (true, Some(vni)) = (segment.network_type == "vxlan", segment.segmentation_id) else {
            continue;
        };
        if group(vni)?.is_some() {
            continue;
        }
        let Some(g) = choose(&ranges)? else { continue };
        state::set(&group_key(vni), g.as_bytes())?;
        state::increment(&use_key(&g), 1)?;
        neutrino_driver::info!(
            "VNI {vni} of network {} joins multicast group {g}",
            ctx.current.id
        );
    }
    Ok(())
}

/// `delete_network_precommit`: the network's VNIs give their groups back.
pub fn release(ctx: &NetworkContext) -> Result<(), DriverError> {
    for segment in &ctx.segments {
        let (true, Some(vni)) = (segment.network_type == "vxlan", segment.segmentation_id) else {
            continue;
        };
        let Some(g) = group(vni)? else { continue };
        state::delete(&group_key(vni))?;
        if state::increment(&use_key(&g), -1)? <= 0 {
            state::delete(&use_key(&g))?;
        }
    }
    Ok(())
}
