//! `/v2.0/security-group-rules` (no update but for the description, as in Neutron).

use std::sync::LazyLock;

use neutrino_ml2::RequestContext;
use neutrino_ml2::security_groups::RuleCreate;
use neutrino_ml2::store::model::SecurityGroupRule;
use neutrino_ml2::store::query::{Condition, ListQuery};
use serde_json::{Map, Value};

use super::Resource;
use crate::attrs::{Attr, BodyExt, Kind, attr, owner, standard};
use crate::error::ApiResult;
use crate::{AppState, views};

/// `belongs_to_default_sg`: the rule's group is a project's default group (or not).
fn belongs_filter(values: &[String]) -> ApiResult<Condition> {
    let mut wanted = Vec::new();
    for v in values {
        wanted.push(
            crate::attrs::to_bool(&Value::String(v.clone())).ok_or_else(|| {
                crate::error::invalid_input(format!(
                    "Invalid input for belongs_to_default_sg. Reason: '{v}' cannot be converted to \
                 boolean."
                ))
            })?,
        );
    }
    let default = "security_group_id IN (SELECT security_group_id FROM default_security_groups)";
    Ok(match (wanted.contains(&true), wanted.contains(&false)) {
        (true, true) => Condition::raw("1 = 1", vec![]),
        (true, false) => Condition::raw(default, vec![]),
        _ => Condition::raw(format!("NOT ({default})"), vec![]),
    })
}

/// The attribute map of rules.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    let mut a = vec![
        attr("security_group_id", Kind::Str(36))
            .required()
            .column("security_group_id"),
        attr("direction", Kind::OneOf(&["ingress", "egress"]))
            .required()
            .column("direction"),
        attr("ethertype", Kind::OneOf(&["IPv4", "IPv6"]))
            .post()
            .column("ethertype"),
        attr("protocol", Kind::StrOrInt(40))
            .post()
            .nullable()
            .column("protocol"),
        attr("port_range_min", Kind::Port)
            .post()
            .nullable()
            .column("port_range_min"),
        attr("port_range_max", Kind::Port)
            .post()
            .nullable()
            .column("port_range_max"),
        attr("remote_ip_prefix", Kind::IpPrefix)
            .post()
            .nullable()
            .column("remote_ip_prefix"),
        attr("normalized_cidr", Kind::Cidr),
        // Not checked as a UUID: looked up like any other, so a bad one is not found.
        attr("remote_group_id", Kind::Str(255))
            .post()
            .nullable()
            .column("remote_group_id"),
        attr("remote_address_group_id", Kind::Uuid)
            .post()
            .nullable()
            .column("remote_address_group_id"),
        attr("belongs_to_default_sg", Kind::Bool).filter_with(belongs_filter),
    ];
    standard(&mut a);
    a
});

/// The rules collection.
pub struct SecurityGroupRules;

impl Resource for SecurityGroupRules {
    const MEMBER: &'static str = "security_group_rule";
    const COLLECTION: &'static str = "security-group-rules";
    const BODY_COLLECTION: &'static str = "security_group_rules";
    type Item = SecurityGroupRule;
    type View<'a> = views::RuleView<'a>;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view<'a>(
        item: &'a SecurityGroupRule,
        _ctx: &RequestContext,
        _shown: crate::policy::Shown,
    ) -> views::RuleView<'a> {
        views::rule(item)
    }
    fn id(item: &SecurityGroupRule) -> &str {
        &item.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<SecurityGroupRule>> {
        let mut reqs = Vec::with_capacity(bodies.len());
        for m in &bodies {
            reqs.push(RuleCreate {
                project_id: owner(m, ctx)?,
                security_group_id: m.str_of("security_group_id").unwrap_or_default(),
                direction: m.str_of("direction").unwrap_or_default(),
                ethertype: m.str_of("ethertype").unwrap_or_else(|| "IPv4".into()),
                protocol: m.str_of("protocol"),
                port_range_min: m.int_of("port_range_min"),
                port_range_max: m.int_of("port_range_max"),
                remote_ip_prefix: m.str_of("remote_ip_prefix").and_then(|p| p.parse().ok()),
                remote_group_id: m.str_of("remote_group_id"),
                remote_address_group_id: m.str_of("remote_address_group_id"),
                description: m.str_of("description").unwrap_or_default(),
            });
        }
        Ok(s.plugin.create_security_group_rules(ctx, reqs).await?)
    }
    async fn list(
        s: &AppState,
        ctx: &RequestContext,
        q: ListQuery,
    ) -> ApiResult<Vec<SecurityGroupRule>> {
        Ok(s.plugin.list_security_group_rules(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<SecurityGroupRule> {
        Ok(s.plugin.get_security_group_rule(ctx, id).await?)
    }
    async fn update(
        _s: &AppState,
        _ctx: &RequestContext,
        _id: &str,
        _m: Map<String, Value>,
        _if_match: Option<i64>,
    ) -> ApiResult<SecurityGroupRule> {
        Err(crate::error::ApiError(neutrino_ml2::Error::neutron(
            "HTTPMethodNotAllowed",
            405,
            "Security group rules cannot be updated.",
        )))
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        _if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_security_group_rule(ctx, id).await?)
    }
}
