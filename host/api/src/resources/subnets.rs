//! `/v2.0/subnets`.

use std::net::IpAddr;
use std::sync::LazyLock;

use ipnet::IpNet;
use neutrino_ml2::RequestContext;
use neutrino_ml2::store::model::Subnet;
use neutrino_ml2::store::query::{Condition, ListQuery};
use neutrino_ml2::subnets::{GatewaySpec, SubnetCreate, SubnetUpdate};
use serde_json::{Map, Value};

use super::Resource;
use crate::attrs::{Attr, BodyExt, Kind, attr, check_value, owner, standard};
use crate::error::{ApiResult, invalid_input};
use crate::{AppState, views};

const IPV6_MODES: &[&str] = &["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];

/// `shared=…` on subnets: whether the subnet's network is shared with every project or
/// with the caller's (Neutron filters a subnet's `shared` through its network's RBAC
/// entries).
fn shared_filter(values: &[String], ctx: &RequestContext) -> ApiResult<Condition> {
    let mut wanted = Vec::new();
    for v in values {
        wanted.push(
            crate::attrs::to_bool(&Value::String(v.clone()))
                .ok_or_else(|| invalid_input(format!("'{v}' cannot be converted to boolean.")))?,
        );
    }
    let shared = "network_id IN (SELECT object_id FROM rbac_policies WHERE object_type = \
                  'network' AND action = 'access_as_shared' AND target_project IN (?, '*'))";
    let project = vec![ctx.project_id.clone().into()];
    Ok(match (wanted.contains(&true), wanted.contains(&false)) {
        (true, true) => Condition::raw("1 = 1", vec![]),
        (true, false) => Condition::raw(shared, project),
        _ => Condition::raw(format!("NOT ({shared})"), project),
    })
}

/// `router:external=…` on subnets: its network's (subnet-external-network).
fn external_filter(values: &[String]) -> ApiResult<Condition> {
    let mut wanted = Vec::new();
    for v in values {
        wanted.push(
            crate::attrs::to_bool(&Value::String(v.clone()))
                .ok_or_else(|| invalid_input(format!("'{v}' cannot be converted to boolean.")))?,
        );
    }
    Ok(match (wanted.contains(&true), wanted.contains(&false)) {
        (true, true) => Condition::raw("1 = 1", vec![]),
        (want, _) => Condition::raw(
            "network_id IN (SELECT id FROM networks WHERE router_external = ?)",
            vec![i64::from(want).into()],
        ),
    })
}

/// The attribute map of subnets.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    let mut a = vec![
        attr("name", Kind::Str(255)).rw().column("name"),
        attr("network_id", Kind::Uuid)
            .required()
            .column("network_id"),
        attr("ip_version", Kind::IntIn(&[4, 6]))
            .required()
            .column("ip_version"),
        attr("cidr", Kind::Cidr).post().column("cidr"),
        attr("prefixlen", Kind::Int(0, 128)).post(),
        attr("subnetpool_id", Kind::Uuid)
            .post()
            .nullable()
            .column("subnetpool_id"),
        attr("use_default_subnetpool", Kind::Bool).post(),
        attr("gateway_ip", Kind::Ip)
            .rw()
            .nullable()
            .column("gateway_ip"),
        attr("allocation_pools", Kind::List).rw(),
        attr("dns_nameservers", Kind::List).rw(),
        attr("host_routes", Kind::List).rw(),
        attr("enable_dhcp", Kind::Bool).rw().column("enable_dhcp"),
        attr("ipv6_ra_mode", Kind::OneOf(IPV6_MODES))
            .post()
            .nullable()
            .column("ipv6_ra_mode"),
        attr("ipv6_address_mode", Kind::OneOf(IPV6_MODES))
            .post()
            .nullable()
            .column("ipv6_address_mode"),
        // `segment_id` comes with the segments extension, which is not advertised.
        attr("router:external", Kind::Bool).filter_with(external_filter),
        // Neutron registers `create_subnet:service_types` (admin) but its attribute map
        // does not enforce it: members set service types on their subnets.
        attr("service_types", Kind::StrList).rw().unpoliced(),
        // Not shown, but filterable: its network's `shared` as the caller sees it.
        attr("shared", Kind::Bool).filter_for_caller(shared_filter),
    ];
    standard(&mut a);
    a
});

fn ip_version(m: &Map<String, Value>) -> u8 {
    if m.int_of("ip_version") == Some(6) {
        6
    } else {
        4
    }
}

fn ips(name: &str, v: Option<&Value>) -> ApiResult<Option<Vec<IpAddr>>> {
    let Some(Value::Array(items)) = v else {
        return Ok(None);
    };
    items
        .iter()
        .map(|i| {
            check_value(name, Kind::Ip, i)
                .map(|v| v.as_str().unwrap_or_default().parse().expect("checked"))
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

fn pools(v: Option<&Value>) -> ApiResult<Option<Vec<(IpAddr, IpAddr)>>> {
    let Some(Value::Array(items)) = v else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for i in items {
        let (Some(start), Some(end)) = (i.get("start"), i.get("end")) else {
            return Err(invalid_input(format!(
                "Invalid input for allocation_pools. Reason: Invalid data format for IP pool: '{i}'."
            )));
        };
        if i.as_object().is_some_and(|o| o.len() != 2) {
            return Err(invalid_input(format!(
                "Invalid input for allocation_pools. Reason: Unrecognized attribute(s) in IP pool: '{i}'."
            )));
        }
        let s = check_value("allocation_pools", Kind::Ip, start)?;
        let e = check_value("allocation_pools", Kind::Ip, end)?;
        out.push((
            s.as_str().unwrap_or_default().parse().expect("checked"),
            e.as_str().unwrap_or_default().parse().expect("checked"),
        ));
    }
    Ok(Some(out))
}

fn routes_of(v: Option<&Value>) -> ApiResult<Option<Vec<(IpNet, IpAddr)>>> {
    let Some(Value::Array(items)) = v else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for i in items {
        let (Some(d), Some(n)) = (i.get("destination"), i.get("nexthop")) else {
            return Err(invalid_input(format!(
                "Invalid input for host_routes. Reason: Invalid data format for hostroute: '{i}'."
            )));
        };
        let d = check_value("host_routes", Kind::Cidr, d)?;
        let n = check_value("host_routes", Kind::Ip, n)?;
        out.push((
            d.as_str().unwrap_or_default().parse().expect("checked"),
            n.as_str().unwrap_or_default().parse().expect("checked"),
        ));
    }
    Ok(Some(out))
}

fn gateway(m: &Map<String, Value>) -> Option<GatewaySpec> {
    match m.get("gateway_ip") {
        None => None,
        Some(Value::Null) => Some(GatewaySpec::None),
        Some(Value::String(s)) => s.parse().ok().map(GatewaySpec::Ip),
        Some(_) => None,
    }
}

fn to_create(m: &Map<String, Value>, ctx: &RequestContext) -> ApiResult<SubnetCreate> {
    Ok(SubnetCreate {
        project_id: owner(m, ctx)?,
        network_id: m.str_of("network_id").unwrap_or_default(),
        name: m.str_of("name").unwrap_or_default(),
        description: m.str_of("description").unwrap_or_default(),
        ip_version: ip_version(m),
        cidr: m.str_of("cidr").and_then(|c| c.parse().ok()),
        prefixlen: m.int_of("prefixlen").map(|p| p as u8),
        subnetpool_id: m.str_of("subnetpool_id"),
        use_default_subnetpool: m.bool_of("use_default_subnetpool").unwrap_or(false),
        gateway_ip: gateway(m).unwrap_or_default(),
        allocation_pools: pools(m.get("allocation_pools"))?,
        dns_nameservers: ips("dns_nameservers", m.get("dns_nameservers"))?.unwrap_or_default(),
        host_routes: routes_of(m.get("host_routes"))?.unwrap_or_default(),
        enable_dhcp: m.bool_of("enable_dhcp").unwrap_or(true),
        ipv6_ra_mode: m.str_of("ipv6_ra_mode"),
        ipv6_address_mode: m.str_of("ipv6_address_mode"),
        segment_id: None,
        service_types: m.strs_of("service_types").unwrap_or_default(),
    })
}

/// The subnets collection.
pub struct Subnets;

impl Resource for Subnets {
    const MEMBER: &'static str = "subnet";
    const COLLECTION: &'static str = "subnets";
    type Item = Subnet;
    type View<'a> = views::SubnetView<'a>;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view<'a>(
        item: &'a Subnet,
        _ctx: &RequestContext,
        _shown: crate::policy::Shown,
    ) -> views::SubnetView<'a> {
        views::subnet(item)
    }
    fn id(item: &Subnet) -> &str {
        &item.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<Subnet>> {
        let reqs = bodies
            .iter()
            .map(|m| to_create(m, ctx))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(s.plugin.create_subnets(ctx, reqs).await?)
    }
    async fn list(s: &AppState, ctx: &RequestContext, q: ListQuery) -> ApiResult<Vec<Subnet>> {
        Ok(s.plugin.list_subnets(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<Subnet> {
        Ok(s.plugin.get_subnet(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        if_match: Option<i64>,
    ) -> ApiResult<Subnet> {
        let u = SubnetUpdate {
            name: m.str_of("name"),
            description: m.str_of("description"),
            gateway_ip: gateway(&m),
            allocation_pools: pools(m.get("allocation_pools"))?,
            dns_nameservers: ips("dns_nameservers", m.get("dns_nameservers"))?,
            host_routes: routes_of(m.get("host_routes"))?,
            enable_dhcp: m.bool_of("enable_dhcp"),
            service_types: m.strs_of("service_types"),
            segment_id: None,
        };
        Ok(s.plugin.update_subnet(ctx, id, u, if_match).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_subnet(ctx, id, if_match).await?)
    }
}
