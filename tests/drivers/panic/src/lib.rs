//! Hostile test driver: `bind_port` panics with a message, which the host
//! must show (it arrives on the guest's stderr). Every other hook succeeds.

use neutrino_driver::{BindResult, DriverError, MechanismDriver, PortContext};

#[derive(Default)]
struct Panic;

impl MechanismDriver for Panic {
    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        panic!(
            "driver bug: segment table corrupted for port {}",
            ctx.current.id
        )
    }
}

neutrino_driver::export!(Panic);
