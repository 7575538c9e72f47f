//! Generated bindings, one module per supported contract family, and the
//! dispatch between them.
//!
//! Each module (`v0_1`, later `v0_2`, ...) runs `bindgen!` on its version of
//! the WIT, implements the generated import traits by delegating to
//! [`imports`](crate::imports), and converts between the generated types and
//! the version-independent ones of [`types`](crate::types). Supporting a new
//! major version means adding a module and a [`DriverPre`] variant; the rest
//! of the crate does not change.

pub mod v0_1;
pub mod v0_2;

use crate::call::{CallState, Op, Outcome};
use crate::contract::Family;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

/// Linkers for every supported family.
pub struct Linkers {
    v0_1: Linker<CallState>,
    v0_2: Linker<CallState>,
}

impl Linkers {
    /// Build the linkers (WASI p2 and the contract's imports).
    pub fn new(engine: &wasmtime::Engine) -> wasmtime::Result<Self> {
        Ok(Linkers {
            v0_1: v0_1::linker(engine)?,
            v0_2: v0_2::linker(engine)?,
        })
    }
}

/// A component linked and type-checked against one family, ready to
/// instantiate.
pub enum DriverPre {
    /// `neutrino:ml2@0.1.x`.
    V0_1(v0_1::MechanismDriverPre<CallState>),
    /// `neutrino:ml2@0.2.x`, with the index of its optional `periodic.run`
    /// export.
    V0_2(
        v0_2::MechanismDriverPre<CallState>,
        Option<wasmtime::component::ComponentExportIndex>,
    ),
}

impl DriverPre {
    /// Link `component` for `family`.
    pub fn new(linkers: &Linkers, family: Family, component: &Component) -> wasmtime::Result<Self> {
        match family {
            Family::V0_1 => {
                let pre = linkers.v0_1.instantiate_pre(component)?;
                Ok(DriverPre::V0_1(v0_1::MechanismDriverPre::new(pre)?))
            }
            Family::V0_2 => {
                let pre = linkers.v0_2.instantiate_pre(component)?;
                let periodic = v0_2::periodic_export(component);
                Ok(DriverPre::V0_2(
                    v0_2::MechanismDriverPre::new(pre)?,
                    periodic,
                ))
            }
        }
    }

    /// Whether the component exports the optional `periodic` interface.
    pub fn has_periodic(&self) -> bool {
        matches!(self, DriverPre::V0_2(_, Some(_)))
    }

    /// Instantiate once in `store` and run `op` `n` times (benchmarks only).
    pub async fn call_repeatedly(
        &self,
        store: &mut Store<CallState>,
        op: Op<'_>,
        n: usize,
    ) -> wasmtime::Result<std::time::Duration> {
        match self {
            DriverPre::V0_1(pre) => v0_1::call_repeatedly(pre, store, op, n).await,
            DriverPre::V0_2(pre, _) => v0_2::call_repeatedly(pre, store, op, n).await,
        }
    }

    /// Instantiate in `store` and run `op`; returns when instantiation
    /// ended (benchmarks only).
    pub async fn call_timed(
        &self,
        store: &mut Store<CallState>,
        op: Op<'_>,
    ) -> wasmtime::Result<std::time::Instant> {
        match self {
            DriverPre::V0_1(pre) => v0_1::call_timed(pre, store, op).await,
            DriverPre::V0_2(pre, _) => v0_2::call_timed(pre, store, op).await,
        }
    }

    /// Instantiate in `store` and run `op`.
    pub async fn call(
        &self,
        store: &mut Store<CallState>,
        op: Op<'_>,
    ) -> wasmtime::Result<Outcome> {
        match self {
            DriverPre::V0_1(pre) => v0_1::call(pre, store, op).await,
            DriverPre::V0_2(pre, periodic) => v0_2::call(pre, periodic.as_ref(), store, op).await,
        }
    }
}
