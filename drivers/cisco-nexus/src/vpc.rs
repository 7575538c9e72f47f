//! Automatic port channels for baremetal ports (networking-cisco's `vpc_pool` and its
//! `cisco_ml2_nexus_vpc_alloc` table): a baremetal port whose `local_link_information` lists
//! several interfaces of configured switches, none of them a port channel, gets a vPC id
//! from the switches' `vpc_pool`, free on every one of them; each switch then has
//! `port-channel<id>` with `vpc <id>`, the interfaces in it, and the VLAN on its trunk
//! ([`crate::ledger`]'s `pc`, `pcm` and `trunk` objects). The id stays with the set of
//! interfaces while a port uses it, and is free again after the last one.
//!
//! Before taking an id for a new set of interfaces, the switches are asked which port channel
//! each interface is in: when all are in the same `port-channel<N>` (the operator made it),
//! that channel is used as it is ("learned": only the VLANs are trunked on it, it is never
//! deleted); when some are and some are not, or in different ones, the port fails
//! (networking-cisco's `NexusVPCExpectedNoChgrp` / `NexusVPCLearnedNotConsistent`).
//!
//! State, changed by `state.compare-and-set` only, so concurrent ports (also on several
//! servers) never take one id twice:
//! - `vpc/<id>/<switch>`: the id is taken on the switch (by the link set in the value);
//! - `bm/<link set>`: `{"id": N, "ports": [...]}`, the id of a set of interfaces
//!   (`<switch>=<interface>` pairs, sorted, `+`-joined) and the ports using it.

use crate::nxapi::Nexus;
use crate::settings::{Interface, Settings, vpc_ids};
use neutrino_driver::{DriverError, state};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How many times a compare-and-set is tried again when a concurrent call changed the key.
const MAX_CAS: usize = 256;

/// The id of a set of interfaces and the ports using it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Allocation {
    id: u32,
    ports: Vec<String>,
    /// The operator's port channel, found on the switches: never created or deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    learned: bool,
}

/// The port channel of a port's interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    /// Its number and vPC id.
    pub id: u32,
    /// Whether the operator made it (found on the switches).
    pub learned: bool,
}

/// The state key of a set of interfaces.
pub fn link_set(links: &[(String, Interface)]) -> String {
    let pairs: BTreeSet<String> = links
        .iter()
        .map(|(ip, iface)| format!("{ip}={}", iface.name()))
        .collect();
    format!("bm/{}", pairs.into_iter().collect::<Vec<_>>().join("+"))
}

/// The switches of a link set key.
fn switches_of(link_set: &str) -> BTreeSet<String> {
    link_set
        .trim_start_matches("bm/")
        .split('+')
        .filter_map(|p| p.split_once('=').map(|(ip, _)| ip.to_string()))
        .collect()
}

fn claim_key(id: u32, switch: &str) -> String {
    format!("vpc/{id}/{switch}")
}

fn read(key: &str) -> Result<(Option<Vec<u8>>, Option<Allocation>), DriverError> {
    let raw = state::get(key)?;
    let alloc = match &raw {
        Some(b) => Some(serde_json::from_slice(b).map_err(|e| {
            DriverError::internal(format!("state `{key}` is not a vPC allocation: {e}"))
        })?),
        None => None,
    };
    Ok((raw, alloc))
}

fn encode(alloc: &Allocation) -> Vec<u8> {
    serde_json::to_vec(alloc).expect("an allocation encodes")
}

/// Whether the port's links call for an automatic port channel: several interfaces, all
/// ethernet (a port channel named in the links is trunked as it is), and a `vpc_pool` on
/// every switch.
pub fn wanted(settings: &Settings, links: &[(String, Interface)]) -> bool {
    links.len() > 1
        && links
            .iter()
            .all(|(_, i)| matches!(i, Interface::Ethernet(_)))
        && links
            .iter()
            .all(|(ip, _)| settings.switch(ip).is_some_and(|s| s.vpc_pool.is_some()))
}

/// The port channel of the port's links: the one other ports of these links use, else the
/// one the switches have them in, else a new id free in the switches' pools.
pub fn acquire(
    settings: &Settings,
    port_id: &str,
    links: &[(String, Interface)],
) -> Result<Channel, DriverError> {
    let key = link_set(links);
    let switches = switches_of(&key);
    for _ in 0..MAX_CAS {
        let (raw, alloc) = read(&key)?;
        if let Some(mut alloc) = alloc {
            let channel = Channel {
                id: alloc.id,
                learned: alloc.learned,
            };
            if alloc.ports.iter().any(|p| p == port_id) {
                return Ok(channel);
            }
            alloc.ports.push(port_id.to_string());
            alloc.ports.sort();
            if state::compare_and_set(&key, raw.as_deref(), Some(&encode(&alloc)))? {
                return Ok(channel);
            }
            continue;
        }
        let (id, learned) = match learn(settings, links)? {
            Some(id) => {
                // Keep the pools from handing it out (when it is in them).
                for ip in &switches {
                    state::compare_and_set(&claim_key(id, ip), None, Some(key.as_bytes()))?;
                }
                (id, true)
            }
            None => (claim_free(settings, &key, &switches)?, false),
        };
        let alloc = Allocation {
            id,
            ports: vec![port_id.to_string()],
            learned,
        };
        if state::compare_and_set(&key, None, Some(&encode(&alloc)))? {
            neutrino_driver::info!(
                "port-channel{id} ({}) for {key} (port {port_id})",
                if learned {
                    "found on the switches"
                } else {
                    "new vPC"
                }
            );
            return Ok(Channel { id, learned });
        }
        // Another port allocated these links meanwhile: use theirs.
        unclaim(id, &key, &switches)?;
    }
    Err(DriverError::unavailable(format!(
        "state `{key}` kept changing"
    )))
}

/// The port channel the switches have all the links in, if any; an error when only some
/// are in one, or not all in the same.
fn learn(settings: &Settings, links: &[(String, Interface)]) -> Result<Option<u32>, DriverError> {
    let mut found = Vec::new();
    for ip in links.iter().map(|(ip, _)| ip).collect::<BTreeSet<_>>() {
        let switch = settings
            .switch(ip)
            .expect("links are on configured switches");
        let members = Nexus::new(ip, switch).port_channel_members()?;
        for (_, iface) in links.iter().filter(|(i, _)| i == ip) {
            found.push((ip, iface, members.get(&iface.short_name()).copied()));
        }
    }
    let channels: BTreeSet<Option<u32>> = found.iter().map(|(_, _, po)| *po).collect();
    match channels.into_iter().collect::<Vec<_>>().as_slice() {
        [None] => Ok(None),
        [Some(id)] => Ok(Some(*id)),
        _ => Err(DriverError::conflict(format!(
            "the interfaces of a baremetal port must be all in one port channel or in none: {}",
            found
                .iter()
                .map(|(ip, iface, po)| match po {
                    Some(n) => format!("{ip} {} in port-channel{n}", iface.name()),
                    None => format!("{ip} {} in none", iface.name()),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Take the first id of the switches' pools that is free on all of them.
fn claim_free(
    settings: &Settings,
    key: &str,
    switches: &BTreeSet<String>,
) -> Result<u32, DriverError> {
    let mut common: Option<BTreeSet<u32>> = None;
    for ip in switches {
        let pool: BTreeSet<u32> = settings
            .switch(ip)
            .and_then(|s| s.vpc_pool.as_deref())
            .map(vpc_ids)
            .unwrap_or_default()
            .into_iter()
            .collect();
        common = Some(match common {
            None => pool,
            Some(c) => c.intersection(&pool).copied().collect(),
        });
    }
    'ids: for id in common.unwrap_or_default() {
        let mut claimed = Vec::new();
        for ip in switches {
            if state::compare_and_set(&claim_key(id, ip), None, Some(key.as_bytes()))? {
                claimed.push(ip.clone());
            } else {
                for ip in &claimed {
                    state::compare_and_set(&claim_key(id, ip), Some(key.as_bytes()), None)?;
                }
                continue 'ids;
            }
        }
        return Ok(id);
    }
    // networking-cisco's NexusVPCAllocFailure.
    Err(DriverError::conflict(format!(
        "no vPC id is free in the vpc_pool of switch(es) {} for {key}",
        switches.iter().cloned().collect::<Vec<_>>().join(",")
    )))
}

fn unclaim(id: u32, key: &str, switches: &BTreeSet<String>) -> Result<(), DriverError> {
    for ip in switches {
        state::compare_and_set(&claim_key(id, ip), Some(key.as_bytes()), None)?;
    }
    Ok(())
}

/// The port leaves every link set but `keep`; a link set left by its last port frees its id
/// on its switches. Called after the switches were brought to the port's objects.
pub fn release(port_id: &str, keep: Option<&str>) -> Result<(), DriverError> {
    for key in state::list_keys("bm/")? {
        if Some(key.as_str()) == keep {
            continue;
        }
        for _ in 0..MAX_CAS {
            let (raw, Some(mut alloc)) = read(&key)? else {
                break;
            };
            let before = alloc.ports.len();
            alloc.ports.retain(|p| p != port_id);
            if alloc.ports.len() == before {
                break;
            }
            let new = (!alloc.ports.is_empty()).then(|| encode(&alloc));
            if state::compare_and_set(&key, raw.as_deref(), new.as_deref())? {
                if new.is_none() {
                    neutrino_driver::info!("vPC {} of {key} is free again", alloc.id);
                    unclaim(alloc.id, &key, &switches_of(&key))?;
                }
                break;
            }
        }
    }
    Ok(())
}
