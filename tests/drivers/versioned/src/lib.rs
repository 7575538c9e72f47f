//! Test driver for upgrades: built twice, as v1 (default) and v2 (feature
//! `v2`). `bind_port` binds the first segment with vif type `ovs` and
//! `vif_details` `{"marker": "version=1"}` (or `version=2`); the embedded
//! manifest says version 1.0.0 (or 2.0.0). There is no `driver.toml` beside
//! the `.wasm`: the component describes itself.
//!
//! With config `fail_initialize = "true"`, `initialize` refuses, so a load or
//! upgrade must fail.

use neutrino_driver::{BindResult, DriverError, MechanismDriver, PortContext, binding, config};
use serde_json::json;

#[cfg(not(feature = "v2"))]
const MARKER: &str = "version=1";
#[cfg(feature = "v2")]
const MARKER: &str = "version=2";

#[derive(Default)]
struct Versioned;

impl MechanismDriver for Versioned {
    fn initialize(&self) -> Result<(), DriverError> {
        if config::get("fail_initialize").as_deref() == Some("true") {
            return Err(DriverError::internal(format!(
                "{MARKER} refuses to start: fail_initialize is set"
            )));
        }
        Ok(())
    }

    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        Ok(match ctx.segments_to_bind.first() {
            Some(segment) => binding::bound(segment, "ovs", json!({ "marker": MARKER })),
            None => BindResult::NotBound,
        })
    }
}

#[cfg(not(feature = "v2"))]
neutrino_driver::export!(Versioned, manifest = "driver-v1.toml");
#[cfg(feature = "v2")]
neutrino_driver::export!(Versioned, manifest = "driver-v2.toml");
