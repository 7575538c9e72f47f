//! Hostile test driver: `bind_port` and `create_port_postcommit` loop forever,
//! and so does `create_port_precommit` for a port named `spin`. Every other
//! hook succeeds, so the next call on the driver shows whether the
//! host recovered.

use neutrino_driver::{BindResult, DriverError, MechanismDriver, PortContext};

#[derive(Default)]
struct Spin;

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

impl MechanismDriver for Spin {
    fn create_port_precommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        if ctx.current.name == "spin" {
            spin()
        }
        Ok(())
    }

    fn bind_port(&self, _ctx: &PortContext) -> Result<BindResult, DriverError> {
        spin()
    }

    fn create_port_postcommit(&self, _ctx: &PortContext) -> Result<(), DriverError> {
        spin()
    }
}

neutrino_driver::export!(Spin);
