//! Port attributes of Neutron's ML2 extensions, validated as neutron-lib does:
//! `extra_dhcp_opts` (`extra_dhcp_opt`: `type:list_of_any_key_specs_or_none` with the two key
//! specs of `EXTRA_DHCP_OPT_KEY_SPECS`) and `numa_affinity_policy`
//! (`port-numa-affinity-policy[-socket]`: `type:values`). Messages quote values the way
//! Python prints them, since Neutron's do.

use neutrino_ml2::ports::{DhcpOptRequest, VALID_BLANK_EXTRA_DHCP_OPTS};
use serde_json::{Map, Value};

use crate::error::{ApiResult, bad_request, invalid_input};

/// neutron-lib's `PORT_NUMA_POLICIES` (`socket` from `port-numa-affinity-policy-socket`).
pub const NUMA_POLICIES: [&str; 4] = ["required", "preferred", "legacy", "socket"];

/// neutron-lib's `DHCP_OPT_NAME_MAX_LEN`.
const OPT_NAME_MAX_LEN: usize = 64;
/// neutron-lib's `DHCP_OPT_VALUE_MAX_LEN`.
const OPT_VALUE_MAX_LEN: usize = 255;

/// Python's `repr` of a JSON value (dictionary keys in the order the body map keeps).
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        out.push_str(&format!("\\x{:02x}", c as u32));
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        other => py_str(other),
    }
}

/// Python's `str` of a JSON value (what `%s` prints).
pub fn py_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", py_repr(&Value::String(k.clone())), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `numa_affinity_policy`: one of [`NUMA_POLICIES`] or `null` (neutron-lib's
/// `validate_values`, whose message names no values).
pub fn check_numa_policy(v: &Value) -> ApiResult<()> {
    match v {
        Value::Null => Ok(()),
        Value::String(s) if NUMA_POLICIES.contains(&s.as_str()) => Ok(()),
        other => Err(bad_request(format!(
            "Invalid input for numa_affinity_policy. Reason: {} is not in valid_values.",
            py_str(other)
        ))),
    }
}

/// `device_profile`: a string of at most 255 characters or `null` (`type:string_or_none`).
pub fn check_device_profile(v: &Value) -> ApiResult<()> {
    let why = match v {
        Value::Null => return Ok(()),
        Value::String(s) if s.chars().count() <= 255 => return Ok(()),
        Value::String(s) => format!("'{s}' exceeds maximum length of 255"),
        other => format!("'{}' is not a valid string", py_str(other)),
    };
    Err(bad_request(format!(
        "Invalid input for device_profile. Reason: {why}."
    )))
}

/// `extra_dhcp_opts`: `null` or a list of option dictionaries.
pub fn check_dhcp_opts(v: &Value) -> ApiResult<()> {
    dhcp_opts(v).map(|_| ())
}

/// Python's `str.splitlines` count: line breaks end lines, a last one opens none.
fn line_count(s: &str) -> usize {
    let breaks = [
        '\n', '\r', '\u{b}', '\u{c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}',
        '\u{2029}',
    ];
    let normalized = s.replace("\r\n", "\n");
    let mut lines = normalized.split(|c| breaks.contains(&c)).count();
    if normalized.ends_with(|c| breaks.contains(&c)) {
        lines -= 1;
    }
    lines
}

/// neutron-lib's `validate_string` (with a length cap), as a pass/fail.
fn is_string(v: &Value, max: usize) -> bool {
    matches!(v, Value::String(s) if s.chars().count() <= max)
}

/// `validate_oneline_not_empty_string`.
fn is_oneline_not_empty(v: &Value, max: usize) -> bool {
    is_string(v, max)
        && v.as_str()
            .is_some_and(|s| !s.trim().is_empty() && line_count(s) <= 1)
}

/// neutron-lib's `convert_to_int`: Python's `int()` of a JSON value.
fn to_int(v: &Value) -> ApiResult<Value> {
    let n = match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(s) => s.trim().replace('_', "").parse::<i64>().ok(),
        _ => None,
    };
    n.map(Value::from)
        .ok_or_else(|| invalid_input(format!("'{}' is not an integer.", py_str(v))))
}

/// One key spec of `EXTRA_DHCP_OPT_KEY_SPECS` applied to `item` (neutron-lib's
/// `validate_dict`): whether it matches; `ip_version` is converted in place, as there.
fn matches_spec(item: &mut Map<String, Value>, blank_names: bool) -> ApiResult<bool> {
    if !item.contains_key("opt_name") || !item.contains_key("opt_value") {
        return Ok(false);
    }
    if item
        .keys()
        .any(|k| !matches!(k.as_str(), "opt_name" | "opt_value" | "ip_version"))
    {
        return Ok(false);
    }
    let name = &item["opt_name"];
    let name_ok = if blank_names {
        name.as_str()
            .is_some_and(|n| VALID_BLANK_EXTRA_DHCP_OPTS.contains(&n))
    } else {
        is_oneline_not_empty(name, OPT_NAME_MAX_LEN)
    };
    if !name_ok {
        return Ok(false);
    }
    let value = &item["opt_value"];
    let value_ok = value.is_null()
        || if blank_names {
            is_string(value, OPT_VALUE_MAX_LEN)
        } else {
            is_oneline_not_empty(value, OPT_VALUE_MAX_LEN)
        };
    if !value_ok {
        return Ok(false);
    }
    if let Some(v) = item.get("ip_version") {
        let n = to_int(v)?;
        let ok = matches!(n.as_i64(), Some(4 | 6));
        item.insert("ip_version".into(), n);
        return Ok(ok);
    }
    Ok(true)
}

/// The options of an `extra_dhcp_opts` value (`None` for `null`), validated as neutron-lib's
/// `validate_any_key_specs_or_none`; every failure is an `InvalidInput`.
pub fn dhcp_opts(v: &Value) -> ApiResult<Option<Vec<DhcpOptRequest>>> {
    let items = match v {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        other => {
            return Err(invalid_input(format!("'{}' is not a list.", py_str(other))));
        }
    };
    let mut dups: Vec<&Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) && !dups.contains(&item) {
            dups.push(item);
        }
    }
    if !dups.is_empty() {
        return Err(invalid_input(format!(
            "Duplicate items in the list: '{}'.",
            dups.iter()
                .map(|d| py_str(d))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(original) = item else {
            return Err(no_spec_matched(item));
        };
        let mut m = original.clone();
        if !(matches_spec(&mut m, true)? || matches_spec(&mut m, false)?) {
            return Err(no_spec_matched(&Value::Object(m)));
        }
        out.push(DhcpOptRequest {
            opt_name: m["opt_name"].as_str().unwrap_or_default().to_string(),
            opt_value: m["opt_value"].as_str().map(String::from),
            ip_version: m.get("ip_version").and_then(Value::as_i64).unwrap_or(4),
        });
    }
    Ok(Some(out))
}

fn no_spec_matched(item: &Value) -> crate::error::ApiError {
    invalid_input(format!("No valid key specs matched for: {}.", py_str(item)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn python_renderings() {
        assert_eq!(
            py_str(&json!({"opt_name": "a", "opt_value": null})),
            "{'opt_name': 'a', 'opt_value': None}"
        );
        assert_eq!(py_repr(&json!("it's")), "\"it's\"");
        assert_eq!(py_str(&json!([1, true])), "[1, True]");
    }

    #[test]
    fn key_specs() {
        let ok = dhcp_opts(&json!([
            {"opt_name": "router", "opt_value": ""},
            {"opt_name": "bootfile-name", "opt_value": "pxelinux.0", "ip_version": "6"},
            {"opt_name": "tftp-server", "opt_value": null},
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(ok[0].opt_value.as_deref(), Some(""));
        assert_eq!(ok[1].ip_version, 6);
        assert_eq!(ok[2].opt_value, None);
        assert!(dhcp_opts(&json!([{"opt_name": "x", "opt_value": ""}])).is_err());
        assert!(dhcp_opts(&json!([{"opt_name": "x", "opt_value": "a\nb"}])).is_err());
        assert!(dhcp_opts(&json!([{"opt_name": "x", "opt_value": "a\n"}])).is_ok());
        assert!(dhcp_opts(&json!([{"opt_name": "x"}])).is_err());
        assert!(dhcp_opts(&json!([{"opt_name": "x", "opt_value": "1", "ip_version": 5}])).is_err());
        assert!(dhcp_opts(&json!("x")).is_err());
    }
}
