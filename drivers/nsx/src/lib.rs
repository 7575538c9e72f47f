//! vmware-nsx's NSX Policy support (`vmware_nsx/plugins/nsx_p/plugin.py`, client
//! vmware-nsxlib) as a Neutrino mechanism driver: networks become NSX segments, ports
//! segment ports, security groups NSX groups with a security policy each, all through the
//! Policy API ([`policy`]); ports bind at once with `vif_type` `ovs` and the realized logical
//! switch id in `vif_details` (`nsx-logical-switch-id`), as Nova's NSX VIF plugging expects.
//!
//! - Precommit hooks check what NSX would refuse (a network type without a transport zone,
//!   an external network without a tier-0), so the request fails before anything is written.
//! - Postcommit hooks `PATCH` (create or update) and `DELETE` the objects ([`resources`]);
//!   a VM's segment port also gets its security and discovery profile binding maps, and the
//!   driver's own spoofguard and segment security profiles are made before the first;
//!   a new segment is waited for until NSX realized it (bounded polling of the realization
//!   state), and its realized id kept in the driver's state for `bind_port`.

mod policy;
mod resources;
mod settings;

use neutrino_driver::{
    BindResult, DriverError, ErrorKind, MechanismDriver, NetworkContext, PortContext, SecurityGroupContext,
    SecurityGroupRuleContext, SubnetContext, binding, state,
};
use policy::Nsx;
use serde_json::{Map, Value, json};
use settings::Settings;
use std::time::{Duration, Instant};

/// The longest a postcommit waits for a segment's realization (below the host's 30 s wall
/// budget for a postcommit).
const MAX_REALIZATION_WAIT: Duration = Duration::from_secs(20);

#[derive(Default)]
struct NsxDriver;

fn is_external(net: &neutrino_driver::Network) -> bool {
    net.external
}

fn realized_key(network_id: &str) -> String {
    format!("ls/{network_id}")
}

fn subnets_key(network_id: &str) -> String {
    format!("subnets/{network_id}")
}

/// Ask NSX whether the segment is realized until it is (`RealizedLogicalSwitch` in state
/// `REALIZED`), at most `realization_max_attempts` times `realization_wait_sec` apart;
/// returns the realized logical switch id.
fn wait_realized(
    nsx: &Nsx<'_>,
    settings: &Settings,
    network_id: &str,
) -> Result<String, DriverError> {
    let path = format!(
        "infra/realized-state/realized-entities?intent_path=/{}",
        resources::segment_path(network_id)
    );
    let started = Instant::now();
    let wait = Duration::from_secs_f64(settings.realization_wait_sec.max(0.0));
    let mut last_state = String::from("unknown");
    for attempt in 0..settings.realization_max_attempts.max(1) {
        if attempt > 0 {
            if started.elapsed() + wait > MAX_REALIZATION_WAIT {
                break;
            }
            std::thread::sleep(wait);
        }
        let v: Value = nsx.get(&path)?.json()?;
        let switch = v["results"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["entity_type"] == "RealizedLogicalSwitch");
        if let Some(r) = switch {
            last_state = r["state"].as_str().unwrap_or("unknown").to_string();
            if last_state == "REALIZED"
                && let Some(id) = r["realization_specific_identifier"].as_str()
            {
                return Ok(id.to_string());
            }
        }
    }
    Err(DriverError::unavailable(format!(
        "NSX did not realize segment {network_id} in time (state {last_state})"
    )))
}

fn put_segment(ctx: &NetworkContext, wait: bool) -> Result<(), DriverError> {
    let settings = Settings::load()?;
    let nsx = Nsx::new(&settings);
    let body = resources::segment(&settings, &ctx.current, &ctx.segments)?;
    nsx.patch(&resources::segment_path(&ctx.current.id), &body)?;
    let known = state::get(&realized_key(&ctx.current.id))?.is_some();
    if wait || !known {
        let id = wait_realized(&nsx, &settings, &ctx.current.id)?;
        state::set(&realized_key(&ctx.current.id), id.as_bytes())?;
    }
    Ok(())
}

/// Keep the network's subnets in the driver's state (one change at a time) and give the
/// segment the whole list.
fn put_subnets(
    ctx: &SubnetContext,
    change: impl Fn(&mut Map<String, Value>),
) -> Result<(), DriverError> {
    let net = &ctx.network.current;
    if is_external(net) {
        return Ok(());
    }
    let key = subnets_key(&net.id);
    let mut subnets = Map::new();
    for _ in 0..32 {
        let raw = state::get(&key)?;
        subnets = match &raw {
            Some(b) => serde_json::from_slice(b).unwrap_or_default(),
            None => Map::new(),
        };
        change(&mut subnets);
        let new = (!subnets.is_empty()).then(|| Value::Object(subnets.clone()).to_string());
        if state::compare_and_set(&key, raw.as_deref(), new.as_deref().map(str::as_bytes))? {
            break;
        }
    }
    let list: Vec<Value> = subnets.values().cloned().collect();
    let settings = Settings::load()?;
    Nsx::new(&settings).patch(
        &resources::segment_path(&net.id),
        &json!({"resource_type": "Segment", "id": net.id, "subnets": list}),
    )?;
    Ok(())
}

/// The driver's state key that says its own segment profiles exist on NSX.
const PROFILES_KEY: &str = "profiles";

/// Create (or overwrite) the driver's own segment profiles and remember that they exist.
fn put_profiles(nsx: &Nsx<'_>) -> Result<(), DriverError> {
    for (path, body) in resources::own_profiles() {
        nsx.patch(&path, &body)?;
    }
    state::set(PROFILES_KEY, resources::API_VERSION.as_bytes())?;
    Ok(())
}

fn put_port(ctx: &PortContext) -> Result<(), DriverError> {
    if is_external(&ctx.network.current) {
        return Ok(());
    }
    let settings = Settings::load()?;
    let nsx = Nsx::new(&settings);
    let port = &ctx.current;
    nsx.patch(
        &resources::port_path(&port.network_id, &port.id),
        &resources::segment_port(port),
    )?;
    // Router ports have no VIF, hence no profiles to bind.
    if resources::segment_port(port).get("attachment").is_none() {
        return Ok(());
    }
    if resources::port_security(port) && state::get(PROFILES_KEY)?.is_none() {
        put_profiles(&nsx)?;
    }
    for (path, body) in resources::port_binding_maps(port) {
        match nsx.patch(&path, &body) {
            Ok(_) => {}
            // NSX refuses a map naming a profile it does not have (it lost them, or they
            // were deleted): make them again, once.
            Err(e) if e.kind != ErrorKind::Unavailable && resources::port_security(port) => {
                put_profiles(&nsx)?;
                nsx.patch(&path, &body)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn put_security_group(ctx: &SecurityGroupContext) -> Result<(), DriverError> {
    let settings = Settings::load()?;
    let nsx = Nsx::new(&settings);
    let sg = &ctx.current;
    nsx.patch(&resources::group_path(&sg.id), &resources::group(sg))?;
    let json: Value = serde_json::from_str(&sg.json).unwrap_or_default();
    let rules: Vec<Value> = json["security_group_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(resources::rule_from_json)
        .enumerate()
        .map(|(i, r)| resources::rule(&r, i as u32))
        .collect();
    nsx.patch(
        &resources::policy_path(&sg.id),
        &resources::policy(sg, rules),
    )?;
    Ok(())
}

impl MechanismDriver for NsxDriver {
    fn initialize(&self) -> Result<(), DriverError> {
        let settings = Settings::load()?;
        neutrino_driver::info!("nsx: managers {:?}", settings.managers());
        Ok(())
    }

    fn create_network_precommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        let settings = Settings::load()?;
        if is_external(&ctx.current) {
            if settings.default_tier0_router.is_none() {
                return Err(DriverError::invalid_input(
                    "an external network needs a tier-0 gateway: set `default_tier0_router`",
                ));
            }
            return Ok(());
        }
        resources::segment(&settings, &ctx.current, &ctx.segments).map(drop)
    }

    fn create_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        if is_external(&ctx.current) {
            return Ok(());
        }
        put_segment(ctx, true)
    }

    fn update_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        if is_external(&ctx.current) {
            return Ok(());
        }
        put_segment(ctx, false)
    }

    fn delete_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        if !is_external(&ctx.current) {
            let settings = Settings::load()?;
            Nsx::new(&settings).delete(&resources::segment_path(&ctx.current.id))?;
        }
        state::delete(&realized_key(&ctx.current.id))?;
        state::delete(&subnets_key(&ctx.current.id))?;
        Ok(())
    }

    fn create_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        let subnet = ctx.current.json_value();
        let id = ctx.current.id.clone();
        put_subnets(ctx, |all| {
            if let Some(s) = resources::segment_subnet(&subnet) {
                all.insert(id.clone(), s);
            }
        })
    }

    fn update_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        self.create_subnet_postcommit(ctx)
    }

    fn delete_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        let id = ctx.current.id.clone();
        put_subnets(ctx, |all| {
            all.remove(&id);
        })
    }

    fn create_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        put_port(ctx)
    }

    fn update_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        put_port(ctx)
    }

    fn delete_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        if is_external(&ctx.network.current) {
            return Ok(());
        }
        let settings = Settings::load()?;
        let port = &ctx.current;
        Nsx::new(&settings).delete(&resources::port_path(&port.network_id, &port.id))
    }

    fn create_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        put_security_group(ctx)
    }

    fn update_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        put_security_group(ctx)
    }

    fn delete_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        let settings = Settings::load()?;
        let nsx = Nsx::new(&settings);
        nsx.delete(&resources::policy_path(&ctx.current.id))?;
        nsx.delete(&resources::group_path(&ctx.current.id))
    }

    fn create_security_group_rule_postcommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        let settings = Settings::load()?;
        let r = &ctx.current;
        Nsx::new(&settings).patch(
            &resources::rule_path(&r.security_group_id, &r.id),
            &resources::rule(r, 0),
        )?;
        Ok(())
    }

    fn delete_security_group_rule_postcommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        let settings = Settings::load()?;
        let r = &ctx.current;
        Nsx::new(&settings).delete(&resources::rule_path(&r.security_group_id, &r.id))
    }

    /// Binds at once, on the network's first segment, when NSX realized the network's
    /// segment: `vif_type` `ovs`, the realized logical switch in `nsx-logical-switch-id`,
    /// status `ACTIVE` (no agent reports NSX ports).
    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        if ctx.vnic_type != "normal" || is_external(&ctx.network.current) {
            return Ok(BindResult::NotBound);
        }
        let Some(segment) = ctx.segments_to_bind.first() else {
            return Ok(BindResult::NotBound);
        };
        let Some(ls) = state::get(&realized_key(&ctx.current.network_id))? else {
            neutrino_driver::warn!(
                "port {}: network {} is not realized on NSX (yet)",
                ctx.current.id,
                ctx.current.network_id
            );
            return Ok(BindResult::NotBound);
        };
        let port_security = ctx
            .current
            .json_value()
            .get("port_security_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        Ok(binding::bound_with_status(
            segment,
            binding::VIF_TYPE_OVS,
            json!({
                "ovs_hybrid_plug": false,
                "port_filter": port_security,
                "nsx-logical-switch-id": String::from_utf8_lossy(&ls),
            }),
            "ACTIVE",
        ))
    }
}

neutrino_driver::export!(NsxDriver);
