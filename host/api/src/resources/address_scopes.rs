//! `/v2.0/address-scopes` (extension `address-scope`): name, `ip_version`, `shared`; no
//! standard attributes, as in Neutron.

use std::sync::LazyLock;

use neutrino_ml2::RequestContext;
use neutrino_ml2::address_scopes::{AddressScopeCreate, AddressScopeUpdate};
use neutrino_ml2::store::address_scopes::AddressScope;
use neutrino_ml2::store::query::{Condition, ListQuery};
use neutrino_policy::Lookup;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Resource;
use crate::AppState;
use crate::attrs::{Attr, BodyExt, Kind, attr, owner};
use crate::error::{ApiResult, invalid_input};
use crate::policy::{Fields, Shown};

/// `shared=<bool>`: Neutron turns it into the RBAC predicate (shared with the caller's
/// project or with every project).
fn shared_filter(values: &[String], ctx: &RequestContext) -> ApiResult<Condition> {
    let mut wanted = Vec::new();
    for v in values {
        wanted.push(
            crate::attrs::to_bool(&Value::String(v.clone())).ok_or_else(|| {
                invalid_input(format!(
                    "Invalid input for shared. Reason: '{v}' cannot be converted to boolean."
                ))
            })?,
        );
    }
    Ok(shared_condition("address_scope", &wanted, &ctx.project_id))
}

/// The condition of `shared=<wanted…>` on objects of an RBAC object type: shared with
/// `project_id` or every project (`true`), or not (`false`), or either.
pub fn shared_condition(object_type: &'static str, wanted: &[bool], project_id: &str) -> Condition {
    match (wanted.contains(&true), wanted.contains(&false)) {
        (true, true) => Condition::raw("1 = 1", vec![]),
        (true, false) => neutrino_ml2::store::rbac::shared_with(object_type, project_id, false),
        _ => neutrino_ml2::store::rbac::shared_with(object_type, project_id, true),
    }
}

/// The attribute map of address scopes.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    vec![
        attr("id", Kind::Uuid).column("id"),
        attr("name", Kind::Str(255)).rw().column("name"),
        attr("project_id", Kind::Str(255))
            .post()
            .column("project_id"),
        attr("tenant_id", Kind::Str(255))
            .post()
            .column("project_id"),
        attr("shared", Kind::Bool)
            .rw()
            .default(json!(false))
            .filter_for_caller(shared_filter)
            .sort("shared"),
        attr("ip_version", Kind::IntIn(&[4, 6]))
            .required()
            .column("ip_version"),
    ]
});

impl Fields for AddressScope {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => Lookup::Str(&self.id),
            "project_id" | "tenant_id" => Lookup::Str(&self.project_id),
            "name" => Lookup::Str(&self.name),
            "shared" => Lookup::Bool(self.shared),
            _ => Lookup::Absent,
        }
    }
}

/// An address scope on the wire.
#[derive(Serialize)]
pub struct AddressScopeView<'a> {
    id: &'a str,
    name: &'a str,
    project_id: &'a str,
    tenant_id: &'a str,
    shared: bool,
    ip_version: i64,
}

/// The address scopes collection.
pub struct AddressScopes;

impl Resource for AddressScopes {
    const MEMBER: &'static str = "address_scope";
    const COLLECTION: &'static str = "address-scopes";
    const BODY_COLLECTION: &'static str = "address_scopes";
    type Item = AddressScope;
    type View<'a> = AddressScopeView<'a>;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view<'a>(a: &'a AddressScope, _ctx: &RequestContext, _shown: Shown) -> AddressScopeView<'a> {
        AddressScopeView {
            id: &a.id,
            name: &a.name,
            project_id: &a.project_id,
            tenant_id: &a.project_id,
            shared: a.shared,
            ip_version: a.ip_version,
        }
    }
    fn id(a: &AddressScope) -> &str {
        &a.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<AddressScope>> {
        let mut out = Vec::with_capacity(bodies.len());
        for m in bodies {
            let r = AddressScopeCreate {
                project_id: owner(&m, ctx)?,
                name: m.str_of("name").unwrap_or_default(),
                shared: m.bool_of("shared").unwrap_or(false),
                ip_version: m.int_of("ip_version").unwrap_or(4),
            };
            out.push(s.plugin.create_address_scope(ctx, r).await?);
        }
        Ok(out)
    }
    async fn list(
        s: &AppState,
        ctx: &RequestContext,
        q: ListQuery,
    ) -> ApiResult<Vec<AddressScope>> {
        Ok(s.plugin.list_address_scopes(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<AddressScope> {
        Ok(s.plugin.get_address_scope(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        _if_match: Option<i64>,
    ) -> ApiResult<AddressScope> {
        let u = AddressScopeUpdate {
            name: m.str_of("name"),
            shared: m.bool_of("shared"),
        };
        Ok(s.plugin.update_address_scope(ctx, id, u).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        _if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_address_scope(ctx, id).await?)
    }
}
