//! Port binding from the host configurations ODL publishes (networking-odl's
//! `pseudo-agentdb-binding`).
//!
//! ODL lists, per host, what its switch can do:
//! `GET /restconf/operational/neutron:neutron/hostconfigs` answers
//! `{"hostconfigs": {"hostconfig": [{"host-id", "host-type", "config"}]}}` where
//! `config` is a JSON string with `supported_vnic_types` (`vnic_type`, `vif_type`,
//! `vif_details`) and `allowed_network_types`. networking-odl polls it every
//! `restconf_poll_interval` seconds into Neutron's agents table; `bind_port` reads the
//! "ODL L2" agents of the port's host.
//!
//! Here `bind_port` has no network, so the list is read in postcommit hooks (at most
//! once per `restconf_poll_interval` per server) and kept in driver state under
//! `hostconfig/<host>/<host-type>`, which `bind_port` reads. A host ODL stops listing
//! is removed at the next read that lists any host.

use std::time::Duration;

use neutrino_driver::http::Method;
use neutrino_driver::{
    BindResult, DriverError, PortContext, Segment, binding, debug, session, state, warn,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::Odl;
use crate::settings::Settings;

/// The host type networking-odl binds with.
pub const L2_TYPE: &str = "ODL L2";

/// The session key whose presence means "read recently".
const READ: &str = "hostconfigs-read";

/// One host configuration as ODL lists it.
#[derive(Debug, Deserialize)]
struct Listed {
    #[serde(rename = "host-id")]
    host_id: String,
    #[serde(rename = "host-type")]
    host_type: String,
    config: String,
}

/// A host's configuration (the agent's `configurations` in networking-odl).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostConfig {
    /// `[{vnic_type, vif_type, vif_details}]`.
    #[serde(default)]
    pub supported_vnic_types: Vec<VnicType>,
    /// The segment types the host's switch reaches.
    #[serde(default)]
    pub allowed_network_types: Vec<String>,
    /// Physical network → bridge.
    #[serde(default)]
    pub bridge_mappings: Map<String, Value>,
}

/// One vnic type a host supports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VnicType {
    /// `normal`, `direct`, ...
    pub vnic_type: String,
    /// `ovs`, `vhostuser`, ...; `ovs` when absent.
    #[serde(default)]
    pub vif_type: Option<String>,
    /// What Nova's plug needs (`$PORT_ID` is replaced in vhost-user details).
    #[serde(default)]
    pub vif_details: Map<String, Value>,
}

/// Read ODL's host configurations into driver state, if due. Failures are logged: the
/// kept configurations stay as they are and the next call tries again.
pub fn refresh(odl: &Odl, settings: &Settings) {
    if session::get(READ).is_some() {
        return;
    }
    let wait = Duration::from_secs(settings.timeout);
    if let session::Lookup::Hit(_) = session::get_or_lock(READ, wait) {
        return;
    }
    match read(odl, settings).and_then(|listed| store(&listed)) {
        Ok(()) => session::set(
            READ,
            b"1",
            Duration::from_secs(settings.restconf_poll_interval),
        ),
        Err(e) => {
            warn!("reading OpenDaylight's host configurations: {}", e.message);
            session::unlock(READ);
        }
    }
}

fn read(odl: &Odl, settings: &Settings) -> Result<Vec<Listed>, DriverError> {
    let response = odl.send(Method::Get, &settings.hostconfigs_url(), None)?;
    if response.status == 404 {
        // RESTCONF answers 404 when the list is empty.
        return Ok(Vec::new());
    }
    if !response.is_success() {
        return Err(crate::client::status_error("list hostconfigs", &response));
    }
    #[derive(Deserialize)]
    struct Body {
        hostconfigs: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        hostconfig: Vec<Listed>,
    }
    Ok(response.json::<Body>()?.hostconfigs.hostconfig)
}

fn key(host: &str, host_type: &str) -> String {
    format!("hostconfig/{host}/{host_type}")
}

fn store(listed: &[Listed]) -> Result<(), DriverError> {
    if listed.is_empty() {
        return Ok(());
    }
    let mut keep = Vec::new();
    for l in listed {
        let config: HostConfig = match serde_json::from_str(&l.config) {
            Ok(c) => c,
            Err(e) => {
                warn!(
                    "hostconfig of {} ({}) is not valid: {e}",
                    l.host_id, l.host_type
                );
                continue;
            }
        };
        let key = key(&l.host_id, &l.host_type);
        if state::get_json::<HostConfig>(&key)?.as_ref() != Some(&config) {
            state::set_json(&key, &config)?;
        }
        keep.push(key);
    }
    for key in state::list_keys("hostconfig/")? {
        if !keep.contains(&key) {
            state::delete(&key)?;
        }
    }
    Ok(())
}

/// Bind on the first segment the host's ODL L2 configuration allows, with the vif type
/// and details it gives for the port's vnic type; status `ACTIVE`.
pub fn bind(ctx: &PortContext) -> Result<BindResult, DriverError> {
    if ctx.host.is_empty() {
        return Ok(BindResult::NotBound);
    }
    let Some(config) = state::get_json::<HostConfig>(&key(&ctx.host, L2_TYPE))? else {
        warn!("no OpenDaylight hostconfig for host {}", ctx.host);
        return Ok(BindResult::NotBound);
    };
    let Some(segment) = ctx.segments_to_bind.iter().find(|s| allowed(s, &config)) else {
        debug!(
            "no segment of port {} is allowed on {}",
            ctx.current.id, ctx.host
        );
        return Ok(BindResult::NotBound);
    };
    let Some(vnic) = config
        .supported_vnic_types
        .iter()
        .find(|v| v.vnic_type == ctx.vnic_type)
    else {
        warn!(
            "binding failed: vnic type {} is not supported on {}",
            ctx.vnic_type, ctx.host
        );
        return Ok(BindResult::NotBound);
    };
    let vif_type = vnic.vif_type.as_deref().unwrap_or(binding::VIF_TYPE_OVS);
    let mut details = vnic.vif_details.clone();
    if vif_type == binding::VIF_TYPE_VHOSTUSER {
        details = substitute_port_id(details, &ctx.current.id);
    }
    Ok(binding::bound_with_status(
        segment,
        vif_type,
        Value::Object(details),
        "ACTIVE",
    ))
}

fn allowed(segment: &Segment, config: &HostConfig) -> bool {
    config.allowed_network_types.contains(&segment.network_type)
}

/// `$PORT_ID` in vhost-user details becomes the port id, cut so that
/// `port_prefix` + id fit a 14-character interface name.
fn substitute_port_id(details: Map<String, Value>, port_id: &str) -> Map<String, Value> {
    let prefix_len = details
        .get("port_prefix")
        .and_then(Value::as_str)
        .map_or(0, |p| p.chars().count().min(14));
    let id: String = port_id.chars().take(14 - prefix_len).collect();
    let text = Value::Object(details.clone())
        .to_string()
        .replace("${PORT_ID}", &id)
        .replace("$PORT_ID", &id);
    serde_json::from_str(&text).unwrap_or(details)
}
