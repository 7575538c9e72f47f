//! RBAC policies (`/v2.0/rbac-policies`): sharing a network with one project or with every
//! project (`access_as_shared`, which is what `shared: true` is), or making it usable as an
//! external network (`access_as_external`). A network's `shared` and `router:external`
//! columns follow its entries in the same transaction.

use neutrino_store::model::Network;
use neutrino_store::query::{Condition, ListQuery};
use neutrino_store::rbac::{self, RbacPolicy};
use neutrino_store::{Conn, StoreError, networks, ports};

use crate::error::{Error, Result};
use crate::networks::{network_not_found, visible};
use crate::{Plugin, RequestContext};

/// `access_as_shared`.
pub const SHARED: &str = "access_as_shared";
/// `access_as_external`.
pub const EXTERNAL: &str = "access_as_external";

/// Object types and the actions each accepts (a type that gains RBAC adds its row).
pub const OBJECT_TYPES: &[(&str, &[&str])] = &[("network", &[SHARED, EXTERNAL])];

/// A validated create request.
#[derive(Debug, Clone)]
pub struct RbacCreate {
    /// Owner of the entry.
    pub project_id: String,
    /// `network`.
    pub object_type: String,
    /// The object.
    pub object_id: String,
    /// The action.
    pub action: String,
    /// A project or `*`.
    pub target_project: String,
}

fn not_found(id: &str) -> Error {
    Error::neutron(
        "RbacPolicyNotFound",
        404,
        format!("RBAC policy of type network with ID {id} not found"),
    )
}

fn in_use(object_id: &str, details: &str) -> Error {
    Error::conflict(
        "RbacPolicyInUse",
        format!(
            "RBAC policy on object {object_id} cannot be removed because other objects depend \
             on it.\nDetails: {details}"
        ),
    )
}

/// Give `action` on `net` to every project (`shared: true`, `router:external: true`).
pub(crate) async fn grant(conn: &mut Conn, net: &Network, action: &str) -> Result<()> {
    if net
        .rbac
        .iter()
        .any(|g| g.action == action && g.target == "*")
    {
        return Ok(());
    }
    rbac::insert(
        conn,
        &RbacPolicy {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: net.project_id.clone(),
            object_type: "network".into(),
            object_id: net.id.clone(),
            action: action.into(),
            target_project: "*".into(),
        },
    )
    .await?;
    Ok(())
}

/// Remove the wildcard entry of `action` (`shared: false`).
pub(crate) async fn revoke_wildcard(conn: &mut Conn, net: &Network, action: &str) -> Result<()> {
    for p in rbac::of_object(conn, "network", &net.id).await? {
        if p.action == action && p.target_project == "*" {
            rbac::delete(conn, &p.id).await?;
        }
    }
    Ok(())
}

/// Remove every entry of `action` (`router:external: false`).
pub(crate) async fn revoke_all(conn: &mut Conn, net: &Network, action: &str) -> Result<()> {
    for p in rbac::of_object(conn, "network", &net.id).await? {
        if p.action == action {
            rbac::delete(conn, &p.id).await?;
        }
    }
    Ok(())
}

/// Set a network's `shared` / `router:external` columns from its entries, and bump its
/// revision (as Neutron does when an entry of it changes).
async fn sync_network(conn: &mut Conn, id: &str) -> Result<()> {
    let Some(mut net) = networks::get_row(conn, id).await? else {
        return Ok(());
    };
    let entries = rbac::of_object(conn, "network", id).await?;
    let before = net.revision_number;
    net.shared = entries
        .iter()
        .any(|p| p.action == SHARED && p.target_project == "*");
    net.router_external = entries.iter().any(|p| p.action == EXTERNAL);
    net.revision_number += 1;
    net.updated_at = neutrino_store::now();
    if !networks::update(conn, &net, before).await? {
        return Err(StoreError::Retry("network changed".into()).into());
    }
    Ok(())
}

/// Projects other than the owner with ports of their own on a network (DHCP and router ports
/// do not count).
async fn port_projects(conn: &mut Conn, net: &Network) -> Result<Vec<String>> {
    let mut out: Vec<String> = ports::of_network(conn, &net.id)
        .await?
        .into_iter()
        .filter(|p| {
            p.project_id != net.project_id
                && !p.project_id.is_empty()
                && !p.device_owner.starts_with("network:")
        })
        .map(|p| p.project_id)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

impl Plugin {
    fn check_type(&self, object_type: &str, action: &str) -> Result<()> {
        let Some((_, actions)) = OBJECT_TYPES.iter().find(|(t, _)| *t == object_type) else {
            return Err(Error::invalid_input(format!(
                "'{object_type}' is not a valid RBAC object type"
            )));
        };
        if !actions.contains(&action) {
            return Err(Error::neutron(
                "InvalidActionForType",
                400,
                format!(
                    "Invalid action '{action}' for object type '{object_type}'. Valid actions: \
                     {actions:?}"
                ),
            ));
        }
        Ok(())
    }

    /// The network an entry is about, which the caller must own (or be an admin).
    async fn owned_network(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        id: &str,
        on_refusal: fn(String) -> Error,
    ) -> Result<Network> {
        let net = networks::get_row(conn, id)
            .await?
            .filter(|n| visible(ctx, n))
            .ok_or_else(|| network_not_found(id))?;
        if !ctx.owns(&net.project_id) {
            return Err(on_refusal(
                "Only admins can manipulate policies on networks they do not own".into(),
            ));
        }
        Ok(net)
    }

    /// Create an entry.
    pub async fn create_rbac_policy(
        &self,
        ctx: &RequestContext,
        r: RbacCreate,
    ) -> Result<RbacPolicy> {
        self.check_type(&r.object_type, &r.action)?;
        let plugin = self.clone();
        let ctx = ctx.clone();
        crate::in_tx!(self.store(), |tx| {
            let net = plugin
                .owned_network(tx, &ctx, &r.object_id, Error::invalid_input)
                .await?;
            plugin
                .check_quota(tx, &r.project_id, "rbac_policy", 1)
                .await?;
            let p = RbacPolicy {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: r.project_id.clone(),
                object_type: r.object_type.clone(),
                object_id: net.id.clone(),
                action: r.action.clone(),
                target_project: r.target_project.clone(),
            };
            rbac::insert(tx, &p).await.map_err(|e| match e {
                StoreError::Unique { .. } => Error::conflict(
                    "DuplicateRbacPolicy",
                    "An RBAC policy already exists with those values.",
                ),
                other => other.into(),
            })?;
            sync_network(tx, &net.id).await?;
            Ok::<_, Error>(p)
        })
    }

    /// One entry the caller may see (its own; admins see all).
    pub async fn get_rbac_policy(&self, ctx: &RequestContext, id: &str) -> Result<RbacPolicy> {
        let mut conn = self.read().await?;
        rbac::get(&mut conn, id)
            .await?
            .filter(|p| ctx.owns(&p.project_id))
            .ok_or_else(|| not_found(id))
    }

    /// Entries matching `q` that the caller may see.
    pub async fn list_rbac_policies(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
    ) -> Result<Vec<RbacPolicy>> {
        if !ctx.sees_all() {
            q.conditions.push(Condition::raw(
                "project_id = ?",
                vec![ctx.project_id.clone().into()],
            ));
        }
        let mut conn = self.read().await?;
        rbac::list(&mut conn, &q)
            .await
            .map_err(|e| crate::networks::marker_error(e, "RBAC policy"))
    }

    /// Point an entry at another project (refused while the old target depends on it).
    pub async fn update_rbac_policy(
        &self,
        ctx: &RequestContext,
        id: &str,
        target: String,
    ) -> Result<RbacPolicy> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        let id = id.to_string();
        crate::in_tx!(self.store(), |tx| {
            let mut p = rbac::get(tx, &id)
                .await?
                .filter(|p| ctx.owns(&p.project_id))
                .ok_or_else(|| not_found(&id))?;
            let net = plugin
                .owned_network(tx, &ctx, &p.object_id, |m| in_use("", &m))
                .await?;
            if p.target_project != target {
                plugin.check_removal(tx, &net, &p).await?;
                rbac::set_target(tx, &id, &target)
                    .await
                    .map_err(|e| match e {
                        StoreError::Unique { .. } => Error::conflict(
                            "DuplicateRbacPolicy",
                            "An RBAC policy already exists with those values.",
                        ),
                        other => other.into(),
                    })?;
                p.target_project = target.clone();
                sync_network(tx, &net.id).await?;
            }
            Ok::<_, Error>(p)
        })
    }

    /// Delete an entry (409 `RbacPolicyInUse` while another project depends on it).
    pub async fn delete_rbac_policy(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        let id = id.to_string();
        crate::in_tx!(self.store(), |tx| {
            let p = rbac::get(tx, &id)
                .await?
                .filter(|p| ctx.owns(&p.project_id))
                .ok_or_else(|| not_found(&id))?;
            if let Some(net) = networks::get_row(tx, &p.object_id).await? {
                plugin.check_removal(tx, &net, &p).await?;
                rbac::delete(tx, &id).await?;
                sync_network(tx, &net.id).await?;
            } else {
                rbac::delete(tx, &id).await?;
            }
            Ok::<_, Error>(())
        })
    }

    /// Whether removing `p` would take the network away from a project that uses it.
    async fn check_removal(&self, conn: &mut Conn, net: &Network, p: &RbacPolicy) -> Result<()> {
        if p.action != SHARED {
            return Ok(());
        }
        let others: Vec<&str> = net
            .rbac
            .iter()
            .filter(|g| g.action == SHARED && g.target != p.target_project)
            .map(|g| g.target.as_str())
            .collect();
        if others.contains(&"*") {
            return Ok(());
        }
        let users = port_projects(conn, net).await?;
        let stranded = users.iter().find(|u| {
            (p.target_project == "*" || &p.target_project == *u) && !others.contains(&u.as_str())
        });
        match stranded {
            Some(project) => Err(in_use(
                &net.id,
                &format!(
                    "Unable to reconfigure sharing settings for network {}. Multiple tenants \
                     are using it. (project {project} has ports on it)",
                    net.id
                ),
            )),
            None => Ok(()),
        }
    }
}
