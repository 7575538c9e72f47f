//! [`DriverSlot`]: the current version of a driver, swappable while calls
//! run.
//!
//! A call loads the current `Arc<PreparedDriver>` once and runs on it to the
//! end, so a swap never disturbs calls in flight; the old version is freed
//! when its last call ends. Swapping is a pointer store: prepare (compile,
//! check, initialize) the new version first, and a failed prepare leaves the
//! slot untouched. Counters live in the slot, so they survive swaps, and
//! are also kept per version.

use crate::call::Op;
use crate::error::CallError;
use crate::runtime::PreparedDriver;
use crate::services::HostServices;
use crate::stats::{DriverStats, StatsSnapshot};
use crate::types::{
    BindResult, Hook, NetworkContext, PortContext, SecurityGroupContext, SecurityGroupRuleContext,
    SubnetContext,
};
use arc_swap::ArcSwap;
use std::sync::Arc;

/// A driver slot: the serving version plus counters across versions.
pub struct DriverSlot {
    current: ArcSwap<PreparedDriver>,
    stats: DriverStats,
}

impl std::fmt::Debug for DriverSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverSlot")
            .field("current", &self.current.load().meta())
            .finish_non_exhaustive()
    }
}

impl DriverSlot {
    /// A slot serving `driver`.
    pub fn new(driver: Arc<PreparedDriver>) -> Self {
        DriverSlot {
            current: ArcSwap::new(driver),
            stats: DriverStats::default(),
        }
    }

    /// The version serving now.
    pub fn current(&self) -> Arc<PreparedDriver> {
        self.current.load_full()
    }

    /// Serve `new` from now on; returns the version it replaces (keep it to
    /// roll back). Calls already running finish on the old version.
    pub fn swap(&self, new: Arc<PreparedDriver>) -> Arc<PreparedDriver> {
        let old = self.current.swap(new);
        tracing::info!(
            driver = %old.meta().name,
            from = %old.meta().version_label(),
            to = %self.current.load().meta().version_label(),
            "driver swapped"
        );
        old
    }

    /// Counters across all versions served by this slot (with per-version
    /// call counts in `by_version`).
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Call a network hook on the current version.
    pub async fn call_network(
        &self,
        hook: Hook,
        ctx: &NetworkContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        self.current()
            .call_unit_recorded(Op::Network(hook, ctx), host, Some(&self.stats))
            .await
    }

    /// Call a subnet hook on the current version.
    pub async fn call_subnet(
        &self,
        hook: Hook,
        ctx: &SubnetContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        self.current()
            .call_unit_recorded(Op::Subnet(hook, ctx), host, Some(&self.stats))
            .await
    }

    /// Call a port hook on the current version.
    pub async fn call_port(
        &self,
        hook: Hook,
        ctx: &PortContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        self.current()
            .call_unit_recorded(Op::Port(hook, ctx), host, Some(&self.stats))
            .await
    }

    /// Call a security group hook on the current version; `Ok` without a
    /// call when that version's contract has no such hooks (0.1).
    pub async fn call_security_group(
        &self,
        hook: Hook,
        ctx: &SecurityGroupContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        let current = self.current();
        if !current.has_security_group_hooks() {
            return Ok(());
        }
        current
            .call_unit_recorded(Op::SecurityGroup(hook, ctx), host, Some(&self.stats))
            .await
    }

    /// Call a security group rule hook on the current version (create and
    /// delete only); `Ok` without a call for 0.1 drivers.
    pub async fn call_security_group_rule(
        &self,
        hook: Hook,
        ctx: &SecurityGroupRuleContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        let current = self.current();
        if !current.has_security_group_hooks() {
            return Ok(());
        }
        current
            .call_unit_recorded(Op::SecurityGroupRule(hook, ctx), host, Some(&self.stats))
            .await
    }

    /// Call the current version's `periodic` export; `Ok` without a call when
    /// it has none (0.1 drivers, 0.2 drivers built without it).
    pub async fn call_periodic(&self, host: &Arc<dyn HostServices>) -> Result<(), CallError> {
        let current = self.current();
        if !current.has_periodic() {
            return Ok(());
        }
        current
            .call_unit_recorded(Op::Periodic, host, Some(&self.stats))
            .await
    }

    /// Ask the current version to bind the port.
    pub async fn bind_port(
        &self,
        ctx: &PortContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<BindResult, CallError> {
        self.current()
            .bind_port_recorded(ctx, host, Some(&self.stats))
            .await
    }
}
