//! Test driver for the journal (manifest `journal = true`): every postcommit hook posts
//! `{"hook", "id", "network_id", "revision", "tag"}` to `<url>/hooks` (config `url`; `tag` is config
//! `tag`, to tell versions apart), and `periodic` posts
//! `{}` to `<url>/periodic`. A connection failure, a timeout or a 5xx answer is
//! `unavailable` (the host retries); any other non-2xx answer is `conflict` (permanent).
//!
//! Built with feature `sync` it embeds `driver-sync.toml` instead (same name, no `journal`):
//! the benchmark `driver_journal` compares the same code synchronous and journaled. That
//! build must be loaded without the `driver.toml` beside it (they disagree on `journal`).

use neutrino_driver::{
    DriverError, MechanismDriver, NetworkContext, PortContext, SecurityGroupContext,
    SecurityGroupRuleContext, SubnetContext, config, http,
};
use serde_json::{Value, json};

#[derive(Default)]
struct Journaled;

fn post(path: &str, body: Value) -> Result<(), DriverError> {
    let url = config::get("url").ok_or_else(|| DriverError::invalid_input("no url set"))?;
    let response = http::Client::new()
        .timeout_ms(5000)
        .post_json(&format!("{url}{path}"), &body)?;
    match response.status {
        200..=299 => Ok(()),
        500..=599 => Err(DriverError::unavailable(format!(
            "recorder answered {}",
            response.status
        ))),
        status => Err(DriverError::conflict(format!("recorder answered {status}"))),
    }
}

fn hook(name: &str, id: &str, network_id: &str, revision: u64) -> Result<(), DriverError> {
    post(
        "/hooks",
        json!({
            "hook": name,
            "id": id,
            "network_id": network_id,
            "revision": revision,
            "tag": config::get("tag"),
        }),
    )
}

impl MechanismDriver for Journaled {
    fn create_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        hook(
            "create_network",
            &ctx.current.id,
            &ctx.current.id,
            ctx.current.revision_number,
        )
    }
    fn update_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        hook(
            "update_network",
            &ctx.current.id,
            &ctx.current.id,
            ctx.current.revision_number,
        )
    }
    fn delete_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        hook(
            "delete_network",
            &ctx.current.id,
            &ctx.current.id,
            ctx.current.revision_number,
        )
    }
    fn create_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        hook(
            "create_subnet",
            &ctx.current.id,
            &ctx.current.network_id,
            ctx.current.revision_number,
        )
    }
    fn delete_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        hook(
            "delete_subnet",
            &ctx.current.id,
            &ctx.current.network_id,
            ctx.current.revision_number,
        )
    }
    fn create_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        hook(
            "create_port",
            &ctx.current.id,
            &ctx.current.network_id,
            ctx.current.revision_number,
        )
    }
    fn update_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        hook(
            "update_port",
            &ctx.current.id,
            &ctx.current.network_id,
            ctx.current.revision_number,
        )
    }
    fn delete_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        hook(
            "delete_port",
            &ctx.current.id,
            &ctx.current.network_id,
            ctx.current.revision_number,
        )
    }
    fn create_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        hook(
            "create_security_group",
            &ctx.current.id,
            "",
            ctx.current.revision_number,
        )
    }
    fn create_security_group_rule_postcommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        hook(
            "create_security_group_rule",
            &ctx.current.id,
            &ctx.current.security_group_id,
            ctx.current.revision_number,
        )
    }
    fn periodic(&self) -> Result<(), DriverError> {
        post("/periodic", json!({}))
    }
}

#[cfg(not(feature = "sync"))]
neutrino_driver::export!(Journaled);
#[cfg(feature = "sync")]
neutrino_driver::export!(Journaled, manifest = "driver-sync.toml");
