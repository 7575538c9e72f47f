//! `/v2.0/ports`.

use std::sync::LazyLock;

use neutrino_ml2::RequestContext;
use neutrino_ml2::ports::{FixedIpRequest, PortCreate, PortUpdate};
use neutrino_ml2::store::model::AddressPair;
use neutrino_ml2::store::model::Port;
use neutrino_ml2::store::query::ListQuery;
use neutrino_ml2::store::query::{Condition, SqlValue};
use serde_json::{Map, Value, json};

use super::Resource;
use crate::attrs::{Attr, BodyExt, Kind, attr, check_value, owner, standard};
use crate::error::{ApiResult, bad_request, invalid_input};
use crate::{AppState, views};

pub(crate) const VNIC_TYPES: &[&str] = &[
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "accelerator-direct",
    "accelerator-direct-physical",
    "remote-managed",
];

fn fixed_ips_filter(values: &[String]) -> ApiResult<Condition> {
    let mut ips = Vec::new();
    let mut subnets = Vec::new();
    let mut substr = Vec::new();
    for v in values {
        let (k, val) = v.split_once('=').ok_or_else(|| {
            bad_request(format!(
                "Invalid fixed_ips filter '{v}': use ip_address=<ip> or subnet_id=<id>"
            ))
        })?;
        match k {
            "ip_address" => ips.push(SqlValue::Text(
                val.parse::<std::net::IpAddr>()
                    .map(|i| i.to_string())
                    .unwrap_or_else(|_| val.to_string()),
            )),
            "subnet_id" => subnets.push(SqlValue::Text(val.to_string())),
            "ip_address_substr" => substr.push(SqlValue::Text(format!("%{val}%"))),
            other => {
                return Err(bad_request(format!(
                    "Invalid fixed_ips filter key '{other}'"
                )));
            }
        }
    }
    let mut parts = Vec::new();
    let mut binds = Vec::new();
    if !ips.is_empty() {
        parts.push(format!(
            "ip_address IN ({})",
            vec!["?"; ips.len()].join(", ")
        ));
        binds.extend(ips);
    }
    if !subnets.is_empty() {
        parts.push(format!(
            "subnet_id IN ({})",
            vec!["?"; subnets.len()].join(", ")
        ));
        binds.extend(subnets);
    }
    if !substr.is_empty() {
        parts.push(format!(
            "({})",
            vec!["ip_address LIKE ?"; substr.len()].join(" OR ")
        ));
        binds.extend(substr);
    }
    Ok(Condition::raw(
        format!(
            "id IN (SELECT port_id FROM ip_allocations WHERE {})",
            parts.join(" AND ")
        ),
        binds,
    ))
}

fn security_groups_filter(values: &[String]) -> ApiResult<Condition> {
    let marks = vec!["?"; values.len()].join(", ");
    Ok(Condition::raw(
        format!(
            "id IN (SELECT port_id FROM port_security_groups WHERE security_group_id IN ({marks}))"
        ),
        values.iter().cloned().map(SqlValue::Text).collect(),
    ))
}

/// The attribute map of ports.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    let mut a = vec![
        attr("name", Kind::Str(255)).rw().column("name"),
        attr("network_id", Kind::Uuid)
            .required()
            .column("network_id"),
        attr("admin_state_up", Kind::Bool)
            .rw()
            .column("admin_state_up"),
        // `null` asks for a new MAC (`port-mac-address-regenerate`, neutron-lib's
        // `convert_to_mac_if_none`); on create it is the default, a MAC from `base_mac`.
        attr("mac_address", Kind::Mac)
            .rw()
            .nullable()
            .column("mac_address"),
        attr("fixed_ips", Kind::List)
            .rw()
            .filter_with(fixed_ips_filter),
        attr("device_id", Kind::Str(255))
            .rw()
            .default(json!(""))
            .column("device_id"),
        attr("device_owner", Kind::Str(255))
            .rw()
            .default(json!(""))
            .column("device_owner"),
        attr("status", Kind::Str(16)).column("status"),
        attr("port_security_enabled", Kind::Bool)
            .rw()
            .filter("port_security_enabled"),
        attr("security_groups", Kind::StrList)
            .rw()
            .nullable()
            .filter_with(security_groups_filter),
        attr("allowed_address_pairs", Kind::List).rw().nullable(),
        attr("binding:host_id", Kind::Str(255))
            .rw()
            .default(json!(""))
            .filter("binding_host_id"),
        attr("binding:vnic_type", Kind::OneOf(VNIC_TYPES))
            .rw()
            .default(json!("normal"))
            .filter("binding_vnic_type"),
        attr("binding:profile", Kind::Dict)
            .rw()
            .nullable()
            .default(Value::Null),
        attr("binding:vif_type", Kind::Str(64)),
        attr("binding:vif_details", Kind::Dict),
        // port-device-profile: set on create only (`allow_put: False`).
        attr(
            "device_profile",
            Kind::Checked(super::port_attrs::check_device_profile),
        )
        .post()
        .nullable()
        .default(Value::Null),
        // port-numa-affinity-policy[-socket].
        attr(
            "numa_affinity_policy",
            Kind::Checked(super::port_attrs::check_numa_policy),
        )
        .rw()
        .nullable()
        .default(Value::Null),
        // extra_dhcp_opt.
        attr(
            "extra_dhcp_opts",
            Kind::Checked(super::port_attrs::check_dhcp_opts),
        )
        .rw()
        .nullable()
        .default(Value::Null),
    ];
    standard(&mut a);
    // Ports, unlike other resources, take tags on create (tag-ports-during-bulk-creation).
    if let Some(t) = a.iter_mut().find(|x| x.name == "tags") {
        t.post = true;
    }
    a
});

pub(crate) fn fixed_ips(v: Option<&Value>) -> ApiResult<Option<Vec<FixedIpRequest>>> {
    let Some(Value::Array(items)) = v else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for i in items {
        let Value::Object(o) = i else {
            return Err(invalid_input(format!(
                "Invalid input for fixed_ips. Reason: '{i}' is not a dictionary."
            )));
        };
        if let Some(k) = o.keys().find(|k| *k != "subnet_id" && *k != "ip_address") {
            return Err(invalid_input(format!(
                "Invalid input for fixed_ips. Reason: unrecognized key '{k}'."
            )));
        }
        let subnet_id = match o.get("subnet_id") {
            Some(v) => Some(
                check_value("fixed_ips", Kind::Uuid, v)?
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ),
            None => None,
        };
        let ip_address = match o.get("ip_address") {
            Some(v) => Some(
                check_value("fixed_ips", Kind::Ip, v)?
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .expect("checked"),
            ),
            None => None,
        };
        out.push(FixedIpRequest {
            subnet_id,
            ip_address,
        });
    }
    Ok(Some(out))
}

/// `aap-reject-multicast`: why an allowed address pair's address is refused, if it is a
/// multicast address or a prefix overlapping the multicast range (neutron-lib's
/// `validate_ip_not_multicast`, `validate_subnet_not_multicast`; `0.0.0.0/0` is allowed).
fn multicast_pair_address(ip: &str) -> Option<String> {
    if let Ok(a) = ip.parse::<std::net::IpAddr>() {
        return a
            .is_multicast()
            .then(|| format!("IP {ip} is a multicast address, which is not supported."));
    }
    let net: ipnet::IpNet = ip.parse().ok()?;
    let mcast: ipnet::IpNet = match net {
        ipnet::IpNet::V4(n) if n.prefix_len() == 0 => return None,
        ipnet::IpNet::V4(_) => "224.0.0.0/4".parse().ok()?,
        ipnet::IpNet::V6(_) => "ff00::/8".parse().ok()?,
    };
    (net.contains(&mcast) || mcast.contains(&net)).then(|| {
        format!("Subnet {ip} overlaps with multicast range {mcast}, which is not supported.")
    })
}

/// Whether a well-formed MAC address has the multicast bit set.
fn is_multicast_mac(mac: &str) -> bool {
    let first = mac.split([':', '-']).next().unwrap_or_default();
    first.len() == 2
        && u8::from_str_radix(first, 16).is_ok_and(|b| b & 1 == 1)
        && mac.split([':', '-']).count() == 6
}

fn address_pairs(v: Option<&Value>) -> ApiResult<Option<Vec<AddressPair>>> {
    let items = match v {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(vec![])),
        Some(Value::Array(items)) => items,
        Some(_) => return Ok(None),
    };
    let mut out: Vec<AddressPair> = Vec::new();
    for i in items {
        let Some(ip) = i.get("ip_address") else {
            return Err(invalid_input(
                "Invalid input for allowed_address_pairs. Reason: Allowed address pairs must contain ip_address.",
            ));
        };
        let ip_text = ip.as_str().unwrap_or_default();
        let ip_norm = if let Ok(a) = ip_text.parse::<std::net::IpAddr>() {
            a.to_string()
        } else if let Ok(n) = ip_text.parse::<ipnet::IpNet>() {
            n.to_string()
        } else {
            return Err(invalid_input(format!(
                "Invalid input for allowed_address_pairs. Reason: '{ip_text}' is not a valid IP address or CIDR."
            )));
        };
        if let Some(why) = multicast_pair_address(&ip_norm) {
            return Err(crate::error::bad_request(why));
        }
        let mac = match i.get("mac_address") {
            Some(Value::String(m)) if is_multicast_mac(m) => {
                return Err(crate::error::bad_request(format!(
                    "MAC address {m} is a multicast address, which is not supported."
                )));
            }
            Some(m) => check_value("allowed_address_pairs", Kind::Mac, m)?
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            None => String::new(),
        };
        if out
            .iter()
            .any(|p| p.ip_address == ip_norm && p.mac_address == mac)
        {
            return Err(crate::error::ApiError(neutrino_ml2::Error::neutron(
                "DuplicateAddressPairInRequest",
                400,
                format!(
                    "Request contains duplicate address pair: mac_address {mac} ip_address {ip_norm}."
                ),
            )));
        }
        out.push(AddressPair {
            ip_address: ip_norm,
            mac_address: mac,
        });
    }
    Ok(Some(out))
}

/// `security_groups` of a body: `null` is none; a group listed twice is refused, as
/// Neutron's `type:uuid_list` validator does.
fn security_groups_of(m: &Map<String, Value>) -> ApiResult<Option<Vec<String>>> {
    if m.is_null("security_groups") {
        return Ok(Some(vec![]));
    }
    let Some(groups) = m.strs_of("security_groups") else {
        return Ok(None);
    };
    let mut dups: Vec<&str> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        if groups[..i].contains(g) && !dups.contains(&g.as_str()) {
            dups.push(g);
        }
    }
    if !dups.is_empty() {
        return Err(crate::error::bad_request(format!(
            "Invalid input for security_groups. Reason: Duplicate items in the list: '{}'.",
            dups.join(", ")
        )));
    }
    Ok(Some(groups))
}

fn to_create(m: &Map<String, Value>, ctx: &RequestContext) -> ApiResult<PortCreate> {
    Ok(PortCreate {
        project_id: owner(m, ctx)?,
        network_id: m.str_of("network_id").unwrap_or_default(),
        name: m.str_of("name").unwrap_or_default(),
        description: m.str_of("description").unwrap_or_default(),
        admin_state_up: m.bool_of("admin_state_up").unwrap_or(true),
        mac_address: m.str_of("mac_address"),
        fixed_ips: fixed_ips(m.get("fixed_ips"))?,
        device_id: m.str_of("device_id").unwrap_or_default(),
        device_owner: m.str_of("device_owner").unwrap_or_default(),
        port_security_enabled: m.bool_of("port_security_enabled"),
        security_groups: security_groups_of(m)?,
        allowed_address_pairs: address_pairs(m.get("allowed_address_pairs"))?.unwrap_or_default(),
        binding_host_id: m.str_of("binding:host_id").unwrap_or_default(),
        binding_vnic_type: m
            .str_of("binding:vnic_type")
            .unwrap_or_else(|| "normal".into()),
        binding_profile: m
            .get("binding:profile")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| json!({})),
        tags: m.strs_of("tags").unwrap_or_default(),
        device_profile: m.str_of("device_profile"),
        numa_affinity_policy: m.str_of("numa_affinity_policy"),
        extra_dhcp_opts: match m.get("extra_dhcp_opts") {
            Some(v) => super::port_attrs::dhcp_opts(v)?.unwrap_or_default(),
            None => Vec::new(),
        },
    })
}

/// The ports collection.
pub struct Ports;

impl Resource for Ports {
    const MEMBER: &'static str = "port";
    const COLLECTION: &'static str = "ports";
    const GUARDED: &'static [&'static str] = views::PORT_GUARDED;
    type Item = Port;
    type View<'a> = views::PortView<'a>;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view<'a>(
        item: &'a Port,
        _ctx: &RequestContext,
        shown: crate::policy::Shown,
    ) -> views::PortView<'a> {
        views::port(item, shown)
    }
    fn id(item: &Port) -> &str {
        &item.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<Port>> {
        let reqs = bodies
            .iter()
            .map(|m| to_create(m, ctx))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(s.plugin.create_ports(ctx, reqs).await?)
    }
    async fn list(s: &AppState, ctx: &RequestContext, q: ListQuery) -> ApiResult<Vec<Port>> {
        Ok(s.plugin.list_ports(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<Port> {
        Ok(s.plugin.get_port(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        if_match: Option<i64>,
    ) -> ApiResult<Port> {
        let u = PortUpdate {
            name: m.str_of("name"),
            description: m.str_of("description"),
            admin_state_up: m.bool_of("admin_state_up"),
            mac_address: match m.get("mac_address") {
                Some(Value::Null) => Some(neutrino_ml2::ipam::mac::random_mac(
                    s.plugin.core().base_mac,
                )),
                _ => m.str_of("mac_address"),
            },
            fixed_ips: fixed_ips(m.get("fixed_ips"))?,
            device_id: m.str_of("device_id"),
            device_owner: m.str_of("device_owner"),
            port_security_enabled: m.bool_of("port_security_enabled"),
            security_groups: security_groups_of(&m)?,
            allowed_address_pairs: address_pairs(m.get("allowed_address_pairs"))?,
            binding_host_id: m.str_of("binding:host_id"),
            binding_vnic_type: m.str_of("binding:vnic_type"),
            binding_profile: m
                .get("binding:profile")
                .map(|v| if v.is_null() { json!({}) } else { v.clone() }),
            numa_affinity_policy: m
                .get("numa_affinity_policy")
                .map(|v| v.as_str().map(String::from)),
            extra_dhcp_opts: match m.get("extra_dhcp_opts") {
                Some(v) => super::port_attrs::dhcp_opts(v)?,
                None => None,
            },
        };
        if let Some(ips) = &u.fixed_ips {
            s.plugin.prevent_internal_ip_change_for_fip(id, ips).await?;
        }
        Ok(s.plugin.update_port(ctx, id, u, if_match).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> ApiResult<()> {
        s.plugin.prevent_l3_port_deletion(ctx, id).await?;
        Ok(s.plugin.delete_port(ctx, id, if_match).await?)
    }
}
