//! Destinations a driver's own configuration names: the manifest's `destinations` lists the
//! configuration paths that hold the URLs of the driver's controllers or switches, and each
//! URL's origin (`scheme://host[:port]`) is allowed as if the operator had listed it in
//! `http.allow`. So an operator gives a controller's URL once, under the original driver's
//! option name, and an explicit `http.allow` keeps working beside it.
//!
//! A path is dot-separated keys (`url`, `nsx_api_managers`, `switches.*.url`); `*` stands for
//! every key of a table or every element of a list. The value found is a URL or a list of
//! URLs; an absent key names nothing (optional settings). A value without a scheme is taken as
//! `https://` (vmware-nsx's `nsx_api_managers` convention: `nsx-1.example` or `10.0.0.5:443`).
//! A string with `{path}` in it is a
//! template whose path ends in `*`: it is filled with each key that `*` matches
//! (`https://{switches.*}` gives `https://192.0.2.10` for a switch table keyed by its address).
//!
//! Certificate verification: the manifest's `tls_verify` lists configuration paths of
//! booleans (networking-cisco's `switches.*.https_verify`). A destination found through the
//! same table entry as such a path (`switches.*.url` and `https://{switches.*}` share
//! `switches.*` with `switches.*.https_verify`: the same switch) is reached without verifying
//! its server's certificate when that boolean is `false`; absent, it is verified. A path
//! without `*` (`https_verify`) covers every destination. An origin another destination names
//! with verification on is verified.

use serde_json::Value;
use std::collections::BTreeMap;

/// An origin the configuration names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// Whether the server's certificate is verified.
    pub verify_tls: bool,
}

/// The origins the configuration names at `paths`, deduplicated, in order, each verified
/// unless a `tls_verify` path of its entry is `false`. An error names the configuration key
/// whose value is not an absolute `http(s)://` URL, or not a boolean for `tls_verify`.
pub fn from_config(
    config: &BTreeMap<String, Value>,
    paths: &[String],
    tls_verify: &[String],
) -> Result<Vec<Named>, String> {
    let root = Value::Object(config.clone().into_iter().collect());
    let mut out: Vec<Named> = Vec::new();
    for path in paths {
        let (pattern, urls) = match template(path) {
            Some((before, inner, after)) => (
                inner,
                keys(&root, inner)
                    .into_iter()
                    .map(|(key, bindings, k)| (key, bindings, format!("{before}{k}{after}")))
                    .collect(),
            ),
            None => (path.as_str(), values(&root, path)?),
        };
        for (key, bindings, url) in urls {
            let url = if url.contains("://") {
                url
            } else {
                format!("https://{url}")
            };
            let origin =
                super::allowlist::origin(&url).map_err(|e| format!("config `{key}`: {e}"))?;
            let verify_tls = verified(&root, pattern, &bindings, tls_verify)?;
            match out.iter_mut().find(|n| n.origin == origin) {
                Some(n) => n.verify_tls |= verify_tls,
                None => out.push(Named { origin, verify_tls }),
            }
        }
    }
    Ok(out)
}

/// Whether the destination found at `pattern` with `bindings` for its `*`s is verified: no
/// `tls_verify` path of the same entry says `false`.
fn verified(
    root: &Value,
    pattern: &str,
    bindings: &[String],
    tls_verify: &[String],
) -> Result<bool, String> {
    let segments: Vec<&str> = pattern.split('.').collect();
    for path in tls_verify {
        let flag: Vec<&str> = path.split('.').collect();
        let prefix = flag
            .iter()
            .rposition(|s| *s == "*")
            .map_or(0, |last| last + 1);
        // The same entry: the flag's path up to its last `*` is the destination's.
        if segments.len() < prefix || segments[..prefix] != flag[..prefix] {
            continue;
        }
        let mut bound = bindings.iter();
        let mut node = Some(root);
        let mut key = Vec::new();
        for seg in &flag {
            let k = if *seg == "*" {
                match bound.next() {
                    Some(b) => b.as_str(),
                    None => break,
                }
            } else {
                seg
            };
            key.push(k.to_string());
            node = node.and_then(|n| match n {
                Value::Object(m) => m.get(k),
                Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            });
        }
        match node {
            None | Some(Value::Null) | Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Ok(false),
            Some(other) => {
                return Err(format!(
                    "config `{}`: expected true or false, found {other}",
                    key.join(".")
                ));
            }
        }
    }
    Ok(true)
}

/// `(before, path, after)` of a `before{path}after` template.
fn template(s: &str) -> Option<(&str, &str, &str)> {
    let open = s.find('{')?;
    let close = open + s[open..].find('}')?;
    Some((&s[..open], &s[open + 1..close], &s[close + 1..]))
}

/// A node `path` reached: the key path that reached it, what each `*` stood for, the node.
type Reached<'a> = (String, Vec<String>, &'a Value);

/// The nodes `path` reaches.
fn walk<'a>(root: &'a Value, path: &str) -> Vec<Reached<'a>> {
    let mut nodes: Vec<Reached<'a>> = vec![(String::new(), Vec::new(), root)];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for (at, bindings, node) in nodes {
            let join = |k: &str| {
                if at.is_empty() {
                    k.to_string()
                } else {
                    format!("{at}.{k}")
                }
            };
            let bind = |k: String| {
                let mut b = bindings.clone();
                b.push(k);
                b
            };
            match (seg, node) {
                ("*", Value::Object(m)) => {
                    next.extend(m.iter().map(|(k, v)| (join(k), bind(k.clone()), v)))
                }
                ("*", Value::Array(a)) => next.extend(
                    a.iter()
                        .enumerate()
                        .map(|(i, v)| (format!("{at}[{i}]"), bind(i.to_string()), v)),
                ),
                (k, Value::Object(m)) => {
                    next.extend(m.get(k).map(|v| (join(k), bindings.clone(), v)))
                }
                _ => {}
            }
        }
        nodes = next;
    }
    nodes
}

/// A URL found: its key, what the `*`s of its path stood for, the URL.
type Found = (String, Vec<String>, String);

/// URL strings at `path` (a string or a list of strings each), with their keys.
fn values(root: &Value, path: &str) -> Result<Vec<Found>, String> {
    let mut out = Vec::new();
    for (key, bindings, v) in walk(root, path) {
        match v {
            Value::String(s) => out.push((key, bindings, s.clone())),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => {
                            out.push((format!("{key}[{i}]"), bindings.clone(), s.clone()))
                        }
                        other => {
                            return Err(format!(
                                "config `{key}[{i}]`: expected a URL, found {other}"
                            ));
                        }
                    }
                }
            }
            Value::Null => {}
            other => return Err(format!("config `{key}`: expected a URL, found {other}")),
        }
    }
    Ok(out)
}

/// The keys the last `*` of `path` matches (the path must end in `*`), each with its key
/// path and what the `*`s stood for.
fn keys(root: &Value, path: &str) -> Vec<(String, Vec<String>, String)> {
    let Some(parent) = path
        .strip_suffix(".*")
        .or_else(|| (path == "*").then_some(""))
    else {
        return Vec::new();
    };
    let parents = if parent.is_empty() {
        vec![(String::new(), Vec::new(), root)]
    } else {
        walk(root, parent)
    };
    parents
        .into_iter()
        .flat_map(|(at, bindings, node)| match node {
            Value::Object(m) => m
                .keys()
                .map(|k| {
                    let key = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    let mut b = bindings.clone();
                    b.push(k.clone());
                    (key, b, k.clone())
                })
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: Value) -> BTreeMap<String, Value> {
        v.as_object().unwrap().clone().into_iter().collect()
    }

    fn paths(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    fn origins(c: &BTreeMap<String, Value>, p: &[String]) -> Result<Vec<String>, String> {
        Ok(from_config(c, p, &[])?
            .into_iter()
            .map(|n| n.origin)
            .collect())
    }

    #[test]
    fn a_false_tls_verify_flag_turns_verification_off_for_its_own_entry_only() {
        let c = config(json!({"switches": {
            "192.0.2.10": {"https_verify": false},
            "192.0.2.11": {"url": "https://10.0.0.9:8443", "https_verify": false},
            "192.0.2.12": {"https_verify": true},
            "192.0.2.13": {},
        }}));
        let got = from_config(
            &c,
            &paths(&["switches.*.url", "https://{switches.*}"]),
            &paths(&["switches.*.https_verify"]),
        )
        .unwrap();
        let unverified: Vec<&str> = got
            .iter()
            .filter(|n| !n.verify_tls)
            .map(|n| n.origin.as_str())
            .collect();
        assert_eq!(
            unverified,
            [
                "https://10.0.0.9:8443",
                "https://192.0.2.10",
                "https://192.0.2.11"
            ]
        );
        assert_eq!(got.len(), 5);
        let err = from_config(
            &config(json!({"switches": {"192.0.2.10": {"https_verify": "no"}}})),
            &paths(&["https://{switches.*}"]),
            &paths(&["switches.*.https_verify"]),
        )
        .unwrap_err();
        assert!(
            err.starts_with("config `switches.192.0.2.10.https_verify`: expected true or false"),
            "{err}"
        );
    }

    #[test]
    fn a_tls_verify_flag_without_a_star_covers_every_destination() {
        let c = config(json!({"url": "https://odl:8443/x", "https_verify": false}));
        let got = from_config(&c, &paths(&["url"]), &paths(&["https_verify"])).unwrap();
        assert_eq!(
            got,
            [Named {
                origin: "https://odl:8443".into(),
                verify_tls: false
            }]
        );
    }

    #[test]
    fn a_url_setting_allows_its_origin_whatever_its_path() {
        let c = config(json!({"url": "http://odl.example.net:8080/controller/nb/v2/neutron"}));
        assert_eq!(
            origins(&c, &paths(&["url"])).unwrap(),
            ["http://odl.example.net:8080"]
        );
    }

    #[test]
    fn a_value_without_a_scheme_is_https() {
        let c = config(json!({"nsx_api_managers": ["nsx-1.example", "10.0.0.5:8443"]}));
        assert_eq!(
            origins(&c, &paths(&["nsx_api_managers"])).unwrap(),
            ["https://nsx-1.example", "https://10.0.0.5:8443"]
        );
    }

    #[test]
    fn lists_nested_tables_and_templates_of_keys_are_followed() {
        let c = config(json!({
            "nsx_api_managers": ["https://nsx1", "https://nsx2:8443/"],
            "switches": {
                "192.0.2.10": {"username": "admin"},
                "192.0.2.11": {"url": "http://10.0.0.9:8080"},
            },
        }));
        let got = origins(
            &c,
            &paths(&["nsx_api_managers", "switches.*.url", "https://{switches.*}"]),
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "https://nsx1",
                "https://nsx2:8443",
                "http://10.0.0.9:8080",
                "https://192.0.2.10",
                "https://192.0.2.11",
            ]
        );
    }

    #[test]
    fn absent_settings_name_nothing_and_a_bad_url_names_its_key() {
        assert!(
            origins(&config(json!({})), &paths(&["url", "switches.*.url"]))
                .unwrap()
                .is_empty()
        );
        let err = origins(&config(json!({"url": "ftp://odl:8080"})), &paths(&["url"])).unwrap_err();
        assert!(err.starts_with("config `url`:"), "{err}");
        let err = origins(
            &config(json!({"midonet_uri": 42})),
            &paths(&["midonet_uri"]),
        )
        .unwrap_err();
        assert!(
            err.contains("config `midonet_uri`: expected a URL"),
            "{err}"
        );
    }
}
