//! Security groups and rules (stored and validated; enforcement belongs to the agents), and
//! each project's `default` group, created on first use.

use ipnet::IpNet;
use neutrino_store::model::{SecurityGroup, SecurityGroupRule};
use neutrino_store::query::{Condition, ListQuery};
use neutrino_store::{Conn, StoreError, Tx, security_groups as sg};

use crate::error::{Error, Result};
use crate::mech::StagedHost;
use crate::mech::hooks::{Phase, create_undone};
use crate::networks::marker_error;
use crate::{Plugin, RequestContext, check_revision};
use neutrino_runtime::Hook;

/// A validated group create request.
#[derive(Debug, Clone, Default)]
pub struct SecurityGroupCreate {
    /// Owner.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Stateful; none: the default for the project (`security-groups-default-statefulness`).
    pub stateful: Option<bool>,
}

/// A validated group update.
#[derive(Debug, Clone, Default)]
pub struct SecurityGroupUpdate {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Stateful.
    pub stateful: Option<bool>,
}

/// A validated rule create request.
#[derive(Debug, Clone, Default)]
pub struct RuleCreate {
    /// Owner.
    pub project_id: String,
    /// Group.
    pub security_group_id: String,
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
    /// Remote group.
    pub remote_group_id: Option<String>,
    /// Remote address group.
    pub remote_address_group_id: Option<String>,
    /// Description.
    pub description: String,
}

pub(crate) fn group_not_found(id: &str) -> Error {
    Error::not_found("SecurityGroupNotFound", "Security group", id)
}

fn rule_not_found(id: &str) -> Error {
    Error::not_found("SecurityGroupRuleNotFound", "Security group rule", id)
}

const PORT_PROTOCOLS: [&str; 5] = ["tcp", "udp", "sctp", "udplite", "dccp"];
const KNOWN_PROTOCOLS: [&str; 13] = [
    "ah",
    "dccp",
    "egp",
    "esp",
    "gre",
    "icmp",
    "icmpv6",
    "igmp",
    "ipv6-icmp",
    "ospf",
    "pgm",
    "rsvp",
    "sctp",
];

impl Plugin {
    /// Insert a group with the rules of the default security group rule templates (Neutron's
    /// legacy ones unless an admin changed them: egress to anywhere for both ethertypes and,
    /// for the default group, ingress from members of the group itself).
    async fn insert_group(
        &self,
        conn: &mut Conn,
        r: &SecurityGroupCreate,
        default: bool,
    ) -> Result<SecurityGroup> {
        let now = neutrino_store::now();
        let id = uuid::Uuid::new_v4().to_string();
        let mut g = SecurityGroup {
            id: id.clone(),
            project_id: r.project_id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            stateful: r.stateful.unwrap_or(true),
            created_at: now.clone(),
            updated_at: now.clone(),
            revision_number: 1,
            rules: vec![],
            tags: vec![],
            rbac: vec![],
            shared: false,
        };
        sg::insert(conn, &g).await?;
        let rules = crate::sg_defaults::rules_for_new_group(conn, &g, default).await?;
        for r in &rules {
            sg::insert_rule(conn, r).await?;
        }
        g.rules = rules;
        Ok(g)
    }

    /// The project's default group, created if it does not exist yet. A group created here
    /// runs the drivers' `create_security_group_precommit` as an explicit create does, staged
    /// in `hooks.0` (which the caller flushes), and is pushed to `hooks.1` for the
    /// postcommit ([`Plugin::default_groups_postcommit`]) after the commit. `None`: only for
    /// callers that cannot reach the creation (they name their groups).
    pub(crate) async fn ensure_default_security_group(
        &self,
        tx: &mut Tx,
        project_id: &str,
        hooks: Option<(&StagedHost, &mut Vec<SecurityGroup>)>,
    ) -> Result<String> {
        if let Some(id) = sg::default_of(tx, project_id).await? {
            return Ok(id);
        }
        let req = SecurityGroupCreate {
            project_id: project_id.to_string(),
            name: "default".into(),
            description: "Default security group".into(),
            stateful: Some(true),
        };
        let g = self.insert_group(tx, &req, true).await?;
        if sg::set_default(tx, project_id, &g.id).await? {
            if let Some((host, created)) = hooks {
                self.security_group_hook(
                    Phase::Pre(host, &mut *tx),
                    Hook::CreatePrecommit,
                    &g,
                    None,
                )
                .await?;
                created.push(g.clone());
            }
            return Ok(g.id);
        }
        // Another request created it first: use theirs.
        sg::delete(tx, &g.id).await?;
        sg::default_of(tx, project_id)
            .await?
            .ok_or_else(|| StoreError::Retry("default security group raced".into()).into())
    }

    /// The drivers' `create_security_group_postcommit` for default groups created by
    /// [`Plugin::ensure_default_security_group`], once their transaction committed. A failure
    /// is logged (as Neutron logs a failing `AFTER_CREATE` callback): the group stays, since
    /// the request that created it did not ask for it.
    pub(crate) async fn default_groups_postcommit(&self, created: &[SecurityGroup]) {
        for g in created {
            if let Err(e) = self
                .security_group_hook(Phase::Post, Hook::CreatePostcommit, g, None)
                .await
            {
                tracing::error!(security_group = %g.id, project = %g.project_id, error = %e, "create_security_group_postcommit of a default security group failed");
            }
        }
    }

    /// Create a group.
    pub async fn create_security_group(
        &self,
        ctx: &RequestContext,
        r: SecurityGroupCreate,
    ) -> Result<SecurityGroup> {
        let mut out = self.create_security_groups(ctx, vec![r]).await?;
        Ok(out.remove(0))
    }

    /// Create groups, all or none.
    pub async fn create_security_groups(
        &self,
        ctx: &RequestContext,
        reqs: Vec<SecurityGroupCreate>,
    ) -> Result<Vec<SecurityGroup>> {
        if reqs.iter().any(|r| r.name == "default") {
            return Err(Error::conflict(
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
        let plugin = self.clone();
        let _ = ctx;
        let (created, defaults) = crate::in_tx!(self.store(), |tx| {
            let counts = crate::quotas::per_project(reqs.iter().map(|r| &r.project_id));
            let host = plugin.staged_host();
            let mut defaults = Vec::new();
            for (project, n) in &counts {
                plugin
                    .ensure_default_security_group(tx, project, Some((&host, &mut defaults)))
                    .await?;
                plugin
                    .check_quota(tx, project, "security_group", *n)
                    .await?;
                // Their two egress rules each count too (Neutron checks them before
                // creating a group).
                plugin
                    .check_quota(tx, project, "security_group_rule", 2 * n)
                    .await?;
            }
            let mut out = Vec::with_capacity(reqs.len());
            for r in &reqs {
                let mut r = r.clone();
                if r.stateful.is_none() {
                    r.stateful = Some(
                        neutrino_store::sg_defaults::effective_stateful(tx, &r.project_id).await?,
                    );
                }
                let g = plugin.insert_group(tx, &r, false).await?;
                plugin
                    .security_group_hook(
                        Phase::Pre(&host, &mut *tx),
                        Hook::CreatePrecommit,
                        &g,
                        None,
                    )
                    .await?;
                out.push(g);
            }
            host.flush(tx).await?;
            Ok::<_, Error>((out, defaults))
        })?;
        self.default_groups_postcommit(&defaults).await;
        for g in &created {
            if let Err(e) = self
                .security_group_hook(Phase::Post, Hook::CreatePostcommit, g, None)
                .await
            {
                let admin = RequestContext::admin(&g.project_id);
                for g in &created {
                    if let Err(undo) = self.delete_security_group(&admin, &g.id, None).await {
                        tracing::error!(security_group = %g.id, error = %undo, "could not delete a security group after its create postcommit failed");
                    }
                }
                return Err(create_undone(e));
            }
        }
        Ok(created)
    }

    /// Show a group.
    pub async fn get_security_group(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<SecurityGroup> {
        let mut conn = self.read().await?;
        let mut g = sg::get(&mut conn, id)
            .await?
            .filter(|g| ctx.owns(&g.project_id) || crate::rbac::reaches(&g.rbac, ctx))
            .ok_or_else(|| group_not_found(id))?;
        g.shared = crate::rbac::shared_with(&g.rbac, &ctx.project_id);
        Ok(g)
    }

    /// List groups (creating the caller's default group first, as Neutron does).
    pub async fn list_security_groups(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
    ) -> Result<Vec<SecurityGroup>> {
        let plugin = self.clone();
        // Neutron's `get_security_groups`: the default group of the project filtered on (the
        // first `project_id` value), else of the caller's project. Only admins create one
        // for another project.
        let filtered = q.conditions.iter().find_map(|c| match c {
            Condition::In { column, values } if column == "project_id" => {
                values.first().and_then(|v| match v {
                    neutrino_store::query::SqlValue::Text(t) => Some(t.clone()),
                    _ => None,
                })
            }
            _ => None,
        });
        let project = filtered
            .filter(|p| ctx.sees_all() || *p == ctx.project_id)
            .unwrap_or_else(|| ctx.project_id.clone());
        let created = crate::in_tx!(self.store(), |tx| {
            let host = plugin.staged_host();
            let mut created = Vec::new();
            plugin
                .ensure_default_security_group(tx, &project, Some((&host, &mut created)))
                .await?;
            host.flush(tx).await?;
            Ok::<_, Error>(created)
        })?;
        self.default_groups_postcommit(&created).await;
        if !ctx.sees_all() {
            q.conditions.push(neutrino_store::rbac::visible_to(
                "security_group",
                &ctx.project_id,
            ));
        }
        let mut conn = self.read().await?;
        let mut groups = sg::list(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Security group"))?;
        for g in &mut groups {
            g.shared = crate::rbac::shared_with(&g.rbac, &ctx.project_id);
        }
        Ok(groups)
    }

    /// Update a group (the default group cannot be renamed).
    pub async fn update_security_group(
        &self,
        ctx: &RequestContext,
        id: &str,
        u: SecurityGroupUpdate,
        if_match: Option<i64>,
    ) -> Result<SecurityGroup> {
        let ctx = ctx.clone();
        let id = id.to_string();
        let plugin = self.clone();
        let changed = crate::in_tx!(self.store(), |tx| {
            let current = sg::get(tx, &id)
                .await?
                .filter(|g| ctx.owns(&g.project_id))
                .ok_or_else(|| group_not_found(&id))?;
            check_revision(if_match, current.revision_number)?;
            let mut g = current.clone();
            if let Some(name) = &u.name {
                if current.name == "default" && name != "default" {
                    return Err(Error::conflict(
                        "SecurityGroupCannotUpdateDefault",
                        "Updating default security group not allowed.",
                    ));
                }
                if name == "default" && current.name != "default" {
                    return Err(Error::conflict(
                        "SecurityGroupDefaultAlreadyExists",
                        "Default security group already exists.",
                    ));
                }
                g.name = name.clone();
            }
            if let Some(v) = &u.description {
                g.description = v.clone();
            }
            if let Some(v) = u.stateful {
                if v != current.stateful && sg::port_count(tx, &id).await? > 0 {
                    return Err(Error::conflict(
                        "SecurityGroupInUse",
                        format!("Security Group {id} in use."),
                    ));
                }
                g.stateful = v;
            }
            if g == current {
                return Ok((g, None));
            }
            g.revision_number += 1;
            g.updated_at = neutrino_store::now();
            if !sg::update(tx, &g, current.revision_number).await? {
                return Err(StoreError::Retry("security group changed".into()).into());
            }
            let host = plugin.staged_host();
            plugin
                .security_group_hook(
                    Phase::Pre(&host, &mut *tx),
                    Hook::UpdatePrecommit,
                    &g,
                    Some(&current),
                )
                .await?;
            host.flush(tx).await?;
            Ok((g, Some(current)))
        })?;
        if let (g, Some(original)) = &changed {
            // Neutron: an update postcommit failure is logged, the update stands.
            let _ = self
                .security_group_hook(Phase::Post, Hook::UpdatePostcommit, g, Some(original))
                .await;
        }
        Ok(changed.0)
    }

    /// Delete a group that no port uses (never the default group, unless admin).
    pub async fn delete_security_group(
        &self,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let ctx = ctx.clone();
        let id = id.to_string();
        let plugin = self.clone();
        let deleted = crate::in_tx!(self.store(), |tx| {
            let g = sg::get(tx, &id)
                .await?
                .filter(|g| ctx.owns(&g.project_id))
                .ok_or_else(|| group_not_found(&id))?;
            check_revision(if_match, g.revision_number)?;
            if g.name == "default" && !ctx.sees_all() {
                return Err(Error::conflict(
                    "SecurityGroupCannotRemoveDefault",
                    "Insufficient rights for removing default security group.",
                ));
            }
            if sg::port_count(tx, &id).await? > 0 {
                return Err(Error::conflict(
                    "SecurityGroupInUse",
                    format!("Security Group {id} in use."),
                ));
            }
            let host = plugin.staged_host();
            plugin
                .security_group_hook(Phase::Pre(&host, &mut *tx), Hook::DeletePrecommit, &g, None)
                .await?;
            neutrino_store::rbac::delete_of_object(tx, "security_group", &id).await?;
            sg::delete(tx, &id).await?;
            host.flush(tx).await?;
            Ok::<_, Error>(g)
        })?;
        let _ = self
            .security_group_hook(Phase::Post, Hook::DeletePostcommit, &deleted, None)
            .await;
        Ok(())
    }

    /// Create a rule.
    pub async fn create_security_group_rule(
        &self,
        ctx: &RequestContext,
        r: RuleCreate,
    ) -> Result<SecurityGroupRule> {
        let mut out = self.create_security_group_rules(ctx, vec![r]).await?;
        Ok(out.remove(0))
    }

    /// Create rules, all or none (Neutron's bulk create: one project and one group).
    pub async fn create_security_group_rules(
        &self,
        ctx: &RequestContext,
        reqs: Vec<RuleCreate>,
    ) -> Result<Vec<SecurityGroupRule>> {
        if reqs.len() > 1 {
            if reqs.iter().any(|r| r.project_id != reqs[0].project_id) {
                return Err(Error::neutron(
                    "SecurityGroupRulesNotSingleProject",
                    400,
                    "Multiple project_ids in bulk security group rule create not allowed",
                ));
            }
            if reqs
                .iter()
                .any(|r| r.security_group_id != reqs[0].security_group_id)
            {
                return Err(Error::neutron(
                    "SecurityGroupNotSingleGroupRules",
                    400,
                    "Only allowed to update rules for one security profile at a time",
                ));
            }
        }
        let mut checked = Vec::with_capacity(reqs.len());
        for r in &reqs {
            let protocol = normalize_protocol(r.protocol.as_deref(), &r.ethertype)?;
            let (min, max) = check_ports(protocol.as_deref(), r.port_range_min, r.port_range_max)?;
            if let Some(prefix) = r.remote_ip_prefix {
                let v6 = prefix.addr().is_ipv6();
                if v6 != (r.ethertype == "IPv6") {
                    return Err(Error::neutron(
                        "SecurityGroupRuleParameterConflict",
                        400,
                        format!(
                            "Conflicting value ethertype {} for CIDR {prefix}",
                            r.ethertype
                        ),
                    ));
                }
            }
            let remotes = usize::from(r.remote_ip_prefix.is_some())
                + usize::from(r.remote_group_id.is_some())
                + usize::from(r.remote_address_group_id.is_some());
            if remotes > 1 {
                return Err(Error::neutron(
                    "SecurityGroupMultipleRemoteEntites",
                    400,
                    "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id \
                     may be provided.",
                ));
            }
            checked.push((r, protocol, min, max));
        }
        let ctx = ctx.clone();
        let plugin = self.clone();
        let created = crate::in_tx!(self.store(), |tx| {
            let mut out: Vec<SecurityGroupRule> = Vec::with_capacity(checked.len());
            let now = neutrino_store::now();
            let mut touched: Vec<String> = Vec::new();
            for (r, protocol, min, max) in &checked {
                let group = sg::get(tx, &r.security_group_id)
                    .await?
                    .filter(|g| ctx.owns(&g.project_id))
                    .ok_or_else(|| group_not_found(&r.security_group_id))?;
                if let Some(remote) = &r.remote_group_id
                    && sg::get(tx, remote)
                        .await?
                        .filter(|g| ctx.owns(&g.project_id))
                        .is_none()
                {
                    return Err(group_not_found(remote));
                }
                if let Some(ag) = &r.remote_address_group_id {
                    plugin
                        .check_address_group_for(tx, &ctx, ag, &r.project_id)
                        .await?;
                }
                let in_default = sg::default_of(tx, &group.project_id).await?.as_deref()
                    == Some(group.id.as_str());
                let new = SecurityGroupRule {
                    id: uuid::Uuid::new_v4().to_string(),
                    project_id: r.project_id.clone(),
                    security_group_id: group.id.clone(),
                    direction: r.direction.clone(),
                    ethertype: r.ethertype.clone(),
                    protocol: protocol.clone(),
                    port_range_min: *min,
                    port_range_max: *max,
                    // Kept as sent (`10.0.0.34/24`); `normalized_cidr` shows the network.
                    remote_ip_prefix: r.remote_ip_prefix.map(|p| p.to_string()),
                    remote_group_id: r.remote_group_id.clone(),
                    remote_address_group_id: r.remote_address_group_id.clone(),
                    belongs_to_default_sg: in_default,
                    description: r.description.clone(),
                    created_at: now.clone(),
                    updated_at: now.clone(),
                    revision_number: 0,
                };
                let same = |existing: &SecurityGroupRule| {
                    existing.direction == new.direction
                        && existing.ethertype == new.ethertype
                        && existing.protocol == new.protocol
                        && existing.port_range_min == new.port_range_min
                        && existing.port_range_max == new.port_range_max
                        && existing.remote_ip_prefix == new.remote_ip_prefix
                        && existing.remote_group_id == new.remote_group_id
                        && existing.remote_address_group_id == new.remote_address_group_id
                };
                if out.iter().any(same) {
                    return Err(Error::conflict(
                        "DuplicateSecurityGroupRuleInPost",
                        "Duplicate Security Group Rule in POST.",
                    ));
                }
                if let Some(existing) = group.rules.iter().find(|e| same(e)) {
                    return Err(Error::conflict(
                        "SecurityGroupRuleExists",
                        format!(
                            "Security group rule already exists. Rule id is {}.",
                            existing.id
                        ),
                    ));
                }
                if !touched.contains(&group.id) {
                    touched.push(group.id.clone());
                }
                out.push(new);
            }
            for (project, n) in crate::quotas::per_project(out.iter().map(|r| &r.project_id)) {
                plugin
                    .check_quota(tx, project, "security_group_rule", n)
                    .await?;
            }
            for new in &out {
                // A remote group deleted since the checks above: run again, and the checks
                // answer.
                sg::insert_rule(tx, new).await.map_err(|e| match e {
                    StoreError::ForeignKey(m) => StoreError::Retry(m),
                    other => other,
                })?;
            }
            for g in &touched {
                neutrino_store::revision::touch(tx, "security_groups", g, &now).await?;
            }
            let host = plugin.staged_host();
            for new in &out {
                plugin
                    .security_group_rule_hook(
                        Phase::Pre(&host, &mut *tx),
                        Hook::CreatePrecommit,
                        new,
                    )
                    .await?;
            }
            host.flush(tx).await?;
            Ok::<_, Error>(out)
        })?;
        for r in &created {
            if let Err(e) = self
                .security_group_rule_hook(Phase::Post, Hook::CreatePostcommit, r)
                .await
            {
                let admin = RequestContext::admin(&r.project_id);
                for r in &created {
                    if let Err(undo) = self.delete_security_group_rule(&admin, &r.id).await {
                        tracing::error!(rule = %r.id, error = %undo, "could not delete a security group rule after its create postcommit failed");
                    }
                }
                return Err(create_undone(e));
            }
        }
        Ok(created)
    }

    /// Show a rule.
    pub async fn get_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<SecurityGroupRule> {
        let mut conn = self.read().await?;
        let r = sg::get_rule(&mut conn, id)
            .await?
            .ok_or_else(|| rule_not_found(id))?;
        if rule_visible(&mut conn, ctx, &r).await? {
            Ok(r)
        } else {
            Err(rule_not_found(id))
        }
    }

    /// List rules.
    pub async fn list_security_group_rules(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
    ) -> Result<Vec<SecurityGroupRule>> {
        if !ctx.sees_all() {
            // The rule's owner, or its group's (an admin may add rules to a member's group).
            q.conditions.push(Condition::raw(
                "project_id = ? OR security_group_id IN \
                 (SELECT id FROM security_groups WHERE project_id = ?)",
                vec![ctx.project_id.clone().into(), ctx.project_id.clone().into()],
            ));
        }
        let mut conn = self.read().await?;
        sg::list_rules(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Security group rule"))
    }

    /// Delete a rule.
    pub async fn delete_security_group_rule(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let ctx = ctx.clone();
        let id = id.to_string();
        let plugin = self.clone();
        let deleted = crate::in_tx!(self.store(), |tx| {
            let r = sg::get_rule(tx, &id)
                .await?
                .ok_or_else(|| rule_not_found(&id))?;
            if !rule_visible(tx, &ctx, &r).await? {
                return Err(rule_not_found(&id));
            }
            let host = plugin.staged_host();
            plugin
                .security_group_rule_hook(Phase::Pre(&host, &mut *tx), Hook::DeletePrecommit, &r)
                .await?;
            sg::delete_rule(tx, &id).await?;
            neutrino_store::revision::touch(
                tx,
                "security_groups",
                &r.security_group_id,
                &neutrino_store::now(),
            )
            .await?;
            host.flush(tx).await?;
            Ok::<_, Error>(r)
        })?;
        let _ = self
            .security_group_rule_hook(Phase::Post, Hook::DeletePostcommit, &deleted)
            .await;
        Ok(())
    }
}

/// Whether the caller may see a rule: it owns the rule or the rule's group.
async fn rule_visible(
    conn: &mut Conn,
    ctx: &RequestContext,
    r: &SecurityGroupRule,
) -> Result<bool> {
    if ctx.owns(&r.project_id) {
        return Ok(true);
    }
    Ok(sg::get(conn, &r.security_group_id)
        .await?
        .is_some_and(|g| ctx.owns(&g.project_id)))
}

pub(crate) fn normalize_protocol(
    protocol: Option<&str>,
    ethertype: &str,
) -> Result<Option<String>> {
    let Some(p) = protocol else { return Ok(None) };
    let lower = p.to_ascii_lowercase();
    if lower == "any" || lower.is_empty() {
        return Ok(None);
    }
    if let Ok(n) = lower.parse::<i64>() {
        if !(0..=255).contains(&n) {
            return Err(Error::neutron(
                "SecurityGroupRuleInvalidProtocol",
                400,
                format!(
                    "Security group rule protocol {p} not supported. Only protocol values \
                         [None, tcp, udp, icmp, ...] and integer representations [0 to 255] are supported."
                ),
            ));
        }
        check_ethertype_fits(p, &lower, ethertype)?;
        return Ok(Some(lower));
    }
    let known = PORT_PROTOCOLS.contains(&lower.as_str())
        || KNOWN_PROTOCOLS.contains(&lower.as_str())
        || ["udp", "tcp", "icmp", "vrrp", "ipip", "ipencap"].contains(&lower.as_str());
    if !known {
        return Err(Error::neutron(
            "SecurityGroupRuleInvalidProtocol",
            400,
            format!("Security group rule protocol {p} not supported."),
        ));
    }
    check_ethertype_fits(p, &lower, ethertype)?;
    Ok(Some(lower))
}

/// IPv6-only protocols, by name and number (Neutron's list: ipv6-encap 41, ipv6-route 43,
/// ipv6-frag 44, ipv6-icmp / icmpv6 58, ipv6-nonxt 59, ipv6-opts 60).
const IPV6_ONLY_PROTOCOLS: [&str; 13] = [
    "ipv6-encap",
    "ipv6-frag",
    "ipv6-icmp",
    "icmpv6",
    "ipv6-nonxt",
    "ipv6-opts",
    "ipv6-route",
    "41",
    "43",
    "44",
    "58",
    "59",
    "60",
];

/// An IPv6-only protocol in an IPv4 rule is Neutron's 400
/// `SecurityGroupEthertypeConflictWithProtocol`.
fn check_ethertype_fits(given: &str, lower: &str, ethertype: &str) -> Result<()> {
    if ethertype == "IPv4" && IPV6_ONLY_PROTOCOLS.contains(&lower) {
        return Err(Error::neutron(
            "SecurityGroupEthertypeConflictWithProtocol",
            400,
            format!("Invalid ethertype {ethertype} for protocol {given}."),
        ));
    }
    Ok(())
}

/// The IP protocol number of a (normalised) protocol name or number.
fn protocol_number(p: &str) -> Option<i64> {
    if let Ok(n) = p.parse::<i64>() {
        return Some(n);
    }
    Some(match p {
        "icmp" => 1,
        "igmp" => 2,
        "ipip" | "ipencap" => 4,
        "tcp" => 6,
        "egp" => 8,
        "udp" => 17,
        "dccp" => 33,
        "rsvp" => 46,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" => 58,
        "ospf" => 89,
        "vrrp" => 112,
        "pgm" => 113,
        "sctp" => 132,
        "udplite" => 136,
        _ => return None,
    })
}

/// Protocol numbers whose rules take port ranges (Neutron's `SG_PORT_PROTO_NUMS`: DCCP,
/// SCTP, TCP, UDP, UDP-Lite).
const PORT_PROTOCOL_NUMBERS: [i64; 5] = [33, 132, 6, 17, 136];

/// Neutron's `_make_canonical_port_range` and `_validate_port_range`: the whole range
/// (1-65535) is no range; TCP-like protocols need `min <= max` and no port 0; ICMP takes a
/// type (min) and code (max) of 0-255, a code only with a type; other protocols take none.
/// Returns the range to store.
pub(crate) fn check_ports(
    protocol: Option<&str>,
    min: Option<i64>,
    max: Option<i64>,
) -> Result<(Option<i64>, Option<i64>)> {
    let (min, max) = match (min, max) {
        (Some(1), Some(65535)) => (None, None),
        other => other,
    };
    if min.is_none() && max.is_none() {
        return Ok((None, None));
    }
    let Some(p) = protocol else {
        return Err(Error::neutron(
            "SecurityGroupProtocolRequiredWithPorts",
            400,
            "Must also specify protocol if port range is given.",
        ));
    };
    let number = protocol_number(p);
    match number {
        Some(n) if PORT_PROTOCOL_NUMBERS.contains(&n) => {
            if min == Some(0) || max == Some(0) {
                return Err(invalid_port(0));
            }
            match (min, max) {
                (Some(a), Some(b)) if a <= b => Ok((min, max)),
                _ => Err(Error::neutron(
                    "SecurityGroupInvalidPortRange",
                    400,
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                )),
            }
        }
        Some(1 | 58) => {
            for (v, field, attr) in [
                (min, "type", "port_range_min"),
                (max, "code", "port_range_max"),
            ] {
                if let Some(v) = v
                    && !(0..=255).contains(&v)
                {
                    return Err(Error::neutron(
                        "SecurityGroupInvalidIcmpValue",
                        400,
                        format!(
                            "Invalid value for ICMP {field} ({attr}) {v}. It must be 0 to 255."
                        ),
                    ));
                }
            }
            if let (None, Some(code)) = (min, max) {
                return Err(Error::neutron(
                    "SecurityGroupMissingIcmpType",
                    400,
                    format!(
                        "ICMP code (port-range-max) {code} is provided but ICMP type \
                         (port-range-min) is missing."
                    ),
                ));
            }
            Ok((min, max))
        }
        _ => Err(Error::neutron(
            "SecurityGroupInvalidProtocolForPort",
            400,
            format!(
                "Ports cannot be specified for protocol {}. Ports are only supported for DCCP, \
                 SCTP, TCP, UDP, UDPLITE.",
                number
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| p.to_string())
            ),
        )),
    }
}

/// `SecurityGroupInvalidPortValue` (400): a port outside 0-65535, or 0 where a port is
/// needed.
pub fn invalid_port(port: impl std::fmt::Display) -> Error {
    Error::neutron(
        "SecurityGroupInvalidPortValue",
        400,
        format!("Invalid value for port {port}"),
    )
}
