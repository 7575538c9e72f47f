//! Test driver for what contract 0.2 adds:
//! - `initialize` deserializes the whole configuration into [`Settings`]
//!   (numbers, booleans, a list of switch tables); a wrong type refuses the
//!   load with the key named;
//! - `create_port_precommit` counts with the host's atomic `increment`
//!   (`ports`), claims `first` with `compare-and-set` (the first port wins)
//!   and stores the wall-clock second it ran at (`time/created`);
//! - `create_port_postcommit` gets a session token through single flight: the
//!   call that fills it "logs in" (counts `logins`, sleeps `login_ms` on the
//!   monotonic clock); every call counts `postcommits`;
//! - `bind_port` binds the first segment with vif type `platform` and
//!   `vif_details` `{"retries": .., "switches": [names], "verify_tls": ..,
//!   "interfaces": n, "password_chars": n}` (the secret's length, never its value);
//! - every security group hook counts `sg/<hook>` (and refuses when config
//!   `refuse` names it).

use neutrino_driver::{
    BindResult, DriverError, MechanismDriver, PortContext, SecurityGroupContext,
    SecurityGroupRuleContext, binding, config, session, state, time,
};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// The driver's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    retries: u32,
    #[serde(default)]
    verify_tls: bool,
    #[serde(default)]
    login_ms: u64,
    #[serde(default)]
    refuse: Option<String>,
    #[serde(default)]
    switches: Vec<Switch>,
    /// A secret (masked by the API): `bind_port` reports only its length.
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    name: String,
    #[serde(default)]
    host_interfaces: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    password: Option<String>,
}

#[derive(Default)]
struct Platform;

fn sg(hook: &str) -> Result<(), DriverError> {
    let settings: Settings = config::load()?;
    if settings.refuse.as_deref() == Some(hook) {
        return Err(DriverError::conflict(format!("platform refuses {hook}")));
    }
    state::increment(&format!("sg/{hook}"), 1)?;
    Ok(())
}

impl MechanismDriver for Platform {
    fn initialize(&self) -> Result<(), DriverError> {
        let _: Settings = config::load()?;
        Ok(())
    }

    fn create_port_precommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        state::increment("ports", 1)?;
        state::compare_and_set("first", None, Some(ctx.current.id.as_bytes()))?;
        state::set("time/created", time::unix_seconds().to_string().as_bytes())?;
        Ok(())
    }

    fn create_port_postcommit(&self, _ctx: &PortContext) -> Result<(), DriverError> {
        let settings: Settings = config::load()?;
        let started = time::monotonic();
        let token = session::get_or_fill(
            "token",
            Duration::from_secs(5),
            Duration::from_secs(600),
            || -> Result<Vec<u8>, DriverError> {
                state::increment("logins", 1)?;
                std::thread::sleep(Duration::from_millis(settings.login_ms));
                Ok(b"token-1".to_vec())
            },
        )?;
        if token != b"token-1" {
            return Err(DriverError::internal("wrong token"));
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(DriverError::internal("the monotonic clock jumped"));
        }
        state::increment("postcommits", 1)?;
        Ok(())
    }

    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        let settings: Settings = config::load()?;
        let switches: Vec<&str> = settings.switches.iter().map(|s| s.name.as_str()).collect();
        let interfaces: usize = settings
            .switches
            .iter()
            .flat_map(|s| s.host_interfaces.values())
            .map(Vec::len)
            .sum();
        Ok(match ctx.segments_to_bind.first() {
            Some(segment) => binding::bound(
                segment,
                "platform",
                json!({
                    "retries": settings.retries,
                    "verify_tls": settings.verify_tls,
                    "switches": switches,
                    "interfaces": interfaces,
                    "password_chars": settings.password.as_deref().map(str::len),
                }),
            ),
            None => BindResult::NotBound,
        })
    }

    fn create_security_group_precommit(&self, _: &SecurityGroupContext) -> Result<(), DriverError> {
        sg("create_security_group_precommit")
    }
    fn create_security_group_postcommit(
        &self,
        _: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        sg("create_security_group_postcommit")
    }
    fn update_security_group_precommit(&self, _: &SecurityGroupContext) -> Result<(), DriverError> {
        sg("update_security_group_precommit")
    }
    fn update_security_group_postcommit(
        &self,
        _: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        sg("update_security_group_postcommit")
    }
    fn delete_security_group_precommit(&self, _: &SecurityGroupContext) -> Result<(), DriverError> {
        sg("delete_security_group_precommit")
    }
    fn delete_security_group_postcommit(
        &self,
        _: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        sg("delete_security_group_postcommit")
    }
    fn create_security_group_rule_precommit(
        &self,
        _: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        sg("create_security_group_rule_precommit")
    }
    fn create_security_group_rule_postcommit(
        &self,
        _: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        sg("create_security_group_rule_postcommit")
    }
    fn delete_security_group_rule_precommit(
        &self,
        _: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        sg("delete_security_group_rule_precommit")
    }
    fn delete_security_group_rule_postcommit(
        &self,
        _: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        sg("delete_security_group_rule_postcommit")
    }
}

neutrino_driver::export!(Platform);
