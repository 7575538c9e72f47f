//! Test driver built for `neutrino:ml2@0.1.0` from the frozen WIT in
//! `wit/archive/0.1`, the way an old SDK built it: proof that 0.1 drivers keep
//! loading and running beside 0.2 ones. It uses wit-bindgen directly (the
//! SDK speaks 0.2) and embeds its manifest the way the SDK does.
//!
//! `create_port_precommit` counts ports in `count/create_port_precommit`
//! with a plain read-modify-write (0.1 has no `increment`; in precommit the
//! host makes it part of the request's transaction); `bind_port` binds the
//! first segment with vif type `legacy`.

wit_bindgen::generate!({
    path: "../../../wit/archive/0.1",
    world: "neutrino:ml2/mechanism-driver@0.1.0",
});

#[unsafe(link_section = "neutrino:manifest")]
#[used]
static MANIFEST: [u8; include_bytes!("../driver.toml").len()] = *include_bytes!("../driver.toml");

use exports::neutrino::ml2::mechanism::Guest;
use neutrino::ml2::types::{
    BindResult, Binding, DriverError, ErrorKind, NetworkContext, PortContext, SubnetContext,
};
use neutrino::ml2::{log, state};

struct Legacy;

fn unavailable(e: state::StateError) -> DriverError {
    DriverError {
        kind: ErrorKind::Unavailable,
        message: format!("{e:?}"),
    }
}

fn count(key: &str) -> Result<(), DriverError> {
    let n: i64 = match state::get(key).map_err(unavailable)? {
        Some(v) => String::from_utf8_lossy(&v).parse().unwrap_or(0),
        None => 0,
    };
    state::set(key, (n + 1).to_string().as_bytes()).map_err(unavailable)
}

macro_rules! nothing {
    ($ctx:ty => $($hook:ident),* $(,)?) => {
        $(
            fn $hook(_ctx: $ctx) -> Result<(), DriverError> {
                Ok(())
            }
        )*
    };
}

impl Guest for Legacy {
    fn initialize() -> Result<(), DriverError> {
        log::log(log::Level::Info, "legacy 0.1 driver initialized");
        Ok(())
    }

    nothing!(NetworkContext =>
        create_network_precommit, create_network_postcommit,
        update_network_precommit, update_network_postcommit,
        delete_network_precommit, delete_network_postcommit,
    );
    nothing!(SubnetContext =>
        create_subnet_precommit, create_subnet_postcommit,
        update_subnet_precommit, update_subnet_postcommit,
        delete_subnet_precommit, delete_subnet_postcommit,
    );
    nothing!(PortContext =>
        create_port_postcommit,
        update_port_precommit, update_port_postcommit,
        delete_port_precommit, delete_port_postcommit,
    );

    fn create_port_precommit(_ctx: PortContext) -> Result<(), DriverError> {
        count("count/create_port_precommit")
    }

    fn bind_port(ctx: PortContext) -> Result<BindResult, DriverError> {
        Ok(match ctx.segments_to_bind.first() {
            Some(segment) => BindResult::Bound(Binding {
                segment_id: segment.id.clone(),
                vif_type: "legacy".into(),
                vif_details: "{}".into(),
                status: None,
            }),
            None => BindResult::NotBound,
        })
    }
}

export!(Legacy);
