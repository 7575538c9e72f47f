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

use serde_json::Value;
use std::collections::BTreeMap;

/// The origins the configuration names at `paths`, deduplicated, in order. An error names the
/// configuration key whose value is not an absolute `http(s)://` URL.
pub fn from_config(
    config: &BTreeMap<String, Value>,
    paths: &[String],
) -> Result<Vec<String>, String> {
    let root = Value::Object(config.clone().into_iter().collect());
    let mut out: Vec<String> = Vec::new();
    for path in paths {
        let urls = match template(path) {
            Some((before, inner, after)) => keys(&root, inner)
                .into_iter()
                .map(|(key, k)| (key, format!("{before}{k}{after}")))
                .collect(),
            None => values(&root, path)?,
        };
        for (key, url) in urls {
            let url = if url.contains("://") {
                url
            } else {
                format!("https://{url}")
            };
            let origin =
                super::allowlist::origin(&url).map_err(|e| format!("config `{key}`: {e}"))?;
            if !out.contains(&origin) {
                out.push(origin);
            }
        }
    }
    Ok(out)
}

/// `(before, path, after)` of a `before{path}after` template.
fn template(s: &str) -> Option<(&str, &str, &str)> {
    let open = s.find('{')?;
    let close = open + s[open..].find('}')?;
    Some((&s[..open], &s[open + 1..close], &s[close + 1..]))
}

/// The nodes `path` reaches, with the key path that reached each.
fn walk<'a>(root: &'a Value, path: &str) -> Vec<(String, &'a Value)> {
    let mut nodes: Vec<(String, &Value)> = vec![(String::new(), root)];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for (at, node) in nodes {
            let join = |k: &str| {
                if at.is_empty() {
                    k.to_string()
                } else {
                    format!("{at}.{k}")
                }
            };
            match (seg, node) {
                ("*", Value::Object(m)) => next.extend(m.iter().map(|(k, v)| (join(k), v))),
                ("*", Value::Array(a)) => {
                    next.extend(a.iter().enumerate().map(|(i, v)| (format!("{at}[{i}]"), v)))
                }
                (k, Value::Object(m)) => next.extend(m.get(k).map(|v| (join(k), v))),
                _ => {}
            }
        }
        nodes = next;
    }
    nodes
}

/// URL strings at `path` (a string or a list of strings each), with their keys.
fn values(root: &Value, path: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (key, v) in walk(root, path) {
        match v {
            Value::String(s) => out.push((key, s.clone())),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push((format!("{key}[{i}]"), s.clone())),
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

/// The keys the last `*` of `path` matches (the path must end in `*`).
fn keys(root: &Value, path: &str) -> Vec<(String, String)> {
    let Some(parent) = path
        .strip_suffix(".*")
        .or_else(|| (path == "*").then_some(""))
    else {
        return Vec::new();
    };
    let parents = if parent.is_empty() {
        vec![(String::new(), root)]
    } else {
        walk(root, parent)
    };
    parents
        .into_iter()
        .flat_map(|(at, node)| match node {
            Value::Object(m) => m
                .keys()
                .map(|k| {
                    let key = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    (key, k.clone())
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

    #[test]
    fn a_url_setting_allows_its_origin_whatever_its_path() {
        let c = config(json!({"url": "http://odl.example.net:8080/controller/nb/v2/neutron"}));
        assert_eq!(
            from_config(&c, &paths(&["url"])).unwrap(),
            ["http://odl.example.net:8080"]
        );
    }

    #[test]
    fn a_value_without_a_scheme_is_https() {
        let c = config(json!({"nsx_api_managers": ["nsx-1.example", "10.0.0.5:8443"]}));
        assert_eq!(
            from_config(&c, &paths(&["nsx_api_managers"])).unwrap(),
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
        let got = from_config(
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
            from_config(&config(json!({})), &paths(&["url", "switches.*.url"]))
                .unwrap()
                .is_empty()
        );
        let err =
            from_config(&config(json!({"url": "ftp://odl:8080"})), &paths(&["url"])).unwrap_err();
        assert!(err.starts_with("config `url`:"), "{err}");
        let err = from_config(
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
