//! `/v2.0/rbac-policies` (extension `rbac-policies`): share a network with a project or with
//! every project, or let projects use it as an external network.

use std::sync::LazyLock;

use neutrino_ml2::RequestContext;
use neutrino_ml2::rbac::RbacCreate;
use neutrino_ml2::store::query::ListQuery;
use neutrino_ml2::store::rbac::RbacPolicy;
use neutrino_policy::Lookup;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Resource;
use crate::AppState;
use crate::attrs::{Attr, BodyExt, Kind, attr, owner};
use crate::error::{ApiResult, invalid_input};
use crate::policy::{Fields, Shown};

/// The attribute map of RBAC policies.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    vec![
        attr("id", Kind::Uuid).column("id"),
        attr("project_id", Kind::Str(255))
            .post()
            .column("project_id"),
        attr("tenant_id", Kind::Str(255))
            .post()
            .column("project_id"),
        attr("object_type", Kind::Str(255))
            .required()
            .column("object_type"),
        attr("object_id", Kind::Uuid).required().column("object_id"),
        attr("action", Kind::Str(255)).required().column("action"),
        attr("target_tenant", Kind::Str(255))
            .required()
            .rw()
            .column("target_project"),
    ]
});

impl Fields for RbacPolicy {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => Lookup::Str(&self.id),
            "project_id" | "tenant_id" => Lookup::Str(&self.project_id),
            "object_type" => Lookup::Str(&self.object_type),
            "object_id" => Lookup::Str(&self.object_id),
            "action" => Lookup::Str(&self.action),
            "target_tenant" => Lookup::Str(&self.target_project),
            _ => Lookup::Absent,
        }
    }
}

/// An RBAC policy on the wire.
#[derive(Serialize)]
pub struct RbacView<'a> {
    id: &'a str,
    object_type: &'a str,
    object_id: &'a str,
    action: &'a str,
    target_tenant: &'a str,
    project_id: &'a str,
    tenant_id: &'a str,
}

fn target(v: &str) -> ApiResult<String> {
    let hex: String = v.chars().filter(|c| *c != '-').collect();
    if v == "*" || (hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())) {
        Ok(v.to_string())
    } else {
        Err(invalid_input(format!(
            "Invalid input for target_tenant. Reason: '{v}' is not a valid target project ID; \
             expected a UUID or '*'."
        )))
    }
}

/// The RBAC policies collection.
pub struct RbacPolicies;

impl Resource for RbacPolicies {
    const MEMBER: &'static str = "rbac_policy";
    const COLLECTION: &'static str = "rbac-policies";
    const BODY_COLLECTION: &'static str = "rbac_policies";
    type Item = RbacPolicy;
    type View<'a> = RbacView<'a>;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view<'a>(p: &'a RbacPolicy, _ctx: &RequestContext, _shown: Shown) -> RbacView<'a> {
        RbacView {
            id: &p.id,
            object_type: &p.object_type,
            object_id: &p.object_id,
            action: &p.action,
            target_tenant: &p.target_project,
            project_id: &p.project_id,
            tenant_id: &p.project_id,
        }
    }
    fn id(p: &RbacPolicy) -> &str {
        &p.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<RbacPolicy>> {
        let mut out = Vec::with_capacity(bodies.len());
        for m in bodies {
            let r = RbacCreate {
                project_id: owner(&m, ctx)?,
                object_type: m.str_of("object_type").unwrap_or_default().to_lowercase(),
                object_id: m.str_of("object_id").unwrap_or_default(),
                action: m.str_of("action").unwrap_or_default(),
                target_project: target(&m.str_of("target_tenant").unwrap_or_default())?,
            };
            out.push(s.plugin.create_rbac_policy(ctx, r).await?);
        }
        Ok(out)
    }
    async fn list(s: &AppState, ctx: &RequestContext, q: ListQuery) -> ApiResult<Vec<RbacPolicy>> {
        Ok(s.plugin.list_rbac_policies(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<RbacPolicy> {
        Ok(s.plugin.get_rbac_policy(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        _if_match: Option<i64>,
    ) -> ApiResult<RbacPolicy> {
        let current = s.plugin.get_rbac_policy(ctx, id).await?;
        let t = match m.str_of("target_tenant") {
            Some(t) => target(&t)?,
            None => current.target_project,
        };
        Ok(s.plugin.update_rbac_policy(ctx, id, t).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        _if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_rbac_policy(ctx, id).await?)
    }
}
