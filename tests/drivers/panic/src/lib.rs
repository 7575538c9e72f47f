//! Hostile test driver: `bind_port` panics with a message, which the host
//! must show (it arrives on the guest's stderr). `create_network_precommit` panics
//! for a network named `panic-here` (a fault a non-admin's request meets). Every
//! other hook succeeds.

use neutrino_driver::{BindResult, DriverError, MechanismDriver, NetworkContext, PortContext};

#[derive(Default)]
struct Panic;

impl MechanismDriver for Panic {
    fn create_network_precommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        if ctx.current.name == "panic-here" {
            panic!("driver bug: secret switch table at 10.0.0.9 corrupted");
        }
        Ok(())
    }

    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        panic!(
            "driver bug: segment table corrupted for port {}",
            ctx.current.id
        )
    }
}

neutrino_driver::export!(Panic);
