//! Neutrino's `midonet` mechanism driver: networking-midonet's ML2 driver
//! (`midonet/neutron/ml2/mech_driver.py` with the default `MidonetApiClient`) as a
//! WebAssembly component.
//!
//! - postcommit hooks of networks whose type is `midonet` or `uplink` (and their subnets
//!   and ports) send the Neutron dict as it is to the MidoNet API: `POST` to the
//!   collection, `PUT` and `DELETE` to the resource's template URI, with MidoNet's vendor
//!   media types (`application/vnd.org.midonet.neutron.Network-v1+json`, …); other
//!   networks are left alone;
//! - `update_port_precommit` refuses a change of the addresses of a port whose owner
//!   MidoNet does not expect to change them (networking-midonet's `check_update_port`);
//! - security groups (create, delete) and their rules (create, delete) likewise, whatever
//!   the network; a group update sends nothing (networking-midonet's handler does not);
//! - `bind_port` binds the first `midonet` or `uplink` segment at once with vif type
//!   `midonet` (`port_filter`, `connectivity: l2`), status `ACTIVE`: the MidoNet agent on
//!   the host plugs the tap.
//!
//! The login token and the discovered URIs live in the session cache ([`client`]). The
//! manifest sets `journal = true`: postcommits are delivered in the background, in
//! dependency order, and retried while the API is unreachable.

mod client;
mod settings;

use neutrino_driver::http::Method;
use neutrino_driver::{
    BindResult, DriverError, MechanismDriver, NetworkContext, PortContext, SecurityGroupContext,
    SecurityGroupRuleContext, SubnetContext, binding, info,
};
use serde_json::{Map, Value, json};

use crate::client::{Midonet, status_error};
use crate::settings::Settings;

/// networking-midonet's `vif_type`.
const VIF_TYPE_MIDONET: &str = "midonet";
/// The network types MidoNet implements.
const MIDONET_NET_TYPES: [&str; 2] = ["midonet", "uplink"];

/// A resource type of the MidoNet neutron API.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    SecurityGroupRule,
}

impl Kind {
    /// The neutron document's names of the collection and of its `{id}` template.
    fn uris(self) -> (&'static str, &'static str) {
        match self {
            Kind::Network => ("networks", "network_template"),
            Kind::Subnet => ("subnets", "subnet_template"),
            Kind::Port => ("ports", "port_template"),
            Kind::SecurityGroup => ("security_groups", "security_group_template"),
            Kind::SecurityGroupRule => ("security_group_rules", "security_group_rule_template"),
        }
    }

    /// python-midonetclient's `neutron/media_type.py`.
    fn media_type(self) -> &'static str {
        match self {
            Kind::Network => "application/vnd.org.midonet.neutron.Network-v1+json",
            Kind::Subnet => "application/vnd.org.midonet.neutron.Subnet-v1+json",
            Kind::Port => "application/vnd.org.midonet.neutron.Port-v1+json",
            Kind::SecurityGroup => "application/vnd.org.midonet.neutron.SecurityGroup-v1+json",
            Kind::SecurityGroupRule => {
                "application/vnd.org.midonet.neutron.SecurityGroupRule-v1+json"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Update,
    Delete,
}

/// Send one change: `POST <collection>`, `PUT <template>`, `DELETE <template>`. A create
/// MidoNet answers 409 (it has it) and a delete it answers 404 (already gone) count as
/// done, so a change delivered twice does no harm.
fn send(kind: Kind, op: Op, id: &str, body: Option<Value>) -> Result<(), DriverError> {
    let settings = Settings::load()?;
    let api = Midonet::new(&settings);
    let uris = api.uris()?;
    let (collection, template) = kind.uris();
    let uri = |name: &str| {
        uris.get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| DriverError::internal(format!("the MidoNet API names no `{name}`")))
    };
    let media = kind.media_type();
    let what = format!("{op:?} {kind:?} {id}").to_lowercase();
    let response = match op {
        Op::Create => api.request(
            Method::Post,
            &uri(collection)?,
            &[("content-type", media), ("accept", media)],
            body.as_ref(),
        )?,
        Op::Update => api.request(
            Method::Put,
            &uri(template)?.replace("{id}", id),
            &[("content-type", media)],
            body.as_ref(),
        )?,
        Op::Delete => api.request(
            Method::Delete,
            &uri(template)?.replace("{id}", id),
            &[],
            None,
        )?,
    };
    match (op, response.status) {
        (_, 200..=299) => Ok(()),
        (Op::Create, 409) => {
            info!("{what}: MidoNet has it already");
            Ok(())
        }
        (Op::Delete, 404) => {
            info!("{what}: MidoNet has none");
            Ok(())
        }
        _ => Err(status_error(&what, &response)),
    }
}

fn dict(json: &str) -> Value {
    serde_json::from_str::<Map<String, Value>>(json)
        .map(Value::Object)
        .unwrap_or_else(|_| json!({}))
}

/// networking-midonet's `filter_midonet_network`: whether MidoNet implements the network.
fn is_midonet(network: &NetworkContext) -> bool {
    let by_segment = network
        .segments
        .iter()
        .any(|s| MIDONET_NET_TYPES.contains(&s.network_type.as_str()));
    let by_attribute = dict(&network.current.json)
        .get("provider:network_type")
        .and_then(Value::as_str)
        .is_some_and(|t| MIDONET_NET_TYPES.contains(&t));
    by_segment || by_attribute
}

#[derive(Default)]
struct MidonetDriver;

impl MechanismDriver for MidonetDriver {
    fn initialize(&self) -> Result<(), DriverError> {
        Settings::load().map(drop)
    }

    fn create_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        if !is_midonet(ctx) {
            return Ok(());
        }
        let body = dict(&ctx.current.json);
        send(Kind::Network, Op::Create, &ctx.current.id, Some(body))
    }
    fn update_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        if !is_midonet(ctx) {
            return Ok(());
        }
        let body = dict(&ctx.current.json);
        send(Kind::Network, Op::Update, &ctx.current.id, Some(body))
    }
    fn delete_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        if !is_midonet(ctx) {
            return Ok(());
        }
        send(Kind::Network, Op::Delete, &ctx.current.id, None)
    }

    fn create_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        if !is_midonet(&ctx.network) {
            return Ok(());
        }
        let body = dict(&ctx.current.json);
        send(Kind::Subnet, Op::Create, &ctx.current.id, Some(body))
    }
    fn update_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        if !is_midonet(&ctx.network) {
            return Ok(());
        }
        let body = dict(&ctx.current.json);
        send(Kind::Subnet, Op::Update, &ctx.current.id, Some(body))
    }
    fn delete_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        if !is_midonet(&ctx.network) {
            return Ok(());
        }
        send(Kind::Subnet, Op::Delete, &ctx.current.id, None)
    }

    fn create_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        if !is_midonet(&ctx.network) {
            return Ok(());
        }
        if ctx.current.device_owner == "network:router_gateway" && ctx.current.fixed_ips.is_empty()
        {
            return Err(DriverError::invalid_input(format!(
                "No IPs assigned to the gateway port for router {}",
                ctx.current.device_id
            )));
        }
        let body = dict(&ctx.current.json);
        send(Kind::Port, Op::Create, &ctx.current.id, Some(body))
    }
    /// networking-midonet's `check_update_port`: the addresses of a port MidoNet does not
    /// expect to change (anything but an instance's, a router interface's or an unowned
    /// port) stay as they are.
    fn update_port_precommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        if !is_midonet(&ctx.network) {
            return Ok(());
        }
        let Some(original) = &ctx.original else {
            return Ok(());
        };
        let owner = ctx.current.device_owner.as_str();
        let may_change = owner.is_empty()
            || owner.starts_with("compute:")
            || owner.starts_with("network:router_interface");
        if original.fixed_ips != ctx.current.fixed_ips && !may_change {
            return Err(DriverError::conflict(format!(
                "Operation fixed_ips update is not supported for device_owner {owner} on port {}.",
                ctx.current.id
            )));
        }
        Ok(())
    }
    fn update_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        if !is_midonet(&ctx.network) {
            return Ok(());
        }
        let body = dict(&ctx.current.json);
        send(Kind::Port, Op::Update, &ctx.current.id, Some(body))
    }
    fn delete_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        if !is_midonet(&ctx.network) {
            return Ok(());
        }
        send(Kind::Port, Op::Delete, &ctx.current.id, None)
    }

    fn create_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        let body = dict(&ctx.current.json);
        send(Kind::SecurityGroup, Op::Create, &ctx.current.id, Some(body))
    }
    fn delete_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        send(Kind::SecurityGroup, Op::Delete, &ctx.current.id, None)
    }
    fn create_security_group_rule_postcommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        let body = dict(&ctx.current.json);
        send(
            Kind::SecurityGroupRule,
            Op::Create,
            &ctx.current.id,
            Some(body),
        )
    }
    fn delete_security_group_rule_postcommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        send(Kind::SecurityGroupRule, Op::Delete, &ctx.current.id, None)
    }

    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        let Some(segment) = ctx
            .segments_to_bind
            .iter()
            .find(|s| MIDONET_NET_TYPES.contains(&s.network_type.as_str()))
        else {
            return Ok(BindResult::NotBound);
        };
        Ok(binding::bound_with_status(
            segment,
            VIF_TYPE_MIDONET,
            json!({"port_filter": true, "connectivity": "l2"}),
            "ACTIVE",
        ))
    }
}

neutrino_driver::export!(MidonetDriver);
