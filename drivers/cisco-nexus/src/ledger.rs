//! What the switches must carry, kept in the driver's state, and bringing a switch to it.
//!
//! networking-cisco keeps a row per (port, switch, interface, VLAN) and, under one global
//! lock, decides from those rows whether a VLAN or a trunk entry is still needed. Here every
//! switch object has the set of ports that need it, one state key each:
//!
//! - `vlan/<switch>/<vlan>/<vni>`: the VLAN (`l2BD`, mapped to the VNI when not 0);
//! - `nve/<switch>/<vni>`: the VNI as a member of the NVE interface;
//! - `trunk/<switch>/<vlan>/<interface>`: the VLAN on the interface's trunk;
//! - `pc/<switch>/<id>`: `port-channel<id>` with `vpc <id>` (a baremetal port's, [`crate::vpc`]);
//! - `pcm/<switch>/<id>/<interface>`: the interface as a member of `port-channel<id>`;
//!
//! and every port a record `port/<id>` with the objects it is a member of and the objects
//! still to bring to the switch because of it (`pending`). Sets change in the postcommit
//! hooks by `state.compare-and-set`, a short transaction of its own per change, so requests
//! on one VLAN never wait for each other's transactions (counting in precommit would hold
//! the VLAN's row until each request commits); adding a member twice changes nothing, so a
//! retried hook counts once. An object whose set became non-empty or empty is pending; the
//! hook then brings the pending objects to what their sets say *at that moment*, reads the
//! sets again after the calls, and repeats for any object that changed meanwhile: whatever
//! order concurrent hooks reach the switch in, the last one to touch an object saw its final
//! set. Pending objects leave the record only once the switch took them, so a call that
//! failed (switch down) is done again by the next attempt, or by the replay when the switch
//! comes back.

use crate::nxapi::{Nexus, Vlan};
use crate::settings::{Interface, Settings};
use neutrino_driver::{DriverError, ErrorKind, state};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How many times a postcommit re-reads sets that changed under it before giving up (the
/// later postcommit that changed them converges them too).
const MAX_ROUNDS: usize = 8;
/// How many times a compare-and-set is tried again when a concurrent call changed the key
/// (32 concurrent changes of one set need at most 32).
const MAX_CAS: usize = 256;

/// A switch object and the ports that need it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Object {
    /// A VLAN (with its VNI, 0 when none).
    Vlan { switch: String, vlan: Vlan },
    /// A VNI on the NVE interface.
    Nve { switch: String, vni: u32 },
    /// A VLAN on an interface's trunk.
    Trunk {
        switch: String,
        vlan: u32,
        iface: Interface,
    },
    /// `port-channel<id>` with `vpc <id>`.
    Channel { switch: String, id: u32 },
    /// An interface in `port-channel<id>`.
    Member {
        switch: String,
        id: u32,
        iface: Interface,
    },
}

impl Object {
    /// The state key of its set of ports.
    pub fn key(&self) -> String {
        match self {
            Object::Vlan { switch, vlan } => format!("vlan/{switch}/{}/{}", vlan.id, vlan.vni),
            Object::Nve { switch, vni } => format!("nve/{switch}/{vni}"),
            Object::Trunk {
                switch,
                vlan,
                iface,
            } => format!("trunk/{switch}/{vlan}/{}", iface.name()),
            Object::Channel { switch, id } => format!("pc/{switch}/{id}"),
            Object::Member { switch, id, iface } => {
                format!("pcm/{switch}/{id}/{}", iface.name())
            }
        }
    }

    /// The object a state key names.
    pub fn parse(key: &str) -> Option<Object> {
        let mut parts = key.splitn(4, '/');
        let kind = parts.next()?;
        let switch = parts.next()?.to_string();
        match kind {
            "vlan" => {
                let id = parts.next()?.parse().ok()?;
                let vni = parts.next()?.parse().ok()?;
                Some(Object::Vlan {
                    switch,
                    vlan: Vlan { id, vni },
                })
            }
            "nve" => Some(Object::Nve {
                switch,
                vni: parts.next()?.parse().ok()?,
            }),
            "trunk" => Some(Object::Trunk {
                switch,
                vlan: parts.next()?.parse().ok()?,
                iface: Interface::parse(parts.next()?).ok()?,
            }),
            "pc" => Some(Object::Channel {
                switch,
                id: parts.next()?.parse().ok()?,
            }),
            "pcm" => Some(Object::Member {
                switch,
                id: parts.next()?.parse().ok()?,
                iface: Interface::parse(parts.next()?).ok()?,
            }),
            _ => None,
        }
    }

    /// The switch it lives on.
    pub fn switch(&self) -> &str {
        match self {
            Object::Vlan { switch, .. } | Object::Nve { switch, .. } => switch,
            Object::Trunk { switch, .. }
            | Object::Channel { switch, .. }
            | Object::Member { switch, .. } => switch,
        }
    }
}

/// A port's record: the objects it is a member of, the objects still to bring to their
/// switch, and while its sets are being changed the members it is changing to (a hook that
/// died half-way leaves it, and the next attempt knows which objects may have changed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Object keys, sorted.
    #[serde(default)]
    pub members: Vec<String>,
    /// Object keys whose object must be brought to its switch.
    #[serde(default)]
    pub pending: Vec<String>,
    /// The members being changed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changing_to: Option<Vec<String>>,
}

fn record_key(port_id: &str) -> String {
    format!("port/{port_id}")
}

fn read_record(port_id: &str) -> Result<(Option<Vec<u8>>, Record), DriverError> {
    let raw = state::get(&record_key(port_id))?;
    let record = match &raw {
        Some(bytes) => serde_json::from_slice(bytes).map_err(|e| {
            DriverError::internal(format!("state `port/{port_id}` is not a record: {e}"))
        })?,
        None => Record::default(),
    };
    Ok((raw, record))
}

fn encode(record: &Record) -> Option<Vec<u8>> {
    if record.members.is_empty() && record.pending.is_empty() && record.changing_to.is_none() {
        None
    } else {
        Some(serde_json::to_vec(record).expect("a record encodes"))
    }
}

fn write_record(port_id: &str, raw: Option<&[u8]>, record: &Record) -> Result<bool, DriverError> {
    state::compare_and_set(&record_key(port_id), raw, encode(record).as_deref())
}

fn symmetric_difference(a: &[String], b: &[String]) -> Vec<String> {
    let (a, b): (BTreeSet<&String>, BTreeSet<&String>) = (a.iter().collect(), b.iter().collect());
    a.symmetric_difference(&b).map(|k| k.to_string()).collect()
}

/// Add the port to (or remove it from) the set under `key`; whether the set went from empty
/// to not empty or back.
fn set_member(key: &str, port_id: &str, member: bool) -> Result<bool, DriverError> {
    for _ in 0..MAX_CAS {
        let raw = state::get(key)?;
        let mut ports: Vec<String> = match &raw {
            Some(b) => serde_json::from_slice(b)
                .map_err(|e| DriverError::internal(format!("state `{key}` is not a set: {e}")))?,
            None => Vec::new(),
        };
        let was_empty = ports.is_empty();
        match (ports.binary_search_by(|p| p.as_str().cmp(port_id)), member) {
            (Ok(_), true) | (Err(_), false) => return Ok(false),
            (Err(i), true) => ports.insert(i, port_id.to_string()),
            (Ok(i), false) => {
                ports.remove(i);
            }
        }
        let new = (!ports.is_empty()).then(|| serde_json::to_vec(&ports).expect("a set encodes"));
        if state::compare_and_set(key, raw.as_deref(), new.as_deref())? {
            return Ok(was_empty != ports.is_empty());
        }
    }
    Err(DriverError::unavailable(format!(
        "state `{key}` kept changing"
    )))
}

/// Make the port a member of exactly `wanted` (object keys), remembering in its record which
/// objects must be brought to their switch.
pub fn set_members(port_id: &str, mut wanted: Vec<String>) -> Result<(), DriverError> {
    wanted.sort();
    wanted.dedup();
    for _ in 0..MAX_CAS {
        let (raw, record) = read_record(port_id)?;
        let mut pending: BTreeSet<String> = record.pending.iter().cloned().collect();
        if let Some(half) = &record.changing_to {
            // An attempt died half-way: any of its changes may have emptied or filled a set.
            pending.extend(symmetric_difference(half, &record.members));
        }
        let changes = symmetric_difference(&wanted, &record.members);
        if changes.is_empty() && record.changing_to.is_none() {
            return Ok(());
        }
        let mut intent = record.clone();
        intent.changing_to = Some(wanted.clone());
        intent.pending = pending.iter().cloned().collect();
        if !write_record(port_id, raw.as_deref(), &intent)? {
            continue;
        }
        let raw = encode(&intent);
        for key in &changes {
            if set_member(key, port_id, wanted.binary_search(key).is_ok())? {
                pending.insert(key.clone());
            }
        }
        let done = Record {
            members: wanted.clone(),
            pending: pending.into_iter().collect(),
            changing_to: None,
        };
        if write_record(port_id, raw.as_deref(), &done)? {
            return Ok(());
        }
    }
    Err(DriverError::unavailable(format!(
        "the record of port {port_id} kept changing"
    )))
}

/// Whether any port needs the object.
fn needed(key: &str) -> Result<bool, DriverError> {
    Ok(state::get(key)?.is_some())
}

/// Postcommit: bring the port's pending objects to their sets, switch by switch. A switch
/// that was marked down is replayed first. Objects that reached their switch leave the
/// record; the first error (a switch down: `Unavailable`) is returned after every switch was
/// tried.
pub fn flush(settings: &Settings, port_id: &str) -> Result<(), DriverError> {
    let (_, record) = read_record(port_id)?;
    if record.pending.is_empty() {
        return Ok(());
    }
    let mut by_switch: BTreeMap<String, Vec<Object>> = BTreeMap::new();
    let mut done: Vec<String> = Vec::new();
    for key in &record.pending {
        match Object::parse(key) {
            Some(o) if settings.switch(o.switch()).is_some() => {
                by_switch.entry(o.switch().to_string()).or_default().push(o)
            }
            // A switch no longer configured, or garbage: nothing to do.
            _ => done.push(key.clone()),
        }
    }
    let mut first_error = None;
    for (ip, objects) in by_switch {
        let switch = settings.switch(&ip).expect("filtered above");
        let nexus = Nexus::new(&ip, switch);
        let result = recover_if_down(&nexus).and_then(|()| converge(&nexus, objects.clone()));
        match result {
            Ok(()) => done.extend(objects.iter().map(Object::key)),
            Err(e) => {
                note_failure(&ip, &e);
                first_error.get_or_insert(e);
            }
        }
    }
    forget_pending(port_id, &done)?;
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Remove `done` from the port's pending objects (the record may have changed meanwhile).
fn forget_pending(port_id: &str, done: &[String]) -> Result<(), DriverError> {
    if done.is_empty() {
        return Ok(());
    }
    for _ in 0..MAX_CAS {
        let (raw, mut record) = read_record(port_id)?;
        let before = record.pending.len();
        record.pending.retain(|k| !done.contains(k));
        if record.pending.len() == before {
            return Ok(());
        }
        if state::compare_and_set(
            &record_key(port_id),
            raw.as_deref(),
            encode(&record).as_deref(),
        )? {
            return Ok(());
        }
    }
    Err(DriverError::unavailable(format!(
        "the record of port {port_id} kept changing"
    )))
}

/// Bring `objects` of one switch to their sets, again for those whose set filled or emptied
/// while the calls were made.
fn converge(nexus: &Nexus<'_>, mut objects: Vec<Object>) -> Result<(), DriverError> {
    for _ in 0..MAX_ROUNDS {
        let wanted = objects
            .iter()
            .map(|o| Ok((o.clone(), needed(&o.key())?)))
            .collect::<Result<Vec<_>, DriverError>>()?;
        apply(nexus, &wanted)?;
        let mut moved = Vec::new();
        for (o, present) in &wanted {
            if needed(&o.key())? != *present {
                moved.push(o.clone());
            }
        }
        if moved.is_empty() {
            return Ok(());
        }
        objects = moved;
    }
    neutrino_driver::warn!(
        "Nexus switch {}: sets kept changing; the calls that changed them converge them",
        nexus.ip()
    );
    Ok(())
}

/// Make the switch carry (`true`) or drop (`false`) each object: VLANs first, then port
/// channels and their members (members leaving a channel before members joining one, so an
/// interface can move), NVE members, then trunks when adding; the reverse when removing.
fn apply(nexus: &Nexus<'_>, wanted: &[(Object, bool)]) -> Result<(), DriverError> {
    let mut add_vlans = Vec::new();
    let mut del_vlans = Vec::new();
    let mut add_nve = Vec::new();
    let mut del_nve = Vec::new();
    let mut add_trunk: BTreeMap<Interface, Vec<u32>> = BTreeMap::new();
    let mut del_trunk: BTreeMap<Interface, Vec<u32>> = BTreeMap::new();
    let mut add_channels = Vec::new();
    let mut del_channels = Vec::new();
    let mut add_members: BTreeMap<u32, Vec<Interface>> = BTreeMap::new();
    let mut del_members: BTreeMap<u32, Vec<Interface>> = BTreeMap::new();
    for (o, present) in wanted {
        match (o, present) {
            (Object::Vlan { vlan, .. }, true) => add_vlans.push(*vlan),
            (Object::Vlan { vlan, .. }, false) => del_vlans.push(vlan.id),
            (Object::Nve { vni, .. }, true) => add_nve.push(*vni),
            (Object::Nve { vni, .. }, false) => del_nve.push(*vni),
            (Object::Trunk { vlan, iface, .. }, true) => {
                add_trunk.entry(iface.clone()).or_default().push(*vlan)
            }
            (Object::Trunk { vlan, iface, .. }, false) => {
                del_trunk.entry(iface.clone()).or_default().push(*vlan)
            }
            (Object::Channel { id, .. }, true) => add_channels.push(*id),
            (Object::Channel { id, .. }, false) => del_channels.push(*id),
            (Object::Member { id, iface, .. }, true) => {
                add_members.entry(*id).or_default().push(iface.clone())
            }
            (Object::Member { id, iface, .. }, false) => {
                del_members.entry(*id).or_default().push(iface.clone())
            }
        }
    }
    nexus.create_vlans(&add_vlans)?;
    for id in &add_channels {
        nexus.create_port_channel(*id)?;
    }
    for (id, ifaces) in &del_members {
        nexus.channel_members(*id, ifaces, false)?;
    }
    for (id, ifaces) in &add_members {
        nexus.channel_members(*id, ifaces, true)?;
    }
    for vni in add_nve {
        let group = crate::mcast::group(vni)?;
        nexus.nve_member_add(vni, group.as_deref())?;
    }
    for (iface, vlans) in &add_trunk {
        nexus.trunk_add(iface, vlans)?;
    }
    for (iface, vlans) in &del_trunk {
        nexus.trunk_remove(iface, vlans)?;
    }
    for vni in del_nve {
        nexus.nve_member_remove(vni)?;
    }
    for id in del_channels {
        nexus.delete_port_channel(id)?;
    }
    for vlan in del_vlans {
        nexus.delete_vlan(vlan)?;
    }
    Ok(())
}

fn health_key(ip: &str) -> String {
    format!("switch/{ip}")
}

/// Remember that a switch did not answer, so the next contact replays it.
pub fn note_failure(ip: &str, e: &DriverError) {
    if e.kind == ErrorKind::Unavailable {
        neutrino_driver::warn!("Nexus switch {ip} is unreachable: {}", e.message);
        let _ = state::set(&health_key(ip), b"down");
    }
}

/// Whether the switch was last seen down.
pub fn marked_down(ip: &str) -> Result<bool, DriverError> {
    Ok(state::get(&health_key(ip))?.as_deref() == Some(b"down".as_slice()))
}

/// If the switch was marked down, replay it (it may have restarted empty) and mark it up.
fn recover_if_down(nexus: &Nexus<'_>) -> Result<(), DriverError> {
    if marked_down(nexus.ip())? {
        replay(nexus)?;
        mark_up(nexus.ip())?;
    }
    Ok(())
}

/// Mark a switch up.
pub fn mark_up(ip: &str) -> Result<(), DriverError> {
    Ok(state::set(&health_key(ip), b"up")?)
}

/// Configure everything the sets say the switch carries (networking-cisco's
/// `replay_config`): its VLANs in one call, its port channels and their members, its NVE
/// members, then each interface's trunk in one call.
pub fn replay(nexus: &Nexus<'_>) -> Result<(), DriverError> {
    let ip = nexus.ip();
    let mut objects = Vec::new();
    for prefix in ["vlan", "pc", "pcm", "nve", "trunk"] {
        for key in state::list_keys(&format!("{prefix}/{ip}/"))? {
            if needed(&key)?
                && let Some(o) = Object::parse(&key)
                && o.switch() == ip
            {
                objects.push((o, true));
            }
        }
    }
    neutrino_driver::info!(
        "replaying Nexus switch {ip}: {} objects from the driver's state",
        objects.len()
    );
    apply(nexus, &objects)
}
