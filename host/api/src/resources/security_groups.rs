//! `/v2.0/security-groups`.

use std::sync::LazyLock;

use neutrino_ml2::RequestContext;
use neutrino_ml2::security_groups::{SecurityGroupCreate, SecurityGroupUpdate};
use neutrino_ml2::store::model::SecurityGroup;
use neutrino_ml2::store::query::{Condition, ListQuery};
use serde_json::{Map, Value};

use super::Resource;
use crate::attrs::{Attr, BodyExt, Kind, attr, owner, standard};
use crate::error::ApiResult;
use crate::{AppState, views};

/// `shared` (`security-groups-shared-filtering`): a group is shared with the caller through
/// an RBAC entry (for its project or every project), Neutron's RBAC predicate.
fn shared_filter(values: &[String], ctx: &RequestContext) -> ApiResult<Condition> {
    let mut wanted = Vec::new();
    for v in values {
        wanted.push(
            crate::attrs::to_bool(&Value::String(v.clone())).ok_or_else(|| {
                crate::error::invalid_input(format!(
                    "Invalid input for shared. Reason: '{v}' cannot be converted to boolean."
                ))
            })?,
        );
    }
    Ok(crate::resources::address_scopes::shared_condition(
        "security_group",
        &wanted,
        &ctx.project_id,
    ))
}

/// The attribute map of security groups.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    let mut a = vec![
        attr("name", Kind::Str(255)).rw().column("name"),
        attr("stateful", Kind::Bool).rw().column("stateful"),
        attr("shared", Kind::Bool).filter_for_caller(shared_filter),
        attr("security_group_rules", Kind::List),
    ];
    standard(&mut a);
    a
});

/// The security groups collection.
pub struct SecurityGroups;

impl Resource for SecurityGroups {
    const MEMBER: &'static str = "security_group";
    const COLLECTION: &'static str = "security-groups";
    const BODY_COLLECTION: &'static str = "security_groups";
    type Item = SecurityGroup;
    type View<'a> = views::SecurityGroupView<'a>;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view<'a>(
        item: &'a SecurityGroup,
        _ctx: &RequestContext,
        _shown: crate::policy::Shown,
    ) -> views::SecurityGroupView<'a> {
        views::security_group(item)
    }
    fn id(item: &SecurityGroup) -> &str {
        &item.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<SecurityGroup>> {
        let mut reqs = Vec::with_capacity(bodies.len());
        for m in &bodies {
            reqs.push(SecurityGroupCreate {
                project_id: owner(m, ctx)?,
                name: m.str_of("name").unwrap_or_default(),
                description: m.str_of("description").unwrap_or_default(),
                stateful: m.bool_of("stateful"),
            });
        }
        Ok(s.plugin.create_security_groups(ctx, reqs).await?)
    }
    async fn list(
        s: &AppState,
        ctx: &RequestContext,
        q: ListQuery,
    ) -> ApiResult<Vec<SecurityGroup>> {
        Ok(s.plugin.list_security_groups(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<SecurityGroup> {
        Ok(s.plugin.get_security_group(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        if_match: Option<i64>,
    ) -> ApiResult<SecurityGroup> {
        let u = SecurityGroupUpdate {
            name: m.str_of("name"),
            description: m.str_of("description"),
            stateful: m.bool_of("stateful"),
        };
        Ok(s.plugin.update_security_group(ctx, id, u, if_match).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_security_group(ctx, id, if_match).await?)
    }
}
