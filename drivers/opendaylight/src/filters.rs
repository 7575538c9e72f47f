//! The bodies ODL's northbound accepts, from Neutron's dicts (networking-odl v2's
//! `common/filters.py` and the port enrichment of `journal/journal.py`).
//!
//! - networks: create drops `status`, `subnets`; update also `id`, `tenant_id`,
//!   `project_id`; a null `qos_policy_id` is removed;
//! - subnets: update drops `id`, `network_id`, `ip_version`, `cidr`, `tenant_id`,
//!   `project_id`; null `segment_id` and `subnetpool_id` are removed;
//! - ports: create drops `status`, update also `network_id`, `id`, `tenant_id`,
//!   `project_id`; null `binding:profile`, `dns_name`, `port_security_enabled`,
//!   `qos_policy_id` are removed; `binding:profile` is sent as a JSON string;
//!   `security_groups` as `[{"id": ...}]`; an empty `tenant_id` becomes the network's;
//! - security group rules: ICMPv6 names become `icmpv6`, protocol names ODL does not
//!   know become their numbers;
//! - everything: `project_id` and `tenant_id` both set when either is.

use serde_json::{Map, Value, json};

use crate::resources::{Kind, Op};

/// The body to send for `op` on a resource of `kind` (`data` is Neutron's dict).
/// `network_project` is the project of the port's network (for ports without one).
pub fn for_odl(
    kind: Kind,
    op: Op,
    mut data: Map<String, Value>,
    network_project: Option<&str>,
) -> Map<String, Value> {
    match (kind, op) {
        (Kind::Network, Op::Create) => {
            remove(&mut data, &["status", "subnets"]);
            remove_null(&mut data, &["qos_policy_id"]);
        }
        (Kind::Network, Op::Update) => {
            remove(
                &mut data,
                &["id", "status", "subnets", "tenant_id", "project_id"],
            );
            remove_null(&mut data, &["qos_policy_id"]);
        }
        (Kind::Subnet, Op::Create) => remove_null(&mut data, &["segment_id", "subnetpool_id"]),
        (Kind::Subnet, Op::Update) => {
            remove(
                &mut data,
                &[
                    "id",
                    "network_id",
                    "ip_version",
                    "cidr",
                    "tenant_id",
                    "project_id",
                ],
            );
            remove_null(&mut data, &["segment_id", "subnetpool_id"]);
        }
        (Kind::Port, Op::Create | Op::Update) => {
            enrich_port(&mut data, network_project);
            if op == Op::Create {
                remove(&mut data, &["status"]);
            } else {
                remove(
                    &mut data,
                    &["network_id", "id", "status", "tenant_id", "project_id"],
                );
            }
            remove_null(
                &mut data,
                &[
                    "binding:profile",
                    "dns_name",
                    "port_security_enabled",
                    "qos_policy_id",
                ],
            );
            if let Some(profile) = data.get_mut("binding:profile") {
                *profile = Value::String(profile.to_string());
            }
        }
        (Kind::SecurityGroupRule, Op::Create | Op::Update) => scrub_protocol(&mut data),
        _ => {}
    }
    populate_project(&mut data);
    data
}

fn remove(data: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        data.remove(*k);
    }
}

fn remove_null(data: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if data.get(*k).is_some_and(Value::is_null) {
            data.remove(*k);
        }
    }
}

fn populate_project(data: &mut Map<String, Value>) {
    let project = data
        .get("project_id")
        .or_else(|| data.get("tenant_id"))
        .filter(|v| !v.is_null())
        .cloned();
    if let Some(p) = project {
        data.entry("project_id").or_insert_with(|| p.clone());
        data.entry("tenant_id").or_insert(p);
    }
}

fn enrich_port(data: &mut Map<String, Value>, network_project: Option<&str>) {
    let groups: Vec<Value> = data
        .get("security_groups")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().map(|id| json!({ "id": id })).collect())
        .unwrap_or_default();
    data.insert("security_groups".into(), Value::Array(groups));
    let empty = data
        .get("tenant_id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if empty && let Some(project) = network_project {
        data.insert("tenant_id".into(), json!(project));
    }
}

/// Protocol names ODL's northbound knows.
const ODL_KNOWN_PROTOCOLS: [&str; 4] = ["tcp", "udp", "icmp", "icmpv6"];

/// neutron-lib's `IP_PROTOCOL_MAP`.
const IP_PROTOCOL_MAP: [(&str, u8); 24] = [
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

fn scrub_protocol(rule: &mut Map<String, Value>) {
    let ipv6 = rule.get("ethertype").and_then(Value::as_str) == Some("IPv6");
    let Some(protocol) = rule.get("protocol").and_then(Value::as_str) else {
        return;
    };
    let scrubbed = if ipv6 && ["icmp", "ipv6-icmp", "icmpv6"].contains(&protocol) {
        json!("icmpv6")
    } else if ODL_KNOWN_PROTOCOLS.contains(&protocol) {
        return;
    } else if let Some((_, number)) = IP_PROTOCOL_MAP.iter().find(|(n, _)| *n == protocol) {
        json!(number)
    } else {
        return;
    };
    rule.insert("protocol".into(), scrubbed);
}
