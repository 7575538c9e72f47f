//! Quotas: limits per project on the resources it creates, Neutron's defaults, and their
//! enforcement. Usage is counted by the database (triggers) in the creating transaction and
//! read while concurrent creators in the project wait (the SQLite writer, or a row lock on
//! PostgreSQL), so a limit is never overshot, however many servers share the database. No
//! reservation outlives or precedes that transaction, so the details' `reserved` is always 0.

use std::collections::BTreeMap;

use neutrino_store::{Conn, quotas};

use crate::Plugin;
use crate::error::{Error, Result};

/// Every counted resource and Neutron's default limit (`[QUOTAS] quota_<resource>`); -1 is
/// unlimited. A resource that gains an API adds its row here (and its counting trigger in the
/// store's migrations).
pub const RESOURCES: &[(&str, i64)] = &[
    ("network", 100),
    ("subnet", 100),
    ("port", 500),
    ("security_group", 10),
    ("security_group_rule", 100),
    ("subnetpool", -1),
    ("rbac_policy", 10),
    ("router", 10),
    ("floatingip", 50),
    ("router_route", 30),
];

/// Resources limited per object rather than counted per project (Neutron's `router_route`:
/// extra routes per router); their usage is always 0.
pub fn per_object(resource: &str) -> bool {
    resource == "router_route"
}

/// Whether a resource has a `quota_<resource>` option of its own (others take
/// `default_quota`).
pub fn has_option(resource: &str) -> bool {
    resource != "subnetpool"
}

/// The configured default limits.
#[derive(Debug, Clone)]
pub struct QuotaConfig {
    /// Default limit per resource (`-1`: unlimited).
    pub defaults: BTreeMap<String, i64>,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            defaults: RESOURCES.iter().map(|(r, d)| (r.to_string(), *d)).collect(),
        }
    }
}

/// Neutron's `OverQuota` (409).
pub fn over_quota(resources: &[&str]) -> Error {
    let list: Vec<String> = resources.iter().map(|r| format!("'{r}'")).collect();
    Error::conflict(
        "OverQuota",
        format!("Quota exceeded for resources: [{}].", list.join(", ")),
    )
}

/// One resource's numbers for `GET /quotas/{project}/details`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detail {
    /// The limit.
    pub limit: i64,
    /// In use.
    pub used: i64,
    /// Reserved (always 0: creation counts in its own transaction).
    pub reserved: i64,
}

/// The limits of an update (`PUT /quotas/{project}`).
#[derive(Debug, Clone, Default)]
pub struct QuotaUpdate {
    /// New limits.
    pub limits: BTreeMap<String, i64>,
    /// Allow limits below current usage.
    pub force: bool,
}

impl Plugin {
    /// The default limit of a resource.
    pub fn quota_default(&self, resource: &str) -> i64 {
        self.core()
            .quotas
            .defaults
            .get(resource)
            .copied()
            .unwrap_or(-1)
    }

    /// The counted resources.
    pub fn quota_resources(&self) -> impl Iterator<Item = &str> {
        self.core().quotas.defaults.keys().map(String::as_str)
    }

    /// Defaults overlaid with the project's own limits.
    pub async fn quota_of(&self, project_id: &str) -> Result<BTreeMap<String, i64>> {
        let mut conn = self.read().await?;
        let own = quotas::limits(&mut conn, project_id).await?;
        Ok(self.overlay(&own))
    }

    fn overlay(&self, own: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
        self.core()
            .quotas
            .defaults
            .iter()
            .map(|(r, d)| (r.clone(), own.get(r).copied().unwrap_or(*d)))
            .collect()
    }

    /// Every project with limits of its own, with all its limits.
    pub async fn list_quotas(&self) -> Result<Vec<(String, BTreeMap<String, i64>)>> {
        let mut conn = self.read().await?;
        let mut out = Vec::new();
        for p in quotas::projects(&mut conn).await? {
            let own = quotas::limits(&mut conn, &p).await?;
            out.push((p, self.overlay(&own)));
        }
        Ok(out)
    }

    /// Limit, use and reservations of every resource of a project.
    pub async fn quota_details(&self, project_id: &str) -> Result<BTreeMap<String, Detail>> {
        let mut conn = self.read().await?;
        let own = quotas::limits(&mut conn, project_id).await?;
        let used = quotas::usage(&mut conn, project_id).await?;
        Ok(self
            .overlay(&own)
            .into_iter()
            .map(|(r, limit)| {
                let used = used.get(&r).copied().unwrap_or(0);
                (
                    r,
                    Detail {
                        limit,
                        used,
                        reserved: 0,
                    },
                )
            })
            .collect())
    }

    /// Change a project's limits; without `force`, a limit below what the project uses is
    /// refused (400), as Neutron's `quota-check-limit-default`.
    pub async fn update_quota(
        &self,
        project_id: &str,
        u: QuotaUpdate,
    ) -> Result<BTreeMap<String, i64>> {
        let project = project_id.to_string();
        crate::in_tx!(self.store(), |tx| {
            let used = quotas::usage(tx, &project).await?;
            for (resource, limit) in &u.limits {
                let in_use = used.get(resource).copied().unwrap_or(0);
                if !u.force && *limit >= 0 && *limit < in_use {
                    return Err(Error::bad_request(format!(
                        "Quota limit {limit} for {resource} must be greater than or equal to \
                         already used {in_use}"
                    )));
                }
                quotas::set(tx, &project, resource, *limit).await?;
            }
            Ok::<_, Error>(())
        })?;
        self.quota_of(project_id).await
    }

    /// Forget a project's own limits (back to the defaults).
    pub async fn delete_quota(&self, project_id: &str) -> Result<()> {
        let project = project_id.to_string();
        let deleted = crate::in_tx!(self.store(), |tx| {
            Ok::<_, Error>(quotas::delete(tx, &project).await?)
        })?;
        if !deleted {
            return Err(Error::neutron(
                "TenantQuotaNotFound",
                404,
                format!("Quota for tenant {project_id} could not be found."),
            ));
        }
        Ok(())
    }

    /// Neutron's `limit_check`: refuse `n` of a per-object `resource` (such as the routes of
    /// one router) beyond `project_id`'s limit.
    pub(crate) async fn limit_check(
        &self,
        conn: &mut Conn,
        project_id: &str,
        resource: &str,
        n: i64,
    ) -> Result<()> {
        let own = quotas::limits(conn, project_id).await?;
        let limit = own
            .get(resource)
            .copied()
            .unwrap_or_else(|| self.quota_default(resource));
        if limit >= 0 && n > limit {
            return Err(over_quota(&[resource]));
        }
        Ok(())
    }

    /// Inside a creating transaction, before the rows are written: refuse `n` more of
    /// `resource` for `project_id` beyond its limit. The rows the transaction then writes
    /// count within the limit whatever concurrent creators (on any server) do
    /// (`neutrino_store::quotas::reserve`).
    pub(crate) async fn check_quota(
        &self,
        conn: &mut Conn,
        project_id: &str,
        resource: &str,
        n: i64,
    ) -> Result<()> {
        let default = self.quota_default(resource);
        // Boxed: every creating request's future would otherwise carry the reservation's
        // (large in a debug build), also where it never runs.
        if !Box::pin(quotas::reserve(conn, project_id, resource, n, default)).await? {
            return Err(over_quota(&[resource]));
        }
        Ok(())
    }
}

/// Quota checks of one creating transaction that writes several ports on SQLite, where each
/// port's usage and limit come with the statement that reads its network: the usage is
/// taken once per project, then counted on. (PostgreSQL reserves each project's ports before
/// the first is written, with [`Plugin::check_quota`].)
#[derive(Debug, Default)]
pub struct Tally {
    seen: BTreeMap<String, (i64, i64)>,
}

impl Tally {
    /// Count one more for `project_id`, whose usage and limit (read in this transaction)
    /// are given by `read` the first time.
    pub fn add(&mut self, project_id: &str, read: impl FnOnce() -> (i64, i64)) -> Result<()> {
        let entry = self.seen.entry(project_id.to_string()).or_insert_with(|| {
            let (used, limit) = read();
            (used, limit)
        });
        entry.0 += 1;
        if entry.1 >= 0 && entry.0 > entry.1 {
            return Err(over_quota(&["port"]));
        }
        Ok(())
    }
}

/// How many of a bulk request's items each project creates.
pub fn per_project<'a>(projects: impl Iterator<Item = &'a String>) -> BTreeMap<&'a str, i64> {
    let mut out = BTreeMap::new();
    for p in projects {
        *out.entry(p.as_str()).or_insert(0) += 1;
    }
    out
}
