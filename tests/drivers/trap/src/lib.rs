//! Hostile test driver: `bind_port` executes `unreachable`. With config
//! `trap_in = "initialize"`, `initialize` traps too (a load that must fail).
//! Every other hook succeeds.

use neutrino_driver::{BindResult, DriverError, MechanismDriver, PortContext, config};

#[derive(Default)]
struct Trap;

impl MechanismDriver for Trap {
    fn initialize(&self) -> Result<(), DriverError> {
        if config::get("trap_in").as_deref() == Some("initialize") {
            core::arch::wasm32::unreachable();
        }
        Ok(())
    }

    fn bind_port(&self, _ctx: &PortContext) -> Result<BindResult, DriverError> {
        core::arch::wasm32::unreachable()
    }
}

neutrino_driver::export!(Trap);
