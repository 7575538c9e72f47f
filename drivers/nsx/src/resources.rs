//! The Policy API objects for Neutron resources, shaped as vmware-nsx's `nsx_p` plugin
//! shapes them: segments for networks, segment ports for ports (with their security and
//! discovery profile binding maps, and the two segment profiles the driver owns), groups and
//! security policies for security groups, with the `os-*` tags.

use crate::settings::Settings;
use neutrino_driver::{DriverError, Network, Port, SecurityGroup, SecurityGroupRule, Segment};
use serde_json::{Map, Value, json};

/// `os-api-version` tag: which client wrote the object.
pub const API_VERSION: &str = concat!("neutrino-nsx-", env!("CARGO_PKG_VERSION"));
/// The domain security groups live in.
pub const DOMAIN: &str = "infra/domains/default";
/// The port tag scope of security group membership (vmware-nsx's
/// `NSX_P_SECURITY_GROUP_TAG`).
pub const SG_TAG_SCOPE: &str = "os-security-group";
/// The longest display name NSX takes.
const MAX_NAME: usize = 80;
/// The longest tag value NSX takes.
const MAX_TAG: usize = 256;

/// `segments/<network id>`.
pub fn segment_path(network_id: &str) -> String {
    format!("infra/segments/{network_id}")
}

/// `segments/<network id>/ports/<port id>`.
pub fn port_path(network_id: &str, port_id: &str) -> String {
    format!("infra/segments/{network_id}/ports/{port_id}")
}

/// `domains/default/groups/<group id>`.
pub fn group_path(group_id: &str) -> String {
    format!("{DOMAIN}/groups/{group_id}")
}

/// `domains/default/security-policies/<group id>`.
pub fn policy_path(group_id: &str) -> String {
    format!("{DOMAIN}/security-policies/{group_id}")
}

/// `…/security-policies/<group id>/rules/<rule id>`.
pub fn rule_path(group_id: &str, rule_id: &str) -> String {
    format!("{}/rules/{rule_id}", policy_path(group_id))
}

/// nsxlib's `get_name_and_uuid`: the name (or `default`) cut to fit, `_`, the first and last
/// five characters of the id.
pub fn display_name(name: &str, id: &str) -> String {
    let short = if id.len() > 10 {
        format!("_{}...{}", &id[..5], &id[id.len() - 5..])
    } else {
        format!("_{id}")
    };
    let name = if name.is_empty() { "default" } else { name };
    let room = MAX_NAME.saturating_sub(short.len());
    let cut: String = name.chars().take(room).collect();
    format!("{cut}{short}")
}

fn tag(scope: &str, value: &str) -> Value {
    json!({"scope": scope, "tag": value.chars().take(MAX_TAG).collect::<String>()})
}

/// nsxlib's `build_v3_tags_payload`: the resource's id under `scope`, the project (id and,
/// without Keystone names at hand, the id again as its name) and the API version.
pub fn tags(scope: &str, id: &str, project_id: &str) -> Vec<Value> {
    vec![
        tag(scope, id),
        tag("os-project-id", project_id),
        tag("os-project-name", project_id),
        tag("os-api-version", API_VERSION),
    ]
}

fn tz_path(tz: &str) -> String {
    format!("/infra/sites/default/enforcement-points/default/transport-zones/{tz}")
}

/// The segment of a network: transport zone by segment type, VLAN ids for VLAN and flat
/// networks (`0` untagged; a transparent VLAN network takes all, `0-4094`).
pub fn segment(
    settings: &Settings,
    net: &Network,
    segments: &[Segment],
) -> Result<Value, DriverError> {
    let json = net.json_value();
    let first = segments.first();
    let network_type = first.map(|s| s.network_type.as_str()).unwrap_or("vxlan");
    let transparent = json.get("vlan_transparent").and_then(Value::as_bool) == Some(true);
    let (tz, vlan_ids) = match network_type {
        "vlan" => {
            let ids = if transparent {
                "0-4094".to_string()
            } else {
                first
                    .and_then(|s| s.segmentation_id)
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            };
            (&settings.default_vlan_tz, Some(ids))
        }
        "flat" => (&settings.default_vlan_tz, Some("0".to_string())),
        _ => (&settings.default_overlay_tz, None),
    };
    let Some(tz) = tz else {
        return Err(DriverError::invalid_input(format!(
            "network {}: no transport zone for {network_type} networks (config `{}`)",
            net.id,
            if vlan_ids.is_some() {
                "default_vlan_tz"
            } else {
                "default_overlay_tz"
            }
        )));
    };
    let mut body = json!({
        "resource_type": "Segment",
        "id": net.id,
        "display_name": display_name(&net.name, &net.id),
        "description": json.get("description").cloned().unwrap_or(json!("")),
        "transport_zone_path": tz_path(tz),
        "admin_state": if net.admin_state_up { "UP" } else { "DOWN" },
        "tags": tags("os-neutron-net-id", &net.id, &net.project_id),
    });
    if let Some(ids) = vlan_ids {
        body["vlan_ids"] = json!([ids]);
    }
    Ok(body)
}

/// A subnet as the segment's gateway subnet (`gateway_address` with the prefix length,
/// `network`), with DHCP ranges from its allocation pools when DHCP is on.
pub fn segment_subnet(subnet: &Map<String, Value>) -> Option<Value> {
    let cidr = subnet.get("cidr")?.as_str()?;
    let prefix = cidr.split_once('/')?.1;
    let mut out = json!({"network": cidr});
    if let Some(gw) = subnet.get("gateway_ip").and_then(Value::as_str) {
        out["gateway_address"] = json!(format!("{gw}/{prefix}"));
    }
    if subnet.get("enable_dhcp").and_then(Value::as_bool) == Some(true) {
        let ranges: Vec<String> = subnet
            .get("allocation_pools")
            .and_then(Value::as_array)
            .map(|pools| {
                pools
                    .iter()
                    .filter_map(|p| {
                        Some(format!("{}-{}", p["start"].as_str()?, p["end"].as_str()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out["dhcp_ranges"] = json!(ranges);
    }
    Some(out)
}

/// Device owners whose ports carry no VIF attachment (router ports).
fn without_attachment(owner: &str) -> bool {
    matches!(
        owner,
        "network:router_interface"
            | "network:router_gateway"
            | "network:router_interface_distributed"
    )
}

/// The segment port of a port: attachment (the port id is the VIF id), address bindings
/// (fixed IPs with the MAC, the MAC's IPv6 link-local address, and allowed address pairs)
/// when port security is on, and tags
/// (its id, project, version, one `os-security-group` tag per security group).
pub fn segment_port(port: &Port) -> Value {
    let json = port.json_value();
    let port_security = port_security(port);
    let mut tags = tags("os-neutron-port-id", &port.id, &port.project_id);
    for sg in json
        .get("security_groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        tags.push(tag(SG_TAG_SCOPE, sg));
    }
    let mut body = json!({
        "resource_type": "SegmentPort",
        "id": port.id,
        "display_name": display_name(&port.name, &port.id),
        "description": json.get("description").cloned().unwrap_or(json!("")),
        "admin_state": if port.admin_state_up { "UP" } else { "DOWN" },
        "tags": tags,
    });
    if !without_attachment(&port.device_owner) {
        body["attachment"] = json!({"id": port.id});
    }
    if port_security {
        let mut bindings: Vec<Value> = port
            .fixed_ips
            .iter()
            .map(|ip| json!({"ip_address": ip.ip_address, "mac_address": port.mac_address}))
            .collect();
        if let Some(ll) = link_local(&port.mac_address) {
            bindings.push(json!({"ip_address": ll, "mac_address": port.mac_address}));
        }
        for pair in json
            .get("allowed_address_pairs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(ip) = pair.get("ip_address").and_then(Value::as_str) {
                let mac = pair
                    .get("mac_address")
                    .and_then(Value::as_str)
                    .unwrap_or(&port.mac_address);
                bindings.push(json!({"ip_address": ip, "mac_address": mac}));
            }
        }
        body["address_bindings"] = json!(bindings);
    }
    body
}

/// The group of a security group: its member ports are the segment ports tagged with it.
pub fn group(sg: &SecurityGroup) -> Value {
    json!({
        "resource_type": "Group",
        "id": sg.id,
        "display_name": display_name(&sg.name, &sg.id),
        "description": sg.description,
        "expression": [{
            "resource_type": "Condition",
            "member_type": "SegmentPort",
            "key": "Tag",
            "operator": "EQUALS",
            "value": format!("{SG_TAG_SCOPE}|{}", sg.id),
        }],
        "tags": tags("os-neutron-secgr-id", &sg.id, &sg.project_id),
    })
}

/// The security policy of a security group (its rules applied to its group), with `rules`.
pub fn policy(sg: &SecurityGroup, rules: Vec<Value>) -> Value {
    json!({
        "resource_type": "SecurityPolicy",
        "id": sg.id,
        "display_name": display_name(&sg.name, &sg.id),
        "description": sg.description,
        "category": "Application",
        "stateful": sg.stateful,
        "scope": [format!("/{}", group_path(&sg.id))],
        "rules": rules,
        "tags": tags("os-neutron-secgr-id", &sg.id, &sg.project_id),
    })
}

fn protocol_number(p: &str) -> Option<u8> {
    match p {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "ipv6-icmp" | "icmpv6" => Some(58),
        other => other.parse().ok(),
    }
}

/// The service entries a rule's protocol and ports name (none: any traffic).
fn service_entries(rule: &SecurityGroupRule) -> Vec<Value> {
    let Some(proto) = rule.protocol.as_deref().map(str::to_ascii_lowercase) else {
        return Vec::new();
    };
    match protocol_number(&proto) {
        Some(n @ (6 | 17)) => {
            let mut entry = json!({
                "resource_type": "L4PortSetServiceEntry",
                "l4_protocol": if n == 6 { "TCP" } else { "UDP" },
            });
            if let Some(min) = rule.port_range_min {
                let max = rule.port_range_max.unwrap_or(min);
                let range = if min == max {
                    min.to_string()
                } else {
                    format!("{min}-{max}")
                };
                entry["destination_ports"] = json!([range]);
            }
            vec![entry]
        }
        Some(n @ (1 | 58)) => {
            let mut entry = json!({
                "resource_type": "ICMPTypeServiceEntry",
                "protocol": if n == 1 { "ICMPv4" } else { "ICMPv6" },
            });
            if let Some(t) = rule.port_range_min {
                entry["icmp_type"] = json!(t);
            }
            if let Some(c) = rule.port_range_max {
                entry["icmp_code"] = json!(c);
            }
            vec![entry]
        }
        Some(n) => vec![json!({
            "resource_type": "IPProtocolServiceEntry",
            "protocol_number": n,
        })],
        None => {
            neutrino_driver::warn!("rule {}: unknown protocol {proto}; any traffic", rule.id);
            Vec::new()
        }
    }
}

/// One rule of a security policy: traffic from the remote (a prefix, a group or anyone) to
/// the group for ingress, the reverse for egress; allowed.
pub fn rule(rule: &SecurityGroupRule, sequence: u32) -> Value {
    let own = format!("/{}", group_path(&rule.security_group_id));
    let remote = match (&rule.remote_ip_prefix, &rule.remote_group_id) {
        (Some(prefix), _) => json!([prefix]),
        (None, Some(group)) => json!([format!("/{}", group_path(group))]),
        (None, None) => json!(["ANY"]),
    };
    let ingress = rule.direction == "ingress";
    let (source, destination) = if ingress {
        (remote, json!([own]))
    } else {
        (json!([own]), remote)
    };
    let entries = service_entries(rule);
    let mut body = json!({
        "resource_type": "Rule",
        "id": rule.id,
        "display_name": display_name("", &rule.id),
        "sequence_number": sequence,
        "direction": if ingress { "IN" } else { "OUT" },
        "ip_protocol": if rule.ethertype == "IPv6" { "IPV6" } else { "IPV4" },
        "action": "ALLOW",
        "source_groups": source,
        "destination_groups": destination,
        "scope": [own],
        "tags": tags("os-neutron-secgr-rule-id", &rule.id, &rule.project_id),
    });
    if entries.is_empty() {
        body["services"] = json!(["ANY"]);
    } else {
        body["service_entries"] = json!(entries);
    }
    body
}

/// A rule from its API dict (the rules listed in a security group's dict).
pub fn rule_from_json(v: &Value) -> Option<SecurityGroupRule> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let n = |k: &str| v.get(k).and_then(Value::as_u64).map(|x| x as u32);
    Some(SecurityGroupRule {
        id: s("id")?,
        security_group_id: s("security_group_id")?,
        project_id: s("project_id").unwrap_or_default(),
        direction: s("direction")?,
        ethertype: s("ethertype").unwrap_or_else(|| "IPv4".into()),
        protocol: s("protocol"),
        port_range_min: n("port_range_min"),
        port_range_max: n("port_range_max"),
        remote_ip_prefix: s("remote_ip_prefix"),
        remote_group_id: s("remote_group_id"),
        revision_number: v
            .get("revision_number")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        json: v.to_string(),
    })
}

/// The spoofguard profile of ports with port security (vmware-nsx's `SPOOFGUARD_PROFILE_ID`):
/// only the port's address bindings may send.
pub const SPOOFGUARD_PROFILE: &str = "neutron-spoofguard-profile";
/// The segment security profile of ports with port security (`SEG_SECURITY_PROFILE_ID`):
/// DHCP servers and IPv6 router advertisements from VMs are blocked.
pub const SEG_SECURITY_PROFILE: &str = "neutron-segment-security-profile";
/// NSX's own profiles, which always exist: ports without port security get these.
const DEFAULT_SPOOFGUARD: &str = "default-spoofguard-profile";
const DEFAULT_SEG_SECURITY: &str = "default-segment-security-profile";
const DEFAULT_IP_DISCOVERY: &str = "default-ip-discovery-profile";
const DEFAULT_MAC_DISCOVERY: &str = "default-mac-discovery-profile";
/// The id of a port's binding map of each kind (nsxlib's `DEFAULT_MAP_ID`).
const MAP_ID: &str = "default";

/// The two segment profiles the driver owns, as `(path, body)`: vmware-nsx creates them
/// when the plugin starts; the driver creates them before the first port that needs them.
pub fn own_profiles() -> Vec<(String, Value)> {
    vec![
        (
            format!("infra/spoofguard-profiles/{SPOOFGUARD_PROFILE}"),
            json!({
                "resource_type": "SpoofGuardProfile",
                "id": SPOOFGUARD_PROFILE,
                "display_name": "Neutron Spoofguard Profile",
                "address_binding_whitelist": true,
                "tags": [tag("os-api-version", API_VERSION)],
            }),
        ),
        (
            format!("infra/segment-security-profiles/{SEG_SECURITY_PROFILE}"),
            json!({
                "resource_type": "SegmentSecurityProfile",
                "id": SEG_SECURITY_PROFILE,
                "display_name": "Neutron Segment Security Profile",
                "bpdu_filter_enable": false,
                "dhcp_client_block_enabled": false,
                "dhcp_client_block_v6_enabled": false,
                "dhcp_server_block_enabled": true,
                "dhcp_server_block_v6_enabled": true,
                "non_ip_traffic_block_enabled": false,
                "ra_guard_enabled": true,
                "rate_limits_enabled": false,
                "tags": [tag("os-api-version", API_VERSION)],
            }),
        ),
    ]
}

/// Whether a port has port security (the API's default is on).
pub fn port_security(port: &Port) -> bool {
    port.json_value()
        .get("port_security_enabled")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// A port's profile binding maps, as `(path, body)`: security (the driver's spoofguard and
/// segment security profiles with port security, NSX's defaults without) and discovery
/// (NSX's default IP and MAC discovery profiles; Neutrino has no MAC learning extension).
pub fn port_binding_maps(port: &Port) -> Vec<(String, Value)> {
    let base = port_path(&port.network_id, &port.id);
    let (spoofguard, security) = if port_security(port) {
        (SPOOFGUARD_PROFILE, SEG_SECURITY_PROFILE)
    } else {
        (DEFAULT_SPOOFGUARD, DEFAULT_SEG_SECURITY)
    };
    vec![
        (
            format!("{base}/port-security-profile-binding-maps/{MAP_ID}"),
            json!({
                "resource_type": "PortSecurityProfileBindingMap",
                "id": MAP_ID,
                "spoofguard_profile_path": format!("/infra/spoofguard-profiles/{spoofguard}"),
                "segment_security_profile_path":
                    format!("/infra/segment-security-profiles/{security}"),
            }),
        ),
        (
            format!("{base}/port-discovery-profile-binding-maps/{MAP_ID}"),
            json!({
                "resource_type": "PortDiscoveryProfileBindingMap",
                "id": MAP_ID,
                "ip_discovery_profile_path":
                    format!("/infra/ip-discovery-profiles/{DEFAULT_IP_DISCOVERY}"),
                "mac_discovery_profile_path":
                    format!("/infra/mac-discovery-profiles/{DEFAULT_MAC_DISCOVERY}"),
            }),
        ),
    ]
}

/// The IPv6 link-local address of a MAC (modified EUI-64, RFC 4291): NSX must allow it as
/// an address binding, or spoofguard drops the VM's neighbour discovery.
pub fn link_local(mac: &str) -> Option<String> {
    let b: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).ok())
        .collect::<Option<_>>()?;
    if b.len() != 6 {
        return None;
    }
    let groups = [
        u16::from_be_bytes([b[0] ^ 0x02, b[1]]),
        u16::from_be_bytes([b[2], 0xff]),
        u16::from_be_bytes([0xfe, b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
    ];
    let addr = std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, groups[0], groups[1], groups[2], groups[3]);
    Some(addr.to_string())
}

#[cfg(test)]
mod tests {
    use super::link_local;

    #[test]
    fn the_link_local_address_is_the_modified_eui64_of_the_mac() {
        assert_eq!(
            link_local("fa:16:3e:12:34:56").as_deref(),
            Some("fe80::f816:3eff:fe12:3456")
        );
        assert_eq!(link_local("not a mac"), None);
    }
}
