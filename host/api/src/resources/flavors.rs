//! `/v2.0/flavors`, `/v2.0/service_profiles`, the flavor–profile bindings
//! (`/v2.0/flavors/{id}/service_profiles[/{profile_id}]`, `…/next_providers`) and
//! `/v2.0/service-providers` (extensions `flavors` and `service-type`).

use std::sync::LazyLock;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use neutrino_ml2::RequestContext;
use neutrino_ml2::flavors::{FlavorCreate, FlavorUpdate, ProfileCreate, ProfileUpdate};
use neutrino_ml2::store::flavors::{Flavor, ServiceProfile};
use neutrino_ml2::store::query::ListQuery;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Resource;
use crate::attrs::{Attr, BodyExt, Kind, attr, check_value};
use crate::error::{ApiResult, bad_request, invalid_input};
use crate::{AppState, query, respond};

/// The attribute map of flavors.
pub static FLAVOR_ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    vec![
        attr("id", Kind::Uuid).column("id"),
        attr("name", Kind::Str(255)).rw().column("name"),
        attr("description", Kind::Str(255))
            .rw()
            .nullable()
            .column("description"),
        attr("service_type", Kind::Str(255))
            .required()
            .column("service_type"),
        attr("service_profiles", Kind::List).rw(),
        attr("enabled", Kind::Bool)
            .rw()
            .nullable()
            .column("enabled"),
    ]
});

/// The attribute map of service profiles.
pub static PROFILE_ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    vec![
        attr("id", Kind::Uuid).column("id"),
        attr("description", Kind::Str(255))
            .rw()
            .nullable()
            .column("description"),
        attr("driver", Kind::Str(255)).rw().column("driver"),
        attr("metainfo", Kind::Str(4096)).rw().sort("metainfo"),
        attr("enabled", Kind::Bool)
            .rw()
            .nullable()
            .column("enabled"),
    ]
});

/// The service plugin types a flavor may name: those of the service plugins this server
/// runs, by the extensions it advertises (Neutron's `type:service_plugin_type`).
fn service_plugin_types(s: &AppState) -> Vec<&'static str> {
    let mut types = vec!["CORE", "FLAVORS", "TAG", "timestamp", "revision_plugin"];
    let advertised = crate::extensions::aliases(s);
    for (alias, plugin_type) in [
        ("network-ip-availability", "network-ip-availability"),
        ("auto-allocated-topology", "auto-allocated-topology"),
        ("router", "L3_ROUTER_NAT"),
        ("segment", "segments"),
        ("trunk", "trunk"),
        ("qos", "QOS"),
    ] {
        if advertised.contains(&alias) {
            types.push(plugin_type);
        }
    }
    types
}

fn uuid_list(name: &str, v: Option<&Value>) -> ApiResult<Option<Vec<String>>> {
    let Some(v) = v else { return Ok(None) };
    let Value::Array(items) = v else {
        return Err(invalid_input(format!(
            "Invalid input for {name}. Reason: '{v}' is not a list."
        )));
    };
    let mut out: Vec<String> = Vec::new();
    for i in items {
        let id = check_value(name, Kind::Uuid, i)?
            .as_str()
            .unwrap_or_default()
            .to_string();
        if out.contains(&id) {
            return Err(invalid_input(format!(
                "Invalid input for {name}. Reason: Duplicate items in the list: '{id}'."
            )));
        }
        out.push(id);
    }
    Ok(Some(out))
}

/// A flavor on the wire.
#[derive(Serialize)]
pub struct FlavorView<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    service_type: &'a str,
    enabled: bool,
    service_profiles: &'a [String],
}

/// The flavors collection.
pub struct Flavors;

impl Resource for Flavors {
    const MEMBER: &'static str = "flavor";
    const COLLECTION: &'static str = "flavors";
    const BULK: bool = false;
    type Item = Flavor;
    type View<'a> = FlavorView<'a>;

    fn attrs() -> &'static [Attr] {
        &FLAVOR_ATTRS
    }
    fn view<'a>(
        f: &'a Flavor,
        _ctx: &RequestContext,
        _shown: crate::policy::Shown,
    ) -> FlavorView<'a> {
        FlavorView {
            id: &f.id,
            name: &f.name,
            description: &f.description,
            service_type: &f.service_type,
            enabled: f.enabled,
            service_profiles: &f.service_profiles,
        }
    }
    fn id(f: &Flavor) -> &str {
        &f.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<Flavor>> {
        let m = &bodies[0];
        let service_type = m.str_of("service_type").unwrap_or_default();
        if !service_plugin_types(s).contains(&service_type.as_str()) {
            return Err(crate::error::ApiError(neutrino_ml2::Error::neutron(
                "InvalidServiceType",
                400,
                format!("Invalid input for operation: Invalid service type: {service_type}."),
            )));
        }
        let r = FlavorCreate {
            name: m.str_of("name").unwrap_or_default(),
            description: m.str_of("description").unwrap_or_default(),
            service_type,
            enabled: m.bool_of("enabled").unwrap_or(true),
            service_profiles: uuid_list("service_profiles", m.get("service_profiles"))?
                .unwrap_or_default(),
        };
        Ok(vec![s.plugin.create_flavor(ctx, r).await?])
    }
    async fn list(s: &AppState, ctx: &RequestContext, q: ListQuery) -> ApiResult<Vec<Flavor>> {
        Ok(s.plugin.list_flavors(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<Flavor> {
        Ok(s.plugin.get_flavor(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        _if_match: Option<i64>,
    ) -> ApiResult<Flavor> {
        let u = FlavorUpdate {
            name: m.str_of("name"),
            description: m
                .get("description")
                .map(|v| v.as_str().unwrap_or_default().to_string()),
            enabled: m.bool_of("enabled"),
            service_profiles: uuid_list("service_profiles", m.get("service_profiles"))?,
        };
        Ok(s.plugin.update_flavor(ctx, id, u).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        _if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_flavor(ctx, id).await?)
    }
}

/// A service profile on the wire.
#[derive(Serialize)]
pub struct ProfileView<'a> {
    id: &'a str,
    description: &'a str,
    driver: &'a str,
    enabled: bool,
    metainfo: &'a str,
}

/// The service profiles collection.
pub struct ServiceProfiles;

impl Resource for ServiceProfiles {
    const MEMBER: &'static str = "service_profile";
    const COLLECTION: &'static str = "service_profiles";
    const BULK: bool = false;
    type Item = ServiceProfile;
    type View<'a> = ProfileView<'a>;

    fn attrs() -> &'static [Attr] {
        &PROFILE_ATTRS
    }
    fn view<'a>(
        p: &'a ServiceProfile,
        _ctx: &RequestContext,
        _shown: crate::policy::Shown,
    ) -> ProfileView<'a> {
        ProfileView {
            id: &p.id,
            description: &p.description,
            driver: &p.driver,
            enabled: p.enabled,
            metainfo: &p.metainfo,
        }
    }
    fn id(p: &ServiceProfile) -> &str {
        &p.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<ServiceProfile>> {
        let m = &bodies[0];
        let r = ProfileCreate {
            description: m.str_of("description").unwrap_or_default(),
            driver: m.str_of("driver").unwrap_or_default(),
            enabled: m.bool_of("enabled").unwrap_or(true),
            metainfo: m.str_of("metainfo").unwrap_or_default(),
        };
        Ok(vec![s.plugin.create_service_profile(ctx, r).await?])
    }
    async fn list(
        s: &AppState,
        ctx: &RequestContext,
        q: ListQuery,
    ) -> ApiResult<Vec<ServiceProfile>> {
        Ok(s.plugin.list_service_profiles(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<ServiceProfile> {
        Ok(s.plugin.get_service_profile(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        _if_match: Option<i64>,
    ) -> ApiResult<ServiceProfile> {
        let u = ProfileUpdate {
            description: m
                .get("description")
                .map(|v| v.as_str().unwrap_or_default().to_string()),
            driver: m.str_of("driver"),
            enabled: m.bool_of("enabled"),
            metainfo: m.str_of("metainfo"),
        };
        Ok(s.plugin.update_service_profile(ctx, id, u).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        _if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_service_profile(ctx, id).await?)
    }
}

/// The binding sub-resources of flavors and the service providers list.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v2.0/flavors/{id}/service_profiles",
            post(associate).get(bound_profiles),
        )
        .route(
            "/v2.0/flavors/{id}/service_profiles/{profile_id}",
            get(show_binding).delete(disassociate),
        )
        .route("/v2.0/flavors/{id}/next_providers", get(next_providers))
        .route("/v2.0/service-providers", get(service_providers))
}

async fn associate(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(flavor_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let (objs, _) = respond::body(&body, "service_profile", "service_profiles", false)?;
    let o = &objs[0];
    if let Some(k) = o.keys().find(|k| *k != "id") {
        return Err(bad_request(format!("Unrecognized attribute(s) '{k}'")));
    }
    let id = match o.get("id") {
        Some(v) => check_value("id", Kind::Uuid, v)?,
        None => {
            return Err(bad_request(
                "Failed to parse request. Required attribute 'id' not specified",
            ));
        }
    };
    let id = id.as_str().unwrap_or_default();
    s.plugin
        .associate_flavor_profile(&ctx, &flavor_id, id)
        .await?;
    respond::one(
        StatusCode::CREATED,
        "service_profile",
        &json!({ "id": id }),
        &[],
    )
}

async fn bound_profiles(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(flavor_id): Path<String>,
) -> ApiResult<Response> {
    let f = s.plugin.get_flavor(&ctx, &flavor_id).await?;
    let items: Vec<Value> = f
        .service_profiles
        .iter()
        .map(|id| json!({ "id": id }))
        .collect();
    respond::many(StatusCode::OK, "service_profiles", &items)
}

async fn show_binding(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((flavor_id, profile_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    s.plugin
        .get_flavor_profile(&ctx, &flavor_id, &profile_id)
        .await?;
    respond::one(
        StatusCode::OK,
        "service_profile",
        &json!({ "id": profile_id }),
        &[],
    )
}

async fn disassociate(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((flavor_id, profile_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    s.plugin
        .disassociate_flavor_profile(&ctx, &flavor_id, &profile_id)
        .await?;
    Ok(respond::no_content())
}

async fn next_providers(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(flavor_id): Path<String>,
) -> ApiResult<Response> {
    let (driver, provider) = s.plugin.flavor_next_provider(&ctx, &flavor_id).await?;
    respond::many(
        StatusCode::OK,
        "next_providers",
        &[json!({"driver": driver, "provider": provider, "metainfo": ""})],
    )
}

/// `GET /v2.0/service-providers`: the configured providers, filtered on `service_type`,
/// `name` and `default` (repeated keys OR), with `fields`.
async fn service_providers(
    State(s): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let mut filters: Vec<(String, Vec<String>)> = Vec::new();
    let mut fields = Vec::new();
    for (k, v) in query::pairs(q.as_deref()) {
        match k.as_str() {
            "fields" => fields.push(v),
            "service_type" | "name" | "default" => {
                match filters.iter_mut().find(|(name, _)| *name == k) {
                    Some((_, vals)) => vals.push(v),
                    None => filters.push((k, vec![v])),
                }
            }
            "sort_key" | "sort_dir" | "limit" | "marker" | "page_reverse" => {}
            other => {
                return Err(bad_request(format!(
                    "['{other}'] is invalid attribute for filtering"
                )));
            }
        }
    }
    let items: Vec<Value> = s
        .plugin
        .service_providers()
        .iter()
        .filter(|p| {
            filters.iter().all(|(k, vals)| {
                vals.iter().any(|v| match k.as_str() {
                    "service_type" => *v == p.service_type,
                    "name" => *v == p.name,
                    _ => crate::attrs::to_bool(&Value::String(v.clone())) == Some(p.default),
                })
            })
        })
        .map(|p| {
            let full =
                json!({"service_type": p.service_type, "name": p.name, "default": p.default});
            if fields.is_empty() {
                return full;
            }
            Value::Object(
                full.as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| fields.iter().any(|f| f == *k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        })
        .collect();
    respond::many(StatusCode::OK, "service_providers", &items)
}
