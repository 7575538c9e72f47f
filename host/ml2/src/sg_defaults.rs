//! What new security groups start with: the default rule templates
//! (`security-groups-default-rules`, admin-managed) and the default of `stateful`
//! (`security-groups-default-statefulness`, per project or system-wide).
//!
//! A group takes the templates that apply to it inside the transaction that creates it, so
//! it has exactly the templates of one moment, however templates change meanwhile.

use ipnet::IpNet;
use neutrino_store::model::{SecurityGroup, SecurityGroupRule};
use neutrino_store::query::{Condition, ListQuery};
use neutrino_store::sg_defaults::{self as store, DefaultRule, Statefulness};
use neutrino_store::{Conn, StoreError, UniqueKind};

use crate::checks::{admin_only, admin_or_project, has_role};
use crate::error::{Error, Result};
use crate::networks::marker_error;
use crate::security_groups::{check_ports, normalize_protocol};
use crate::{Plugin, RequestContext};

/// `remote_group_id` of a template that means "the new group itself".
pub const PARENT: &str = "PARENT";

/// A validated template create request.
#[derive(Debug, Clone, Default)]
pub struct DefaultRuleCreate {
    /// `ingress` / `egress`.
    pub direction: String,
    /// `IPv4` / `IPv6`.
    pub ethertype: String,
    /// Protocol name or number.
    pub protocol: Option<String>,
    /// Port range start.
    pub port_range_min: Option<i64>,
    /// Port range end.
    pub port_range_max: Option<i64>,
    /// Remote CIDR.
    pub remote_ip_prefix: Option<IpNet>,
    /// Remote group id, or `PARENT`.
    pub remote_group_id: Option<String>,
    /// Remote address group.
    pub remote_address_group_id: Option<String>,
    /// Description.
    pub description: String,
    /// For default groups.
    pub used_in_default_sg: bool,
    /// For other groups.
    pub used_in_non_default_sg: bool,
}

fn rule_not_found(id: &str) -> Error {
    Error::neutron(
        "DefaultSecurityGroupRuleNotFound",
        404,
        format!("Default Security Group rule {id} does not exist"),
    )
}

fn statefulness_not_found(id: &str) -> Error {
    Error::neutron(
        "SecurityGroupDefaultStatefulnessNotFound",
        404,
        format!("Security group default statefulness {id} could not be found."),
    )
}

fn statefulness_exists(project_id: Option<&str>) -> Error {
    Error::conflict(
        "SecurityGroupDefaultStatefulnessAlreadyExists",
        format!(
            "A security group default statefulness setting already exists for project '{}'.",
            project_id.unwrap_or("system-wide")
        ),
    )
}

/// Whether two templates would make the same rule (Neutron's `_rule_to_key`: an absent
/// prefix and `0.0.0.0/0` or `::/0` are the same).
fn same_rule(a: &DefaultRule, b: &DefaultRule) -> bool {
    let prefix = |p: &Option<String>| match p.as_deref() {
        None | Some("0.0.0.0/0") | Some("::/0") => None,
        other => other.map(str::to_string),
    };
    a.direction == b.direction
        && a.ethertype == b.ethertype
        && a.protocol == b.protocol
        && a.port_range_min == b.port_range_min
        && a.port_range_max == b.port_range_max
        && prefix(&a.remote_ip_prefix) == prefix(&b.remote_ip_prefix)
        && a.remote_group_id == b.remote_group_id
        && a.remote_address_group_id == b.remote_address_group_id
}

/// The rules a new group gets from the templates that apply to it.
pub(crate) async fn rules_for_new_group(
    conn: &mut Conn,
    g: &SecurityGroup,
    default: bool,
) -> Result<Vec<SecurityGroupRule>> {
    let templates = store::templates(conn, default).await?;
    Ok(templates
        .into_iter()
        .map(|t| SecurityGroupRule {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: g.project_id.clone(),
            security_group_id: g.id.clone(),
            direction: t.direction,
            ethertype: t.ethertype,
            protocol: t.protocol,
            port_range_min: t.port_range_min,
            port_range_max: t.port_range_max,
            remote_ip_prefix: t.remote_ip_prefix,
            remote_group_id: match t.remote_group_id.as_deref() {
                Some(PARENT) => Some(g.id.clone()),
                _ => t.remote_group_id,
            },
            remote_address_group_id: t.remote_address_group_id,
            belongs_to_default_sg: default,
            description: String::new(),
            created_at: g.created_at.clone(),
            updated_at: g.created_at.clone(),
            revision_number: 0,
        })
        .collect())
}

impl Plugin {
    /// Add a template (admin). It must not duplicate one of the same kind.
    pub async fn create_default_security_group_rule(
        &self,
        ctx: &RequestContext,
        r: DefaultRuleCreate,
    ) -> Result<DefaultRule> {
        admin_only(ctx, "create_default_security_group_rule")?;
        let protocol = normalize_protocol(r.protocol.as_deref(), &r.ethertype)?;
        let _ = check_ports(protocol.as_deref(), r.port_range_min, r.port_range_max)?;
        if let Some(prefix) = r.remote_ip_prefix
            && prefix.addr().is_ipv6() != (r.ethertype == "IPv6")
        {
            return Err(Error::bad_request(format!(
                "Conflicting value ethertype {} for CIDR {prefix}",
                r.ethertype
            )));
        }
        let remotes = usize::from(r.remote_ip_prefix.is_some())
            + usize::from(r.remote_group_id.is_some())
            + usize::from(r.remote_address_group_id.is_some());
        if remotes > 1 {
            return Err(Error::neutron(
                "SecurityGroupMultipleRemoteEntites",
                400,
                "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may \
                 be provided.",
            ));
        }
        let now = neutrino_store::now();
        let new = DefaultRule {
            id: uuid::Uuid::new_v4().to_string(),
            direction: r.direction,
            ethertype: r.ethertype,
            protocol,
            port_range_min: r.port_range_min,
            port_range_max: r.port_range_max,
            remote_ip_prefix: r.remote_ip_prefix.map(|p| p.trunc().to_string()),
            remote_group_id: r.remote_group_id,
            remote_address_group_id: r.remote_address_group_id,
            description: r.description,
            used_in_default_sg: r.used_in_default_sg,
            used_in_non_default_sg: r.used_in_non_default_sg,
            created_at: now.clone(),
            updated_at: now,
            revision_number: 0,
        };
        crate::in_tx!(self.store(), |tx| {
            // One template writer at a time, so two equal templates never both pass the
            // check below.
            store::lock_templates(tx).await?;
            let existing = store::list_rules(tx, &ListQuery::default()).await?;
            if let Some(dup) = existing.iter().find(|e| {
                same_rule(e, &new)
                    && ((e.used_in_default_sg && new.used_in_default_sg)
                        || (e.used_in_non_default_sg && new.used_in_non_default_sg))
            }) {
                return Err(Error::conflict(
                    "DefaultSecurityGroupRuleExists",
                    format!(
                        "Default Security group rule already exists. Rule id is {}.",
                        dup.id
                    ),
                ));
            }
            store::insert_rule(tx, &new).await.map_err(|e| match e {
                StoreError::ForeignKey(_) => Error::not_found(
                    "AddressGroupNotFound",
                    "Address group",
                    new.remote_address_group_id.as_deref().unwrap_or_default(),
                ),
                other => other.into(),
            })?;
            Ok::<_, Error>(new.clone())
        })
    }

    /// Show a template (anyone with a role).
    pub async fn get_default_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<DefaultRule> {
        if !has_role(ctx, "reader") {
            return Err(rule_not_found(id));
        }
        let mut conn = self.read().await?;
        store::get_rule(&mut conn, id)
            .await?
            .ok_or_else(|| rule_not_found(id))
    }

    /// List templates.
    pub async fn list_default_security_group_rules(
        &self,
        ctx: &RequestContext,
        q: ListQuery,
    ) -> Result<Vec<DefaultRule>> {
        if !has_role(ctx, "reader") {
            return Ok(Vec::new());
        }
        let mut conn = self.read().await?;
        store::list_rules(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Default security group rule"))
    }

    /// Delete a template (admin); groups created before keep their rules.
    pub async fn delete_default_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<()> {
        admin_only(ctx, "delete_default_security_group_rule")?;
        let id = id.to_string();
        crate::in_tx!(self.store(), |tx| {
            store::lock_templates(tx).await?;
            if !store::delete_rule(tx, &id).await? {
                return Err(rule_not_found(&id));
            }
            Ok::<_, Error>(())
        })
    }

    /// Set the default of `stateful` for a project, or system-wide (`project_id` none:
    /// admins only); project managers set their own project's.
    pub async fn create_sg_default_statefulness(
        &self,
        ctx: &RequestContext,
        project_id: Option<String>,
        stateful: bool,
    ) -> Result<Statefulness> {
        match &project_id {
            Some(p) => admin_or_project(
                ctx,
                "manager",
                p,
                "create_security_groups_default_statefulness",
            )?,
            None => admin_only(ctx, "create_security_groups_default_statefulness")?,
        }
        let s = Statefulness {
            id: uuid::Uuid::new_v4().to_string(),
            project_id,
            stateful,
        };
        crate::in_tx!(self.store(), |tx| {
            store::insert_statefulness(tx, &s)
                .await
                .map_err(|e| match e {
                    StoreError::Unique {
                        kind: UniqueKind::Other,
                        ..
                    } => statefulness_exists(s.project_id.as_deref()),
                    other => other.into(),
                })?;
            Ok::<_, Error>(s.clone())
        })
    }

    fn statefulness_visible(ctx: &RequestContext, s: &Statefulness) -> bool {
        ctx.is_admin
            || (s.project_id.as_deref() == Some(ctx.project_id.as_str()) && has_role(ctx, "reader"))
    }

    /// Show a statefulness default (admins, or readers of its project).
    pub async fn get_sg_default_statefulness(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<Statefulness> {
        let mut conn = self.read().await?;
        store::get_statefulness(&mut conn, id)
            .await?
            .filter(|s| Self::statefulness_visible(ctx, s))
            .ok_or_else(|| statefulness_not_found(id))
    }

    /// List the statefulness defaults the caller can see.
    pub async fn list_sg_default_statefulness(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
    ) -> Result<Vec<Statefulness>> {
        if !ctx.is_admin {
            if !has_role(ctx, "reader") {
                return Ok(Vec::new());
            }
            q.conditions
                .push(Condition::eq("project_id", ctx.project_id.clone()));
        }
        let mut conn = self.read().await?;
        store::list_statefulness(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Security group default statefulness"))
    }

    /// Change a statefulness default.
    pub async fn update_sg_default_statefulness(
        &self,
        ctx: &RequestContext,
        id: &str,
        stateful: Option<bool>,
    ) -> Result<Statefulness> {
        let (ctx, id) = (ctx.clone(), id.to_string());
        crate::in_tx!(self.store(), |tx| {
            let mut s = store::get_statefulness(tx, &id)
                .await?
                .filter(|s| Self::statefulness_visible(&ctx, s))
                .ok_or_else(|| statefulness_not_found(&id))?;
            Self::may_manage(&ctx, &s, "update_security_groups_default_statefulness")?;
            if let Some(v) = stateful {
                s.stateful = v;
                store::update_statefulness(tx, &id, v).await?;
            }
            Ok::<_, Error>(s)
        })
    }

    /// Delete a statefulness default.
    pub async fn delete_sg_default_statefulness(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<()> {
        let (ctx, id) = (ctx.clone(), id.to_string());
        crate::in_tx!(self.store(), |tx| {
            let s = store::get_statefulness(tx, &id)
                .await?
                .filter(|s| Self::statefulness_visible(&ctx, s))
                .ok_or_else(|| statefulness_not_found(&id))?;
            Self::may_manage(&ctx, &s, "delete_security_groups_default_statefulness")?;
            store::delete_statefulness(tx, &id).await?;
            Ok::<_, Error>(())
        })
    }

    fn may_manage(ctx: &RequestContext, s: &Statefulness, action: &str) -> Result<()> {
        match &s.project_id {
            Some(p) => admin_or_project(ctx, "manager", p, action),
            None => admin_only(ctx, action),
        }
    }
}
