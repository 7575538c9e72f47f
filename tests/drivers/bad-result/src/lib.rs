//! Hostile test driver: `bind_port` returns a malformed result, chosen by
//! config `mode`:
//! - `unknown-segment` (default): binds a segment that was not offered;
//! - `bad-json`: `vif_details` is not JSON;
//! - `reserved-vif-type`: binds with vif type `binding_failed`;
//! - `empty-continuation`: continues the binding with no next segments.
//!
//! Every other hook succeeds.

use neutrino_driver::{
    BindResult, Binding, DriverError, MechanismDriver, PortContext, binding, config,
};
use serde_json::json;

#[derive(Default)]
struct BadResult;

impl MechanismDriver for BadResult {
    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        let segment = ctx
            .segments_to_bind
            .first()
            .ok_or_else(|| DriverError::invalid_input("no segment"))?;
        let mode = config::get("mode").unwrap_or_else(|| "unknown-segment".into());
        Ok(match mode.as_str() {
            "bad-json" => BindResult::Bound(Binding {
                segment_id: segment.id.clone(),
                vif_type: "ovs".into(),
                vif_details: "{not json".into(),
                status: None,
            }),
            "reserved-vif-type" => binding::bound(segment, "binding_failed", json!({})),
            "empty-continuation" => binding::continue_binding(segment, Vec::new()),
            _ => BindResult::Bound(Binding {
                segment_id: "not-offered".into(),
                vif_type: "ovs".into(),
                vif_details: "{}".into(),
                status: None,
            }),
        })
    }
}

neutrino_driver::export!(BadResult);
