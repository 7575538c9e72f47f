//! The glue between the generated `Guest` trait and [`MechanismDriver`].

use crate::bindings::exports::neutrino::ml2::mechanism::Guest;
use crate::{
    BindResult, DriverError, MechanismDriver, NetworkContext, PortContext, SecurityGroupContext,
    SecurityGroupRuleContext, SubnetContext,
};
use std::marker::PhantomData;

/// Exports `D` through the generated bindings; used by [`crate::export!`].
pub struct Adapter<D>(PhantomData<D>);

macro_rules! hooks {
    ($ctx:ty => $($hook:ident),* $(,)?) => {
        $(
            fn $hook(ctx: $ctx) -> Result<(), DriverError> {
                D::default().$hook(&ctx)
            }
        )*
    };
}

impl<D: MechanismDriver> Guest for Adapter<D> {
    fn initialize() -> Result<(), DriverError> {
        D::default().initialize()
    }

    hooks!(NetworkContext =>
        create_network_precommit, create_network_postcommit,
        update_network_precommit, update_network_postcommit,
        delete_network_precommit, delete_network_postcommit,
    );
    hooks!(SubnetContext =>
        create_subnet_precommit, create_subnet_postcommit,
        update_subnet_precommit, update_subnet_postcommit,
        delete_subnet_precommit, delete_subnet_postcommit,
    );
    hooks!(PortContext =>
        create_port_precommit, create_port_postcommit,
        update_port_precommit, update_port_postcommit,
        delete_port_precommit, delete_port_postcommit,
    );

    hooks!(SecurityGroupContext =>
        create_security_group_precommit, create_security_group_postcommit,
        update_security_group_precommit, update_security_group_postcommit,
        delete_security_group_precommit, delete_security_group_postcommit,
    );
    hooks!(SecurityGroupRuleContext =>
        create_security_group_rule_precommit, create_security_group_rule_postcommit,
        delete_security_group_rule_precommit, delete_security_group_rule_postcommit,
    );

    fn bind_port(ctx: PortContext) -> Result<BindResult, DriverError> {
        D::default().bind_port(&ctx)
    }
}

impl<D: MechanismDriver> crate::bindings::exports::neutrino::ml2::periodic::Guest for Adapter<D> {
    fn run() -> Result<(), DriverError> {
        D::default().periodic()
    }
}
