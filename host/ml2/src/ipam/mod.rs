//! IP address management: the pure arithmetic (no IO) behind subnets, pools and addresses.
//!
//! Invariants: no function here touches the database; every address it returns lies inside
//! the subnet it was computed for.

pub mod address;
pub mod mac;
pub mod pools;
pub mod prefix;
