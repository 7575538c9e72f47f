//! Address groups (`address-group`): named sets of CIDRs that security group rules name as
//! their remote end. Addresses are kept canonical (`10.0.0.7/24` is `10.0.0.0/24`).
//!
//! Every change of a group's addresses first bumps its revision, which takes the group's row
//! (PostgreSQL) or the writer (SQLite): concurrent changes of one group run one after the
//! other and each sees the addresses the previous one left.

use ipnet::IpNet;
use neutrino_store::address_groups::{self as store, AddressGroup};
use neutrino_store::query::ListQuery;
use neutrino_store::{Conn, StoreError, revision};

use crate::checks::{admin_or_project, has_role};
use crate::error::{Error, Result};
use crate::networks::marker_error;
use crate::{Plugin, RequestContext, check_revision};

/// A validated create request.
#[derive(Debug, Clone, Default)]
pub struct AddressGroupCreate {
    /// Owner.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Initial addresses.
    pub addresses: Vec<IpNet>,
}

/// A validated update (`None` keeps the value).
#[derive(Debug, Clone, Default)]
pub struct AddressGroupUpdate {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
}

fn not_found(id: &str) -> Error {
    Error::not_found("AddressGroupNotFound", "Address group", id)
}

/// Python's rendering of a list of strings, which Neutron's messages carry.
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The canonical, de-duplicated, sorted text of `addresses`.
fn canonical(addresses: &[IpNet]) -> Vec<String> {
    let mut out: Vec<String> = addresses.iter().map(|a| a.trunc().to_string()).collect();
    out.sort();
    out.dedup();
    out
}

impl Plugin {
    /// A group the caller can see.
    async fn visible_address_group(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<AddressGroup> {
        let mut g = store::get(conn, id)
            .await?
            .filter(|g| {
                ctx.is_admin
                    || (has_role(ctx, "reader")
                        && (g.project_id == ctx.project_id || crate::rbac::reaches(&g.rbac, ctx)))
            })
            .ok_or_else(|| not_found(id))?;
        g.shared = crate::rbac::shared_with(&g.rbac, &ctx.project_id);
        Ok(g)
    }

    /// Check that rules of `project_id` may name group `id` as their remote (Neutron's
    /// `check_address_group`): it exists and belongs to that project (any, for admins), or
    /// an RBAC entry shares it with that project (the entry share-locked until the rule is
    /// committed, so that removing the entry sees the rule).
    pub(crate) async fn check_address_group_for(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        id: &str,
        project_id: &str,
    ) -> Result<()> {
        match store::get(conn, id).await? {
            Some(g) if ctx.is_admin || g.project_id == project_id => Ok(()),
            Some(g)
                if crate::rbac::usable_through_entry(
                    conn,
                    crate::rbac::ObjectType::AddressGroup,
                    &g.id,
                    project_id,
                )
                .await? =>
            {
                Ok(())
            }
            _ => Err(not_found(id)),
        }
    }

    /// Create groups with their first addresses, all or none.
    pub async fn create_address_groups(
        &self,
        ctx: &RequestContext,
        reqs: Vec<AddressGroupCreate>,
    ) -> Result<Vec<AddressGroup>> {
        for r in &reqs {
            admin_or_project(ctx, "member", &r.project_id, "create_address_group")?;
        }
        let now = neutrino_store::now();
        let groups: Vec<AddressGroup> = reqs
            .into_iter()
            .map(|r| AddressGroup {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: r.project_id,
                name: r.name,
                description: r.description,
                created_at: now.clone(),
                updated_at: now.clone(),
                revision_number: 1,
                addresses: canonical(&r.addresses),
                rbac: vec![],
                shared: false,
            })
            .collect();
        crate::in_tx!(self.store(), |tx| {
            for g in &groups {
                store::insert(tx, g).await?;
                for a in &g.addresses {
                    store::add_address(tx, &g.id, a).await?;
                }
            }
            Ok::<_, Error>(())
        })?;
        Ok(groups)
    }

    /// Show a group.
    pub async fn get_address_group(&self, ctx: &RequestContext, id: &str) -> Result<AddressGroup> {
        let mut conn = self.read().await?;
        self.visible_address_group(&mut conn, ctx, id).await
    }

    /// List the groups the caller can see.
    pub async fn list_address_groups(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
    ) -> Result<Vec<AddressGroup>> {
        if !ctx.is_admin {
            if !has_role(ctx, "reader") {
                return Ok(Vec::new());
            }
            q.conditions.push(neutrino_store::rbac::visible_to(
                "address_group",
                &ctx.project_id,
            ));
        }
        let mut conn = self.read().await?;
        let mut groups = store::list(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Address group"))?;
        for g in &mut groups {
            g.shared = crate::rbac::shared_with(&g.rbac, &ctx.project_id);
        }
        Ok(groups)
    }

    /// Rename or describe a group.
    pub async fn update_address_group(
        &self,
        ctx: &RequestContext,
        id: &str,
        u: AddressGroupUpdate,
        if_match: Option<i64>,
    ) -> Result<AddressGroup> {
        let plugin = self.clone();
        let (ctx, id) = (ctx.clone(), id.to_string());
        crate::in_tx!(self.store(), |tx| {
            let current = plugin.visible_address_group(tx, &ctx, &id).await?;
            admin_or_project(&ctx, "member", &current.project_id, "update_address_group")?;
            check_revision(if_match, current.revision_number)?;
            let mut g = current.clone();
            if let Some(v) = &u.name {
                g.name = v.clone();
            }
            if let Some(v) = &u.description {
                g.description = v.clone();
            }
            if g == current {
                return Ok(g);
            }
            g.revision_number += 1;
            g.updated_at = neutrino_store::now();
            if !store::update(tx, &g, current.revision_number).await? {
                return Err(StoreError::Retry("address group changed".into()).into());
            }
            Ok::<_, Error>(g)
        })
    }

    /// Delete a group that no rule names.
    pub async fn delete_address_group(
        &self,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let plugin = self.clone();
        let (ctx, id) = (ctx.clone(), id.to_string());
        let in_use = |id: &str| {
            Error::conflict(
                "AddressGroupInUse",
                format!("Address group {id} is in use on one or more security group rules."),
            )
        };
        crate::in_tx!(self.store(), |tx| {
            let g = plugin.visible_address_group(tx, &ctx, &id).await?;
            admin_or_project(&ctx, "member", &g.project_id, "delete_address_group")?;
            check_revision(if_match, g.revision_number)?;
            if store::in_use(tx, &id).await? {
                return Err(in_use(&id));
            }
            neutrino_store::rbac::delete_of_object(tx, "address_group", &id).await?;
            store::delete(tx, &id).await.map_err(|e| match e {
                StoreError::ForeignKey(_) => in_use(&id),
                other => other.into(),
            })?;
            Ok::<_, Error>(())
        })
    }

    /// `PUT …/add_addresses`: add addresses none of which the group has yet.
    pub async fn add_addresses(
        &self,
        ctx: &RequestContext,
        id: &str,
        addresses: Vec<IpNet>,
    ) -> Result<AddressGroup> {
        self.change_addresses(ctx, id, addresses, true).await
    }

    /// `PUT …/remove_addresses`: remove addresses all of which the group has.
    pub async fn remove_addresses(
        &self,
        ctx: &RequestContext,
        id: &str,
        addresses: Vec<IpNet>,
    ) -> Result<AddressGroup> {
        self.change_addresses(ctx, id, addresses, false).await
    }

    async fn change_addresses(
        &self,
        ctx: &RequestContext,
        id: &str,
        addresses: Vec<IpNet>,
        add: bool,
    ) -> Result<AddressGroup> {
        let plugin = self.clone();
        let (ctx, id) = (ctx.clone(), id.to_string());
        let wanted = canonical(&addresses);
        let action = if add {
            "add_addresses"
        } else {
            "remove_addresses"
        };
        crate::in_tx!(self.store(), |tx| {
            // The bump comes first: it takes the group's row until the end, so the
            // addresses read below are the ones this change applies to.
            let now = neutrino_store::now();
            if !revision::touch(tx, "address_groups", &id, &now).await? {
                return Err(not_found(&id));
            }
            let mut g = plugin.visible_address_group(tx, &ctx, &id).await?;
            admin_or_project(&ctx, "member", &g.project_id, action)?;
            let (present, absent): (Vec<String>, Vec<String>) = wanted
                .iter()
                .cloned()
                .partition(|a| g.addresses.contains(a));
            if add {
                if !present.is_empty() {
                    return Err(Error::neutron(
                        "AddressesAlreadyExist",
                        400,
                        format!(
                            "Addresses {} already exist in the address group {id}.",
                            py_list(&present)
                        ),
                    ));
                }
                for a in &absent {
                    store::add_address(tx, &id, a).await?;
                }
                g.addresses.extend(absent);
            } else {
                if !absent.is_empty() {
                    return Err(Error::neutron(
                        "AddressesNotFound",
                        404,
                        format!(
                            "Addresses {} not found in the address group {id}.",
                            py_list(&absent)
                        ),
                    ));
                }
                for a in &present {
                    store::remove_address(tx, &id, a).await?;
                }
                g.addresses.retain(|a| !present.contains(a));
            }
            g.addresses.sort();
            Ok::<_, Error>(g)
        })
    }
}
