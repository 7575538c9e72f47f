//! `/v2.0/subnetpools`.

use std::sync::LazyLock;

use ipnet::IpNet;
use neutrino_ml2::RequestContext;
use neutrino_ml2::store::model::SubnetPool;
use neutrino_ml2::store::query::ListQuery;
use neutrino_ml2::subnetpools::{SubnetPoolCreate, SubnetPoolUpdate};
use serde_json::{Map, Value, json};

use super::Resource;
use crate::attrs::{Attr, BodyExt, Kind, attr, check_value, owner, standard};
use crate::error::ApiResult;
use crate::{AppState, views};

/// The attribute map of subnet pools.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    let mut a = vec![
        attr("name", Kind::Str(255)).rw().column("name"),
        attr("prefixes", Kind::StrList).required(),
        attr("default_prefixlen", Kind::Int(0, 128))
            .rw()
            .column("default_prefixlen"),
        attr("min_prefixlen", Kind::Int(0, 128))
            .rw()
            .column("min_prefixlen"),
        attr("max_prefixlen", Kind::Int(0, 128))
            .rw()
            .column("max_prefixlen"),
        attr("default_quota", Kind::Int(0, i64::MAX))
            .rw()
            .nullable()
            .column("default_quota"),
        attr("ip_version", Kind::IntIn(&[4, 6])).column("ip_version"),
        attr("is_default", Kind::Bool)
            .rw()
            .default(json!(false))
            .column("is_default"),
        attr("shared", Kind::Bool)
            .post()
            .default(json!(false))
            .column("shared"),
        attr("address_scope_id", Kind::Uuid)
            .rw()
            .nullable()
            .column("address_scope_id"),
    ];
    if let Some(p) = a.iter_mut().find(|x| x.name == "prefixes") {
        p.put = true;
    }
    standard(&mut a);
    a
});

fn prefixes(m: &Map<String, Value>) -> ApiResult<Option<Vec<IpNet>>> {
    let Some(Value::Array(items)) = m.get("prefixes") else {
        return Ok(None);
    };
    items
        .iter()
        .map(|i| {
            check_value("prefixes", Kind::Cidr, i)
                .map(|v| v.as_str().unwrap_or_default().parse().expect("checked"))
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

fn len_of(m: &Map<String, Value>, k: &str) -> Option<u8> {
    m.int_of(k).map(|v| v as u8)
}

/// The subnet pools collection.
pub struct SubnetPools;

impl Resource for SubnetPools {
    const MEMBER: &'static str = "subnetpool";
    const COLLECTION: &'static str = "subnetpools";
    const BULK: bool = false;
    type Item = SubnetPool;
    type View<'a> = views::SubnetPoolView<'a>;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view<'a>(
        item: &'a SubnetPool,
        _ctx: &RequestContext,
        _shown: crate::policy::Shown,
    ) -> views::SubnetPoolView<'a> {
        views::subnetpool(item)
    }
    fn id(item: &SubnetPool) -> &str {
        &item.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<SubnetPool>> {
        let m = &bodies[0];
        let r = SubnetPoolCreate {
            project_id: owner(m, ctx)?,
            name: m.str_of("name").unwrap_or_default(),
            description: m.str_of("description").unwrap_or_default(),
            prefixes: prefixes(m)?.unwrap_or_default(),
            default_prefixlen: len_of(m, "default_prefixlen"),
            min_prefixlen: len_of(m, "min_prefixlen"),
            max_prefixlen: len_of(m, "max_prefixlen"),
            default_quota: m.int_of("default_quota"),
            is_default: m.bool_of("is_default").unwrap_or(false),
            shared: m.bool_of("shared").unwrap_or(false),
            address_scope_id: m.str_of("address_scope_id"),
        };
        Ok(vec![s.plugin.create_subnetpool(ctx, r).await?])
    }
    async fn list(s: &AppState, ctx: &RequestContext, q: ListQuery) -> ApiResult<Vec<SubnetPool>> {
        Ok(s.plugin.list_subnetpools(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<SubnetPool> {
        Ok(s.plugin.get_subnetpool(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        if_match: Option<i64>,
    ) -> ApiResult<SubnetPool> {
        let u = SubnetPoolUpdate {
            name: m.str_of("name"),
            description: m.str_of("description"),
            prefixes: prefixes(&m)?,
            default_prefixlen: len_of(&m, "default_prefixlen"),
            min_prefixlen: len_of(&m, "min_prefixlen"),
            max_prefixlen: len_of(&m, "max_prefixlen"),
            default_quota: m.get("default_quota").map(Value::as_i64),
            is_default: m.bool_of("is_default"),
            address_scope_id: m
                .get("address_scope_id")
                .map(|v| v.as_str().map(str::to_string)),
        };
        Ok(s.plugin.update_subnetpool(ctx, id, u, if_match).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_subnetpool(ctx, id, if_match).await?)
    }
}
