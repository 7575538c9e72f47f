//! Hostile test driver: `bind_port` binds with 4 MiB of `vif_details`, and
//! `create_port_precommit` refuses with a 1 MiB message. Every other hook
//! succeeds.

use neutrino_driver::{BindResult, DriverError, MechanismDriver, PortContext, binding};
use serde_json::json;

#[derive(Default)]
struct HugeResult;

impl MechanismDriver for HugeResult {
    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        let segment = ctx
            .segments_to_bind
            .first()
            .ok_or_else(|| DriverError::invalid_input("no segment"))?;
        let blob = "x".repeat(4 << 20);
        Ok(binding::bound(segment, "ovs", json!({ "blob": blob })))
    }

    fn create_port_precommit(&self, _ctx: &PortContext) -> Result<(), DriverError> {
        Err(DriverError::conflict("e".repeat(1 << 20)))
    }
}

neutrino_driver::export!(HugeResult);
