//! Well-behaved test driver for integration tests. For every hook it
//! - logs `"<hook> <resource id>"` at info level,
//! - increments the state counter `count/<hook>` and stores the resource id
//!   under `last/<hook>` (not in `bind_port`, where state is read-only),
//! - refuses with a `conflict` error if config `refuse` names the hook.
//!
//! `bind_port` binds the first segment offered with vif type `ovs` and
//! `vif_details` `{"bound_by": "recorder", "host": <the host it was asked to
//! bind on>}` (the host names the binding: a port has one per host).

use neutrino_driver::{
    BindResult, DriverError, MechanismDriver, NetworkContext, PortContext, SubnetContext, binding,
    config, state,
};
use serde_json::json;

#[derive(Default)]
struct Recorder;

fn record(hook: &str, id: &str) -> Result<(), DriverError> {
    neutrino_driver::info!("{hook} {id}");
    if config::get("refuse").as_deref() == Some(hook) {
        return Err(DriverError::conflict(format!(
            "recorder refuses {hook} of {id}"
        )));
    }
    state::increment(&format!("count/{hook}"), 1)?;
    state::set(&format!("last/{hook}"), id.as_bytes())?;
    Ok(())
}

macro_rules! recorded {
    ($ctx:ty => $($hook:ident),* $(,)?) => {
        $(
            fn $hook(&self, ctx: &$ctx) -> Result<(), DriverError> {
                record(stringify!($hook), &ctx.current.id)
            }
        )*
    };
}

impl MechanismDriver for Recorder {
    fn initialize(&self) -> Result<(), DriverError> {
        neutrino_driver::info!("initialize");
        Ok(())
    }

    recorded!(NetworkContext =>
        create_network_precommit, create_network_postcommit,
        update_network_precommit, update_network_postcommit,
        delete_network_precommit, delete_network_postcommit,
    );
    recorded!(SubnetContext =>
        create_subnet_precommit, create_subnet_postcommit,
        update_subnet_precommit, update_subnet_postcommit,
        delete_subnet_precommit, delete_subnet_postcommit,
    );
    recorded!(PortContext =>
        create_port_precommit, create_port_postcommit,
        update_port_precommit, update_port_postcommit,
        delete_port_precommit, delete_port_postcommit,
    );

    fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, DriverError> {
        neutrino_driver::info!("bind_port {}", ctx.current.id);
        if config::get("refuse").as_deref() == Some("bind_port") {
            return Err(DriverError::conflict(format!(
                "recorder refuses bind_port of {}",
                ctx.current.id
            )));
        }
        Ok(match ctx.segments_to_bind.first() {
            Some(segment) => binding::bound(
                segment,
                "ovs",
                json!({ "bound_by": "recorder", "host": ctx.host }),
            ),
            None => BindResult::NotBound,
        })
    }
}

neutrino_driver::export!(Recorder);
