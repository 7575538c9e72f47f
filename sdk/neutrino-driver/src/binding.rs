//! Constructors for bind results and driver errors, and JSON accessors for
//! the contexts.

use crate::{
    BindResult, Binding, Continuation, DriverError, ErrorKind, Network, Port, PortContext, Segment,
    Subnet,
};
use serde_json::{Map, Value};

/// `binding:vif_type` of Open vSwitch ports.
pub const VIF_TYPE_OVS: &str = "ovs";
/// `binding:vif_type` of Linux bridge ports.
pub const VIF_TYPE_BRIDGE: &str = "bridge";
/// `binding:vif_type` of vhost-user (DPDK) ports.
pub const VIF_TYPE_VHOSTUSER: &str = "vhostuser";
/// `binding:vif_type` for anything else (e.g. baremetal).
pub const VIF_TYPE_OTHER: &str = "other";

/// Bind `segment` with `vif_type` and `vif_details` (a JSON object).
pub fn bound(segment: &Segment, vif_type: &str, vif_details: Value) -> BindResult {
    BindResult::Bound(Binding {
        segment_id: segment.id.clone(),
        vif_type: vif_type.to_string(),
        vif_details: vif_details.to_string(),
        status: None,
    })
}

/// Like [`bound`], and also set the port's status (e.g. `ACTIVE`).
pub fn bound_with_status(
    segment: &Segment,
    vif_type: &str,
    vif_details: Value,
    status: &str,
) -> BindResult {
    let mut result = bound(segment, vif_type, vif_details);
    if let BindResult::Bound(b) = &mut result {
        b.status = Some(status.to_string());
    }
    result
}

/// Bind `segment` partially: the next level binds one of `next_segments`.
pub fn continue_binding(segment: &Segment, next_segments: Vec<Segment>) -> BindResult {
    BindResult::ContinueBinding(Continuation {
        segment_id: segment.id.clone(),
        next_segments,
    })
}

/// A segment for [`continue_binding`] that ML2 allocates dynamically (its
/// `id` is empty), e.g. a VLAN on the physnet of a top-of-rack switch.
pub fn dynamic_segment(network_type: &str, physical_network: Option<&str>) -> Segment {
    Segment {
        id: String::new(),
        network_type: network_type.to_string(),
        physical_network: physical_network.map(str::to_string),
        segmentation_id: None,
        mtu: None,
    }
}

impl DriverError {
    /// A refusal of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        DriverError {
            kind,
            message: message.into(),
        }
    }
    /// 400: the request is invalid for this driver.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    /// 409: the request conflicts with the backend's state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// 404: something the request refers to does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// 503: the backend is unavailable; retrying may succeed.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    /// 500: anything else.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

fn object(json: &str) -> Map<String, Value> {
    serde_json::from_str(json).unwrap_or_default()
}

impl Port {
    /// The full API dict of the port.
    pub fn json_value(&self) -> Map<String, Value> {
        object(&self.json)
    }
}

impl Network {
    /// The full API dict of the network.
    pub fn json_value(&self) -> Map<String, Value> {
        object(&self.json)
    }
}

impl Subnet {
    /// The full API dict of the subnet.
    pub fn json_value(&self) -> Map<String, Value> {
        object(&self.json)
    }
}

impl PortContext {
    /// `binding:profile` as a JSON object.
    pub fn profile_json(&self) -> Map<String, Value> {
        object(&self.profile)
    }

    /// `binding:vif_details` as a JSON object.
    pub fn vif_details_json(&self) -> Map<String, Value> {
        object(&self.vif_details)
    }
}
