//! What the switches must carry, kept in the driver's state, and bringing a switch to it.
//!
//! networking-cisco keeps a row per (port, switch, interface, VLAN) and, under one global
//! lock, decides from those rows whether a VLAN or a trunk entry is still needed. Here every
//! switch object has a reference count in the state:
//!
//! - `vlan/<switch>/<vlan>/<vni>`: the VLAN (`l2BD`, mapped to the VNI when not 0);
//! - `nve/<switch>/<vni>`: the VNI as a member of the NVE interface;
//! - `trunk/<switch>/<vlan>/<interface>`: the VLAN on the interface's trunk;
//!
//! and every port a record `port/<id>` with the objects it counts in and the objects whose
//! count went from 0 to 1 or from 1 to 0 because of it (`pending`). Counts change in the
//! precommit hooks, inside the request's transaction (`state.increment`, serializable per
//! key), so they are exact. The postcommit hook then brings the pending objects to what
//! their counts say *at that moment*, reads the counts again after the calls, and repeats
//! for any object whose count crossed zero meanwhile: whatever order concurrent postcommits
//! reach the switch in, the last one to touch an object saw its final count. Pending objects
//! leave the record only once the switch took them, so a call that failed (switch down) is
//! done again by the next attempt, or by the replay when the switch comes back.

use crate::nxapi::{Nexus, Vlan};
use crate::settings::{Interface, Settings};
use neutrino_driver::{DriverError, ErrorKind, state};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How many times a postcommit re-reads counts that moved under it before giving up (the
/// later postcommit that moved them converges them too).
const MAX_ROUNDS: usize = 8;
/// How many times a record update is retried when a concurrent call changed the record.
const MAX_CAS: usize = 32;

/// A switch object with a reference count.
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
}

impl Object {
    /// The state key of its count.
    pub fn key(&self) -> String {
        match self {
            Object::Vlan { switch, vlan } => format!("vlan/{switch}/{}/{}", vlan.id, vlan.vni),
            Object::Nve { switch, vni } => format!("nve/{switch}/{vni}"),
            Object::Trunk {
                switch,
                vlan,
                iface,
            } => format!("trunk/{switch}/{vlan}/{}", iface.name()),
        }
    }

    /// The object a count key names.
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
            _ => None,
        }
    }

    /// The switch it lives on.
    pub fn switch(&self) -> &str {
        match self {
            Object::Vlan { switch, .. } | Object::Nve { switch, .. } => switch,
            Object::Trunk { switch, .. } => switch,
        }
    }
}

/// A port's record: the objects it counts in (a multiset: a port trunked on two interfaces
/// of a switch counts twice in its VLAN) and the objects still to bring to their count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Count keys, sorted, with repetitions.
    #[serde(default)]
    pub counts: Vec<String>,
    /// Count keys whose object must be brought to its count.
    #[serde(default)]
    pub pending: Vec<String>,
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
    if record.counts.is_empty() && record.pending.is_empty() {
        None
    } else {
        Some(serde_json::to_vec(record).expect("a record encodes"))
    }
}

/// Precommit: the port now counts in `wanted`. Moves the counts by the difference with what
/// the port counted in before and records the objects whose count crossed zero.
pub fn reconcile(port_id: &str, mut wanted: Vec<String>) -> Result<(), DriverError> {
    wanted.sort();
    let (raw, mut record) = read_record(port_id)?;
    if record.counts == wanted {
        return Ok(());
    }
    let mut delta: BTreeMap<&str, i64> = BTreeMap::new();
    for k in &wanted {
        *delta.entry(k).or_default() += 1;
    }
    for k in &record.counts {
        *delta.entry(k).or_default() -= 1;
    }
    let mut pending: BTreeSet<String> = record.pending.iter().cloned().collect();
    for (key, d) in delta {
        if d == 0 {
            continue;
        }
        let now = state::increment(key, d)?;
        let crossed = (d > 0 && now == d) || (d < 0 && now == 0);
        if crossed {
            pending.insert(key.to_string());
        }
        if now < 0 {
            neutrino_driver::warn!("count {key} went below zero ({now})");
        }
    }
    record.counts = wanted;
    record.pending = pending.into_iter().collect();
    if !state::compare_and_set(
        &record_key(port_id),
        raw.as_deref(),
        encode(&record).as_deref(),
    )? {
        // Inside the transaction nobody else changes the key under us.
        return Err(DriverError::conflict(format!(
            "the record of port {port_id} changed concurrently"
        )));
    }
    Ok(())
}

/// The current count of an object (absent: 0).
fn count(key: &str) -> Result<i64, DriverError> {
    Ok(state::get_json::<i64>(key)?.unwrap_or(0))
}

/// Postcommit: bring the port's pending objects to their counts, switch by switch. A switch
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

/// Bring `objects` of one switch to their counts, again for those whose count crossed zero
/// while the calls were made.
fn converge(nexus: &Nexus<'_>, mut objects: Vec<Object>) -> Result<(), DriverError> {
    for _ in 0..MAX_ROUNDS {
        let wanted = objects
            .iter()
            .map(|o| Ok((o.clone(), count(&o.key())? > 0)))
            .collect::<Result<Vec<_>, DriverError>>()?;
        apply(nexus, &wanted)?;
        let mut moved = Vec::new();
        for (o, present) in &wanted {
            let c = count(&o.key())?;
            if (c > 0) != *present {
                moved.push(o.clone());
            } else if c == 0 {
                // Gone from the switch and from every port: drop the count (unless it moved).
                state::compare_and_set(&o.key(), Some(b"0"), None)?;
            }
        }
        if moved.is_empty() {
            return Ok(());
        }
        objects = moved;
    }
    neutrino_driver::warn!(
        "Nexus switch {}: counts kept moving; the calls that moved them converge them",
        nexus.ip()
    );
    Ok(())
}

/// Make the switch carry (`true`) or drop (`false`) each object: VLANs first, then NVE
/// members, then trunks when adding; the reverse when removing.
fn apply(nexus: &Nexus<'_>, wanted: &[(Object, bool)]) -> Result<(), DriverError> {
    let mut add_vlans = Vec::new();
    let mut del_vlans = Vec::new();
    let mut add_nve = Vec::new();
    let mut del_nve = Vec::new();
    let mut add_trunk: BTreeMap<Interface, Vec<u32>> = BTreeMap::new();
    let mut del_trunk: BTreeMap<Interface, Vec<u32>> = BTreeMap::new();
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
        }
    }
    nexus.create_vlans(&add_vlans)?;
    for vni in add_nve {
        nexus.nve_member_add(vni)?;
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

/// Configure everything the counts say the switch carries (networking-cisco's
/// `replay_config`): its VLANs in one call, its NVE members, then each interface's trunk in
/// one call.
pub fn replay(nexus: &Nexus<'_>) -> Result<(), DriverError> {
    let ip = nexus.ip();
    let mut objects = Vec::new();
    for prefix in ["vlan", "nve", "trunk"] {
        for key in state::list_keys(&format!("{prefix}/{ip}/"))? {
            if count(&key)? > 0
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
