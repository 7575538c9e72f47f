//! Test driver: `create_port_precommit` reads the wall clock. Drivers get no
//! clocks, so the host must refuse to load it, naming the import.

use neutrino_driver::{DriverError, MechanismDriver, PortContext};

#[derive(Default)]
struct Clock;

impl MechanismDriver for Clock {
    fn create_port_precommit(&self, _ctx: &PortContext) -> Result<(), DriverError> {
        let now = std::time::SystemTime::now();
        match now.duration_since(std::time::UNIX_EPOCH) {
            Ok(_) => Ok(()),
            Err(_) => Err(DriverError::internal("the clock is before 1970")),
        }
    }
}

neutrino_driver::export!(Clock);
