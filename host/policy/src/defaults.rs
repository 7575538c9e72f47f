//! Neutron's default policy (the secure-RBAC defaults of Neutron 2026.x), by rule name.
//!
//! This is the one table of rules: a resource that gains an API adds its rules here, with
//! Neutron's names and check strings (`neutron/conf/policies/*.py`). Rules not listed fall
//! back to `default` (`rule:admin_or_owner`), as in oslo.policy.

/// `rule:admin_only`.
macro_rules! admin {
    () => {
        "rule:admin_only"
    };
}
/// Admin, or a member of the target's project.
macro_rules! admin_or_pm {
    () => {
        "(rule:admin_only) or (role:member and project_id:%(project_id)s)"
    };
}
/// Admin, or a reader of the target's project.
macro_rules! admin_or_pr {
    () => {
        "(rule:admin_only) or (role:reader and project_id:%(project_id)s)"
    };
}
/// Admin, or a manager of the target's project.
macro_rules! admin_or_pmgr {
    () => {
        "(rule:admin_only) or (role:manager and project_id:%(project_id)s)"
    };
}
/// Admin, or a member of the project owning the target's network.
macro_rules! admin_or_nom {
    () => {
        "(rule:admin_only) or (role:member and rule:network_owner)"
    };
}
/// A member of the project owning the target's network.
macro_rules! nom {
    () => {
        "(role:member and rule:network_owner)"
    };
}
/// A reader of the project owning the target's network.
macro_rules! nor {
    () => {
        "(role:reader and rule:network_owner)"
    };
}
/// A member of the target's project.
macro_rules! pm {
    () => {
        "(role:member and project_id:%(project_id)s)"
    };
}
/// A reader of the target's project.
macro_rules! pr {
    () => {
        "(role:reader and project_id:%(project_id)s)"
    };
}

/// Every default rule: (name, check string).
pub const RULES: &[(&str, &str)] = &[
    // Base rules (neutron/conf/policies/base.py, neutron-lib policy constants).
    ("context_is_admin", "role:admin"),
    ("admin_only", "rule:context_is_admin"),
    ("service_api", "role:service"),
    ("context_is_advsvc", "role:advsvc"),
    ("context_with_global_access", "!"),
    ("context_can_set_project_id", "!"),
    ("owner", "project_id:%(project_id)s"),
    ("admin_or_owner", "rule:context_is_admin or rule:owner"),
    ("default", "rule:admin_or_owner"),
    ("network_owner", "project_id:%(network:project_id)s"),
    (
        "admin_or_network_owner",
        "rule:context_is_admin or project_id:%(network:project_id)s",
    ),
    ("shared", "field:networks:shared=True"),
    ("external", "field:networks:router:external=True"),
    ("external_network", "field:subnets:router:external=True"),
    ("sg_owner", "project_id:%(security_group:project_id)s"),
    ("ext_parent_owner", "project_id:%(ext_parent:project_id)s"),
    ("network_device", "field:port:device_owner=~^network:"),
    ("regular_user", ""),
    ("shared_subnetpools", "field:subnetpools:shared=True"),
    ("shared_address_scopes", "field:address_scopes:shared=True"),
    ("shared_security_group", "field:security_groups:shared=True"),
    ("shared_address_groups", "field:address_groups:shared=True"),
    // Networks (network.py).
    ("create_network", admin_or_pm!()),
    ("create_network:shared", admin!()),
    ("create_network:router:external", admin!()),
    ("create_network:is_default", admin!()),
    ("create_network:port_security_enabled", admin_or_pm!()),
    ("create_network:segments", admin!()),
    ("create_network:provider:network_type", admin!()),
    ("create_network:provider:physical_network", admin!()),
    ("create_network:provider:segmentation_id", admin!()),
    ("create_network:tags", admin_or_pm!()),
    (
        "get_network",
        concat!(
            admin_or_pr!(),
            " or rule:service_api or rule:shared or rule:external or rule:context_is_advsvc"
        ),
    ),
    ("get_network:segments", admin!()),
    ("get_network:provider:network_type", admin!()),
    ("get_network:provider:physical_network", admin!()),
    ("get_network:provider:segmentation_id", admin!()),
    (
        "get_network:tags",
        concat!(
            admin_or_pr!(),
            " or rule:shared or rule:external or rule:context_is_advsvc"
        ),
    ),
    ("update_network", admin_or_pm!()),
    ("update_network:segments", admin!()),
    ("update_network:shared", admin!()),
    ("update_network:provider:network_type", admin!()),
    ("update_network:provider:physical_network", admin!()),
    ("update_network:provider:segmentation_id", admin!()),
    ("update_network:router:external", admin!()),
    ("update_network:is_default", admin!()),
    ("update_network:port_security_enabled", admin_or_pm!()),
    ("update_network:tags", admin_or_pm!()),
    ("delete_network", admin_or_pm!()),
    ("delete_network:tags", admin_or_pm!()),
    // Subnets (subnet.py).
    ("create_subnet", admin_or_nom!()),
    ("create_subnet:segment_id", admin!()),
    ("create_subnet:service_types", admin!()),
    (
        "create_subnet:tags",
        concat!(pm!(), " or ", admin_or_nom!()),
    ),
    (
        "get_subnet",
        concat!(
            pr!(),
            " or rule:shared or rule:external_network or ",
            admin!(),
            " or ",
            nor!(),
            " or rule:service_api"
        ),
    ),
    ("get_subnet:segment_id", admin!()),
    (
        "get_subnet:tags",
        concat!(
            pr!(),
            " or rule:shared or rule:external_network or ",
            admin!(),
            " or ",
            nor!()
        ),
    ),
    ("update_subnet", concat!(pm!(), " or ", admin_or_nom!())),
    ("update_subnet:segment_id", admin!()),
    ("update_subnet:service_types", admin!()),
    (
        "update_subnet:tags",
        concat!(pm!(), " or ", admin_or_nom!()),
    ),
    ("delete_subnet", concat!(pm!(), " or ", admin_or_nom!())),
    (
        "delete_subnet:tags",
        concat!(pm!(), " or ", admin_or_nom!()),
    ),
    // Ports (port.py).
    (
        "create_port",
        concat!(
            admin!(),
            " or rule:service_api or ",
            nom!(),
            " or rule:shared"
        ),
    ),
    (
        "create_port:device_owner",
        concat!(
            "not rule:network_device or ",
            admin!(),
            " or rule:service_api or ",
            nom!()
        ),
    ),
    (
        "create_port:mac_address",
        concat!(admin!(), " or rule:service_api or ", nom!()),
    ),
    (
        "create_port:fixed_ips",
        concat!(
            admin!(),
            " or rule:service_api or ",
            nom!(),
            " or rule:shared"
        ),
    ),
    (
        "create_port:fixed_ips:ip_address",
        concat!(admin!(), " or rule:service_api or ", nom!()),
    ),
    (
        "create_port:fixed_ips:subnet_id",
        concat!(
            admin!(),
            " or rule:service_api or ",
            nom!(),
            " or rule:shared"
        ),
    ),
    (
        "create_port:port_security_enabled",
        concat!(admin!(), " or rule:service_api or ", nom!()),
    ),
    (
        "create_port:binding:host_id",
        concat!(admin!(), " or rule:service_api"),
    ),
    ("create_port:binding:profile", "rule:service_api"),
    (
        "create_port:binding:vnic_type",
        concat!(admin_or_pm!(), " or rule:service_api"),
    ),
    (
        "create_port:device_id",
        concat!(admin_or_pm!(), " or rule:service_api"),
    ),
    (
        "create_port:allowed_address_pairs",
        concat!(admin_or_nom!(), " or rule:service_api"),
    ),
    (
        "create_port:allowed_address_pairs:mac_address",
        concat!(admin_or_nom!(), " or rule:service_api"),
    ),
    (
        "create_port:allowed_address_pairs:ip_address",
        concat!(admin_or_nom!(), " or rule:service_api"),
    ),
    ("create_port:hints", admin!()),
    ("create_port:trusted", admin!()),
    (
        "create_port:tags",
        concat!(admin_or_pm!(), " or rule:context_is_advsvc"),
    ),
    (
        "get_port",
        concat!(admin!(), " or rule:service_api or ", nor!(), " or ", pr!()),
    ),
    (
        "get_port:binding:vif_type",
        concat!(admin!(), " or rule:service_api"),
    ),
    (
        "get_port:binding:vif_details",
        concat!(admin!(), " or rule:service_api"),
    ),
    (
        "get_port:binding:host_id",
        concat!(admin!(), " or rule:service_api"),
    ),
    (
        "get_port:binding:profile",
        concat!(admin!(), " or rule:service_api"),
    ),
    ("get_port:resource_request", admin!()),
    ("get_port:hints", admin!()),
    ("get_port:trusted", admin!()),
    (
        "get_port:tags",
        concat!(
            "rule:context_is_advsvc or ",
            admin!(),
            " or ",
            nor!(),
            " or ",
            pr!()
        ),
    ),
    (
        "update_port",
        concat!(admin_or_pm!(), " or rule:service_api"),
    ),
    (
        "update_port:device_owner",
        concat!(
            "not rule:network_device or ",
            admin!(),
            " or rule:service_api or ",
            nom!()
        ),
    ),
    (
        "update_port:mac_address",
        concat!(
            admin!(),
            " or rule:service_api or (role:manager and rule:network_owner)"
        ),
    ),
    (
        "update_port:fixed_ips",
        concat!(admin!(), " or rule:service_api or ", nom!()),
    ),
    (
        "update_port:fixed_ips:ip_address",
        concat!(admin!(), " or rule:service_api or ", nom!()),
    ),
    (
        "update_port:fixed_ips:subnet_id",
        concat!(
            admin!(),
            " or rule:service_api or ",
            nom!(),
            " or rule:shared"
        ),
    ),
    (
        "update_port:port_security_enabled",
        concat!(admin!(), " or rule:service_api or ", nom!()),
    ),
    (
        "update_port:binding:host_id",
        concat!(admin!(), " or rule:service_api"),
    ),
    ("update_port:binding:profile", "rule:service_api"),
    (
        "update_port:binding:vnic_type",
        concat!(admin_or_pm!(), " or rule:service_api"),
    ),
    (
        "update_port:device_id",
        concat!(admin_or_pm!(), " or rule:service_api"),
    ),
    (
        "update_port:allowed_address_pairs",
        concat!(admin_or_nom!(), " or rule:service_api"),
    ),
    (
        "update_port:allowed_address_pairs:mac_address",
        concat!(admin_or_nom!(), " or rule:service_api"),
    ),
    (
        "update_port:allowed_address_pairs:ip_address",
        concat!(admin_or_nom!(), " or rule:service_api"),
    ),
    (
        "update_port:data_plane_status",
        "rule:admin_only or role:data_plane_integrator",
    ),
    ("update_port:hints", admin!()),
    ("update_port:trusted", admin!()),
    (
        "update_port:tags",
        concat!(admin_or_pm!(), " or rule:context_is_advsvc"),
    ),
    (
        "delete_port",
        concat!(admin!(), " or rule:service_api or ", nom!(), " or ", pr!()),
    ),
    (
        "delete_port:tags",
        concat!(
            "rule:context_is_advsvc or ",
            pm!(),
            " or ",
            admin!(),
            " or ",
            nom!()
        ),
    ),
    // Port bindings (port_bindings.py): Nova's service user creates, activates and deletes.
    (
        "get_port_binding",
        "(rule:admin_only) or (rule:service_api)",
    ),
    ("create_port_binding", "rule:service_api"),
    ("delete_port_binding", "rule:service_api"),
    ("activate", "rule:service_api"),
    // Subnet pools (subnetpool.py).
    ("create_subnetpool", admin_or_pm!()),
    ("create_subnetpool:shared", admin!()),
    ("create_subnetpool:is_default", admin!()),
    ("create_subnetpool:tags", admin_or_pm!()),
    (
        "get_subnetpool",
        concat!(admin_or_pr!(), " or rule:shared_subnetpools"),
    ),
    (
        "get_subnetpool:tags",
        concat!(admin_or_pr!(), " or rule:shared_subnetpools"),
    ),
    ("update_subnetpool", admin_or_pm!()),
    ("update_subnetpool:is_default", admin!()),
    ("update_subnetpool:tags", admin_or_pm!()),
    ("delete_subnetpool", admin_or_pm!()),
    ("delete_subnetpool:tags", admin_or_pm!()),
    ("onboard_network_subnets", admin_or_pm!()),
    ("add_prefixes", admin_or_pm!()),
    ("remove_prefixes", admin_or_pm!()),
    // Address scopes (address_scope.py).
    ("create_address_scope", admin_or_pm!()),
    ("create_address_scope:shared", admin!()),
    (
        "get_address_scope",
        concat!(admin_or_pr!(), " or rule:shared_address_scopes"),
    ),
    ("update_address_scope", admin_or_pm!()),
    ("update_address_scope:shared", admin!()),
    ("delete_address_scope", admin_or_pm!()),
    // Address groups (address_group.py).
    ("create_address_group", admin_or_pm!()),
    (
        "get_address_group",
        concat!(admin_or_pr!(), " or rule:shared_address_groups"),
    ),
    ("update_address_group", admin_or_pm!()),
    ("delete_address_group", admin_or_pm!()),
    ("add_addresses", admin_or_pm!()),
    ("remove_addresses", admin_or_pm!()),
    // Auto-allocated topologies (auto_allocated_topology.py).
    ("get_auto_allocated_topology", admin_or_pr!()),
    ("delete_auto_allocated_topology", admin_or_pm!()),
    // Flavors, service profiles, service providers (flavor.py, service_type.py).
    ("create_flavor", admin!()),
    ("get_flavor", "role:reader"),
    ("update_flavor", admin!()),
    ("delete_flavor", admin!()),
    ("create_service_profile", admin!()),
    ("get_service_profile", admin!()),
    ("update_service_profile", admin!()),
    ("delete_service_profile", admin!()),
    ("create_flavor_service_profile", admin!()),
    ("delete_flavor_service_profile", admin!()),
    ("get_flavor_service_profile", "role:reader"),
    ("get_service_provider", "role:reader"),
    // Security groups and rules (security_group.py).
    ("create_security_group", admin_or_pm!()),
    ("create_security_group:tags", admin_or_pm!()),
    (
        "get_security_group",
        concat!(admin_or_pr!(), " or rule:shared_security_group"),
    ),
    (
        "get_security_group:tags",
        concat!(admin_or_pr!(), " or rule:shared_security_group"),
    ),
    ("update_security_group", admin_or_pm!()),
    ("update_security_group:tags", admin_or_pm!()),
    ("delete_security_group", admin_or_pm!()),
    ("delete_security_group:tags", admin_or_pm!()),
    (
        "create_security_group_rule",
        "(rule:admin_only) or (role:member and project_id:%(project_id)s) or (role:member and rule:sg_owner)",
    ),
    (
        "get_security_group_rule",
        "(rule:admin_only) or (role:reader and project_id:%(project_id)s) or (role:reader and rule:sg_owner)",
    ),
    (
        "delete_security_group_rule",
        "(rule:admin_only) or (role:member and project_id:%(project_id)s) or (role:member and rule:sg_owner)",
    ),
    // Default security group rules and statefulness (default_security_group_rules.py,
    // security_groups_default_statefulness.py).
    ("create_default_security_group_rule", admin!()),
    ("get_default_security_group_rule", "role:reader"),
    ("delete_default_security_group_rule", admin!()),
    (
        "create_security_groups_default_statefulness",
        admin_or_pmgr!(),
    ),
    ("get_security_groups_default_statefulness", admin_or_pr!()),
    (
        "update_security_groups_default_statefulness",
        admin_or_pmgr!(),
    ),
    (
        "delete_security_groups_default_statefulness",
        admin_or_pmgr!(),
    ),
    // RBAC policies (rbac.py).
    ("create_rbac_policy", admin_or_pm!()),
    (
        "create_rbac_policy:target_tenant",
        "rule:admin_only or (not field:rbac_policy:target_tenant=* and not field:rbac_policy:target_project=*)",
    ),
    (
        "create_rbac_policy:target_project",
        "rule:admin_only or not field:rbac_policy:target_project=*",
    ),
    ("update_rbac_policy", admin_or_pm!()),
    (
        "update_rbac_policy:target_tenant",
        "rule:admin_only or (not field:rbac_policy:target_tenant=* and not field:rbac_policy:target_project=*)",
    ),
    (
        "update_rbac_policy:target_project",
        "rule:admin_only or not field:rbac_policy:target_project=*",
    ),
    ("get_rbac_policy", admin_or_pr!()),
    ("delete_rbac_policy", admin_or_pm!()),
    // Quotas (quotas.py).
    ("get_quota", admin_or_pmgr!()),
    ("update_quota", admin!()),
    ("delete_quota", admin!()),
    // Agents (agent.py).
    ("get_agent", admin!()),
    ("update_agent", admin!()),
    ("delete_agent", admin!()),
    // DHCP agent scheduler (dhcp_agent_scheduler).
    ("get_dhcp-networks", admin!()),
    ("create_dhcp-network", admin!()),
    ("delete_dhcp-network", admin!()),
    ("get_dhcp-agents", admin!()),
    // Neutrino's mechanism driver management.
    ("get_mechanism_driver", admin!()),
    ("update_mechanism_driver", admin!()),
    ("delete_mechanism_driver", admin!()),
    // Routers (router.py).
    ("create_router", admin_or_pm!()),
    ("create_router:external_gateway_info", admin_or_pm!()),
    (
        "create_router:external_gateway_info:network_id",
        admin_or_pm!(),
    ),
    ("create_router:external_gateway_info:enable_snat", admin!()),
    (
        "create_router:external_gateway_info:external_fixed_ips",
        admin!(),
    ),
    ("create_router:distributed", admin!()),
    ("create_router:ha", admin!()),
    ("get_router", admin_or_pr!()),
    ("get_router:distributed", admin!()),
    ("get_router:ha", admin!()),
    ("update_router", admin_or_pm!()),
    ("update_router:external_gateway_info", admin_or_pm!()),
    (
        "update_router:external_gateway_info:network_id",
        admin_or_pm!(),
    ),
    ("update_router:external_gateway_info:enable_snat", admin!()),
    (
        "update_router:external_gateway_info:external_fixed_ips",
        admin!(),
    ),
    ("update_router:distributed", admin!()),
    ("update_router:ha", admin!()),
    ("delete_router", admin_or_pm!()),
    ("add_router_interface", admin_or_pm!()),
    ("remove_router_interface", admin_or_pm!()),
    ("add_extraroutes", admin_or_pm!()),
    ("remove_extraroutes", admin_or_pm!()),
    // Floating IPs (floatingip.py).
    ("create_floatingip", admin_or_pm!()),
    ("create_floatingip:floating_ip_address", admin_or_pmgr!()),
    // `floating-ip-router-writable` (its spec: project members or admins).
    ("create_floatingip:router_id", admin_or_pm!()),
    ("get_floatingip", admin_or_pr!()),
    ("update_floatingip", admin_or_pm!()),
    ("update_floatingip:router_id", admin_or_pm!()),
    ("delete_floatingip", admin_or_pm!()),
];

/// Every default rule.
pub fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
    RULES.iter().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_parses_and_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (name, text) in RULES {
            assert!(seen.insert(*name), "{name} twice");
            crate::Check::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
