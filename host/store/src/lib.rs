//! The store: every byte Neutrino keeps, in SQLite (default) or PostgreSQL, through sqlx.
//!
//! It knows SQL and nothing of HTTP or drivers. One schema serves both engines (booleans are
//! integers, timestamps are text, lists are JSON text), and every statement is written once
//! with `$n` placeholders, which both engines accept.
//!
//! Invariants:
//! - No address is recorded twice in a subnet (primary key of `ip_allocations`), and no MAC
//!   twice on a network (unique key of `ports`): these hold across servers sharing a database.
//! - Updates are compare-and-swap on `revision_number`, so a stale writer changes nothing.

pub mod address_groups;
pub mod address_scopes;
pub mod agents;
pub mod auto_allocate;
pub mod bindings;
pub mod db;
pub mod dhcp_bindings;
pub mod drivers;
pub mod error;
pub mod flavors;
pub mod ip_availability;
pub mod ipam;
pub mod journal;
pub mod l3;
pub mod model;
pub mod networks;
pub mod periodic;
pub mod ports;
pub mod provisioning_blocks;
pub mod query;
pub mod quotas;
pub mod rbac;
pub mod revision;
pub mod row;
pub mod security_groups;
pub mod segments;
pub mod sg_defaults;
pub mod subnetpools;
pub mod subnets;
pub mod tags;
pub mod tunnels;
pub mod tx;

/// A database connection (a transaction dereferences to one).
pub use sqlx::AnyConnection as Conn;
/// A connection borrowed from a pool.
pub type PoolConnection = sqlx::pool::PoolConnection<sqlx::Any>;
pub use db::{Backend, RetryableError, Store, StoreOptions, Tx, WAL_SIZE_LIMIT};
pub use error::{Result, StoreError, UniqueKind};

/// The current time with microseconds (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), for records whose
/// order matters within a second (driver history).
pub fn now_precise() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// The current time as Neutron prints it: `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds).
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
