//! Test driver built for `neutrino:ml2@0.2.0` with wit-bindgen on the `mechanism-driver`
//! world, which has no `periodic` export, the way every 0.2 driver was built before the
//! optional export existed: proof that such drivers keep loading (and that a
//! `periodic_interval` in their manifest is ignored, since there is nothing to call). Every
//! hook succeeds; `bind_port` declines.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "neutrino:ml2/mechanism-driver",
});

#[unsafe(link_section = "neutrino:manifest")]
#[used]
static MANIFEST: [u8; include_bytes!("../driver.toml").len()] = *include_bytes!("../driver.toml");

use exports::neutrino::ml2::mechanism::Guest;
use neutrino::ml2::types::{
    BindResult, DriverError, NetworkContext, PortContext, SecurityGroupContext,
    SecurityGroupRuleContext, SubnetContext,
};

struct Plain;

macro_rules! nothing {
    ($ctx:ty => $($hook:ident),* $(,)?) => {
        $(
            fn $hook(_ctx: $ctx) -> Result<(), DriverError> {
                Ok(())
            }
        )*
    };
}

impl Guest for Plain {
    fn initialize() -> Result<(), DriverError> {
        neutrino::ml2::log::log(
            neutrino::ml2::log::Level::Info,
            "plain 0.2 driver initialized",
        );
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
        create_port_precommit, create_port_postcommit,
        update_port_precommit, update_port_postcommit,
        delete_port_precommit, delete_port_postcommit,
    );
    nothing!(SecurityGroupContext =>
        create_security_group_precommit, create_security_group_postcommit,
        update_security_group_precommit, update_security_group_postcommit,
        delete_security_group_precommit, delete_security_group_postcommit,
    );
    nothing!(SecurityGroupRuleContext =>
        create_security_group_rule_precommit, create_security_group_rule_postcommit,
        delete_security_group_rule_precommit, delete_security_group_rule_postcommit,
    );

    fn bind_port(_ctx: PortContext) -> Result<BindResult, DriverError> {
        Ok(BindResult::NotBound)
    }
}

export!(Plain);
