//! `auto-allocated-topology`: a project's network, subnets (one per default subnet pool) and
//! router with its gateway on the default external network, built on first request as
//! Neutron's `neutron/services/auto_allocate/db.py` builds them.
//!
//! Concurrent requests for one project build one topology: the first claims the project's
//! row of `auto_allocated_topologies` (an insert that only one transaction can make), builds,
//! and records the network and router in it; the others wait until the row names a network.
//! A claim left unfinished for [`STALE_CLAIM`] (its server died while building) is taken
//! over.

use std::time::{Duration, Instant};

use neutrino_store::model::Subnet;
use neutrino_store::{auto_allocate as store, networks, subnetpools, subnets};

use crate::error::{Error, Result};
use crate::l3::routers::{GatewayInfo, RouterCreate};
use crate::networks::{NetworkCreate, NetworkUpdate};
use crate::subnets::SubnetCreate;
use crate::{Plugin, RequestContext};

/// How long a claim may stay unfinished before another request takes it over.
pub const STALE_CLAIM: Duration = Duration::from_secs(60);

/// How long a request waits between looks at a claim another request is building.
const POLL: Duration = Duration::from_millis(25);

/// What `GET /v2.0/auto-allocated-topology/{project_id}?fields=dry-run` answers as the id.
pub const DRY_RUN_PASS: &str = "dry-run=pass";

/// Neutron's `AutoAllocationFailure` (409).
fn failure(reason: &str) -> Error {
    Error::conflict(
        "AutoAllocationFailure",
        format!("Deployment error: {reason}."),
    )
}

/// Neutron's `NotAuthorized` (403).
fn not_authorized() -> Error {
    Error::neutron("NotAuthorized", 403, "Not authorized.")
}

/// Errors Neutron turns into "Unable to provide …" (its `BadRequest`, `NotFound`,
/// `SubnetAllocationError`, `ValueError`): client errors, quotas excepted.
fn provisioning_refusal(e: &Error) -> bool {
    matches!(e.status(), 400 | 404) || e.kind() == "SubnetAllocationError"
}

/// What was built so far, to undo on failure.
#[derive(Default)]
struct Built {
    network_id: Option<String>,
    router_id: Option<String>,
    subnets: Vec<String>,
}

impl Plugin {
    /// The project a request is about: `None` (what a client without a project sends) means
    /// the caller's; another project than the caller's only for admins.
    pub fn topology_project(&self, ctx: &RequestContext, project_id: &str) -> Result<String> {
        let project = if project_id == "None" {
            ctx.project_id.clone()
        } else {
            project_id.to_string()
        };
        if !ctx.sees_all() && project != ctx.project_id {
            return Err(not_authorized());
        }
        Ok(project)
    }

    /// The default external network, or Neutron's failure.
    async fn default_external_network(&self) -> Result<String> {
        let mut conn = self.read().await?;
        networks::default_external(&mut conn)
            .await?
            .ok_or_else(|| failure("No default router:external network"))
    }

    /// The default subnet pools (IPv4, then IPv6), as `(id, ip_version)`.
    async fn default_pools(&self) -> Result<Vec<(String, u8)>> {
        let mut conn = self.read().await?;
        let mut out = Vec::new();
        for v in [4, 6] {
            if let Some(p) = subnetpools::default_for(&mut conn, v).await? {
                out.push((p.id, v as u8));
            }
        }
        Ok(out)
    }

    /// `GET /v2.0/auto-allocated-topology/{project_id}`: the project and its network's id,
    /// built first if the project has none. With `dry_run`, only checks that it could be
    /// built (the id is then [`DRY_RUN_PASS`]).
    pub async fn get_auto_allocated_topology(
        &self,
        ctx: &RequestContext,
        project_id: &str,
        dry_run: bool,
    ) -> Result<(String, String)> {
        let project = self.topology_project(ctx, project_id)?;
        if dry_run {
            self.default_external_network().await?;
            if self.default_pools().await?.is_empty() {
                return Err(failure("No default subnetpools defined"));
            }
            return Ok((DRY_RUN_PASS.to_string(), project));
        }
        let mut seen: Option<(String, Instant)> = None;
        loop {
            let row = {
                let mut conn = self.read().await?;
                store::get(&mut conn, &project).await?
            };
            let claimed = match row {
                Some(store::Topology {
                    network_id: Some(net),
                    ..
                }) => return Ok((net, project)),
                None => {
                    // Fail fast, before claiming anything.
                    self.default_external_network().await?;
                    let now = neutrino_store::now();
                    let p = project.clone();
                    crate::in_tx!(self.store(), |tx| {
                        Ok::<_, Error>(store::claim(tx, &p, &now).await?)
                    })?
                }
                Some(t) => match &seen {
                    Some((at, since)) if *at == t.claimed_at && since.elapsed() >= STALE_CLAIM => {
                        let now = neutrino_store::now();
                        let p = project.clone();
                        let at = t.claimed_at.clone();
                        tracing::warn!(project = %project, claimed_at = %at, "taking over an unfinished auto-allocation");
                        crate::in_tx!(self.store(), |tx| {
                            Ok::<_, Error>(store::take_over(tx, &p, &at, &now).await?)
                        })?
                    }
                    Some((at, _)) if *at == t.claimed_at => false,
                    _ => {
                        seen = Some((t.claimed_at.clone(), Instant::now()));
                        false
                    }
                },
            };
            if claimed {
                return self
                    .build_topology(ctx, &project)
                    .await
                    .map(|n| (n, project));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Build the topology of a project whose row this request claimed; on failure, undo what
    /// was built and release the claim.
    async fn build_topology(&self, ctx: &RequestContext, project: &str) -> Result<String> {
        let mut built = Built::default();
        let result = Box::pin(self.build_steps(ctx, project, &mut built)).await;
        match result {
            Ok(()) => {
                let (net, router) = (
                    built.network_id.clone().unwrap_or_default(),
                    built.router_id.clone().unwrap_or_default(),
                );
                // Up before anyone is told of it (Neutron: once recorded).
                Box::pin(self.update_network(
                    ctx,
                    &net,
                    NetworkUpdate {
                        admin_state_up: Some(true),
                        ..Default::default()
                    },
                    None,
                ))
                .await?;
                let p = project.to_string();
                let (n2, r2) = (net.clone(), router.clone());
                let recorded = crate::in_tx!(self.store(), |tx| {
                    Ok::<_, Error>(store::complete(tx, &p, &n2, &r2).await?)
                })?;
                if !recorded {
                    // Another request took the claim over (this one was slower than
                    // STALE_CLAIM) or the topology was deleted meanwhile: this build goes,
                    // and the project's topology is answered as a new request would.
                    tracing::warn!(project = %project, network = %net, "auto-allocation lost its claim; removing what it built");
                    let _ = Box::pin(self.cleanup_topology(ctx, &built)).await;
                    return Box::pin(self.get_auto_allocated_topology(ctx, project, false))
                        .await
                        .map(|(net, _)| net);
                }
                tracing::info!(project = %project, network = %net, router = %router, "auto-allocated a topology");
                Ok(net)
            }
            Err(e) => {
                // Failures are logged; the request's own error is the answer.
                let _ = Box::pin(self.cleanup_topology(ctx, &built)).await;
                let p = project.to_string();
                if let Err(undo) = crate::in_tx!(self.store(), |tx| {
                    Ok::<_, Error>(store::delete(tx, &p).await?)
                }) {
                    tracing::error!(project = %project, error = %undo, "could not release an auto-allocation claim");
                }
                Err(e)
            }
        }
    }

    async fn build_steps(
        &self,
        ctx: &RequestContext,
        project: &str,
        built: &mut Built,
    ) -> Result<()> {
        let external = self.default_external_network().await?;
        // The project's private network and its subnets.
        let private = async {
            let net = Box::pin(self.create_networks(
                ctx,
                vec![NetworkCreate {
                    project_id: project.to_string(),
                    name: "auto_allocated_network".into(),
                    admin_state_up: false,
                    port_security_enabled: true,
                    ..Default::default()
                }],
            ))
            .await?
            .remove(0);
            built.network_id = Some(net.id.clone());
            let pools = self.default_pools().await?;
            if pools.is_empty() {
                return Err(Error::not_found(
                    "SubnetPoolNotFound",
                    "Subnet pool",
                    "default",
                ));
            }
            let mut made: Vec<Subnet> = Vec::new();
            for (pool, v) in pools {
                let s = Box::pin(self.create_subnets(
                    ctx,
                    vec![SubnetCreate {
                        project_id: project.to_string(),
                        network_id: net.id.clone(),
                        name: format!("auto_allocated_subnet_v{v}"),
                        ip_version: v,
                        subnetpool_id: Some(pool),
                        enable_dhcp: true,
                        ..Default::default()
                    }],
                ))
                .await?
                .remove(0);
                made.push(s);
            }
            Ok::<_, Error>(made)
        }
        .await;
        let made = match private {
            Ok(made) => made,
            Err(e) if provisioning_refusal(&e) => {
                tracing::error!(project = %project, error = %e, "cannot auto-allocate a project network");
                return Err(failure("Unable to provide project private network"));
            }
            Err(e) => return Err(e),
        };
        // The router, its gateway and its interfaces.
        let uplink = async {
            let router = Box::pin(self.create_routers(
                ctx,
                vec![RouterCreate {
                    project_id: project.to_string(),
                    name: "auto_allocated_router".into(),
                    admin_state_up: true,
                    gateway: Some(GatewayInfo {
                        network_id: external.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
            ))
            .await?
            .remove(0);
            built.router_id = Some(router.id.clone());
            for s in &made {
                Box::pin(self.add_router_interface(ctx, &router.id, Some(&s.id), None)).await?;
                built.subnets.push(s.id.clone());
            }
            Ok::<_, Error>(())
        }
        .await;
        match uplink {
            Ok(()) => Ok(()),
            Err(e) if e.status() == 400 => {
                tracing::error!(project = %project, error = %e, "cannot auto-allocate a router");
                Err(failure("Unable to provide external connectivity"))
            }
            Err(e) => Err(e),
        }
    }

    /// Remove what an auto-allocation built (Neutron's `_cleanup`): interfaces, router,
    /// network; what is gone already is skipped. Answers the first other failure, having
    /// tried every step.
    async fn cleanup_topology(&self, ctx: &RequestContext, built: &Built) -> Result<()> {
        let mut first: Option<Error> = None;
        let mut report = |what: &str, id: &str, r: Result<()>| {
            if let Err(e) = r
                && e.status() != 404
            {
                tracing::error!(%what, %id, error = %e, "could not clean up an auto-allocated resource");
                first.get_or_insert(e);
            }
        };
        if let Some(router) = &built.router_id {
            for s in &built.subnets {
                let r = Box::pin(self.remove_router_interface(ctx, router, Some(s), None))
                    .await
                    .map(|_| ());
                report("router interface", s, r);
            }
            report(
                "router",
                router,
                Box::pin(self.delete_router(ctx, router, None)).await,
            );
        }
        if let Some(net) = &built.network_id {
            report(
                "network",
                net,
                Box::pin(self.delete_network(ctx, net, None)).await,
            );
        }
        first.map_or(Ok(()), Err)
    }

    /// `DELETE /v2.0/auto-allocated-topology/{project_id}`: remove the project's topology.
    /// Without one, Neutron builds it to delete it (its controller reads the resource
    /// first): the same checks answer here, and nothing is built.
    pub async fn delete_auto_allocated_topology(
        &self,
        ctx: &RequestContext,
        project_id: &str,
    ) -> Result<()> {
        let project = self.topology_project(ctx, project_id)?;
        let row = {
            let mut conn = self.read().await?;
            store::get(&mut conn, &project).await?
        };
        let Some(store::Topology {
            network_id: Some(net),
            router_id,
            ..
        }) = row
        else {
            self.default_external_network().await?;
            if self.default_pools().await?.is_empty() {
                return Err(failure("Unable to provide project private network"));
            }
            return Ok(());
        };
        let subnet_ids = {
            let mut conn = self.read().await?;
            subnets::of_network(&mut conn, &net)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect()
        };
        let built = Built {
            network_id: Some(net),
            router_id,
            subnets: subnet_ids,
        };
        Box::pin(self.cleanup_topology(ctx, &built)).await?;
        let p = project.clone();
        crate::in_tx!(self.store(), |tx| {
            Ok::<_, Error>(store::delete(tx, &p).await?)
        })?;
        Ok(())
    }
}
