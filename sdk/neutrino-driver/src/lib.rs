//! Write a Neutrino ML2 mechanism driver in Rust.
//!
//! A driver is a WebAssembly component built for `wasm32-wasip2` that
//! implements the `neutrino:ml2@0.2.0` contract (see `wit/` in the Neutrino
//! repository). This crate wraps the generated bindings in a small, idiomatic
//! layer:
//!
//! - [`MechanismDriver`]: a trait with a no-op default for every hook; override
//!   the ones you need. `bind_port` declines by default.
//! - [`export!`]: exports your type as the component's `mechanism` interface
//!   and embeds your `driver.toml` in the component, so a bare `.wasm` is
//!   self-describing.
//! - Typed helpers for the host's capabilities: [`log`] (and the [`info!`]
//!   family of macros), [`config`] (with [`config::load`] into your own
//!   struct), [`state`] (with the atomic [`state::increment`] and
//!   [`state::compare_and_set`]), [`session`] (an in-memory cache with
//!   single flight), [`agents`], [`http`] and [`time`].
//! - [`binding`]: constructors for bind results and errors, and
//!   [`agent_based`], the logic of Neutron's agent-based drivers.
//!
//! ```ignore
//! use neutrino_driver::{MechanismDriver, PortContext, BindResult, DriverError};
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! impl MechanismDriver for Hello {
//!     fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
//!         match ctx.segments_to_bind.first() {
//!             Some(segment) => Ok(neutrino_driver::binding::bound(segment, "other", serde_json::json!({}))),
//!             None => Ok(BindResult::NotBound),
//!         }
//!     }
//! }
//!
//! neutrino_driver::export!(Hello);
//! ```
//!
//! Every call runs in a fresh instance: a value of your type is created with
//! `Default` for each call and nothing survives in memory between calls. Keep
//! what must last in [`state`].

pub mod agent_based;
pub mod agents;
pub mod binding;
pub mod config;
mod export;
pub mod http;
pub mod log;
pub mod session;
pub mod state;
pub mod time;

#[doc(hidden)]
pub use export::Adapter as __Adapter;
#[doc(hidden)]
pub use serde_json as __serde_json;

/// The generated bindings of the `neutrino:ml2/mechanism-driver` world.
///
/// You rarely need these directly: the crate root re-exports the types, and
/// the helper modules wrap the imports.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "neutrino:ml2/mechanism-driver-periodic",
        pub_export_macro: true,
        export_macro_name: "export_mechanism",
        default_bindings_module: "neutrino_driver::bindings",
        additional_derives: [PartialEq, Eq],
        generate_all,
    });
}

pub use bindings::neutrino::ml2::types::{
    BindResult, Binding, BindingLevel, Continuation, DriverError, ErrorKind, FixedIp, Network,
    NetworkContext, Port, PortContext, SecurityGroup, SecurityGroupContext, SecurityGroupRule,
    SecurityGroupRuleContext, Segment, Subnet, SubnetContext,
};

/// The contract version this SDK builds drivers for.
pub const CONTRACT: &str = "neutrino:ml2@0.2.0";

/// A mechanism driver. Every method has a default that does nothing (hooks
/// return `Ok(())`, [`bind_port`](Self::bind_port) declines with
/// [`BindResult::NotBound`]), so implement only what your driver needs.
///
/// Hooks mirror Neutron's `MechanismDriver`:
/// - `*_precommit` run inside the database transaction. Returning an error
///   rolls the transaction back and the API request fails with your message.
///   They get no network.
/// - `*_postcommit` run after the commit and may use [`http`] towards the
///   destinations the operator allowed.
/// - `bind_port` runs outside any transaction and may be retried; it gets no
///   network and may only read [`state`].
///
/// A value is created with [`Default`] for every call.
#[allow(unused_variables)]
pub trait MechanismDriver: Default {
    /// Called once when the driver is loaded; an error refuses the load.
    fn initialize(&self) -> Result<(), DriverError> {
        Ok(())
    }

    /// A network is being created (inside the transaction).
    fn create_network_precommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A network was created.
    fn create_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A network is being updated (inside the transaction); `ctx.original` is set.
    fn update_network_precommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A network was updated; `ctx.original` is set.
    fn update_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A network is being deleted (inside the transaction).
    fn delete_network_precommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A network was deleted; an error here is logged, the network stays deleted.
    fn delete_network_postcommit(&self, ctx: &NetworkContext) -> Result<(), DriverError> {
        Ok(())
    }

    /// A subnet is being created (inside the transaction).
    fn create_subnet_precommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A subnet was created.
    fn create_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A subnet is being updated (inside the transaction); `ctx.original` is set.
    fn update_subnet_precommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A subnet was updated; `ctx.original` is set.
    fn update_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A subnet is being deleted (inside the transaction).
    fn delete_subnet_precommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A subnet was deleted.
    fn delete_subnet_postcommit(&self, ctx: &SubnetContext) -> Result<(), DriverError> {
        Ok(())
    }

    /// A port is being created (inside the transaction).
    fn create_port_precommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A port was created.
    fn create_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A port is being updated (inside the transaction); also called when a
    /// binding is committed.
    fn update_port_precommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A port was updated.
    fn update_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A port is being deleted (inside the transaction).
    fn delete_port_precommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        Ok(())
    }
    /// A port was deleted.
    fn delete_port_postcommit(&self, ctx: &PortContext) -> Result<(), DriverError> {
        Ok(())
    }

    /// A security group is being created (inside the transaction).
    fn create_security_group_precommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        Ok(())
    }
    /// A security group was created.
    fn create_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        Ok(())
    }
    /// A security group is being updated (inside the transaction); `ctx.original` is set.
    fn update_security_group_precommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        Ok(())
    }
    /// A security group was updated.
    fn update_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        Ok(())
    }
    /// A security group is being deleted (inside the transaction).
    fn delete_security_group_precommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        Ok(())
    }
    /// A security group was deleted.
    fn delete_security_group_postcommit(
        &self,
        ctx: &SecurityGroupContext,
    ) -> Result<(), DriverError> {
        Ok(())
    }
    /// A security group rule is being created (inside the transaction).
    fn create_security_group_rule_precommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        Ok(())
    }
    /// A security group rule was created.
    fn create_security_group_rule_postcommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        Ok(())
    }
    /// A security group rule is being deleted (inside the transaction).
    fn delete_security_group_rule_precommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        Ok(())
    }
    /// A security group rule was deleted.
    fn delete_security_group_rule_postcommit(
        &self,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), DriverError> {
        Ok(())
    }

    /// Try to bind the port at this level. See [`binding`] for constructors.
    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        Ok(BindResult::NotBound)
    }

    /// Periodic work (heartbeats, replays, full syncs), called every
    /// `periodic_interval` seconds when the manifest sets it; never otherwise.
    /// Runs outside any transaction with network access like a postcommit;
    /// `state` writes commit at once. Default: nothing.
    fn periodic(&self) -> Result<(), DriverError> {
        Ok(())
    }
}

/// Export a [`MechanismDriver`] as this component's `mechanism` interface and
/// embed the driver's manifest in the component (custom section
/// `neutrino:manifest`).
///
/// `export!(MyDriver)` embeds `driver.toml` from the crate's directory;
/// `export!(MyDriver, manifest = "other.toml")` embeds another file (relative
/// to the crate's directory). Invoke it once, in the driver's `lib.rs`.
#[macro_export]
macro_rules! export {
    ($driver:ty) => {
        $crate::export!($driver, manifest = "driver.toml");
    };
    ($driver:ty, manifest = $manifest:literal) => {
        const _: () = {
            #[unsafe(link_section = "neutrino:manifest")]
            #[used]
            static NEUTRINO_MANIFEST: [u8; include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/",
                $manifest
            ))
            .len()] = *include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $manifest));

            type NeutrinoExport = $crate::__Adapter<$driver>;
    $crate::bindings::export_mechanism!(NeutrinoExport with_types_in $crate::bindings);
        };
    };
}
