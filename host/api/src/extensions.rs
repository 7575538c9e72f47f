//! `GET /`, `GET /v2.0` and `/v2.0/extensions`: exactly what this server implements.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// One API extension: alias, name, description.
pub type Extension = (&'static str, &'static str, &'static str);

/// The extensions this server implements.
pub const EXTENSIONS: &[Extension] = &[
    ("address-group", "Address group", "Support address group"),
    (
        "address-scope",
        "Address scope",
        "Address scopes extension.",
    ),
    (
        "aap-reject-multicast",
        "Allowed address pairs reject multicast extension",
        "Reject multicast addresses in Allowed Address Pairs",
    ),
    ("agent", "agent", "The agent management extension."),
    (
        "auto-allocated-topology",
        "Auto Allocated Topology Services",
        "Auto Allocated Topology Services.",
    ),
    (
        "availability_zone",
        "Availability Zone",
        "The availability zone extension.",
    ),
    (
        "availability_zone_filter",
        "Availability Zone Filter Extension",
        "Add filter parameters to AvailabilityZone resource",
    ),
    (
        "allowed-address-pairs",
        "Allowed Address Pairs",
        "Provides allowed address pairs",
    ),
    (
        "binding",
        "Port Binding",
        "Expose port bindings of a virtual port to external application",
    ),
    (
        "binding-extended",
        "Port Bindings Extended",
        "Expose port bindings of a virtual port to external application",
    ),
    (
        "dhcp_agent_scheduler",
        "DHCP Agent Scheduler",
        "Schedule networks among dhcp agents",
    ),
    (
        "default-subnetpools",
        "Default Subnetpools",
        "Provides ability to mark and use a subnetpool as the default.",
    ),
    (
        "empty-string-filtering",
        "Empty String Filtering Extension",
        "Allow filtering by attributes with empty string value",
    ),
    (
        "external-net",
        "Neutron external network",
        "Adds external network attribute to network resource.",
    ),
    (
        "filter-validation",
        "Filter parameters validation",
        "Provides validation on filter parameters.",
    ),
    (
        "flavors",
        "Neutron Service Flavors",
        "Flavor specification for Neutron advanced services.",
    ),
    (
        "ip-substring-filtering",
        "IP address substring filtering",
        "Provides IP address substring filtering when listing ports",
    ),
    (
        "mechanism-drivers",
        "Mechanism drivers (Neutrino)",
        "Load, upgrade, roll back and remove ML2 mechanism drivers (WebAssembly components) while the server runs.",
    ),
    (
        "multi-provider",
        "Multi Provider Network",
        "Expose mapping of virtual networks to multiple physical networks",
    ),
    (
        "net-mtu",
        "Network MTU",
        "Provides MTU attribute for a network resource.",
    ),
    (
        "net-mtu-writable",
        "Network MTU (writable)",
        "Provides a writable MTU attribute for a network resource.",
    ),
    (
        "network_availability_zone",
        "Network Availability Zone",
        "Availability zone support for network.",
    ),
    (
        "network-ip-availability",
        "Network IP Availability",
        "Provides IP availability data for each network and subnet.",
    ),
    (
        "network-ip-availability-details",
        "Network IP Availability Details Extension",
        "Add ip_availability_details attribute to network-ip-availabilities resource.",
    ),
    (
        "pagination",
        "Pagination support",
        "Extension that indicates that pagination is enabled.",
    ),
    ("port-security", "Port Security", "Provides port security"),
    (
        "port-security-groups-filtering",
        "Port filtering on security groups",
        "Provides security groups filtering when listing ports",
    ),
    (
        "project-id",
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
    ),
    (
        "provider",
        "Provider Network",
        "Expose mapping of virtual networks to physical networks",
    ),
    (
        "revision-if-match",
        "If-Match constraints based on revision_number",
        "Extension indicating that If-Match based on revision_number is supported.",
    ),
    // The L3 API (issue 16).
    (
        "router",
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
    ),
    (
        "ext-gw-mode",
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
    ),
    (
        "extraroute",
        "Neutron Extra Route",
        "Extra routes configuration for L3 router",
    ),
    (
        "extraroute-atomic",
        "Atomically add/remove extra routes",
        "Edit extra routes of a router on server side by atomically adding/removing extra routes",
    ),
    (
        "fip-port-details",
        "Floating IP Port Details Extension",
        "Add port_details attribute to Floating IP resource",
    ),
    (
        // Not in the neutron-lib this project reads: name and description from the
        // extension's spec (Neutron 29 advertises it).
        "floating-ip-router-writable",
        "Floating IP router writable",
        "Allow the router hosting a floating IP (router_id) to be set on create and update",
    ),
    (
        "floatingip-pools",
        "Floating IP Pools Extension",
        "Provides a floating IP pools API.",
    ),
    (
        "router_availability_zone",
        "Router Availability Zone",
        "Availability zone support for router.",
    ),
    (
        "dvr",
        "Distributed Virtual Router",
        "Enables configuration of Distributed Virtual Routers.",
    ),
    (
        "l3-ha",
        "HA Router extension",
        "Adds HA capability to routers.",
    ),
    (
        "router-admin-state-down-before-update",
        "Enforce Router's Admin State Down Before Update Extension",
        "Ensure that the admin state of a router is DOWN (admin_state_up=False) before updating the distributed attribute",
    ),
    (
        "security-group",
        "security-group",
        "The security groups extension.",
    ),
    (
        "security-groups-normalized-cidr",
        "Security Group Rule normalized CIDR field",
        "Add new field with normalized remote_ip_prefix cidr in SG rule",
    ),
    (
        "security-groups-remote-address-group",
        "Remote address group id field for security group rules",
        "Add new field of remote address group id in SG rules",
    ),
    (
        "security-groups-default-rules",
        "Default rules for security groups",
        "Configure set of security group rules used as default rules for every new security group",
    ),
    (
        "security-groups-default-statefulness",
        "Security Groups Default Statefulness",
        "Allows configuring the default value of the 'stateful' attribute for new security groups, on a per-project or system-wide basis",
    ),
    (
        "security-groups-rules-belongs-to-default-sg",
        "Security group rule belongs to the project's default security group",
        "Flag to determine if the security group rule belongs to the project's default security group",
    ),
    (
        "security-groups-shared-filtering",
        "Security group filtering on the shared field",
        "Support filtering security groups on the shared field",
    ),
    (
        "service-type",
        "Neutron Service Type Management",
        "API for retrieving service providers for Neutron advanced services",
    ),
    (
        "sorting",
        "Sorting support",
        "Extension that indicates that sorting is enabled.",
    ),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    (
        "standard-attr-tag",
        "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip",
        "Enables to set tag on resources with standard attribute.",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
    ),
    (
        "stateful-security-group",
        "Stateful security group",
        "Indicates if the security group is stateful or not",
    ),
    (
        "subnet-external-network",
        "Subnet External Network",
        "Information about subnet external network",
    ),
    (
        "subnet-service-types",
        "Subnet service types",
        "Provides ability to set the subnet service_types field",
    ),
    (
        "subnet_allocation",
        "Subnet Allocation",
        "Enables allocation of subnets from a subnet pool",
    ),
    (
        "l3-flavors",
        "Router Flavor Extension",
        "Flavor support for routers.",
    ),
    (
        "l3-port-ip-change-not-allowed",
        "Prevent L3 router ports IP address change extension",
        "Prevent change of IP address for some L3 router ports",
    ),
    (
        "extra_dhcp_opt",
        "Neutron Extra DHCP options",
        "Extra options configuration for DHCP. For example PXE boot options to DHCP clients \
         can be specified (e.g. tftp-server, server-ip-address, bootfile-name)",
    ),
    (
        "port-device-profile",
        "Port device profile",
        "Expose the port device profile (Cyborg)",
    ),
    (
        "port-mac-override",
        "Neutron Port MAC address override",
        "Allow overriding the MAC address of a direct-physical Port via the active binding \
         profile",
    ),
    (
        "port-numa-affinity-policy",
        "Port NUMA affinity policy",
        "Expose the port NUMA affinity policy",
    ),
    (
        "port-numa-affinity-policy-socket",
        "Port NUMA affinity policy \"socket\"",
        "Adds \"socket\" to the supported port NUMA affinity policies",
    ),
    (
        "port-mac-address-regenerate",
        "Neutron Port MAC address regenerate",
        "Network port MAC address regenerate",
    ),
    (
        "subnet_onboard",
        "Subnet Onboard",
        "Provides support for onboarding subnets into subnet pools",
    ),
    (
        "subnetpool-prefix-ops",
        "Subnet Pool Prefix Operations",
        "Provides support for adjusting the prefix list of subnet pools",
    ),
    (
        "quotas",
        "Quota management support",
        "Expose functions for quotas management per project",
    ),
    (
        "quota_details",
        "Quota details management support",
        "Expose functions for quotas usage statistics per project",
    ),
    (
        "quota-check-limit",
        "Quota limit checking",
        "Check limits when updating quotas",
    ),
    (
        "quota-check-limit-default",
        "Quota limit checking by default",
        "Lowering a quota below what is in use is refused unless forced",
    ),
    (
        "rbac-address-group",
        "Add address_group type to RBAC",
        "Add address_group type to network RBAC",
    ),
    (
        "rbac-address-scope",
        "Add address_scope type to RBAC",
        "Add address_scope type to RBAC",
    ),
    (
        "rbac-policies",
        "RBAC Policies",
        "Allows creation and modification of policies that control tenant access to resources.",
    ),
    (
        "rbac-security-groups",
        "Add security_group type to network RBAC",
        "Add security_group type to network RBAC",
    ),
    (
        "rbac-subnetpool",
        "Add subnetpool type to RBAC",
        "Add subnetpool type to RBAC",
    ),
    (
        "tag-creation",
        "Tag creation extension",
        "Allow to create multiple tags for a resource",
    ),
    (
        "tag-ports-during-bulk-creation",
        "Tag Ports During Bulk Creation",
        "Allow to tag ports during bulk creation",
    ),
];

/// Resources listed by `GET /v2.0`.
const RESOURCES: &[(&str, &str)] = &[
    ("agent", "agents"),
    ("mechanism_driver", "mechanism-drivers"),
    ("network", "networks"),
    ("subnet", "subnets"),
    ("port", "ports"),
    ("subnetpool", "subnetpools"),
    ("security_group", "security-groups"),
    ("security_group_rule", "security-group-rules"),
    ("rbac_policy", "rbac-policies"),
    ("router", "routers"),
    ("floatingip", "floatingips"),
    ("address_scope", "address-scopes"),
];

/// Routes for versions and extensions.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(versions))
        .route("/v2.0", get(resources))
        .route("/v2.0/", get(resources))
        .route("/v2.0/extensions", get(list))
        .route("/v2.0/extensions/{alias}", get(show))
}

fn base(headers: &HeaderMap) -> String {
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost:9696");
    format!("{scheme}://{host}")
}

async fn versions(headers: HeaderMap) -> Response {
    let href = format!("{}/v2.0/", base(&headers));
    Json(json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"href": href, "rel": "self"}]}]}))
        .into_response()
}

async fn resources(headers: HeaderMap) -> Response {
    let b = base(&headers);
    let items: Vec<Value> = RESOURCES
        .iter()
        .map(|(name, coll)| {
            json!({"name": name, "collection": coll, "links": [{"href": format!("{b}/v2.0/{coll}"), "rel": "self"}]})
        })
        .collect();
    Json(json!({ "resources": items })).into_response()
}

fn render(e: &Extension) -> Value {
    json!({"alias": e.0, "name": e.1, "description": e.2, "updated": "2026-11-01T00:00:00-00:00", "links": []})
}

fn all(state: &AppState) -> Vec<Extension> {
    let mut out: Vec<Extension> = EXTENSIONS.to_vec();
    out.extend(state.extra_extensions.iter().copied());
    out.retain(|e| !state.config.extension_drivers.hides_alias(e.0));
    out.sort_by_key(|e| e.0);
    out
}

/// The aliases this server advertises.
pub fn aliases(state: &AppState) -> Vec<&'static str> {
    all(state).iter().map(|e| e.0).collect()
}

async fn list(axum::extract::State(s): State<AppState>) -> Response {
    let items: Vec<Value> = all(&s).iter().map(render).collect();
    Json(json!({ "extensions": items })).into_response()
}

async fn show(
    axum::extract::State(s): State<AppState>,
    Path(alias): Path<String>,
) -> ApiResult<Response> {
    all(&s)
        .iter()
        .find(|e| e.0 == alias)
        .map(|e| Json(json!({ "extension": render(e) })).into_response())
        .ok_or_else(|| {
            ApiError(neutrino_ml2::Error::neutron(
                "ExtensionNotFound",
                404,
                format!("Extension with alias {alias} does not exist"),
            ))
        })
}
