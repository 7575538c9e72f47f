//! Neutron's policy applied to requests, as Neutron's API layer applies it: the match rule
//! of an action (`rule:create_port` and `rule:create_port:<attr>` for every policed attribute
//! the request sets), 403 `PolicyNotAuthorized` for an action or attribute the caller may not
//! use, 404 for a resource it may not see, and attributes stripped from what it may read.
//!
//! The rules themselves live in `neutrino-policy`; this module gives them their targets:
//! a request body or a stored record, and, only when a rule asks for it, the record's parent
//! (`network:project_id`, `network:shared`, `security_group:project_id`).

use std::collections::HashMap;

use neutrino_ml2::RequestContext;
use neutrino_ml2::store::agents::Agent;
use neutrino_ml2::store::model::{
    Network, Port, SecurityGroup, SecurityGroupRule, Subnet, SubnetPool,
};
use neutrino_policy::{Creds, Decision, Lookup, NoTarget, Policy, Target};
use serde_json::{Map, Value};

use crate::AppState;
use crate::attrs::Attr;
use crate::error::{ApiError, ApiResult};

/// The caller as the policy sees it.
pub fn creds(ctx: &RequestContext) -> Creds<'_> {
    Creds {
        project_id: &ctx.project_id,
        user_id: &ctx.user_id,
        roles: &ctx.roles,
        domain_id: &ctx.domain_id,
        user_domain_id: &ctx.user_domain_id,
        project_domain_id: &ctx.project_domain_id,
        system_scope: &ctx.system_scope,
    }
}

/// A stored record's attributes, by API name, for policy checks.
pub trait Fields: Sync {
    /// The value of attribute `key` (`Absent` when the record has none).
    fn field(&self, key: &str) -> Lookup<'_>;
}

fn s(v: &str) -> Lookup<'_> {
    Lookup::Str(v)
}

impl Fields for Network {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "project_id" | "tenant_id" => s(&self.project_id),
            "name" => s(&self.name),
            "shared" => Lookup::Bool(self.shared),
            "router:external" => Lookup::Bool(self.router_external),
            "port_security_enabled" => Lookup::Bool(self.port_security_enabled),
            "admin_state_up" => Lookup::Bool(self.admin_state_up),
            "status" => s(&self.status),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for Subnet {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "project_id" | "tenant_id" => s(&self.project_id),
            "network_id" => s(&self.network_id),
            "name" => s(&self.name),
            // `router:external` of a subnet is its network's (subnet-external-network).
            "router:external" => Lookup::Bool(self.router_external),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for Port {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "project_id" | "tenant_id" => s(&self.project_id),
            "network_id" => s(&self.network_id),
            "name" => s(&self.name),
            "device_owner" => s(&self.device_owner),
            "device_id" => s(&self.device_id),
            "mac_address" => s(&self.mac_address),
            "binding:host_id" => s(&self.binding_host_id),
            "binding:vnic_type" => s(&self.binding_vnic_type),
            "port_security_enabled" => Lookup::Bool(self.port_security_enabled),
            "admin_state_up" => Lookup::Bool(self.admin_state_up),
            "status" => s(&self.status),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for SubnetPool {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "project_id" | "tenant_id" => s(&self.project_id),
            "name" => s(&self.name),
            "shared" => Lookup::Bool(self.shared),
            "is_default" => Lookup::Bool(self.is_default),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for SecurityGroup {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "project_id" | "tenant_id" => s(&self.project_id),
            "name" => s(&self.name),
            "shared" => Lookup::Bool(self.shared),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for SecurityGroupRule {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "project_id" | "tenant_id" => s(&self.project_id),
            "security_group_id" => s(&self.security_group_id),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for Agent {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "host" => s(&self.host),
            "agent_type" => s(&self.agent_type),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for neutrino_ml2::store::address_groups::AddressGroup {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "project_id" | "tenant_id" => s(&self.project_id),
            "name" => s(&self.name),
            "shared" => Lookup::Bool(self.shared),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for neutrino_ml2::store::flavors::Flavor {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "name" => s(&self.name),
            "service_type" => s(&self.service_type),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for neutrino_ml2::store::flavors::ServiceProfile {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "driver" => s(&self.driver),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for neutrino_ml2::store::sg_defaults::DefaultRule {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "direction" => s(&self.direction),
            "ethertype" => s(&self.ethertype),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for neutrino_ml2::store::sg_defaults::Statefulness {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "project_id" | "tenant_id" => match &self.project_id {
                Some(p) => s(p),
                None => Lookup::Absent,
            },
            "stateful" => Lookup::Bool(self.stateful),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for neutrino_ml2::store::l3::Router {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "project_id" | "tenant_id" => s(&self.project_id),
            "name" => s(&self.name),
            "status" => s(&self.status),
            "admin_state_up" => Lookup::Bool(self.admin_state_up),
            "distributed" => Lookup::Bool(self.distributed),
            "ha" => Lookup::Bool(self.ha),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for neutrino_ml2::store::l3::FloatingIp {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "id" => s(&self.id),
            "project_id" | "tenant_id" => s(&self.project_id),
            "floating_network_id" => s(&self.floating_network_id),
            "floating_ip_address" => s(&self.floating_ip_address),
            "status" => s(&self.status),
            _ => Lookup::Absent,
        }
    }
}

impl Fields for Map<String, Value> {
    fn field(&self, key: &str) -> Lookup<'_> {
        match self.get(key) {
            Some(Value::String(v)) => Lookup::Str(v),
            Some(Value::Bool(b)) => Lookup::Bool(*b),
            _ => Lookup::Absent,
        }
    }
}

/// What a rule may want to know of a record's network.
#[derive(Debug, Clone)]
pub struct NetworkFacts {
    /// Owner.
    pub project_id: String,
    /// Shared with the caller (wildcard or an RBAC entry for its project).
    pub shared: bool,
    /// `router:external`.
    pub external: bool,
}

/// Parents loaded for one check (`None` inside: looked for and not there).
#[derive(Debug, Default, Clone)]
pub struct Parents {
    network: Option<Option<NetworkFacts>>,
    security_group: Option<Option<String>>,
}

/// The target of one check: the request body (create/update) over the stored record, the
/// owner of a resource being created, and the parents loaded so far.
pub struct Subject<'a> {
    /// Body attributes (create: what was sent; update: the changes).
    pub body: Option<&'a Map<String, Value>>,
    /// The stored record (update, delete, show).
    pub record: Option<&'a dyn Fields>,
    /// Owner of a resource being created.
    pub owner: Option<&'a str>,
    /// Parents.
    pub parents: &'a Parents,
}

impl Subject<'_> {
    fn own(&self, key: &str) -> Lookup<'_> {
        if let Some(b) = self.body {
            match b.field(key) {
                Lookup::Absent => {}
                found => return found,
            }
        }
        if let ("project_id" | "tenant_id", Some(o)) = (key, self.owner) {
            return Lookup::Str(o);
        }
        match self.record {
            Some(r) => r.field(key),
            None => Lookup::Absent,
        }
    }
}

impl Target for Subject<'_> {
    fn get(&self, key: &str) -> Lookup<'_> {
        match self.own(key) {
            Lookup::Absent => {}
            found => return found,
        }
        let (parent, field) = match key.split_once(':') {
            Some(("network" | "networks", f)) => ("network", f),
            Some(("security_group", f)) => ("security_group", f),
            // A subnet's `router:external` is its network's.
            _ if key == "router:external" && self.own("network_id") != Lookup::Absent => {
                ("network", "router:external")
            }
            _ => return Lookup::Absent,
        };
        match parent {
            "network" => match &self.parents.network {
                None => Lookup::Needs("network"),
                Some(None) => Lookup::Absent,
                Some(Some(n)) => match field {
                    "project_id" | "tenant_id" => Lookup::Str(&n.project_id),
                    "shared" => Lookup::Bool(n.shared),
                    "router:external" => Lookup::Bool(n.external),
                    _ => Lookup::Absent,
                },
            },
            _ => match &self.parents.security_group {
                None => Lookup::Needs("security_group"),
                Some(None) => Lookup::Absent,
                Some(Some(project)) => match field {
                    "project_id" | "tenant_id" => Lookup::Str(project),
                    _ => Lookup::Absent,
                },
            },
        }
    }
}

/// Whether a failed parent lookup hides the resource (create on an invisible network).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    NotFound,
    Deny,
}

async fn load_parent(
    state: &AppState,
    ctx: &RequestContext,
    which: &str,
    parents: &mut Parents,
    subject_id: impl Fn(&str) -> Option<String>,
    missing: Missing,
) -> ApiResult<()> {
    match which {
        "network" => {
            let facts = match subject_id("network_id") {
                Some(id) => {
                    let admin = RequestContext::admin(&ctx.project_id);
                    match state.plugin.get_network(&admin, &id).await {
                        Ok(n)
                            if neutrino_ml2::networks::visible(ctx, &n)
                                || missing == Missing::Deny =>
                        {
                            Some(NetworkFacts {
                                shared: neutrino_ml2::networks::shared_for(ctx, &n),
                                external: n.router_external,
                                project_id: n.project_id,
                            })
                        }
                        Ok(_) | Err(_) if missing == Missing::NotFound => {
                            return Err(ApiError(neutrino_ml2::Error::not_found(
                                "NetworkNotFound",
                                "Network",
                                &id,
                            )));
                        }
                        _ => None,
                    }
                }
                None => None,
            };
            parents.network = Some(facts);
        }
        _ => {
            let owner = match subject_id("security_group_id") {
                Some(id) => {
                    let admin = RequestContext::admin(&ctx.project_id);
                    state
                        .plugin
                        .get_security_group(&admin, &id)
                        .await
                        .ok()
                        .map(|g| g.project_id)
                }
                None => None,
            };
            parents.security_group = Some(owner);
        }
    }
    Ok(())
}

fn id_of(
    body: Option<&Map<String, Value>>,
    record: Option<&dyn Fields>,
    key: &str,
) -> Option<String> {
    if let Some(Value::String(v)) = body.and_then(|b| b.get(key)) {
        return Some(v.clone());
    }
    match record.map(|r| r.field(key)) {
        Some(Lookup::Str(v)) => Some(v.to_string()),
        _ => None,
    }
}

/// The match rule of an action: `rule:<action>` and the rules of the policed attributes it
/// sets, as Neutron builds it (nested `and`s, one per attribute).
struct MatchRule {
    /// Every rule to check (they are all ANDed).
    rules: Vec<String>,
    /// `rule:<action>` and, per attribute, its rule and its sub-attribute rules: how the
    /// message nests them.
    groups: Vec<(String, Vec<String>)>,
}

impl MatchRule {
    fn new(
        policy: &Policy,
        action: &str,
        attrs: &[Attr],
        body: Option<&Map<String, Value>>,
        create: bool,
    ) -> MatchRule {
        let mut rules = vec![action.to_string()];
        let mut groups = Vec::new();
        let Some(body) = body else {
            return MatchRule { rules, groups };
        };
        for a in attrs {
            let Some(v) = body.get(a.name) else { continue };
            if !a.enforce_policy || (create && a.default.as_ref() == Some(v)) {
                continue;
            }
            let name = format!("{action}:{}", a.name);
            if !policy.has(&name) {
                continue;
            }
            rules.push(name.clone());
            // Keys of list-of-dict and dict values have rules of their own
            // (`create_port:fixed_ips:ip_address`).
            let mut keys: Vec<&str> = Vec::new();
            match v {
                Value::Array(items) => {
                    for i in items {
                        if let Value::Object(o) = i {
                            keys.extend(o.keys().map(String::as_str));
                        }
                    }
                }
                Value::Object(o) if a.name != "binding:profile" => {
                    keys.extend(o.keys().map(String::as_str))
                }
                _ => {}
            }
            keys.sort_unstable();
            keys.dedup();
            let mut subs = Vec::new();
            for k in keys {
                let sub = format!("{name}:{k}");
                if policy.has(&sub) {
                    rules.push(sub.clone());
                    subs.push(sub);
                }
            }
            groups.push((name, subs));
        }
        MatchRule { rules, groups }
    }

    /// The match rule as oslo.policy prints it, e.g.
    /// `(rule:create_port and (rule:create_port:fixed_ips and (rule:create_port:fixed_ips:ip_address)))`.
    fn text(&self) -> String {
        let mut out = format!("rule:{}", self.rules[0]);
        for (attr, subs) in &self.groups {
            let attr_text = if subs.is_empty() {
                format!("rule:{attr}")
            } else {
                let inner: Vec<String> = subs.iter().map(|s| format!("rule:{s}")).collect();
                format!("(rule:{attr} and ({}))", inner.join(" and "))
            };
            out = format!("({out} and {attr_text})");
        }
        out
    }
}

/// The scope of a token that is not scoped to a project (`system`, `domain`): every rule of
/// Neutron's has `scope_types=['project']`, so oslo.policy refuses such a token
/// (`InvalidScope`) for every action, and reads filter out everything.
fn foreign_scope(ctx: &RequestContext) -> Option<&'static str> {
    if !ctx.system_scope.is_empty() {
        Some("system")
    } else if ctx.project_id.is_empty() && !ctx.domain_id.is_empty() {
        Some("domain")
    } else {
        None
    }
}

/// 403 `InvalidScope` for `action` when the token is not project-scoped.
fn check_scope(ctx: &RequestContext, action: &str) -> ApiResult<()> {
    match foreign_scope(ctx) {
        None => Ok(()),
        Some(scope) => Err(ApiError(neutrino_ml2::Error::neutron(
            "InvalidScope",
            403,
            format!(
                "{action} requires a scope of ['project'], request was made with {scope} scope."
            ),
        ))),
    }
}

fn denied(rule: &MatchRule) -> ApiError {
    ApiError(neutrino_ml2::Error::neutron(
        "PolicyNotAuthorized",
        403,
        format!("{} is disallowed by policy", rule.text()),
    ))
}

/// Evaluate every rule of `m` against a subject, loading parents as they are asked for.
/// What a check is about: the body, the stored record, the owner of a new resource.
#[derive(Clone, Copy)]
struct About<'a> {
    body: Option<&'a Map<String, Value>>,
    record: Option<&'a dyn Fields>,
    owner: Option<&'a str>,
    missing: Missing,
}

async fn evaluate(
    state: &AppState,
    ctx: &RequestContext,
    names: &[String],
    about: About<'_>,
    parents: &mut Parents,
) -> ApiResult<bool> {
    let About {
        body,
        record,
        owner,
        missing,
    } = about;
    let policy = &state.policy;
    let c = creds(ctx);
    for name in names {
        loop {
            let subject = Subject {
                body,
                record,
                owner,
                parents,
            };
            match policy.check(name, &c, &subject) {
                Decision::Allow => break,
                Decision::Deny => return Ok(false),
                Decision::Needs(which) => {
                    let which = which.to_string();
                    load_parent(
                        state,
                        ctx,
                        &which,
                        parents,
                        |k| id_of(body, record, k),
                        missing,
                    )
                    .await?;
                }
            }
        }
    }
    Ok(true)
}

/// Check a create: 403 when the caller may not, 404 when the parent network is not visible.
pub async fn authorize_create(
    state: &AppState,
    ctx: &RequestContext,
    member: &str,
    attrs: &[Attr],
    body: &Map<String, Value>,
    owner: &str,
) -> ApiResult<()> {
    let action = format!("create_{member}");
    check_scope(ctx, &action)?;
    let m = MatchRule::new(&state.policy, &action, attrs, Some(body), true);
    let mut parents = Parents::default();
    let about = About {
        body: Some(body),
        record: None,
        owner: Some(owner),
        missing: Missing::NotFound,
    };
    if evaluate(state, ctx, &m.rules, about, &mut parents).await? {
        Ok(())
    } else {
        Err(denied(&m))
    }
}

/// Attributes Neutron never shows (`is_visible: False`), by member.
const INVISIBLE: &[(&str, &str)] = &[("address_group", "shared")];

/// A record without some of its attributes.
struct Without<'a> {
    record: &'a dyn Fields,
    hidden: Vec<&'static str>,
}

impl Fields for Without<'_> {
    fn field(&self, key: &str) -> Lookup<'_> {
        if self.hidden.contains(&key) {
            Lookup::Absent
        } else {
            self.record.field(key)
        }
    }
}

/// Check an update or delete of a record the caller can fetch: 403 when the action is denied
/// but the record is readable, 404 when it is not readable either.
pub async fn authorize_change(
    state: &AppState,
    ctx: &RequestContext,
    verb: &str,
    member: &str,
    attrs: &[Attr],
    record: &dyn Fields,
    body: Option<&Map<String, Value>>,
) -> ApiResult<()> {
    let action = format!("{verb}_{member}");
    authorize_action(state, ctx, &action, member, attrs, record, body).await
}

/// Check an action named by its rule (`activate`, `add_router_interface`) on a record the
/// caller can fetch, as [`authorize_change`] checks updates and deletes: 403 when the
/// record is readable (`get_<member>`), 404 when it is not.
pub async fn authorize_action(
    state: &AppState,
    ctx: &RequestContext,
    action: &str,
    member: &str,
    attrs: &[Attr],
    record: &dyn Fields,
    body: Option<&Map<String, Value>>,
) -> ApiResult<()> {
    if foreign_scope(ctx).is_some() {
        // Neutron reads the record first, as the same token: nothing is readable.
        return Err(crate::error::not_found_url());
    }
    let m = MatchRule::new(&state.policy, action, attrs, body, false);
    let mut parents = Parents::default();
    let about = About {
        body,
        record: Some(record),
        owner: None,
        missing: Missing::Deny,
    };
    if evaluate(state, ctx, &m.rules, about, &mut parents).await? {
        return Ok(());
    }
    let get = [format!("get_{member}")];
    // Neutron checks `get_<member>` against the record read with the fields its policy
    // needs, which leaves out attributes it never shows: an address group's `shared`.
    let shown = Without {
        record,
        hidden: INVISIBLE
            .iter()
            .filter(|(m, _)| *m == member)
            .map(|(_, a)| *a)
            .collect(),
    };
    let about = About {
        body: None,
        record: Some(&shown),
        ..about
    };
    if evaluate(state, ctx, &get, about, &mut parents).await? {
        Err(denied(&m))
    } else {
        Err(crate::error::not_found_url())
    }
}

/// Read access to the records of one resource for one request: whether a record may be seen
/// and which guarded attributes it shows. Decisions that depend only on the caller are taken
/// once; parents are loaded once per id.
pub struct Reader<'s> {
    state: &'s AppState,
    ctx: &'s RequestContext,
    get: String,
    get_fixed: Option<bool>,
    guarded: Vec<(String, Option<bool>)>,
    networks: HashMap<String, Parents>,
}

impl<'s> Reader<'s> {
    /// Access for `get_<member>` and the `get_<member>:<attr>` rules of `guarded` attributes.
    pub fn new(
        state: &'s AppState,
        ctx: &'s RequestContext,
        member: &str,
        guarded: &[&str],
    ) -> Self {
        let policy = &state.policy;
        let c = creds(ctx);
        let fixed = |name: &str| match policy.check(name, &c, &NoTarget) {
            Decision::Allow => Some(true),
            Decision::Deny => Some(false),
            Decision::Needs(_) => None,
        };
        let get = format!("get_{member}");
        let get_fixed = if foreign_scope(ctx).is_some() {
            Some(false)
        } else {
            fixed(&get)
        };
        let guarded = guarded
            .iter()
            .map(|a| {
                let name = format!("{get}:{a}");
                let d = if state.config.extension_drivers.hides_attr(member, a) {
                    Some(false)
                } else if policy.has(&name) {
                    fixed(&name)
                } else {
                    Some(true)
                };
                (name, d)
            })
            .collect();
        Reader {
            state,
            ctx,
            get,
            get_fixed,
            guarded,
            networks: HashMap::new(),
        }
    }

    async fn allowed(&mut self, name: &str, record: &dyn Fields) -> ApiResult<bool> {
        let key = match record.field("network_id") {
            Lookup::Str(n) => n.to_string(),
            _ => match record.field("security_group_id") {
                Lookup::Str(g) => g.to_string(),
                _ => String::new(),
            },
        };
        let mut parents = self.networks.remove(&key).unwrap_or_default();
        let about = About {
            body: None,
            record: Some(record),
            owner: None,
            missing: Missing::Deny,
        };
        let ok = evaluate(
            self.state,
            self.ctx,
            &[name.to_string()],
            about,
            &mut parents,
        )
        .await;
        self.networks.insert(key, parents);
        ok
    }

    /// Whether the caller may see `record`.
    pub async fn may_read(&mut self, record: &dyn Fields) -> ApiResult<bool> {
        match self.get_fixed {
            Some(b) => Ok(b),
            None => {
                let name = self.get.clone();
                self.allowed(&name, record).await
            }
        }
    }

    /// Which guarded attributes `record` shows (bit i: the i-th guarded attribute).
    pub async fn shown(&mut self, record: &dyn Fields) -> ApiResult<Shown> {
        let mut bits = 0u32;
        for i in 0..self.guarded.len() {
            let ok = match self.guarded[i].1 {
                Some(b) => b,
                None => {
                    let name = self.guarded[i].0.clone();
                    self.allowed(&name, record).await?
                }
            };
            if ok {
                bits |= 1 << i;
            }
        }
        Ok(Shown(bits))
    }
}

/// Which guarded attributes of a record the caller may read (bit i: the resource's i-th
/// guarded attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown(pub u32);

impl Shown {
    /// Everything.
    pub const ALL: Shown = Shown(u32::MAX);

    /// Whether the i-th guarded attribute is shown.
    pub fn has(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }
}
