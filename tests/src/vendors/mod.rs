//! Stand-ins for the Cisco Nexus switches and the NSX Manager the `cisco_nexus` and `nsx`
//! drivers talk to: small HTTP servers on loopback ports ([`http::FakeHttp`]) speaking the
//! part of the vendor's real API the driver uses, keeping the resulting state and recording
//! the requests, so tests assert both.

pub mod http;
pub mod nexus;
pub mod nsx;

pub use http::{FakeHttp, Handler, Reply, Request};
