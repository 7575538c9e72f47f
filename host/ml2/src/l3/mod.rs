//! The L3 API: routers (`routers.rs`), their interfaces (`interfaces.rs`), extra routes
//! (`routes.rs`) and floating IPs (`floatingips.rs`), with Neutron's rules and errors.
//!
//! Router and floating IP ports are ordinary ports made through the port path (IPAM, MAC,
//! mechanism drivers); the L3 tables only say which router or floating IP owns them. A
//! change that creates a port runs as Neutron's does: the port first, then the L3 rows in a
//! transaction that takes the router's row (its revision bump) and checks again; if that
//! fails, the port is deleted.

pub mod floatingips;
pub mod interfaces;
pub mod routers;
pub mod routes;

use crate::error::Error;

/// L3 settings (Neutron's `[DEFAULT]` options of the L3 plugin).
#[derive(Debug, Clone)]
pub struct L3Config {
    /// `enable_snat_by_default`: `enable_snat` of a gateway that does not say.
    pub enable_snat_by_default: bool,
    /// `router_distributed`: `distributed` of a router that does not say.
    pub router_distributed: bool,
    /// `l3_ha`: `ha` of a router that does not say.
    pub l3_ha: bool,
}

impl Default for L3Config {
    fn default() -> Self {
        L3Config {
            enable_snat_by_default: true,
            router_distributed: false,
            l3_ha: false,
        }
    }
}

/// Device owner of router interfaces made by `add_router_interface`.
pub const INTERFACE: &str = "network:router_interface";
pub use neutrino_store::l3::{FLOATINGIP, GATEWAY};

/// `RouterNotFound` (404).
pub fn router_not_found(id: &str) -> Error {
    Error::not_found("RouterNotFound", "Router", id)
}

/// `FloatingIPNotFound` (404).
pub fn fip_not_found(id: &str) -> Error {
    Error::not_found("FloatingIPNotFound", "Floating IP", id)
}

/// `FipAssociated` (409): a port with another project's floating IP cannot be deleted by
/// its project.
pub fn fip_associated(port_id: &str) -> Error {
    Error::conflict(
        "FipAssociated",
        format!(
            "Unable to complete the operation on port {port_id} because the port still has an \
             associated floating IP."
        ),
    )
}

/// Neutron's `BadRequest(resource=…)`: "Bad <resource> request: <msg>."
pub fn bad(resource: &str, msg: impl std::fmt::Display) -> Error {
    Error::neutron("BadRequest", 400, format!("Bad {resource} request: {msg}."))
}

/// `BadRequest` about a router.
pub fn bad_router(msg: impl std::fmt::Display) -> Error {
    bad("router", msg)
}
