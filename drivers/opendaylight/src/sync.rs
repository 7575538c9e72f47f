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
//! an empty ODL out of order.

use std::time::Duration;

use neutrino_driver::http::Method;
use neutrino_driver::{DriverError, ErrorKind, info, session, warn};
use serde_json::{Map, Value, json};

use crate::client::{Odl, status_error};
use crate::filters;
use crate::resources::{self, Kind, Op};
use crate::settings::Settings;

/// networking-odl's canary network id (also its project).
pub const CANARY_NETWORK_ID: &str = "bd8db3a8-2b30-4083-a8b3-b3fd46401142";

/// The session key whose presence means "checked recently".
const CHECKED: &str = "canary-checked";

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
        404 => full_sync(odl),
        _ => Err(status_error("read the canary network", &canary)),
    }
}

/// Create every kept resource again, in dependency order, then the canary.
pub fn full_sync(odl: &Odl) -> Result<(), DriverError> {
    let copies = resources::all()?;
    warn!(
        "OpenDaylight lost its state (no canary network): sending {} resources again",
        copies.len()
    );
    for (kind, data) in copies {
        let id = data
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match send(odl, kind, Op::Create, &id, data, None) {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::Unavailable => return Err(e),
            // One resource ODL refuses must not keep the others out.
            Err(e) => warn!("full sync: {}", e.message),
        }
    }
    let canary = json!({
        "id": CANARY_NETWORK_ID,
        "tenant_id": CANARY_NETWORK_ID,
        "name": "Sync Canary Network",
        "admin_state_up": false,
    });
    let Value::Object(canary) = canary else {
        unreachable!("a JSON object literal")
    };
    send(
        odl,
        Kind::Network,
        Op::Create,
        CANARY_NETWORK_ID,
        canary,
        None,
    )?;
    info!("full sync done");
    Ok(())
}
