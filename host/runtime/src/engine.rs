//! The one wasmtime [`Engine`] of the process: Cranelift, component model,
//! epoch interruption advanced by a ticker thread, and the pooling instance
//! allocator sized from [`RuntimeConfig`].
//!
//! The pool keeps the first `memory_keep_resident` bytes of each linear
//! memory mapped between instances and resets only dirtied pages where the
//! kernel can tell (`PAGEMAP_SCAN`): a fresh instance per call then costs
//! no page faults and no `madvise`.

use crate::config::{CompileStrategy, RuntimeConfig};
use crate::error::RuntimeError;
use std::time::Duration;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
    RegallocAlgorithm,
};

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
        .linear_memory_keep_resident(config.memory_keep_resident)
        .table_keep_resident(64 << 10)
        // Reset only the pages a call dirtied (Linux 6.7+), not the whole
        // resident range.
        .pagemap_scan(wasmtime::Enabled::Auto);

    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .parallel_compilation(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match config.compile {
        CompileStrategy::Quick => wasm
            .cranelift_opt_level(OptLevel::None)
            .cranelift_regalloc_algorithm(RegallocAlgorithm::SinglePass),
        CompileStrategy::Optimized => wasm
            .cranelift_opt_level(OptLevel::Speed)
            .cranelift_regalloc_algorithm(RegallocAlgorithm::Backtracking),
    };
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
