//! The one wasmtime [`Engine`] of the process: Cranelift, component model,
//! epoch interruption advanced by a ticker thread, and the pooling instance
//! allocator sized from [`RuntimeConfig`].

use crate::config::{OptLevel, RuntimeConfig};
use crate::error::RuntimeError;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Core instances, memories and tables a component may need per component
/// instance: a wasip2 component holds the main module plus canonical-ABI
/// shim modules, so size these well above one each.
const CORE_INSTANCES_PER_COMPONENT: u32 = 10;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;

/// Build the engine described by `config`.
pub fn build(config: &RuntimeConfig) -> Result<Engine, RuntimeError> {
    let instances = config.max_instances.max(1);
    let max_memory = usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX);

    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_core_instances(instances * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(instances * MEMORIES_PER_COMPONENT)
        .total_tables(instances * TABLES_PER_COMPONENT)
        .total_stacks(instances)
        .max_memory_size(max_memory)
        // Keep the first pages of each slot mapped between calls: most
        // drivers never grow past them, and re-faulting them dominates the
        // cost of a fresh instance otherwise.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10);

    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .parallel_compilation(true)
        .cranelift_opt_level(match config.opt_level {
            OptLevel::None => wasmtime::OptLevel::None,
            OptLevel::Speed => wasmtime::OptLevel::Speed,
            OptLevel::SpeedAndSize => wasmtime::OptLevel::SpeedAndSize,
        })
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&wasm).map_err(|e| RuntimeError::Engine(format!("{e:#}")))
}

/// Advance `engine`'s epoch every `tick` on a dedicated thread, until the
/// engine is dropped. A thread, not a tokio task: a guest busy on every
/// worker must not be able to stop the clock that interrupts it.
pub fn start_ticker(engine: &Engine, tick: Duration) -> Result<(), RuntimeError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("neutrino-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(drop)
        .map_err(|e| RuntimeError::Engine(format!("cannot start the epoch ticker: {e}")))
}
