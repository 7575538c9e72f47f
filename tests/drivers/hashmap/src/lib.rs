//! Test driver: `bind_port` indexes the segments to bind in a
//! `std::collections::HashMap` (whose `RandomState` imports
//! `wasi:random/insecure-seed`) and binds the segment with the smallest id.
//! Proves ordinary std collections work in a driver.

use neutrino_driver::{BindResult, DriverError, MechanismDriver, PortContext, binding};
use std::collections::HashMap;

#[derive(Default)]
struct HashMapDriver;

impl MechanismDriver for HashMapDriver {
    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        let by_id: HashMap<&str, _> = ctx
            .segments_to_bind
            .iter()
            .map(|s| (s.id.as_str(), s))
            .collect();
        let Some(first) = by_id.keys().min() else {
            return Ok(BindResult::NotBound);
        };
        Ok(binding::bound(by_id[first], "ovs", serde_json::json!({})))
    }
}

neutrino_driver::export!(HashMapDriver);
