//! Neutrino's `opendaylight` mechanism driver: networking-odl's `opendaylight_v2`
//! (`networking_odl/ml2/mech_driver_v2.py`) as a WebAssembly component.
//!
//! - precommit hooks keep a copy of every network, subnet, port, security group and rule
//!   in driver state (inside the request's transaction), for a full resync;
//! - postcommit hooks send the change to ODL's neutron northbound (`POST`, `PUT`,
//!   `DELETE` on `<url>/<collection>`, bodies filtered as networking-odl v2 does, see
//!   [`filters`]), after checking, at most once per `maintenance_interval`, that ODL
//!   still has its state (the canary network; otherwise [`sync::full_sync`]), and
//!   reading ODL's host configurations at most once per `restconf_poll_interval`;
//! - `bind_port` binds from the kept host configurations ([`hostconfigs`]);
//! - `periodic` (every 5 s, throttled by the same two settings) does the canary check
//!   and the host configuration read when no change is flowing.
//!
//! The manifest sets `journal = true`: every postcommit is recorded in the request's
//! transaction and delivered in the background, in dependency order, retried while ODL is
//! unreachable (networking-odl's journal, provided by the host).
//!
//! Failures to reach ODL (refused connections, timeouts, 5xx) are `unavailable`, so a
//! journaled hook is delivered again later; other refusals are permanent.

mod client;
mod filters;
mod hostconfigs;
mod resources;
mod settings;
mod sync;

use neutrino_driver::{
    BindResult, DriverError, MechanismDriver, NetworkContext, PortContext, SecurityGroupContext,
    SecurityGroupRuleContext, SubnetContext,
};
use serde_json::{Map, Value, json};

use crate::client::Odl;
use crate::resources::{Kind, Op, dict, id_of};
use crate::settings::Settings;

#[derive(Default)]
struct OpenDaylight;

/// Send one change, after the maintenance that is due.
fn forward(
    kind: Kind,
    op: Op,
    id: &str,
    data: Map<String, Value>,
    network_project: Option<&str>,
) -> Result<(), DriverError> {
    let settings = Settings::load()?;
    let odl = Odl::new(&settings);
    sync::maintain(&odl, &settings)?;
    hostconfigs::refresh(&odl, &settings);
    sync::send(&odl, kind, op, id, data, network_project)
}

/// A port's dict with an empty project filled from its network (what a resync sends).
fn port_dict(ctx: &PortContext) -> Map<String, Value> {
    let mut data = dict(&ctx.current.json);
    let empty = data
        .get("tenant_id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if empty {
        data.insert("tenant_id".into(), json!(ctx.network.current.project_id));
    }
    data
}

/// The rules listed in a security group's dict.
fn rules_of(group: &Map<String, Value>) -> Vec<Map<String, Value>> {
    group
        .get("security_group_rules")
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| r.as_object().cloned())
                .collect()
        })
        .unwrap_or_default()
}

impl MechanismDriver for OpenDaylight {
    fn initialize(&self) -> Result<(), DriverError> {
        Settings::load().map(drop)
    }

    fn create_network_precommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        resources::keep(Kind::Network, &ctx.current.id, &dict(&ctx.current.json))
    }
    fn create_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        let data = dict(&ctx.current.json);
        forward(Kind::Network, Op::Create, &ctx.current.id, data, None)
    }
    fn update_network_precommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        self.create_network_precommit(ctx)
    }
    fn update_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        let data = dict(&ctx.current.json);
        forward(Kind::Network, Op::Update, &ctx.current.id, data, None)
    }
    fn delete_network_precommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        resources::forget(Kind::Network, &ctx.current.id)
    }
    fn delete_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        forward(Kind::Network, Op::Delete, &ctx.current.id, Map::new(), None)
    }

    fn create_subnet_precommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        resources::keep(Kind::Subnet, &ctx.current.id, &dict(&ctx.current.json))
    }
    fn create_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        let data = dict(&ctx.current.json);
        forward(Kind::Subnet, Op::Create, &ctx.current.id, data, None)
    }
    fn update_subnet_precommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        self.create_subnet_precommit(ctx)
    }
    fn update_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        let data = dict(&ctx.current.json);
        forward(Kind::Subnet, Op::Update, &ctx.current.id, data, None)
    }
    fn delete_subnet_precommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        resources::forget(Kind::Subnet, &ctx.current.id)
    }
    fn delete_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        forward(Kind::Subnet, Op::Delete, &ctx.current.id, Map::new(), None)
    }

    fn create_port_precommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        resources::keep(Kind::Port, &ctx.current.id, &port_dict(ctx))
    }
    fn create_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        let project = ctx.network.current.project_id.as_str();
        forward(
            Kind::Port,
            Op::Create,
            &ctx.current.id,
            dict(&ctx.current.json),
            Some(project),
        )
    }
    fn update_port_precommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        self.create_port_precommit(ctx)
    }
    fn update_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        let project = ctx.network.current.project_id.as_str();
        forward(
            Kind::Port,
            Op::Update,
            &ctx.current.id,
            dict(&ctx.current.json),
            Some(project),
        )
    }
    fn delete_port_precommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        resources::forget(Kind::Port, &ctx.current.id)
    }
    fn delete_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        forward(Kind::Port, Op::Delete, &ctx.current.id, Map::new(), None)
    }

    fn create_security_group_precommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        let group = dict(&ctx.current.json);
        for rule in rules_of(&group) {
            resources::keep(Kind::SecurityGroupRule, &id_of(&rule), &rule)?;
        }
        resources::keep(Kind::SecurityGroup, &ctx.current.id, &group)
    }
    /// The group, then each of its rules (networking-odl journals the rules Neutron
    /// created with the group as rule creates).
    fn create_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        let group = dict(&ctx.current.json);
        let rules = rules_of(&group);
        forward(
            Kind::SecurityGroup,
            Op::Create,
            &ctx.current.id,
            group,
            None,
        )?;
        for rule in rules {
            forward(
                Kind::SecurityGroupRule,
                Op::Create,
                &id_of(&rule),
                rule,
                None,
            )?;
        }
        Ok(())
    }
    fn update_security_group_precommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        resources::keep(
            Kind::SecurityGroup,
            &ctx.current.id,
            &dict(&ctx.current.json),
        )
    }
    fn update_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        let group = dict(&ctx.current.json);
        forward(
            Kind::SecurityGroup,
            Op::Update,
            &ctx.current.id,
            group,
            None,
        )
    }
    fn delete_security_group_precommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        for rule in rules_of(&dict(&ctx.current.json)) {
            resources::forget(Kind::SecurityGroupRule, &id_of(&rule))?;
        }
        resources::forget(Kind::SecurityGroup, &ctx.current.id)
    }
    /// Each rule, then the group (networking-odl journals the rules Neutron deletes with
    /// the group as rule deletes).
    fn delete_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        for rule in rules_of(&dict(&ctx.current.json)) {
            forward(
                Kind::SecurityGroupRule,
                Op::Delete,
                &id_of(&rule),
                Map::new(),
                None,
            )?;
        }
        forward(
            Kind::SecurityGroup,
            Op::Delete,
            &ctx.current.id,
            Map::new(),
            None,
        )
    }
    fn create_security_group_rule_precommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        let rule = dict(&ctx.current.json);
        resources::keep(Kind::SecurityGroupRule, &ctx.current.id, &rule)
    }
    fn create_security_group_rule_postcommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        let rule = dict(&ctx.current.json);
        forward(
            Kind::SecurityGroupRule,
            Op::Create,
            &ctx.current.id,
            rule,
            None,
        )
    }
    fn delete_security_group_rule_precommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        resources::forget(Kind::SecurityGroupRule, &ctx.current.id)
    }
    fn delete_security_group_rule_postcommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        let id = &ctx.current.id;
        forward(Kind::SecurityGroupRule, Op::Delete, id, Map::new(), None)
    }

    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        hostconfigs::bind(ctx)
    }

    /// networking-odl's maintenance and hostconfig polling: read the host configurations
    /// when `restconf_poll_interval` says so, and check the canary (resyncing ODL if it
    /// lost its state) when `maintenance_interval` says so.
    fn periodic(&self) -> Result<(), DriverError> {
        let settings = Settings::load()?;
        let odl = Odl::new(&settings);
        hostconfigs::refresh(&odl, &settings);
        sync::maintain(&odl, &settings)
    }
}

neutrino_driver::export!(OpenDaylight);
