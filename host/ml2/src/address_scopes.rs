//! Address scopes (`address-scope`): a family's address space that subnet pools join
//! (`address_scope_id`). Shared with other projects through RBAC (`rbac-address-scope`);
//! `shared: true` is the wildcard entry and cannot be taken back by an update, as in Neutron.

use neutrino_store::address_scopes::{self as store, AddressScope};
use neutrino_store::query::ListQuery;
use neutrino_store::{Conn, rbac};

use crate::error::{Error, Result};
use crate::networks::marker_error;
use crate::rbac::{ObjectType, SHARED};
use crate::{Plugin, RequestContext};

/// A validated create request.
#[derive(Debug, Clone, Default)]
pub struct AddressScopeCreate {
    /// Owner.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Shared with every project.
    pub shared: bool,
    /// 4 or 6.
    pub ip_version: i64,
}

/// A validated update (`None` keeps the value).
#[derive(Debug, Clone, Default)]
pub struct AddressScopeUpdate {
    /// Name.
    pub name: Option<String>,
    /// Shared (only `false` → `true`).
    pub shared: Option<bool>,
}

/// `AddressScopeNotFound` (404).
pub(crate) fn not_found(id: &str) -> Error {
    Error::not_found("AddressScopeNotFound", "Address scope", id)
}

/// Whether the caller may see a scope: its own, or shared with its project or every project.
pub fn visible(ctx: &RequestContext, a: &AddressScope) -> bool {
    ctx.sees_all() || a.project_id == ctx.project_id || crate::rbac::reaches(&a.rbac, ctx)
}

/// `shared` as the caller sees it (Neutron's `is_shared_with_project`).
pub fn shared_for(ctx: &RequestContext, a: &AddressScope) -> bool {
    crate::rbac::shared_with(&a.rbac, &ctx.project_id)
}

impl Plugin {
    /// Create a scope (and its wildcard entry when shared).
    pub async fn create_address_scope(
        &self,
        ctx: &RequestContext,
        r: AddressScopeCreate,
    ) -> Result<AddressScope> {
        let mut a = AddressScope {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: r.project_id.clone(),
            name: r.name.clone(),
            shared: r.shared,
            ip_version: r.ip_version,
            rbac: vec![],
        };
        let scope = a.clone();
        crate::in_tx!(self.store(), |tx| {
            store::insert(tx, &scope).await?;
            if scope.shared {
                crate::rbac::insert_wildcard(
                    tx,
                    ObjectType::AddressScope,
                    &scope.id,
                    &scope.project_id,
                )
                .await?;
            }
            Ok::<_, Error>(())
        })?;
        if a.shared {
            a.rbac = vec![neutrino_store::model::RbacGrant {
                action: SHARED.into(),
                target: "*".into(),
            }];
        }
        a.shared = shared_for(ctx, &a);
        Ok(a)
    }

    /// A scope the caller may see, read in the caller's transaction or connection.
    pub(crate) async fn visible_address_scope(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<AddressScope> {
        store::get(conn, id)
            .await?
            .filter(|a| visible(ctx, a))
            .ok_or_else(|| not_found(id))
    }

    /// Show a scope.
    pub async fn get_address_scope(&self, ctx: &RequestContext, id: &str) -> Result<AddressScope> {
        let mut conn = self.read().await?;
        let mut a = self.visible_address_scope(&mut conn, ctx, id).await?;
        a.shared = shared_for(ctx, &a);
        Ok(a)
    }

    /// List the scopes the caller may see.
    pub async fn list_address_scopes(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
    ) -> Result<Vec<AddressScope>> {
        if !ctx.sees_all() {
            q.conditions
                .push(rbac::visible_to("address_scope", &ctx.project_id));
        }
        let mut conn = self.read().await?;
        let mut out = store::list(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Address scope"))?;
        for a in &mut out {
            a.shared = shared_for(ctx, a);
        }
        Ok(out)
    }

    /// Rename a scope or share it with every project (a shared scope cannot be unshared).
    pub async fn update_address_scope(
        &self,
        ctx: &RequestContext,
        id: &str,
        u: AddressScopeUpdate,
    ) -> Result<AddressScope> {
        let plugin = self.clone();
        let c = ctx.clone();
        let id = id.to_string();
        let mut a = crate::in_tx!(self.store(), |tx| {
            let mut a = plugin.visible_address_scope(tx, &c, &id).await?;
            if let Some(v) = &u.name {
                a.name = v.clone();
            }
            if let Some(shared) = u.shared {
                if a.shared && !shared {
                    return Err(Error::neutron(
                        "AddressScopeUpdateError",
                        400,
                        format!(
                            "Unable to update address scope {id} : Shared address scope can't \
                             be unshared."
                        ),
                    ));
                }
                if shared && !a.shared {
                    crate::rbac::insert_wildcard(
                        tx,
                        ObjectType::AddressScope,
                        &a.id,
                        &a.project_id,
                    )
                    .await?;
                    a.rbac.push(neutrino_store::model::RbacGrant {
                        action: SHARED.into(),
                        target: "*".into(),
                    });
                    a.shared = true;
                }
            }
            store::update(tx, &a).await?;
            Ok::<_, Error>(a)
        })?;
        a.shared = shared_for(ctx, &a);
        Ok(a)
    }

    /// Delete a scope no subnet pool is in (409 `AddressScopeInUse` otherwise).
    pub async fn delete_address_scope(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        let id = id.to_string();
        crate::in_tx!(self.store(), |tx| {
            store::get_locked(tx, &id).await?;
            plugin.visible_address_scope(tx, &ctx, &id).await?;
            if !store::pools(tx, &id).await?.is_empty() {
                return Err(Error::conflict(
                    "AddressScopeInUse",
                    format!(
                        "Unable to complete operation on address scope {id}. There are one or \
                         more subnet pools in use on the address scope."
                    ),
                ));
            }
            store::delete(tx, &id).await?;
            Ok::<_, Error>(())
        })
    }
}
