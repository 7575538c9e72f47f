//! `/v2.0/networks`.

use std::sync::LazyLock;

use neutrino_ml2::RequestContext;
use neutrino_ml2::networks::{NetworkCreate, NetworkUpdate};
use neutrino_ml2::store::model::Network;
use neutrino_ml2::store::query::ListQuery;
use neutrino_ml2::store::query::{Condition, SqlValue};
use neutrino_ml2::types::ProviderSpec;
use serde_json::{Map, Value, json};

use super::Resource;
use crate::attrs::{Attr, BodyExt, Kind, Op, attr, check_body, owner, standard};
use crate::error::{ApiResult, bad_request};
use crate::{AppState, views};

fn segment_filter(column: &'static str, numeric: bool, values: &[String]) -> ApiResult<Condition> {
    let vals: Vec<SqlValue> = values
        .iter()
        .map(|v| {
            if numeric {
                v.parse::<i64>()
                    .map(SqlValue::Int)
                    .map_err(|_| crate::error::invalid_input(format!("Invalid input for provider:segmentation_id. Reason: '{v}' is not an integer.")))
            } else {
                Ok(SqlValue::Text(v.clone()))
            }
        })
        .collect::<ApiResult<_>>()?;
    let marks = vec!["?"; vals.len()].join(", ");
    Ok(Condition::raw(
        format!("id IN (SELECT network_id FROM network_segments WHERE {column} IN ({marks}))"),
        vals,
    ))
}

/// The attribute map of networks.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    let mut a = vec![
        attr("name", Kind::Str(255)).rw().column("name"),
        attr("admin_state_up", Kind::Bool)
            .rw()
            .column("admin_state_up"),
        attr("status", Kind::Str(16)).column("status"),
        attr("shared", Kind::Bool)
            .rw()
            .default(json!(false))
            .filter("shared"),
        attr("router:external", Kind::Bool)
            .rw()
            .default(json!(false))
            .filter("router_external"),
        attr("is_default", Kind::Bool)
            .rw()
            .default(json!(false))
            .filter("is_default"),
        attr("mtu", Kind::Int(0, i64::from(i32::MAX)))
            .rw()
            .column("mtu"),
        attr("port_security_enabled", Kind::Bool)
            .rw()
            .filter("port_security_enabled"),
        attr("availability_zone_hints", Kind::StrList).post(),
        attr("availability_zones", Kind::StrList),
        attr("subnets", Kind::StrList),
        attr("ipv4_address_scope", Kind::Uuid),
        attr("ipv6_address_scope", Kind::Uuid),
        attr("provider:network_type", Kind::Str(32))
            .rw()
            .nullable()
            .default(Value::Null)
            .filter_with(|v| segment_filter("network_type", false, v)),
        attr("provider:physical_network", Kind::Str(64))
            .rw()
            .nullable()
            .default(Value::Null)
            .filter_with(|v| segment_filter("physical_network", false, v)),
        attr("provider:segmentation_id", Kind::Int(0, u32::MAX as i64))
            .rw()
            .nullable()
            .default(Value::Null)
            .filter_with(|v| segment_filter("segmentation_id", true, v)),
        attr("segments", Kind::List)
            .rw()
            .nullable()
            .default(Value::Null),
    ];
    standard(&mut a);
    a
});

fn provider_of(m: &Map<String, Value>) -> ApiResult<Option<ProviderSpec>> {
    let keys = [
        "provider:network_type",
        "provider:physical_network",
        "provider:segmentation_id",
    ];
    if !keys.iter().any(|k| m.get(*k).is_some_and(|v| !v.is_null())) {
        return Ok(None);
    }
    Ok(Some(ProviderSpec {
        network_type: m.str_of("provider:network_type"),
        physical_network: m.str_of("provider:physical_network"),
        segmentation_id: m.int_of("provider:segmentation_id"),
    }))
}

fn segments_of(m: &Map<String, Value>) -> ApiResult<Option<Vec<ProviderSpec>>> {
    let Some(Value::Array(items)) = m.get("segments") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Object(obj) = item else {
            return Err(crate::error::invalid_input(
                "Invalid input for segments. Reason: each segment must be a dictionary.",
            ));
        };
        for k in obj.keys() {
            if !k.starts_with("provider:") {
                return Err(crate::error::invalid_input(format!(
                    "Invalid input for segments. Reason: unrecognized key '{k}'."
                )));
            }
        }
        let checked = check_body(&ATTRS, obj, Op::Create)?;
        out.push(provider_of(&checked)?.unwrap_or_default());
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(out))
}

fn to_create(
    m: &Map<String, Value>,
    ctx: &RequestContext,
    mark_provider: bool,
) -> ApiResult<NetworkCreate> {
    let provider = provider_of(m)?;
    // networking-cisco's `cisco_providernet_ext`: an explicit `provider:segmentation_id`.
    let is_provider_network = mark_provider
        && provider
            .as_ref()
            .is_some_and(|p| p.segmentation_id.is_some());
    let segments = segments_of(m)?;
    if provider.is_some() && segments.is_some() {
        return Err(crate::error::ApiError(neutrino_ml2::Error::neutron(
            "SegmentsSetInConjunctionWithProviders",
            400,
            "Segments and provider values cannot both be set.",
        )));
    }
    Ok(NetworkCreate {
        project_id: owner(m, ctx)?,
        name: m.str_of("name").unwrap_or_default(),
        description: m.str_of("description").unwrap_or_default(),
        admin_state_up: m.bool_of("admin_state_up").unwrap_or(true),
        shared: m.bool_of("shared").unwrap_or(false),
        router_external: m.bool_of("router:external").unwrap_or(false),
        is_default: m.bool_of("is_default"),
        port_security_enabled: m.bool_of("port_security_enabled").unwrap_or(true),
        availability_zone_hints: super::availability_zones::hints(m)?,
        // `dns_domain` comes with DNS integration, which is not advertised.
        dns_domain: String::new(),
        mtu: m.int_of("mtu"),
        segments: segments.or(provider.map(|p| vec![p])),
        is_provider_network,
    })
}

/// The networks collection.
pub struct Networks;

impl Resource for Networks {
    const MEMBER: &'static str = "network";
    const COLLECTION: &'static str = "networks";
    const GUARDED: &'static [&'static str] = views::NETWORK_GUARDED;
    type Item = Network;
    type View<'a> = views::NetworkView<'a>;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view<'a>(
        item: &'a Network,
        _ctx: &RequestContext,
        shown: crate::policy::Shown,
    ) -> views::NetworkView<'a> {
        views::network(item, shown)
    }
    fn id(item: &Network) -> &str {
        &item.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<Network>> {
        let reqs = bodies
            .iter()
            .map(|m| {
                to_create(
                    m,
                    ctx,
                    s.config.extension_drivers.is_on("cisco_providernet_ext"),
                )
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(s.plugin.create_networks(ctx, reqs).await?)
    }
    async fn list(s: &AppState, ctx: &RequestContext, q: ListQuery) -> ApiResult<Vec<Network>> {
        Ok(s.plugin.list_networks(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<Network> {
        Ok(s.plugin.get_network(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        if_match: Option<i64>,
    ) -> ApiResult<Network> {
        if m.get("segments").is_some_and(|v| !v.is_null()) {
            return Err(bad_request(
                "Updating the segments of a network is not supported",
            ));
        }
        let u = NetworkUpdate {
            name: m.str_of("name"),
            description: m.str_of("description"),
            admin_state_up: m.bool_of("admin_state_up"),
            shared: m.bool_of("shared"),
            router_external: m.bool_of("router:external"),
            is_default: m.bool_of("is_default"),
            port_security_enabled: m.bool_of("port_security_enabled"),
            dns_domain: None,
            mtu: m.int_of("mtu"),
            provider: provider_of(&m)?,
        };
        Ok(s.plugin.update_network(ctx, id, u, if_match).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_network(ctx, id, if_match).await?)
    }
}
