//! Runs Neutron ML2 mechanism drivers as sandboxed WebAssembly components.
//!
//! A driver is a component implementing the `neutrino:ml2` contract (`wit/`
//! at the repository root). This crate loads it, checks it, and calls its
//! hooks with limits; it knows nothing of REST or SQL. The ML2 plugin uses
//! it like this:
//!
//! ```ignore
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let driver = runtime.prepare(&wasm, Some(&driver_toml), settings).await?;
//! let slot = DriverSlot::new(driver);
//! slot.call_port(Hook::CreatePrecommit, &ctx, &host).await?;
//! let result = slot.bind_port(&ctx, &host).await?;
//! slot.swap(runtime.prepare(&new_wasm, None, settings).await?); // hot swap
//! ```
//!
//! How the pieces fit:
//! - [`Runtime`] ([`runtime`]) owns one wasmtime engine (pooling allocator,
//!   epoch interruption ticked every 10 ms, see [`engine`]) and the on-disk
//!   cache of compiled components ([`cache`]). [`Runtime::prepare`] turns
//!   bytes into a [`PreparedDriver`]: manifest ([`manifest`]), contract
//!   version ([`contract`]), capabilities ([`capability`]), compile or cache
//!   hit, link, and the driver's own `initialize`.
//! - Every call gets a fresh store and instance ([`call`]) with a memory
//!   cap, a CPU budget and a wall-clock timeout ([`limits`]); whatever the
//!   guest does, the call ends with a typed [`CallError`] ([`error`]) and the
//!   next call works. Outcomes and latencies are counted ([`stats`]).
//! - The driver's imports are implemented one module per capability
//!   ([`imports`]); host data (state, agents) comes from the caller through
//!   [`HostServices`] ([`services`]), outbound HTTP goes through an
//!   allow-list and an [`HttpTransport`] ([`net`]).
//! - [`DriverSlot`] ([`slot`]) holds the current version of a driver for hot
//!   swap: calls in flight finish on the version they started with.
//! - [`abi`] holds the generated bindings, one module per supported contract
//!   version, and the conversions from the plain Rust types of [`types`].

pub mod abi;
pub mod cache;
pub mod call;
pub mod capability;
pub mod config;
pub mod contract;
pub mod engine;
pub mod error;
pub mod imports;
pub mod limits;
pub mod manifest;
pub mod net;
pub mod runtime;
pub mod services;
pub mod slot;
pub mod stats;
pub mod types;

pub use async_trait::async_trait;
pub use capability::{Capability, CapabilitySet};
pub use config::{
    CompileStrategy, DriverSettings, FailurePolicy, HttpSettings, Limits, RuntimeConfig,
};
pub use error::{CallError, Clock, LoadError, RuntimeError};
pub use manifest::Manifest;
pub use net::{HttpTransport, HyperTransport, InboundResponse, OutboundRequest, TransportError};
pub use runtime::{DriverMeta, PreparedDriver, Runtime};
pub use services::{HostError, HostServices, MemoryHost, NoServices, StateChange, StateModifier};
pub use slot::DriverSlot;
pub use stats::StatsSnapshot;
pub use types::*;
