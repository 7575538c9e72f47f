//! `neutrino:ml2/config`: the driver's own configuration, read-only.

use super::HostContext;

/// The value of `key`: a string as it is, any other value as JSON text.
pub fn get(cx: &HostContext, key: &str) -> Option<String> {
    cx.env.config.get(key).map(|v| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// All keys, sorted.
pub fn keys(cx: &HostContext) -> Vec<String> {
    cx.env.config.keys().cloned().collect()
}

/// The whole configuration as a JSON object.
pub fn document(cx: &HostContext) -> String {
    serde_json::to_string(&cx.env.config).unwrap_or_else(|_| "{}".into())
}
