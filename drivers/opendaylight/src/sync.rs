//! Sending one change to ODL, and the full resync when ODL lost its state.
//!
//! A change is `POST <collection>` with `{"<singular>": body}`, `PUT
//! <collection>/<id>` with the same envelope, or `DELETE <collection>/<id>`
//! (networking-odl's `journal._json_data`). Sends are idempotent so that a change
//! delivered again after a lost answer does no harm: a create ODL answers 409 (it has
//! the resource already) and a delete it answers 404 (already gone) count as done.
//!
//! Lost state is detected as networking-odl's maintenance task does: ODL answers
//! `GET networks`, but not the canary network (`GET networks/<canary>` is 404). Then
//! every copy kept in driver state is created again in dependency order, and the canary
//! last (so a resync cut short is done again at the next check). Checks run at most
//! once per `maintenance_interval`, one at a time per server (session cache, single
//! flight): calls arriving meanwhile wait for the resync to finish, so nothing reaches
//! an empty ODL out of order. A large resync is spread over several calls
//! ([`full_sync`]).

use std::time::Duration;

use neutrino_driver::http::Method;
use neutrino_driver::{DriverError, ErrorKind, info, session, state, warn};
use serde_json::{Map, Value, json};

use crate::client::{Odl, status_error};
use crate::filters;
use crate::resources::{self, Kind, Op};
use crate::settings::Settings;

/// networking-odl's canary network id (also its project).
pub const CANARY_NETWORK_ID: &str = "bd8db3a8-2b30-4083-a8b3-b3fd46401142";

/// The session key whose presence means "checked recently".
const CHECKED: &str = "canary-checked";
/// The session key holding the last copy a resync sent (present: a resync is under way).
const RESYNC_FROM: &str = "resync-from";
/// How long an interrupted resync is remembered.
const RESYNC_MEMORY: Duration = Duration::from_secs(3600);
/// Resources a resync sends per call.
pub const RESYNC_CHUNK: usize = 100;

/// Send one change. `data` is Neutron's dict (unused for deletes).
pub fn send(
    odl: &Odl,
    kind: Kind,
    op: Op,
    id: &str,
    data: Map<String, Value>,
    network_project: Option<&str>,
) -> Result<(), DriverError> {
    let what = format!("{op:?} {} {id}", kind.singular()).to_lowercase();
    let body = |data| json!({ kind.singular(): filters::for_odl(kind, op, data, network_project) });
    let response = match op {
        Op::Create => odl.send(Method::Post, &odl.url(kind.collection()), Some(&body(data)))?,
        Op::Update => odl.send(
            Method::Put,
            &odl.url(&format!("{}/{id}", kind.collection())),
            Some(&body(data)),
        )?,
        Op::Delete => odl.send(
            Method::Delete,
            &odl.url(&format!("{}/{id}", kind.collection())),
            None,
        )?,
    };
    match (op, response.status) {
        (_, 200..=299) => Ok(()),
        (Op::Create, 409) => {
            info!("{what}: OpenDaylight has it already");
            Ok(())
        }
        (Op::Delete, 404) => {
            info!("{what}: OpenDaylight has none");
            Ok(())
        }
        _ => Err(status_error(&what, &response)),
    }
}

/// Check the canary if due and resync when ODL lost its state.
pub fn maintain(odl: &Odl, settings: &Settings) -> Result<(), DriverError> {
    if !settings.enable_full_sync || session::get(CHECKED).is_some() {
        return Ok(());
    }
    // A resync may take a while: wait for another call's one rather than overtake it.
    let wait = Duration::from_secs(settings.timeout.saturating_mul(3));
    match session::get_or_lock(CHECKED, wait) {
        session::Lookup::Hit(_) => Ok(()),
        session::Lookup::Fill => match check_and_resync(odl) {
            Ok(()) => {
                let ttl = Duration::from_secs(settings.maintenance_interval);
                session::set(CHECKED, b"1", ttl);
                Ok(())
            }
            Err(e) => {
                session::unlock(CHECKED);
                Err(e)
            }
        },
    }
}

fn check_and_resync(odl: &Odl) -> Result<(), DriverError> {
    if let Some(from) = session::get(RESYNC_FROM) {
        // A resync this server started goes on where it stopped.
        return full_sync(odl, Some(&String::from_utf8_lossy(&from)));
    }
    // ODL must answer at all: an inoperative one is not an empty one.
    let all = odl.send(Method::Get, &odl.url("networks"), None)?;
    if !all.is_success() {
        return Err(status_error("list networks", &all));
    }
    let canary = odl.send(
        Method::Get,
        &odl.url(&format!("networks/{CANARY_NETWORK_ID}")),
        None,
    )?;
    match canary.status {
        200..=299 => Ok(()),
        404 => {
            warn!("OpenDaylight lost its state (no canary network): sending everything again");
            full_sync(odl, None)
        }
        _ => Err(status_error("read the canary network", &canary)),
    }
}

/// Create every kept resource again, in dependency order, then the canary: at most
/// [`RESYNC_CHUNK`] resources per call (a call has a time budget). A call that leaves some
/// for later remembers where it stopped (session cache) and answers `unavailable`, so
/// changes wait (the journal retries them) until the canary is back; the next call, a
/// delivery or `periodic`, goes on.
pub fn full_sync(odl: &Odl, after: Option<&str>) -> Result<(), DriverError> {
    let keys = state::list_keys(resources::PREFIX)?;
    let remaining: Vec<&String> = keys
        .iter()
        .filter(|k| after.is_none_or(|a| k.as_str() > a))
        .collect();
    for (sent, key) in remaining.iter().enumerate() {
        if sent == RESYNC_CHUNK {
            return Err(DriverError::unavailable(format!(
                "full sync of OpenDaylight in progress: {} of {} resources left",
                remaining.len() - sent,
                keys.len()
            )));
        }
        if let (Some(kind), Some(data)) = (Kind::of_key(key), state::get_json(key)?) {
            let id = resources::id_of(&data);
            match send(odl, kind, Op::Create, &id, data, None) {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::Unavailable => return Err(e),
                // One resource ODL refuses must not keep the others out.
                Err(e) => warn!("full sync: {}", e.message),
            }
        }
        session::set(RESYNC_FROM, key.as_bytes(), RESYNC_MEMORY);
    }
    let mut canary = Map::new();
    canary.insert("id".into(), json!(CANARY_NETWORK_ID));
    canary.insert("tenant_id".into(), json!(CANARY_NETWORK_ID));
    canary.insert("name".into(), json!("Sync Canary Network"));
    canary.insert("admin_state_up".into(), json!(false));
    send(
        odl,
        Kind::Network,
        Op::Create,
        CANARY_NETWORK_ID,
        canary,
        None,
    )?;
    session::delete(RESYNC_FROM);
    info!("full sync of OpenDaylight done ({} resources)", keys.len());
    Ok(())
}
