//! Test driver: `create_port_precommit` reads the wall clock and the
//! monotonic clock. Contract 0.2 drivers get both (`wasi:clocks`), so the
//! host loads it; the call fails if either clock is unusable.

use neutrino_driver::{DriverError, MechanismDriver, PortContext};

#[derive(Default)]
struct Clock;

impl MechanismDriver for Clock {
    fn create_port_precommit(&self, _ctx: &PortContext) -> Result<(), DriverError> {
        let started = std::time::Instant::now();
        let now = std::time::SystemTime::now();
        let since = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| DriverError::internal("the clock is before 1970"))?;
        // 2024-01-01: a real wall clock, not a zero one.
        if since.as_secs() < 1_704_067_200 {
            return Err(DriverError::internal(format!(
                "the wall clock says {}s after 1970",
                since.as_secs()
            )));
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            return Err(DriverError::internal("the monotonic clock jumped"));
        }
        Ok(())
    }
}

neutrino_driver::export!(Clock);
