//! The Neutron v2.0 REST API over HTTP: routing, validation against attribute maps,
//! Neutron's error bodies, filters, sorting, pagination, request ids and access logs.
//!
//! It turns requests into typed calls on the core plugin and records into JSON; it holds no
//! rules of its own about networks beyond the shape of their attributes.

// The handlers' futures nest the plugin's (a floating IP's creation creates a port, which
// sets up provisioning blocks, …): a release build computing their layouts needs more than
// the default 128 levels.
#![recursion_limit = "256"]

pub mod attrs;
pub mod auth;
pub mod edge;
pub mod error;
pub mod ext_drivers;
pub mod extensions;
pub mod keystone;
pub mod policy;
pub mod query;
pub mod request_id;
pub mod resources;
pub mod respond;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use neutrino_ml2::Plugin;

/// API settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Project of callers that send no identity (noauth).
    pub default_project_id: String,
    /// Upper bound on `limit` (None = unlimited).
    pub pagination_max_limit: Option<u64>,
    /// Limits on request lines, headers and bodies (`max_header_line`,
    /// `max_request_body_size`).
    pub edge: edge::EdgeLimits,
    /// Whether pagination links follow the `Forwarded`, `X-Forwarded-Host` and
    /// `X-Forwarded-Prefix` of a proxy (`[oslo_middleware] enable_proxy_headers_parsing`).
    pub enable_proxy_headers_parsing: bool,
    /// `[ml2] extension_drivers`: which ML2 extension drivers are on.
    pub extension_drivers: ext_drivers::ExtensionDrivers,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            default_project_id: "admin".into(),
            pagination_max_limit: None,
            edge: edge::EdgeLimits::default(),
            enable_proxy_headers_parsing: false,
            extension_drivers: ext_drivers::ExtensionDrivers::all(),
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The core plugin.
    pub plugin: Plugin,
    /// Settings.
    pub config: Arc<ApiConfig>,
    /// Extensions contributed by other parts of the server.
    pub extra_extensions: Arc<Vec<extensions::Extension>>,
    /// The server's drivers directory (for loads by file name).
    pub drivers_dir: Option<std::path::PathBuf>,
    /// Neutron's policy (defaults and the operator's overrides).
    pub policy: Arc<neutrino_policy::Policy>,
    /// How callers are authenticated.
    pub auth: auth::Auth,
}

/// The router with every resource, without the outer layers (see [`app`]).
pub fn router(state: AppState) -> Router {
    use resources::*;
    Router::new()
        .merge(extensions::routes())
        .merge(routes::<networks::Networks>())
        .merge(routes::<subnets::Subnets>())
        .merge(routes::<ports::Ports>())
        .merge(port_bindings::routes())
        .merge(routes::<subnetpools::SubnetPools>())
        .merge(subnetpools::routes())
        .merge(routes::<security_groups::SecurityGroups>())
        .merge(routes::<security_group_rules::SecurityGroupRules>())
        .merge(tags::routes())
        .merge(quotas::routes())
        .merge(routes::<rbac_policies::RbacPolicies>())
        .merge(routes::<agents::Agents>())
        .merge(agents::dhcp_scheduler::routes())
        .merge(mechanism_drivers::routes())
        .merge(driver_state::routes())
        .merge(routes::<flavors::Flavors>())
        .merge(routes::<flavors::ServiceProfiles>())
        .merge(flavors::routes())
        .merge(routes::<address_groups::AddressGroups>())
        .merge(address_groups::routes())
        .merge(routes::<address_scopes::AddressScopes>())
        .merge(ip_availability::routes())
        .merge(availability_zones::routes())
        .merge(routes::<sg_defaults::DefaultSecurityGroupRules>())
        .merge(routes::<sg_defaults::SgDefaultStatefulness>())
        .merge(routes::<routers::Routers>())
        .merge(routers::routes())
        .merge(routes::<floatingips::FloatingIps>())
        .merge(floatingips::routes())
        .merge(auto_allocated_topology::routes())
        .fallback(|| async { error::not_found_url() })
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.config.edge,
            edge::guard,
        ))
        // The edge has read the body within its limit already.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(request_id::request_id))
        .with_state(state)
}

/// Strip a `.json` suffix from the path, as Neutron accepts `/v2.0/networks.json`.
pub async fn strip_json_suffix(mut req: Request) -> Request {
    let uri = req.uri().clone();
    let Some(stripped) = uri.path().strip_suffix(".json") else {
        return req;
    };
    let pq = match uri.query() {
        Some(q) => format!("{stripped}?{q}"),
        None => stripped.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(new) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = new;
        }
    }
    req
}

/// The complete HTTP application: `.json` suffix handling around [`router`].
pub fn app(state: AppState) -> Router {
    Router::new()
        .fallback_service(router(state))
        .layer(axum::middleware::map_request(strip_json_suffix))
}
