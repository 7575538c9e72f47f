//! Stand-ins for vendor controllers, for the driver tests: small HTTP servers on loopback
//! ports that speak the part of the vendor's real API the driver uses (paths, methods,
//! status codes, bodies, authentication and sessions), keep the resulting state and record
//! the requests, so tests assert both. Each can be told to refuse connections, answer 5xx,
//! and forget its state; see [`server::FakeServer`].

pub mod midonet;
pub mod odl;
pub mod server;

pub use server::{Backend, FakeServer, Reply, Request};
