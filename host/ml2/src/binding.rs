//! Port binding: asking the mechanism drivers, level by level, which of them can wire a port
//! on its host, and committing the answer.
//!
//! Follows Neutron's `_bind_port_level`: at each level the enabled drivers are tried in order
//! with the segments to bind (the network's static segments at level 0); a driver may bind,
//! decline, or bind partially and hand the next level a list of segments (dynamic segments are
//! allocated then). A driver's error or fault only means "not bound by this driver". Binding
//! runs outside any transaction; its result is committed only if the port's binding inputs
//! did not change meanwhile, and then drivers see an `update_port` for the new binding.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use neutrino_runtime::{self as rt, BindResult, CallError, HostServices};
use neutrino_store::bindings::{self, BindingLevel};
use neutrino_store::model::{Network, Port, Segment};
use neutrino_store::{Conn, networks, ports};
use serde_json::{Map, Value};

use crate::Plugin;
use crate::error::{Error, Result};
use crate::mech::Call;

/// Neutron's `MAX_BINDING_LEVELS`.
pub const MAX_BINDING_LEVELS: usize = 10;

/// Whether a port needs binding: a host is set and it is not bound.
pub fn needs_binding(p: &Port) -> bool {
    !p.binding_host_id.is_empty()
        && matches!(p.binding_vif_type.as_str(), "unbound" | "binding_failed")
}

/// A successful binding.
pub(crate) struct Bound {
    /// Driver and segment of each level, top first.
    pub(crate) levels: Vec<(String, rt::Segment)>,
    pub(crate) vif_type: String,
    pub(crate) vif_details: Map<String, Value>,
    pub(crate) status: Option<String>,
}

/// What went wrong with drivers' bind results during one binding attempt, for the
/// `binding_failed` reason (`binding:vif_details.reason`, which only admins and services read).
#[derive(Default)]
struct Notes(std::sync::Mutex<Vec<String>>);

impl Notes {
    fn add(&self, note: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(note);
    }
}

/// A driver's failed `bind_port` call as the reason names it: which driver and what kind of
/// failure; a crash's own text (a panic message) stays in the log.
fn failure_note(e: &CallError) -> String {
    match e {
        CallError::Trap { driver, hook, .. } => {
            format!("driver `{driver}` crashed in {hook} (the server log has the detail)")
        }
        other => other.to_string(),
    }
}

type BindFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<Bound>>> + Send + 'a>>;

impl Plugin {
    /// Bind `port` if it needs it and return it as committed.
    pub async fn bind_if_needed(&self, port: Port) -> Result<Port> {
        if !needs_binding(&port) {
            return Ok(port);
        }
        let mut conn = self.read().await?;
        let Some(network) = networks::get(&mut conn, &port.network_id).await? else {
            return Ok(port);
        };
        drop(conn);
        let (outcome, network, notes) = self.try_bind(&port, network).await?;
        self.commit_binding(port, &network, outcome, notes).await
    }

    /// Ask the drivers to bind `port` on its `binding_host_id` with its vnic type and profile
    /// (nothing is written but dynamic segments): the result, the network (read again when
    /// a dynamic segment was allocated) and what went wrong with drivers' answers.
    pub(crate) async fn try_bind(
        &self,
        port: &Port,
        network: Network,
    ) -> Result<(Option<Bound>, Network, Vec<String>)> {
        let notes = Notes::default();
        let outcome = if self.mech().has_drivers() && !network.segments.is_empty() {
            let base = self
                .mech()
                .contexts()
                .port_context(port, None, &network, Vec::new());
            let segments: Vec<rt::Segment> = network
                .segments
                .iter()
                .filter(|s| !s.is_dynamic)
                .map(|s| self.mech().contexts().segment(s))
                .collect();
            self.bind_level(&base, &network, segments, Vec::new(), &notes)
                .await?
        } else {
            None
        };
        // A dynamic segment allocated while binding is not in the network read above; the
        // hooks that see the new binding need it to name the lower levels' segments.
        let network = match &outcome {
            Some(b)
                if b.levels
                    .iter()
                    .any(|(_, s)| !network.segments.iter().any(|n| n.id == s.id)) =>
            {
                let mut conn = self.read().await?;
                networks::get(&mut conn, &port.network_id)
                    .await?
                    .unwrap_or(network)
            }
            _ => network,
        };
        let notes = notes.0.into_inner().unwrap_or_else(|p| p.into_inner());
        Ok((outcome, network, notes))
    }

    fn bind_level<'a>(
        &'a self,
        base: &'a rt::PortContext,
        network: &'a Network,
        segments: Vec<rt::Segment>,
        levels: Vec<(String, rt::Segment)>,
        notes: &'a Notes,
    ) -> BindFuture<'a> {
        Box::pin(async move {
            let host: Arc<dyn HostServices> = self.mech().db_host();
            for entry in self.mech().binders() {
                // Loop guard: a driver does not bind again a segment it bound above.
                if levels
                    .iter()
                    .any(|(d, s)| d == &entry.name && segments.iter().any(|x| x.id == s.id))
                {
                    continue;
                }
                let mut ctx = base.clone();
                ctx.segments_to_bind = segments.clone();
                ctx.binding_levels = levels
                    .iter()
                    .map(|(d, s)| rt::BindingLevel {
                        bound_driver: d.clone(),
                        bound_segment: s.clone(),
                    })
                    .collect();
                match entry.slot.bind_port(&ctx, &host).await {
                    Ok(BindResult::Bound(b)) => {
                        let Some(seg) = segments.iter().find(|s| s.id == b.segment_id).cloned()
                        else {
                            notes.add(format!(
                                "driver `{}` returned an invalid result from bind_port: it bound segment {:?}, which is not one of the segments to bind",
                                entry.name, b.segment_id
                            ));
                            continue;
                        };
                        let mut all = levels.clone();
                        all.push((entry.name.clone(), seg));
                        return Ok(Some(Bound {
                            levels: all,
                            vif_type: b.vif_type,
                            vif_details: b.vif_details,
                            status: b.status,
                        }));
                    }
                    Ok(BindResult::Continue(c)) => {
                        if levels.len() + 1 >= MAX_BINDING_LEVELS {
                            tracing::warn!(driver = %entry.name, "binding exceeded the maximum number of levels");
                            notes.add(format!(
                                "driver `{}` continued the binding past {MAX_BINDING_LEVELS} levels",
                                entry.name
                            ));
                            continue;
                        }
                        let Some(seg) = segments.iter().find(|s| s.id == c.segment_id).cloned()
                        else {
                            notes.add(format!(
                                "driver `{}` returned an invalid result from bind_port: it continued from segment {:?}, which is not one of the segments to bind",
                                entry.name, c.segment_id
                            ));
                            continue;
                        };
                        let next = self.resolve_dynamic(network, c.next_segments).await?;
                        if next.is_empty() {
                            continue;
                        }
                        let mut all = levels.clone();
                        all.push((entry.name.clone(), seg));
                        if let Some(b) = self.bind_level(base, network, next, all, notes).await? {
                            return Ok(Some(b));
                        }
                    }
                    Ok(BindResult::NotBound) => {}
                    Err(e) => {
                        tracing::warn!(driver = %entry.name, error = %e, port = %base.current.id, "bind_port failed; trying the next driver");
                        notes.add(failure_note(&e));
                    }
                }
            }
            Ok(None)
        })
    }

    /// Segments a driver asked for at the next level: known ones as they are, new ones
    /// (without id) allocated as dynamic segments of the network (reused when one exists).
    async fn resolve_dynamic(
        &self,
        network: &Network,
        wanted: Vec<rt::Segment>,
    ) -> Result<Vec<rt::Segment>> {
        let mut out = Vec::new();
        for w in wanted {
            if !w.id.is_empty() {
                out.push(w);
                continue;
            }
            let plugin = self.clone();
            let network_id = network.id.clone();
            let seg = crate::in_tx!(self.store(), |tx| plugin
                .dynamic_segment(tx, &network_id, &w)
                .await)?;
            out.push(self.mech().contexts().segment(&seg));
        }
        Ok(out)
    }

    async fn dynamic_segment(
        &self,
        conn: &mut Conn,
        network_id: &str,
        w: &rt::Segment,
    ) -> Result<Segment> {
        let existing = networks::segments_of(conn, network_id).await?;
        if let Some(s) = existing.iter().find(|s| {
            s.is_dynamic
                && s.network_type == w.network_type
                && s.physical_network == w.physical_network
                && (w.segmentation_id.is_none()
                    || s.segmentation_id == w.segmentation_id.map(i64::from))
        }) {
            return Ok(s.clone());
        }
        let spec = crate::types::ProviderSpec {
            network_type: Some(w.network_type.clone()),
            physical_network: w.physical_network.clone(),
            segmentation_id: w.segmentation_id.map(i64::from),
        };
        let (network_type, physical_network, segmentation_id) =
            self.types().reserve(conn, network_id, &spec).await?;
        let now = neutrino_store::now();
        let seg = Segment {
            id: uuid::Uuid::new_v4().to_string(),
            network_id: network_id.to_string(),
            network_type,
            physical_network,
            segmentation_id,
            is_dynamic: true,
            segment_index: existing.len() as i64,
            name: String::new(),
            description: String::new(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 0,
        };
        networks::insert_segment(conn, &seg).await?;
        Ok(seg)
    }

    /// Write a binding result if the port's binding inputs are unchanged, then tell drivers.
    async fn commit_binding(
        &self,
        port: Port,
        network: &Network,
        outcome: Option<Bound>,
        notes: Vec<String>,
    ) -> Result<Port> {
        let plugin = self.clone();
        let segments_desc = network
            .segments
            .iter()
            .map(|s| match s.segmentation_id {
                Some(id) => format!("{} {}", s.network_type, id),
                None => s.network_type.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let committed = crate::in_tx!(self.store(), |tx| {
            let Some(current) = ports::get(tx, &port.id).await? else {
                return Ok(None);
            };
            let unchanged = current.binding_host_id == port.binding_host_id
                && current.binding_vnic_type == port.binding_vnic_type
                && current.binding_profile == port.binding_profile
                && needs_binding(&current);
            if !unchanged {
                return Ok(None);
            }
            let mut p = current.clone();
            let levels: Vec<BindingLevel> = match &outcome {
                Some(b) => {
                    p.binding_vif_type = b.vif_type.clone();
                    p.binding_vif_details = Value::Object(b.vif_details.clone());
                    if let Some(status) = &b.status {
                        p.status = status.clone();
                    }
                    b.levels
                        .iter()
                        .enumerate()
                        .map(|(i, (driver, seg))| BindingLevel {
                            level: i as i64,
                            host: p.binding_host_id.clone(),
                            driver: driver.clone(),
                            segment_id: seg.id.clone(),
                        })
                        .collect()
                }
                None => {
                    p.binding_vif_type = "binding_failed".into();
                    let reason = if !plugin.mech().has_drivers() {
                        "no mechanism driver is loaded".to_string()
                    } else {
                        let mut reason = format!(
                            "no mechanism driver could bind segments [{segments_desc}] on host {} for vnic_type {}",
                            p.binding_host_id, p.binding_vnic_type
                        );
                        if !notes.is_empty() {
                            reason.push_str("; ");
                            reason.push_str(&notes.join("; "));
                        }
                        reason
                    };
                    tracing::warn!(port = %p.id, %reason, "port binding failed");
                    p.binding_vif_details = serde_json::json!({ "reason": reason });
                    Vec::new()
                }
            };
            // `port-mac-override`: a direct-physical port takes the MAC of the physical
            // device Nova names in the binding's profile (`device_mac_address`), or a new
            // one when the profile names none, as Neutron's `_commit_port_binding` does.
            override_mac(&mut p, plugin.core().base_mac);
            p.revision_number += 1;
            p.updated_at = neutrino_store::now();
            if !ports::update(tx, &p, current.revision_number).await? {
                return Err(
                    neutrino_store::StoreError::Retry("port changed while binding".into()).into(),
                );
            }
            bindings::set_levels(tx, &p.id, &levels).await?;
            p.binding_levels = levels;
            crate::provisioning::setup_l2_block(tx, &p).await?;
            if plugin.mech().has_drivers() {
                let ctx = plugin.port_hook_context(&p, Some(&current), network);
                let host = plugin.staged_host();
                let services = host.services();
                let call = Call::Port(rt::Hook::UpdatePrecommit, &ctx);
                host.with_tx(tx, plugin.mech().precommit(call, &services))
                    .await??;
                host.journal(plugin.mech().journal_entries(call));
                host.flush(tx).await?;
            }
            Ok::<_, Error>(Some((p, current)))
        })?;
        match committed {
            Some((p, original)) => {
                if self.mech().has_drivers() {
                    let ctx = self.port_hook_context(&p, Some(&original), network);
                    // Neutron logs update_port_postcommit failures; the binding stands.
                    let _ = self
                        .mech()
                        .postcommit(Call::Port(rt::Hook::UpdatePostcommit, &ctx))
                        .await;
                }
                Ok(p)
            }
            None => {
                let mut conn = self.read().await?;
                Ok(ports::get(&mut conn, &port.id).await?.unwrap_or(port))
            }
        }
    }

    /// Release the dynamic segments `levels` used that no binding uses any more (Neutron's
    /// `release_dynamic_segment`). Call after the port's levels were removed or replaced.
    pub(crate) async fn release_unused_dynamic(
        &self,
        conn: &mut Conn,
        network_id: &str,
        levels: &[BindingLevel],
    ) -> Result<()> {
        if levels.is_empty() {
            return Ok(());
        }
        let segments = networks::segments_of(conn, network_id).await?;
        for l in levels {
            let Some(seg) = segments
                .iter()
                .find(|s| s.id == l.segment_id && s.is_dynamic)
            else {
                continue;
            };
            if !bindings::segment_in_use(conn, &seg.id).await? {
                self.types().release(conn, seg).await?;
                neutrino_store::segments::delete_segment(conn, &seg.id).await?;
                tracing::info!(segment = %seg.id, network = %network_id, "released a dynamic segment");
            }
        }
        Ok(())
    }

    /// A port hook context with the port's binding levels.
    pub(crate) fn port_hook_context(
        &self,
        p: &Port,
        original: Option<&Port>,
        network: &Network,
    ) -> rt::PortContext {
        let levels = p
            .binding_levels
            .iter()
            .filter_map(|l| {
                let seg = network.segments.iter().find(|s| s.id == l.segment_id)?;
                Some(rt::BindingLevel {
                    bound_driver: l.driver.clone(),
                    bound_segment: self.mech().contexts().segment(seg),
                })
            })
            .collect();
        self.mech()
            .contexts()
            .port_context(p, original, network, levels)
    }
}

/// Convenience: a refusal as seen by clients when no driver can bind is not an error; the port
/// shows `binding_failed`.
pub fn is_bound(p: &Port) -> bool {
    !matches!(p.binding_vif_type.as_str(), "unbound" | "binding_failed")
}

/// `port-mac-override`: a `direct-physical` port takes the MAC of the physical device Nova
/// names in its binding's profile (`device_mac_address`), or a new one when the profile names
/// none, as Neutron's `_commit_port_binding` does (on binding and on activating a binding).
pub(crate) fn override_mac(p: &mut neutrino_store::model::Port, base_mac: [u8; 6]) {
    if p.binding_vnic_type == "direct-physical" {
        p.mac_address = p
            .binding_profile
            .get("device_mac_address")
            .and_then(Value::as_str)
            .and_then(crate::ipam::mac::parse_unicast)
            .map(crate::ipam::mac::format)
            .unwrap_or_else(|| crate::ipam::mac::random_mac(base_mac));
    }
}
