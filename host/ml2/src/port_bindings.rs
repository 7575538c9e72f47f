//! A port's bindings (`binding-extended`): besides its active binding, a compute port may
//! have one inactive binding per other host, which Nova creates before a live migration,
//! activates when the instance moves and deletes afterwards.
//!
//! The active binding is the port's own `binding:*` attributes; inactive ones are rows of
//! `port_bindings` with the levels their drivers bound. As in Neutron (ML2's
//! `create_port_binding`, `activate`, `delete_port_binding`):
//! - creating binds the new host through the drivers' `bind-port` hook, with the port as
//!   the drivers would see it bound there (`host`, `vnic-type`, `profile` of the new
//!   binding), and stores the result `INACTIVE`; no driver binding it is `PortBindingError`;
//! - activating swaps, in one transaction that locks the port: the inactive binding becomes
//!   the port's binding (port `DOWN` until its agent reports it up), the binding that was
//!   active stays as an inactive one, cleared (`unbound`, no levels), and the drivers'
//!   `update-port` hooks see the port move from the old host to the new one. Concurrent
//!   activations of one binding serialize on the port's lock: one wins, the others find it
//!   active (`PortBindingAlreadyActive`);
//! - updating a binding's `vnic_type` or `profile` binds it again (the active one as a port
//!   update does);
//! - deleting an inactive binding drops it (no driver hook, as in Neutron).

use neutrino_runtime as rt;
use neutrino_store::bindings::{self, BindingLevel, BindingRecord, InactiveBinding};
use neutrino_store::model::{Network, Port};
use neutrino_store::query::{Condition, ListQuery};
use neutrino_store::{StoreError, networks, ports};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::mech::Call;
use crate::{Plugin, RequestContext};

/// A binding to create: `host`, `vnic_type` (default `normal`), `profile` (default `{}`).
#[derive(Debug, Clone)]
pub struct BindingCreate {
    /// Host to bind the port on.
    pub host: String,
    /// `vnic_type`.
    pub vnic_type: String,
    /// `profile` (a JSON object).
    pub profile: Value,
}

/// `PortBindingNotFound` (404).
pub fn binding_not_found(port_id: &str, host: &str) -> Error {
    Error::neutron(
        "PortBindingNotFound",
        404,
        format!("Binding for port {port_id} for host {host} could not be found."),
    )
}

fn already_exists(port_id: &str, host: &str) -> Error {
    Error::conflict(
        "PortBindingAlreadyExists",
        format!("Binding for port {port_id} on host {host} already exists."),
    )
}

fn already_active(port_id: &str, host: &str) -> Error {
    Error::conflict(
        "PortBindingAlreadyActive",
        format!("Binding for port {port_id} on host {host} is already active."),
    )
}

/// `PortBindingError`: a Neutron exception without an HTTP mapping, hence 500 with its body.
fn binding_error(port_id: &str, host: &str) -> Error {
    Error::neutron(
        "PortBindingError",
        500,
        format!("Binding for port {port_id} on host {host} could not be created or updated."),
    )
}

/// Neutron's `_validate_port_supports_multiple_bindings`: only compute and shared
/// filesystem ports have several bindings.
fn supports_multiple(p: &Port) -> Result<()> {
    if p.device_owner.starts_with("compute:") || p.device_owner.starts_with("manila:") {
        return Ok(());
    }
    Err(Error::neutron(
        "BadRequest",
        400,
        format!(
            "Bad port request: Invalid port {}. Operation only valid on compute and shared \
             filesystem ports.",
            p.id
        ),
    ))
}

/// Whether `host` already has a binding of the port (its active one or an inactive one).
async fn host_taken(conn: &mut neutrino_store::Conn, p: &Port, host: &str) -> Result<bool> {
    Ok(p.binding_host_id == host || bindings::inactive(conn, &p.id, host).await?.is_some())
}

impl Plugin {
    /// The port whose bindings a request is about: visible to the caller, a compute port.
    async fn binding_port(&self, ctx: &RequestContext, port_id: &str) -> Result<Port> {
        let p = self.get_port(ctx, port_id).await?;
        supports_multiple(&p)?;
        Ok(p)
    }

    /// Ask the drivers to bind `port` on `host` with `vnic_type` and `profile`, as a binding
    /// beside its active one (nothing is written but dynamic segments). Drivers see the port
    /// as it would be on that host (Neutron's PortContext of the new binding: `host`,
    /// `binding:host_id` and the rest are the new binding's). A network without segments is
    /// left unbound, as Neutron leaves it; no driver binding it is `PortBindingError`.
    async fn bind_elsewhere(
        &self,
        port: &Port,
        network: Network,
        host: &str,
        vnic_type: String,
        profile: Value,
    ) -> Result<InactiveBinding> {
        let mut candidate = port.clone();
        candidate.binding_host_id = host.to_string();
        candidate.binding_vnic_type = vnic_type.clone();
        candidate.binding_profile = profile.clone();
        candidate.binding_vif_type = "unbound".into();
        candidate.binding_vif_details = json!({});
        candidate.binding_levels = Vec::new();
        let mut binding = InactiveBinding {
            port_id: port.id.clone(),
            host: host.to_string(),
            vnic_type,
            profile,
            vif_type: "unbound".into(),
            vif_details: json!({}),
            levels: Vec::new(),
        };
        if network.segments.is_empty() {
            return Ok(binding);
        }
        let (outcome, _, notes) = self.try_bind(&candidate, network).await?;
        let Some(bound) = outcome else {
            tracing::warn!(port = %port.id, %host, notes = %notes.join("; "), "no mechanism driver could bind the port's binding");
            return Err(binding_error(&port.id, host));
        };
        binding.vif_type = bound.vif_type;
        binding.vif_details = Value::Object(bound.vif_details);
        binding.levels = bound
            .levels
            .iter()
            .enumerate()
            .map(|(i, (driver, seg))| BindingLevel {
                level: i as i64,
                host: host.to_string(),
                driver: driver.clone(),
                segment_id: seg.id.clone(),
            })
            .collect();
        Ok(binding)
    }

    /// The bindings of a port: its active one and its inactive ones (`q` filters, sorts and
    /// pages them; a binding's key is its host).
    pub async fn list_port_bindings(
        &self,
        ctx: &RequestContext,
        port_id: &str,
        q: ListQuery,
    ) -> Result<Vec<BindingRecord>> {
        self.binding_port(ctx, port_id).await?;
        let mut conn = self.read().await?;
        match bindings::records(&mut conn, port_id, &q).await {
            Err(StoreError::NotFound(_)) => Err(Error::not_found(
                "PortBindingNotFound",
                "Binding",
                q.marker.as_deref().unwrap_or_default(),
            )),
            other => Ok(other?),
        }
    }

    /// The binding of a port on `host`.
    pub async fn get_port_binding(
        &self,
        ctx: &RequestContext,
        port_id: &str,
        host: &str,
    ) -> Result<BindingRecord> {
        self.binding_port(ctx, port_id).await?;
        let mut conn = self.read().await?;
        let q = ListQuery {
            conditions: vec![Condition::eq("host", host.to_string())],
            ..ListQuery::default()
        };
        bindings::records(&mut conn, port_id, &q)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| binding_not_found(port_id, host))
    }

    /// Bind a port on another host, as an inactive binding.
    pub async fn create_port_binding(
        &self,
        ctx: &RequestContext,
        port_id: &str,
        req: BindingCreate,
    ) -> Result<BindingRecord> {
        let port = self.binding_port(ctx, port_id).await?;
        let host = req.host.clone();
        let mut conn = self.read().await?;
        if host_taken(&mut conn, &port, &host).await? {
            return Err(already_exists(port_id, &host));
        }
        let network = networks::get(&mut conn, &port.network_id)
            .await?
            .ok_or_else(|| crate::ports::port_not_found(port_id))?;
        drop(conn);
        let binding = self
            .bind_elsewhere(&port, network, &host, req.vnic_type, req.profile)
            .await?;
        let stored = binding.clone();
        let committed = crate::in_tx!(self.store(), |tx| {
            ports::lock(tx, port_id).await?;
            let current = ports::get(tx, port_id)
                .await?
                .ok_or_else(|| crate::ports::port_not_found(port_id))?;
            supports_multiple(&current)?;
            if host_taken(tx, &current, &host).await? {
                return Err(already_exists(port_id, &host));
            }
            bindings::insert_inactive(tx, &stored).await?;
            Ok::<_, Error>(())
        });
        if let Err(e) = committed {
            // Dynamic segments allocated for this binding go back when nothing uses them.
            let plugin = self.clone();
            let (network_id, levels) = (port.network_id.clone(), binding.levels.clone());
            let _ = crate::in_tx!(self.store(), |tx| plugin
                .release_unused_dynamic(tx, &network_id, &levels)
                .await);
            return Err(e);
        }
        tracing::info!(port = %port_id, %host, vif_type = %binding.vif_type, "created an inactive port binding");
        Ok(BindingRecord {
            port_id: port_id.to_string(),
            host,
            vnic_type: binding.vnic_type,
            profile: binding.profile,
            vif_type: binding.vif_type,
            vif_details: binding.vif_details,
            status: "INACTIVE".into(),
        })
    }

    /// Change the `vnic_type` or `profile` of the port's binding on `host` (`None` keeps
    /// it). The active binding changes as a port update of `binding:vnic_type` and
    /// `binding:profile` does (unbound, bound again, drivers' update hooks); an inactive one
    /// is bound again when its inputs changed or it is not bound. Either way a binding no
    /// driver binds is `PortBindingError`.
    pub async fn update_port_binding(
        &self,
        ctx: &RequestContext,
        port_id: &str,
        host: &str,
        vnic_type: Option<String>,
        profile: Option<Value>,
    ) -> Result<BindingRecord> {
        let port = self.binding_port(ctx, port_id).await?;
        if port.binding_host_id == host {
            let u = crate::ports::PortUpdate {
                binding_vnic_type: vnic_type,
                binding_profile: profile,
                ..Default::default()
            };
            let p = self.update_port(ctx, port_id, u, None).await?;
            if p.binding_host_id != host {
                return Err(binding_not_found(port_id, host));
            }
            if p.binding_vif_type == "binding_failed" {
                return Err(binding_error(port_id, host));
            }
            return Ok(BindingRecord {
                port_id: p.id.clone(),
                host: p.binding_host_id.clone(),
                vnic_type: p.binding_vnic_type.clone(),
                profile: p.binding_profile.clone(),
                vif_type: p.binding_vif_type.clone(),
                vif_details: p.binding_vif_details.clone(),
                status: "ACTIVE".into(),
            });
        }
        let mut conn = self.read().await?;
        let old = bindings::inactive(&mut conn, port_id, host)
            .await?
            .ok_or_else(|| binding_not_found(port_id, host))?;
        let network = networks::get(&mut conn, &port.network_id)
            .await?
            .ok_or_else(|| crate::ports::port_not_found(port_id))?;
        drop(conn);
        let vnic_type = vnic_type.unwrap_or_else(|| old.vnic_type.clone());
        let profile = profile.unwrap_or_else(|| old.profile.clone());
        let unchanged = vnic_type == old.vnic_type
            && profile == old.profile
            && !matches!(old.vif_type.as_str(), "unbound" | "binding_failed");
        let binding = if unchanged {
            old.clone()
        } else {
            self.bind_elsewhere(&port, network, host, vnic_type, profile)
                .await?
        };
        if !unchanged {
            let plugin = self.clone();
            let stored = binding.clone();
            let committed = crate::in_tx!(self.store(), |tx| {
                ports::lock(tx, port_id).await?;
                let Some(current) = bindings::inactive(tx, port_id, host).await? else {
                    return Err(binding_not_found(port_id, host));
                };
                bindings::delete_inactive(tx, port_id, host).await?;
                bindings::insert_inactive(tx, &stored).await?;
                plugin
                    .release_unused_dynamic(tx, &port.network_id, &current.levels)
                    .await?;
                Ok::<_, Error>(())
            });
            if let Err(e) = committed {
                let plugin = self.clone();
                let (network_id, levels) = (port.network_id.clone(), binding.levels.clone());
                let _ = crate::in_tx!(self.store(), |tx| plugin
                    .release_unused_dynamic(tx, &network_id, &levels)
                    .await);
                return Err(e);
            }
        }
        Ok(BindingRecord {
            port_id: port_id.to_string(),
            host: host.to_string(),
            vnic_type: binding.vnic_type,
            profile: binding.profile,
            vif_type: binding.vif_type,
            vif_details: binding.vif_details,
            status: "INACTIVE".into(),
        })
    }

    /// Make the port's inactive binding on `host` its active one.
    pub async fn activate_port_binding(
        &self,
        ctx: &RequestContext,
        port_id: &str,
        host: &str,
    ) -> Result<BindingRecord> {
        self.binding_port(ctx, port_id).await?;
        let plugin = self.clone();
        let (port, original, network) = crate::in_tx!(self.store(), |tx| {
            ports::lock(tx, port_id).await?;
            let current = ports::get(tx, port_id)
                .await?
                .ok_or_else(|| crate::ports::port_not_found(port_id))?;
            supports_multiple(&current)?;
            if current.binding_host_id == host {
                return Err(already_active(port_id, host));
            }
            let Some(inactive) = bindings::inactive(tx, port_id, host).await? else {
                return Err(binding_not_found(port_id, host));
            };
            let network = networks::get(tx, &current.network_id)
                .await?
                .ok_or_else(|| crate::ports::port_not_found(port_id))?;
            let mut p = current.clone();
            p.binding_host_id = inactive.host.clone();
            p.binding_vnic_type = inactive.vnic_type.clone();
            p.binding_profile = inactive.profile.clone();
            p.binding_vif_type = inactive.vif_type.clone();
            p.binding_vif_details = inactive.vif_details.clone();
            p.binding_levels = inactive.levels.clone();
            crate::binding::override_mac(&mut p, plugin.core().base_mac);
            p.status = "DOWN".into();
            p.revision_number += 1;
            p.updated_at = neutrino_store::now();
            bindings::delete_inactive(tx, port_id, host).await?;
            // The binding that was active stays, inactive and cleared (Neutron's
            // `_clear_port_binding`): activating it again binds it anew. A port bound
            // nowhere had no binding to keep (Neutron would keep one for host "", which no
            // URL names and which would refuse unbinding the port later).
            if !current.binding_host_id.is_empty() {
                bindings::insert_inactive(
                    tx,
                    &InactiveBinding {
                        port_id: port_id.to_string(),
                        host: current.binding_host_id.clone(),
                        vnic_type: current.binding_vnic_type.clone(),
                        profile: current.binding_profile.clone(),
                        vif_type: "unbound".into(),
                        vif_details: json!({}),
                        levels: Vec::new(),
                    },
                )
                .await?;
            }
            if !ports::update(tx, &p, current.revision_number).await? {
                return Err(StoreError::Retry("port changed while activating".into()).into());
            }
            bindings::set_levels(tx, port_id, &p.binding_levels).await?;
            plugin
                .release_unused_dynamic(tx, &p.network_id, &current.binding_levels)
                .await?;
            if plugin.mech().has_drivers() {
                let ctx = plugin.port_hook_context(&p, Some(&current), &network);
                let staged = plugin.staged_host();
                let services = staged.services();
                let call = Call::Port(rt::Hook::UpdatePrecommit, &ctx);
                staged
                    .with_tx(tx, plugin.mech().precommit(call, &services))
                    .await??;
                staged.journal(plugin.mech().journal_entries(call));
                staged.flush(tx).await?;
            }
            Ok::<_, Error>((p, current, network))
        })?;
        tracing::info!(port = %port_id, from = %original.binding_host_id, to = %host, "activated a port binding");
        self.after_binding_change(&port, &original, &network).await;
        // A binding activated unbound (one cleared by an earlier activation) is bound now,
        // as Neutron binds it when the agent asks for the port.
        let port = self.bind_if_needed(port).await?;
        Ok(BindingRecord {
            port_id: port.id.clone(),
            host: port.binding_host_id.clone(),
            vnic_type: port.binding_vnic_type.clone(),
            profile: port.binding_profile.clone(),
            vif_type: port.binding_vif_type.clone(),
            vif_details: port.binding_vif_details.clone(),
            status: "ACTIVE".into(),
        })
    }

    /// Delete the port's binding on `host`. Deleting the active binding leaves the port bound
    /// nowhere (Neutron would leave it without an active binding at all).
    pub async fn delete_port_binding(
        &self,
        ctx: &RequestContext,
        port_id: &str,
        host: &str,
    ) -> Result<()> {
        self.binding_port(ctx, port_id).await?;
        let plugin = self.clone();
        let changed = crate::in_tx!(self.store(), |tx| {
            ports::lock(tx, port_id).await?;
            let current = ports::get(tx, port_id)
                .await?
                .ok_or_else(|| crate::ports::port_not_found(port_id))?;
            if current.binding_host_id != host {
                let Some(inactive) = bindings::inactive(tx, port_id, host).await? else {
                    return Err(binding_not_found(port_id, host));
                };
                bindings::delete_inactive(tx, port_id, host).await?;
                plugin
                    .release_unused_dynamic(tx, &current.network_id, &inactive.levels)
                    .await?;
                return Ok(None);
            }
            let network = networks::get(tx, &current.network_id)
                .await?
                .ok_or_else(|| crate::ports::port_not_found(port_id))?;
            let mut p = current.clone();
            p.binding_host_id = String::new();
            p.binding_vif_type = "unbound".into();
            p.binding_vif_details = json!({});
            p.binding_levels = Vec::new();
            p.status = "DOWN".into();
            p.revision_number += 1;
            p.updated_at = neutrino_store::now();
            if !ports::update(tx, &p, current.revision_number).await? {
                return Err(StoreError::Retry("port changed while unbinding".into()).into());
            }
            bindings::set_levels(tx, port_id, &[]).await?;
            plugin
                .release_unused_dynamic(tx, &p.network_id, &current.binding_levels)
                .await?;
            if plugin.mech().has_drivers() {
                let ctx = plugin.port_hook_context(&p, Some(&current), &network);
                let staged = plugin.staged_host();
                let services = staged.services();
                let call = Call::Port(rt::Hook::UpdatePrecommit, &ctx);
                staged
                    .with_tx(tx, plugin.mech().precommit(call, &services))
                    .await??;
                staged.journal(plugin.mech().journal_entries(call));
                staged.flush(tx).await?;
            }
            Ok::<_, Error>(Some((p, current, network)))
        })?;
        tracing::info!(port = %port_id, %host, "deleted a port binding");
        if let Some((p, original, network)) = changed {
            self.after_binding_change(&p, &original, &network).await;
        }
        Ok(())
    }

    /// After a committed change of the active binding: the drivers' `update_port_postcommit`
    /// (a failure is logged, the change stands, as in Neutron) and the agents' notification.
    async fn after_binding_change(&self, p: &Port, original: &Port, network: &Network) {
        if self.mech().has_drivers() {
            let ctx = self.port_hook_context(p, Some(original), network);
            let _ = self
                .mech()
                .postcommit(Call::Port(rt::Hook::UpdatePostcommit, &ctx))
                .await;
        }
        self.emit(crate::events::Event::PortUpdated(Box::new(p.clone())));
    }
}
