//! hello-driver: a minimal third-party mechanism driver. Copy it.
//!
//! - Logs the hooks it sees.
//! - Counts created ports in its state (`ports_created`); the count is
//!   written in `create_port_precommit`, so it is part of the port's
//!   transaction and rolled back with it.
//! - Binds ports on `flat` and `vlan` segments with vif type `other` and
//!   `vif_details = {"marker": <config vif_marker, default "hello">}`.
//! - In `create_port_postcommit`, `POST`s the new port to
//!   `<config controller_url>/ports` when a controller is configured.
//!
//! Configuration: `controller_url` (optional), `vif_marker` (optional).

use neutrino_driver::{
    BindResult, DriverError, MechanismDriver, NetworkContext, PortContext, binding, config, http,
    info, state,
};
use serde_json::json;

#[derive(Default)]
struct Hello;

impl MechanismDriver for Hello {
    fn initialize(&self) -> Result<(), DriverError> {
        let controller = config::get("controller_url").unwrap_or_else(|| "none".into());
        info!("hello-driver ready (controller: {controller})");
        Ok(())
    }

    fn create_network_precommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        info!("create_network_precommit {}", ctx.current.id);
        Ok(())
    }

    fn create_port_precommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        let count = state::increment("ports_created", 1)?;
        info!("create_port_precommit {} (port #{count})", ctx.current.id);
        Ok(())
    }

    fn create_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        info!("create_port_postcommit {}", ctx.current.id);
        let Some(controller) = config::get("controller_url") else {
            return Ok(());
        };
        let port = &ctx.current;
        let body = json!({
            "port": {
                "id": port.id,
                "network_id": port.network_id,
                "mac_address": port.mac_address,
                "host": ctx.host,
                "fixed_ips": port.fixed_ips.iter().map(|ip| &ip.ip_address).collect::<Vec<_>>(),
            }
        });
        let url = format!("{}/ports", controller.trim_end_matches('/'));
        let response = http::Client::new()
            .timeout_ms(5_000)
            .post_json(&url, &body)?;
        if !response.is_success() {
            return Err(DriverError::unavailable(format!(
                "controller answered {} to POST {url}",
                response.status
            )));
        }
        Ok(())
    }

    fn delete_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        info!("delete_port_postcommit {}", ctx.current.id);
        Ok(())
    }

    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        let marker = config::get("vif_marker").unwrap_or_else(|| "hello".into());
        let segment = ctx
            .segments_to_bind
            .iter()
            .find(|s| s.network_type == "flat" || s.network_type == "vlan");
        Ok(match segment {
            Some(segment) => {
                info!(
                    "binding port {} on {} segment {}",
                    ctx.current.id, segment.network_type, segment.id
                );
                binding::bound(
                    segment,
                    binding::VIF_TYPE_OTHER,
                    json!({ "marker": marker }),
                )
            }
            None => BindResult::NotBound,
        })
    }
}

neutrino_driver::export!(Hello);
