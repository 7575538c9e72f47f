//! One call into a driver: wait for a concurrency slot, build a fresh store
//! and instance, run the export under the call's limits, and turn whatever
//! happened into an [`Outcome`] or a [`CallError`].
//!
//! Limits of a call:
//! - memory: [`CallLimiter`] (and the pool's hard cap);
//! - CPU: the epoch deadline is one tick ahead; each time it passes while
//!   guest code runs, the callback counts a tick and yields to tokio, so a
//!   busy guest never holds a worker thread (or timers) for more than a
//!   tick; past the budget it traps;
//! - wall clock: a timeout around instantiation and the call, covering host
//!   calls (HTTP, sessions) too, but not the time state operations take
//!   (waiting for a row concurrent requests hold is not the driver's doing), up
//!   to five times the budget in all. Dropping the future cancels the guest.
//!
//! The store is dropped after every call, so a trap or cancellation cannot
//! poison the next one.

use crate::error::{CallError, Clock};
use crate::imports::{HostContext, StateWait, stderr::Capture};
use crate::limits::{CallLimiter, RawBindResult, Refusal};
use crate::runtime::PreparedDriver;
use crate::services::HostServices;
use crate::types::{
    Hook, NetworkContext, Phase, PortContext, SecurityGroupContext, SecurityGroupRuleContext,
    SubnetContext,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The data of a call's store.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: CallLimiter,
    /// What the imports see.
    pub(crate) host: HostContext,
    cpu_ticks: u64,
    cpu_budget_ticks: u64,
    cpu_exhausted: bool,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// What to call.
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    /// `initialize`.
    Initialize,
    /// A network hook.
    Network(Hook, &'a NetworkContext),
    /// A subnet hook.
    Subnet(Hook, &'a SubnetContext),
    /// A port hook.
    Port(Hook, &'a PortContext),
    /// `bind_port`.
    BindPort(&'a PortContext),
    /// The optional `periodic` export's `run` (contract 0.2): runs like a
    /// postcommit (network, state written at once).
    Periodic,
    /// A security group hook (contract 0.2).
    SecurityGroup(Hook, &'a SecurityGroupContext),
    /// A security group rule hook (contract 0.2; no update hooks).
    SecurityGroupRule(Hook, &'a SecurityGroupRuleContext),
}

impl Op<'_> {
    /// The phase, which decides limits and what imports may do.
    pub fn phase(&self) -> Phase {
        match self {
            Op::Initialize => Phase::Initialize,
            Op::BindPort(_) => Phase::BindPort,
            Op::Periodic => Phase::Postcommit,
            Op::Network(h, _)
            | Op::Subnet(h, _)
            | Op::Port(h, _)
            | Op::SecurityGroup(h, _)
            | Op::SecurityGroupRule(h, _) => {
                if h.is_precommit() {
                    Phase::Precommit
                } else {
                    Phase::Postcommit
                }
            }
        }
    }

    /// Whether this is one of the [`HOOKS`] (not `initialize`, `bind_port` or `periodic`).
    pub fn is_hook(&self) -> bool {
        !matches!(self, Op::Initialize | Op::BindPort(_) | Op::Periodic)
    }

    /// The name of the function, as errors and stats show it.
    pub fn name(&self) -> &'static str {
        const NETWORK: [&str; 6] = [
            "create_network_precommit",
            "create_network_postcommit",
            "update_network_precommit",
            "update_network_postcommit",
            "delete_network_precommit",
            "delete_network_postcommit",
        ];
        const SUBNET: [&str; 6] = [
            "create_subnet_precommit",
            "create_subnet_postcommit",
            "update_subnet_precommit",
            "update_subnet_postcommit",
            "delete_subnet_precommit",
            "delete_subnet_postcommit",
        ];
        const PORT: [&str; 6] = [
            "create_port_precommit",
            "create_port_postcommit",
            "update_port_precommit",
            "update_port_postcommit",
            "delete_port_precommit",
            "delete_port_postcommit",
        ];
        const SECURITY_GROUP: [&str; 6] = [
            "create_security_group_precommit",
            "create_security_group_postcommit",
            "update_security_group_precommit",
            "update_security_group_postcommit",
            "delete_security_group_precommit",
            "delete_security_group_postcommit",
        ];
        const SECURITY_GROUP_RULE: [&str; 6] = [
            "create_security_group_rule_precommit",
            "create_security_group_rule_postcommit",
            "update_security_group_rule_precommit",
            "update_security_group_rule_postcommit",
            "delete_security_group_rule_precommit",
            "delete_security_group_rule_postcommit",
        ];
        match self {
            Op::Initialize => "initialize",
            Op::Periodic => "periodic",
            Op::SecurityGroup(h, _) => SECURITY_GROUP[*h as usize],
            Op::SecurityGroupRule(h, _) => SECURITY_GROUP_RULE[*h as usize],
            Op::BindPort(_) => "bind_port",
            Op::Network(h, _) => NETWORK[*h as usize],
            Op::Subnet(h, _) => SUBNET[*h as usize],
            Op::Port(h, _) => PORT[*h as usize],
        }
    }
}

/// Every hook's name, as a manifest's `hooks` lists them.
pub const HOOKS: [&str; 30] = [
    "create_network_precommit",
    "create_network_postcommit",
    "update_network_precommit",
    "update_network_postcommit",
    "delete_network_precommit",
    "delete_network_postcommit",
    "create_subnet_precommit",
    "create_subnet_postcommit",
    "update_subnet_precommit",
    "update_subnet_postcommit",
    "delete_subnet_precommit",
    "delete_subnet_postcommit",
    "create_port_precommit",
    "create_port_postcommit",
    "update_port_precommit",
    "update_port_postcommit",
    "delete_port_precommit",
    "delete_port_postcommit",
    "create_security_group_precommit",
    "create_security_group_postcommit",
    "update_security_group_precommit",
    "update_security_group_postcommit",
    "delete_security_group_precommit",
    "delete_security_group_postcommit",
    "create_security_group_rule_precommit",
    "create_security_group_rule_postcommit",
    "update_security_group_rule_precommit",
    "update_security_group_rule_postcommit",
    "delete_security_group_rule_precommit",
    "delete_security_group_rule_postcommit",
];

/// What the guest returned.
#[derive(Debug)]
pub enum Outcome {
    /// A hook or `initialize`.
    Done(Result<(), Refusal>),
    /// `bind_port`, not yet validated.
    Bind(Result<RawBindResult, Refusal>),
}

/// Run `op` on `driver` in a fresh instance.
pub(crate) async fn invoke(
    driver: &PreparedDriver,
    op: Op<'_>,
    services: Arc<dyn HostServices>,
) -> Result<Outcome, CallError> {
    let hook = op.name();
    let name = &driver.meta.name;
    let limits = &driver.limits;

    let _permit = match driver.permits.try_acquire() {
        Ok(permit) => permit,
        Err(_) => {
            match tokio::time::timeout(limits.queue_timeout, driver.permits.acquire()).await {
                Ok(Ok(permit)) => permit,
                _ => {
                    return Err(CallError::Busy {
                        driver: name.clone(),
                        hook,
                        limit: limits.max_concurrent_calls,
                        waited: limits.queue_timeout,
                    });
                }
            }
        }
    };

    let phase = op.phase();
    let (cpu, wall) = limits.budget(phase);
    let stderr = Capture::new();
    let mut store = new_store(driver, phase, services, stderr.clone(), cpu, wall);
    let state_wait = store.data().host.state_wait.clone();
    let result = with_wall_clock(wall, &state_wait, driver.pre.call(&mut store, op)).await;
    let state = store.data();
    match result {
        Ok(Ok(outcome)) => Ok(outcome),
        Err(_elapsed) => Err(CallError::Timeout {
            driver: name.clone(),
            hook,
            budget: wall,
            clock: Clock::Wall,
        }),
        Ok(Err(error)) => {
            let error = classify(&error, state, name, hook, cpu, stderr.contents());
            tracing::warn!(driver = %name, hook, %error, "driver call failed");
            Err(error)
        }
    }
}

/// How many times its wall budget a call may last in all when it waits for the database
/// in state operations.
const MAX_WALL_WITH_STATE_WAIT: u32 = 5;

/// Run `call` within its wall-clock budget, which does not count the time it spends in
/// state operations (`state_wait`): a precommit whose increment waits for a row concurrent
/// requests hold is not a slow driver. It never lasts more than
/// [`MAX_WALL_WITH_STATE_WAIT`] times `wall`. `Err(())` when the time ran out.
async fn with_wall_clock<T>(
    wall: Duration,
    state_wait: &StateWait,
    call: impl std::future::Future<Output = T>,
) -> Result<T, ()> {
    use std::sync::atomic::Ordering;
    /// How long to look again while a state operation is under way at the deadline.
    const STEP: Duration = Duration::from_millis(20);
    let started = tokio::time::Instant::now();
    let hard = started + wall * MAX_WALL_WITH_STATE_WAIT;
    tokio::pin!(call);
    let mut deadline = started + wall;
    loop {
        match tokio::time::timeout_at(deadline.min(hard), &mut call).await {
            Ok(out) => return Ok(out),
            Err(_) if deadline >= hard => return Err(()),
            Err(_) => {
                let waited = Duration::from_nanos(state_wait.nanos.load(Ordering::SeqCst));
                let next = started + wall + waited;
                deadline = if next > tokio::time::Instant::now() {
                    next
                } else if state_wait.in_flight.load(Ordering::SeqCst) > 0 {
                    tokio::time::Instant::now() + STEP
                } else {
                    return Err(());
                };
            }
        }
    }
}

/// A fresh store for one call of `driver` in `phase`, with its limits set.
fn new_store(
    driver: &PreparedDriver,
    phase: Phase,
    services: Arc<dyn HostServices>,
    stderr: Capture,
    cpu: Duration,
    wall: Duration,
) -> Store<CallState> {
    // No args, env, preopens or sockets (the builder's defaults); stderr
    // captured; a fixed hash seed (see `capability`). Clocks and random
    // numbers are configured by default but unreachable: a component
    // importing them is refused at load.
    let wasi = WasiCtx::builder()
        .stderr(stderr)
        .insecure_random_seed(0)
        .build();
    let state = CallState {
        wasi,
        table: ResourceTable::new(),
        limiter: CallLimiter::new(driver.memory_bytes),
        host: HostContext {
            env: driver.env.clone(),
            phase,
            services,
            deadline: Instant::now() + wall,
            log_lines: 0,
            call_id: crate::imports::session::next_call_id(),
            took_session_lock: Default::default(),
            state_wait: Default::default(),
        },
        cpu_ticks: 0,
        cpu_budget_ticks: ticks(cpu, driver.epoch_tick),
        cpu_exhausted: false,
    };
    let mut store = Store::new(&driver.engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut cx| {
        let s = cx.data_mut();
        s.cpu_ticks += 1;
        if s.cpu_ticks > s.cpu_budget_ticks {
            s.cpu_exhausted = true;
            wasmtime::bail!("CPU budget exhausted");
        }
        // `tokio::task::yield_now` (not a plain wake-up) lets the scheduler
        // poll its timers and I/O before resuming the guest.
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
    store
}

/// Benchmark support: run `op` `n` times in ONE instance and return the
/// total time. Production calls never reuse an instance (a driver must not
/// keep memory between calls, and a trap poisons the instance); this exists
/// to measure what a fresh instance per call costs.
#[doc(hidden)]
pub async fn bench_reused_instance(
    driver: &PreparedDriver,
    op: Op<'_>,
    n: usize,
) -> Result<Duration, String> {
    let services: Arc<dyn HostServices> = Arc::new(crate::services::NoServices);
    let budget = Duration::from_secs(3600);
    let mut store = new_store(driver, op.phase(), services, Capture::new(), budget, budget);
    driver
        .pre
        .call_repeatedly(&mut store, op, n)
        .await
        .map_err(|e| format!("{e:#}"))
}

/// Benchmark support: where the time of `n` fresh-instance calls goes, as
/// the mean of [store creation, instantiation, the call, dropping the store].
#[doc(hidden)]
pub async fn bench_phases(
    driver: &PreparedDriver,
    op: Op<'_>,
    n: usize,
) -> Result<[Duration; 4], String> {
    let services: Arc<dyn HostServices> = Arc::new(crate::services::NoServices);
    let budget = Duration::from_secs(60);
    let mut totals = [Duration::ZERO; 4];
    for _ in 0..n {
        let t0 = Instant::now();
        let mut store = new_store(
            driver,
            op.phase(),
            services.clone(),
            Capture::new(),
            budget,
            budget,
        );
        let t1 = Instant::now();
        let t2 = driver
            .pre
            .call_timed(&mut store, op)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let t3 = Instant::now();
        drop(store);
        let t4 = Instant::now();
        totals[0] += t1 - t0;
        totals[1] += t2 - t1;
        totals[2] += t3 - t2;
        totals[3] += t4 - t3;
    }
    Ok(totals.map(|t| t / u32::try_from(n.max(1)).unwrap_or(u32::MAX)))
}

/// Epoch ticks in `budget` (at least one).
fn ticks(budget: Duration, tick: Duration) -> u64 {
    let tick = tick.as_nanos().max(1);
    u64::try_from(budget.as_nanos().div_ceil(tick))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Name the cause of a failed call.
fn classify(
    error: &wasmtime::Error,
    state: &CallState,
    driver: &str,
    hook: &'static str,
    cpu: Duration,
    stderr: String,
) -> CallError {
    let driver = driver.to_string();
    if state.cpu_exhausted {
        return CallError::Timeout {
            driver,
            hook,
            budget: cpu,
            clock: Clock::Cpu,
        };
    }
    if let Some(asked) = state.limiter.denied_memory {
        return CallError::ResourceLimit {
            driver,
            hook,
            message: format!(
                "memory limit of {} MiB reached (the driver asked for {} MiB)",
                state.limiter.memory_bytes() >> 20,
                asked.div_ceil(1 << 20)
            ),
        };
    }
    if let Some(limit) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        return CallError::ResourceLimit {
            driver,
            hook,
            message: format!("no free instance slot: {limit}"),
        };
    }
    let message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    };
    if let Some(backtrace) = error.downcast_ref::<wasmtime::WasmBacktrace>() {
        tracing::debug!(driver = %driver, hook, "wasm backtrace:\n{backtrace}");
    }
    CallError::Trap {
        driver,
        hook,
        message,
        stderr,
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_WALL_WITH_STATE_WAIT, StateWait, with_wall_clock};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    const WALL: Duration = Duration::from_millis(100);

    /// A state operation of `d`, counted as the host's `timed` counts it.
    async fn state_op(w: &StateWait, d: Duration) {
        w.in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(d).await;
        w.nanos.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
        w.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    #[tokio::test]
    async fn a_driver_slower_than_its_wall_budget_runs_out_of_time() {
        let w = StateWait::default();
        let out = with_wall_clock(WALL, &w, tokio::time::sleep(WALL * 3)).await;
        assert_eq!(out, Err(()));
    }

    #[tokio::test]
    async fn time_spent_waiting_in_state_operations_is_not_counted() {
        let w = StateWait::default();
        let call = async {
            state_op(&w, WALL * 2).await;
            tokio::time::sleep(WALL / 2).await;
            "done"
        };
        assert_eq!(with_wall_clock(WALL, &w, call).await, Ok("done"));
    }

    #[tokio::test]
    async fn a_state_operation_that_never_ends_stops_at_the_hard_limit() {
        let w = StateWait::default();
        let call = state_op(&w, WALL * (MAX_WALL_WITH_STATE_WAIT + 10));
        assert_eq!(with_wall_clock(WALL, &w, call).await, Err(()));
    }
}
