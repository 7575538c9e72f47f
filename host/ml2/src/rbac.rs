//! RBAC policies (`/v2.0/rbac-policies`): sharing a network with one project or with every
//! project (`access_as_shared`, which is what `shared: true` is), or making it usable as an
//! external network (`access_as_external`). A network's `shared` and `router:external`
//! columns follow its entries in the same transaction.
//!
//! Security groups, subnet pools, address scopes and address groups are shared the same
//! way (`access_as_shared` only): one set of rules for every [`ObjectType`], which differ
//! only in who depends on an object (`store::rbac::bound_projects`) and which column
//! follows the entries.

use neutrino_store::model::{Network, RbacGrant};
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

/// An object type that RBAC entries can share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// `network`.
    Network,
    /// `security_group` (`rbac-security-groups`).
    SecurityGroup,
    /// `subnetpool` (`rbac-subnetpool`).
    SubnetPool,
    /// `address_scope` (`rbac-address-scope`).
    AddressScope,
    /// `address_group` (`rbac-address-group`).
    AddressGroup,
}

impl ObjectType {
    /// Every type served.
    pub const ALL: [ObjectType; 5] = [
        ObjectType::Network,
        ObjectType::SecurityGroup,
        ObjectType::SubnetPool,
        ObjectType::AddressScope,
        ObjectType::AddressGroup,
    ];

    /// The `object_type` value.
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Network => "network",
            ObjectType::SecurityGroup => "security_group",
            ObjectType::SubnetPool => "subnetpool",
            ObjectType::AddressScope => "address_scope",
            ObjectType::AddressGroup => "address_group",
        }
    }

    /// The actions it accepts.
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            ObjectType::Network => &[SHARED, EXTERNAL],
            _ => &[SHARED],
        }
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Option<ObjectType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Whether entries reach the caller (its project or every project, any action).
pub fn reaches(grants: &[RbacGrant], ctx: &RequestContext) -> bool {
    grants
        .iter()
        .any(|g| g.target == "*" || g.target == ctx.project_id)
}

/// Whether an `access_as_shared` entry shares the object with `project_id` or every project
/// (what `shared` reads for that project).
pub fn shared_with(grants: &[RbacGrant], project_id: &str) -> bool {
    grants
        .iter()
        .any(|g| g.action == SHARED && (g.target == "*" || g.target == project_id))
}

/// Insert the wildcard `access_as_shared` entry of an object (`shared: true`), owned by the
/// object's owner.
pub(crate) async fn insert_wildcard(
    conn: &mut Conn,
    t: ObjectType,
    object_id: &str,
    owner: &str,
) -> Result<()> {
    rbac::insert(
        conn,
        &RbacPolicy {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: owner.to_string(),
            object_type: t.name().into(),
            object_id: object_id.to_string(),
            action: SHARED.into(),
            target_project: "*".into(),
        },
    )
    .await?;
    Ok(())
}

/// Whether the caller may use an object of another project because an entry shares it with
/// the caller's project or every project; the entries are share-locked until the caller's
/// transaction ends (`store::rbac::lock_grants`), so their removal waits and then sees what
/// the caller created.
pub(crate) async fn usable_through_entry(
    conn: &mut Conn,
    t: ObjectType,
    object_id: &str,
    project_id: &str,
) -> Result<bool> {
    Ok(rbac::lock_grants(conn, t.name(), object_id, project_id).await?)
}

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
        format!("RBAC policy of type unknown with ID {id} not found"),
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
    net.is_default &= net.router_external;
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
    fn check_type(&self, object_type: &str, action: &str) -> Result<ObjectType> {
        let Some(t) = ObjectType::parse(object_type) else {
            return Err(Error::invalid_input(format!(
                "'{object_type}' is not a valid RBAC object type"
            )));
        };
        let actions = t.actions();
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
        Ok(t)
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

    /// The owner of the (non-network) object an entry is about, which the caller must own
    /// (or be an admin): Neutron looks the object up as an admin, so another project's
    /// object is refused, not hidden.
    async fn owned_object(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        t: ObjectType,
        id: &str,
        on_refusal: fn(String) -> Error,
    ) -> Result<String> {
        let owner = rbac::owner_of(conn, t.name(), id)
            .await?
            .ok_or_else(|| on_refusal(format!("{} {id} could not be found", t.name())))?;
        if !ctx.owns(&owner) {
            return Err(on_refusal(
                "Only admins can manipulate policies on objects they do not own".into(),
            ));
        }
        Ok(owner)
    }

    /// Keep the object's columns that follow its entries (`shared`, `router:external`).
    async fn sync_object(&self, conn: &mut Conn, t: ObjectType, id: &str) -> Result<()> {
        match t {
            ObjectType::Network => sync_network(conn, id).await,
            ObjectType::SubnetPool => {
                Ok(rbac::sync_shared(conn, "subnetpools", t.name(), id).await?)
            }
            ObjectType::AddressScope => {
                Ok(rbac::sync_shared(conn, "address_scopes", t.name(), id).await?)
            }
            ObjectType::SecurityGroup | ObjectType::AddressGroup => Ok(()),
        }
    }

    /// Neutron's creation checks of a type: a pool in an address scope may be shared only
    /// with projects that the scope is shared with.
    async fn check_create(&self, conn: &mut Conn, t: ObjectType, r: &RbacCreate) -> Result<()> {
        if t != ObjectType::SubnetPool {
            return Ok(());
        }
        let Some(pool) = neutrino_store::subnetpools::get(conn, &r.object_id).await? else {
            return Ok(());
        };
        let Some(scope) = pool.address_scope_id else {
            return Ok(());
        };
        if !rbac::lock_grants(conn, "address_scope", &scope, &r.target_project).await? {
            return Err(Error::invalid_input(format!(
                "Failed to create RBAC policy on object {} because target project doesn't \
                 have access to associated address scope.",
                r.object_id
            )));
        }
        Ok(())
    }

    /// Create an entry.
    pub async fn create_rbac_policy(
        &self,
        ctx: &RequestContext,
        r: RbacCreate,
    ) -> Result<RbacPolicy> {
        let t = self.check_type(&r.object_type, &r.action)?;
        let plugin = self.clone();
        let ctx = ctx.clone();
        crate::in_tx!(self.store(), |tx| {
            let object_id = if t == ObjectType::Network {
                plugin
                    .owned_network(tx, &ctx, &r.object_id, Error::invalid_input)
                    .await?
                    .id
            } else {
                plugin
                    .owned_object(tx, &ctx, t, &r.object_id, Error::invalid_input)
                    .await?;
                r.object_id.clone()
            };
            plugin.check_create(tx, t, &r).await?;
            plugin
                .check_quota(tx, &r.project_id, "rbac_policy", 1)
                .await?;
            let p = RbacPolicy {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: r.project_id.clone(),
                object_type: t.name().into(),
                object_id,
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
            plugin.sync_object(tx, t, &p.object_id).await?;
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
            let mut p = rbac::get_locked(tx, &id)
                .await?
                .filter(|p| ctx.owns(&p.project_id))
                .ok_or_else(|| not_found(&id))?;
            let t = ObjectType::parse(&p.object_type).ok_or_else(|| not_found(&id))?;
            if p.target_project != target {
                if t == ObjectType::Network {
                    let net = plugin
                        .owned_network(tx, &ctx, &p.object_id, |m| in_use("", &m))
                        .await?;
                    plugin.check_removal(tx, &net, &p, Some(&target)).await?;
                } else {
                    let owner = plugin
                        .owned_object(tx, &ctx, t, &p.object_id, |m| in_use("", &m))
                        .await?;
                    // Widening to every project takes nothing away.
                    if target != "*" {
                        plugin.check_object_removal(tx, t, &owner, &p).await?;
                    }
                }
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
                plugin.sync_object(tx, t, &p.object_id).await?;
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
            let p = rbac::get_locked(tx, &id)
                .await?
                .filter(|p| ctx.owns(&p.project_id))
                .ok_or_else(|| not_found(&id))?;
            let t = ObjectType::parse(&p.object_type);
            match t {
                Some(ObjectType::Network) => {
                    if let Some(net) = networks::get_row(tx, &p.object_id).await? {
                        plugin.check_removal(tx, &net, &p, None).await?;
                    }
                }
                Some(t) => {
                    if let Some(owner) = rbac::owner_of(tx, t.name(), &p.object_id).await? {
                        plugin.check_object_removal(tx, t, &owner, &p).await?;
                    }
                }
                None => {}
            }
            rbac::delete(tx, &id).await?;
            if let Some(t) = t {
                plugin.sync_object(tx, t, &p.object_id).await?;
            }
            Ok::<_, Error>(())
        })
    }

    /// Neutron's `_validate_ext_not_in_use_by_project`: a project's `access_as_external`
    /// entry is needed while no wildcard entry exists and a router of that project has its
    /// gateway on the network; the wildcard while a router with its gateway there belongs to
    /// a project without an entry of its own (its owner's included, as in Neutron).
    async fn check_external_removal(
        &self,
        conn: &mut Conn,
        net: &Network,
        p: &RbacPolicy,
        new_target: Option<&str>,
    ) -> Result<()> {
        let entries = rbac::of_object(conn, "network", &net.id).await?;
        let external = entries.iter().filter(|e| e.action == EXTERNAL);
        let routers = neutrino_store::l3::gateway_projects(conn, &net.id).await?;
        let stranded = if p.target_project != "*" {
            !external.clone().any(|e| e.target_project == "*")
                && routers.contains(&p.target_project)
        } else {
            let mut with_entries: Vec<&str> = external
                .filter(|e| e.target_project != "*")
                .map(|e| e.target_project.as_str())
                .collect();
            with_entries.extend(new_target);
            routers.iter().any(|r| !with_entries.contains(&r.as_str()))
        };
        if stranded {
            return Err(in_use(
                &net.id,
                "There are routers attached to this network that depend on this policy for \
                 access.",
            ));
        }
        Ok(())
    }

    /// Whether removing `p` (of a non-network object owned by `owner`) would take the object
    /// away from a project that uses it (Neutron's `validate_rbac_policy_delete`): a project's
    /// entry is needed while no wildcard exists and the project uses the object; the wildcard
    /// while a project that uses it has no entry of its own.
    async fn check_object_removal(
        &self,
        conn: &mut Conn,
        t: ObjectType,
        owner: &str,
        p: &RbacPolicy,
    ) -> Result<()> {
        if p.action != SHARED || p.target_project == owner {
            return Ok(());
        }
        let entries = rbac::of_object(conn, t.name(), &p.object_id).await?;
        let shared: Vec<&str> = entries
            .iter()
            .filter(|e| e.action == SHARED && e.id != p.id)
            .map(|e| e.target_project.as_str())
            .collect();
        // The owner needs no entry (Neutron counts it among the dependants of a wildcard,
        // so an owner using its own object could never unshare it).
        let bound: Vec<String> = rbac::bound_projects(conn, t.name(), &p.object_id)
            .await?
            .into_iter()
            .filter(|b| b != owner)
            .collect();
        let stranded = if p.target_project != "*" {
            !shared.contains(&"*") && bound.contains(&p.target_project)
        } else {
            bound.iter().any(|b| !shared.contains(&b.as_str()))
        };
        if stranded {
            return Err(in_use(
                &p.object_id,
                &format!("project_id={}", p.target_project),
            ));
        }
        Ok(())
    }

    /// Whether removing `p` (or pointing it at `new_target`) would take the network away
    /// from a project that uses it.
    async fn check_removal(
        &self,
        conn: &mut Conn,
        net: &Network,
        p: &RbacPolicy,
        new_target: Option<&str>,
    ) -> Result<()> {
        if p.action == EXTERNAL
            && p.target_project == "*"
            && new_target != Some("*")
            && net.is_default
        {
            return Err(in_use(
                &net.id,
                "Default external networks must be shared to everyone.",
            ));
        }
        if p.action == EXTERNAL {
            return self.check_external_removal(conn, net, p, new_target).await;
        }
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
