//! `/v2.0/default-security-group-rules` (extension `security-groups-default-rules`) and
//! `/v2.0/security-groups-default-statefulness` (`security-groups-default-statefulness`).

use std::sync::LazyLock;

use neutrino_ml2::RequestContext;
use neutrino_ml2::sg_defaults::DefaultRuleCreate;
use neutrino_ml2::store::query::ListQuery;
use neutrino_ml2::store::sg_defaults::{DefaultRule, Statefulness};
use serde::Serialize;
use serde_json::{Map, Value};

use super::Resource;
use crate::AppState;
use crate::attrs::{Attr, BodyExt, Kind, attr, check_value, to_bool};
use crate::error::{ApiResult, bad_request, invalid_input};

/// Neutron's `convert_ethertype_to_case_insensitive`.
fn ethertype(m: &Map<String, Value>) -> ApiResult<String> {
    match m.get("ethertype") {
        None | Some(Value::Null) => Ok("IPv4".into()),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("ipv4") => Ok("IPv4".into()),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("ipv6") => Ok("IPv6".into()),
        Some(other) => Err(invalid_input(format!(
            "Invalid input for ethertype. Reason: '{}' is not in ['IPv4', 'IPv6'].",
            other
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| other.to_string())
        ))),
    }
}

/// The attribute map of default security group rules.
pub static RULE_ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    vec![
        attr("id", Kind::Uuid).column("id"),
        attr("tenant_id", Kind::Str(255)).post(),
        attr("project_id", Kind::Str(255)).post(),
        attr("description", Kind::Str(255))
            .post()
            .filter("description"),
        attr("remote_group_id", Kind::Str(36))
            .post()
            .nullable()
            .column("remote_group_id"),
        attr("remote_address_group_id", Kind::Uuid)
            .post()
            .nullable()
            .column("remote_address_group_id"),
        attr("direction", Kind::OneOf(&["ingress", "egress"]))
            .required()
            .column("direction"),
        attr("protocol", Kind::Str(40))
            .post()
            .nullable()
            .column("protocol"),
        attr("port_range_min", Kind::Int(0, 65535))
            .post()
            .nullable()
            .column("port_range_min"),
        attr("port_range_max", Kind::Int(0, 65535))
            .post()
            .nullable()
            .column("port_range_max"),
        attr("ethertype", Kind::Str(40)).post().column("ethertype"),
        attr("remote_ip_prefix", Kind::Cidr)
            .post()
            .nullable()
            .column("remote_ip_prefix"),
        attr("used_in_default_sg", Kind::Bool)
            .post()
            .filter("used_in_default_sg"),
        attr("used_in_non_default_sg", Kind::Bool)
            .post()
            .filter("used_in_non_default_sg"),
        attr("created_at", Kind::Str(64)).column("created_at"),
        attr("updated_at", Kind::Str(64)).column("updated_at"),
        attr("revision_number", Kind::Int(0, i64::MAX)).column("revision_number"),
    ]
});

/// A default security group rule on the wire.
#[derive(Serialize)]
pub struct DefaultRuleView<'a> {
    id: &'a str,
    direction: &'a str,
    ethertype: &'a str,
    protocol: Option<&'a str>,
    port_range_min: Option<i64>,
    port_range_max: Option<i64>,
    remote_ip_prefix: Option<&'a str>,
    remote_group_id: Option<&'a str>,
    remote_address_group_id: Option<&'a str>,
    description: &'a str,
    used_in_default_sg: bool,
    used_in_non_default_sg: bool,
    created_at: &'a str,
    updated_at: &'a str,
    revision_number: i64,
}

/// The default security group rules collection (no update: every attribute is fixed).
pub struct DefaultSecurityGroupRules;

impl Resource for DefaultSecurityGroupRules {
    const MEMBER: &'static str = "default_security_group_rule";
    const COLLECTION: &'static str = "default-security-group-rules";
    const BODY_COLLECTION: &'static str = "default_security_group_rules";
    const BULK: bool = false;
    type Item = DefaultRule;
    type View<'a> = DefaultRuleView<'a>;

    fn attrs() -> &'static [Attr] {
        &RULE_ATTRS
    }
    fn view<'a>(
        r: &'a DefaultRule,
        _ctx: &RequestContext,
        _shown: crate::policy::Shown,
    ) -> DefaultRuleView<'a> {
        DefaultRuleView {
            id: &r.id,
            direction: &r.direction,
            ethertype: &r.ethertype,
            protocol: r.protocol.as_deref(),
            port_range_min: r.port_range_min,
            port_range_max: r.port_range_max,
            remote_ip_prefix: r.remote_ip_prefix.as_deref(),
            remote_group_id: r.remote_group_id.as_deref(),
            remote_address_group_id: r.remote_address_group_id.as_deref(),
            description: &r.description,
            used_in_default_sg: r.used_in_default_sg,
            used_in_non_default_sg: r.used_in_non_default_sg,
            created_at: &r.created_at,
            updated_at: &r.updated_at,
            revision_number: r.revision_number,
        }
    }
    fn id(r: &DefaultRule) -> &str {
        &r.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<DefaultRule>> {
        let m = &bodies[0];
        let remote_group_id = m.str_of("remote_group_id");
        if let Some(g) = &remote_group_id
            && g != neutrino_ml2::sg_defaults::PARENT
        {
            check_value("remote_group_id", Kind::Uuid, &Value::String(g.clone()))?;
        }
        let protocol = match m.get("protocol") {
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => m.str_of("protocol"),
        };
        let r = DefaultRuleCreate {
            direction: m.str_of("direction").unwrap_or_default(),
            ethertype: ethertype(m)?,
            protocol,
            port_range_min: m.int_of("port_range_min"),
            port_range_max: m.int_of("port_range_max"),
            remote_ip_prefix: m.str_of("remote_ip_prefix").and_then(|p| p.parse().ok()),
            remote_group_id,
            remote_address_group_id: m.str_of("remote_address_group_id"),
            description: m.str_of("description").unwrap_or_default(),
            used_in_default_sg: m.bool_of("used_in_default_sg").unwrap_or(false),
            used_in_non_default_sg: m.bool_of("used_in_non_default_sg").unwrap_or(true),
        };
        Ok(vec![
            s.plugin.create_default_security_group_rule(ctx, r).await?,
        ])
    }
    async fn list(s: &AppState, ctx: &RequestContext, q: ListQuery) -> ApiResult<Vec<DefaultRule>> {
        Ok(s.plugin.list_default_security_group_rules(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<DefaultRule> {
        Ok(s.plugin.get_default_security_group_rule(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        _m: Map<String, Value>,
        _if_match: Option<i64>,
    ) -> ApiResult<DefaultRule> {
        // Every attribute is read-only after create, so a checked body is empty.
        Ok(s.plugin.get_default_security_group_rule(ctx, id).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        _if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_default_security_group_rule(ctx, id).await?)
    }
}

/// The attribute map of statefulness defaults.
pub static STATEFULNESS_ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    vec![
        attr("id", Kind::Uuid).column("id"),
        attr("project_id", Kind::Str(255))
            .post()
            .nullable()
            .column("project_id"),
        attr("stateful", Kind::Bool).rw().column("stateful"),
    ]
});

/// A statefulness default on the wire.
#[derive(Serialize)]
pub struct StatefulnessView<'a> {
    id: &'a str,
    project_id: Option<&'a str>,
    stateful: bool,
}

/// The statefulness defaults collection (its member and collection keys are the same word,
/// as in Neutron).
pub struct SgDefaultStatefulness;

impl Resource for SgDefaultStatefulness {
    const MEMBER: &'static str = "security_groups_default_statefulness";
    const COLLECTION: &'static str = "security-groups-default-statefulness";
    const BODY_COLLECTION: &'static str = "security_groups_default_statefulness";
    const BULK: bool = false;
    type Item = Statefulness;
    type View<'a> = StatefulnessView<'a>;

    fn attrs() -> &'static [Attr] {
        &STATEFULNESS_ATTRS
    }
    fn view<'a>(
        s: &'a Statefulness,
        _ctx: &RequestContext,
        _shown: crate::policy::Shown,
    ) -> StatefulnessView<'a> {
        StatefulnessView {
            id: &s.id,
            project_id: s.project_id.as_deref(),
            stateful: s.stateful,
        }
    }
    fn id(s: &Statefulness) -> &str {
        &s.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<Statefulness>> {
        let m = &bodies[0];
        // Absent: the caller's project; null: system-wide (only admins may name a project
        // other than their own, as Neutron's `_validate_privileges` has it).
        let project_id = match m.get("project_id") {
            None => Some(ctx.project_id.clone()),
            Some(Value::Null) => None,
            Some(v) => Some(v.as_str().unwrap_or_default().to_string()),
        };
        if project_id.as_deref() != Some(ctx.project_id.as_str()) && !ctx.is_admin {
            return Err(bad_request(
                "Specifying 'project_id' other than the authenticated project in request is not \
                 allowed for the current user.",
            ));
        }
        let stateful = match m.get("stateful") {
            None | Some(Value::Null) => true,
            Some(v) => to_bool(v).unwrap_or(true),
        };
        Ok(vec![
            s.plugin
                .create_sg_default_statefulness(ctx, project_id, stateful)
                .await?,
        ])
    }
    async fn list(
        s: &AppState,
        ctx: &RequestContext,
        q: ListQuery,
    ) -> ApiResult<Vec<Statefulness>> {
        Ok(s.plugin.list_sg_default_statefulness(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<Statefulness> {
        Ok(s.plugin.get_sg_default_statefulness(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        _if_match: Option<i64>,
    ) -> ApiResult<Statefulness> {
        Ok(s.plugin
            .update_sg_default_statefulness(ctx, id, m.bool_of("stateful"))
            .await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        _if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_sg_default_statefulness(ctx, id).await?)
    }
}
