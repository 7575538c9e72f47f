//! `neutrino:ml2/config`: the driver's own configuration, read-only.

use super::HostContext;

/// The value of `key`.
pub fn get(cx: &HostContext, key: &str) -> Option<String> {
    cx.env.config.get(key).cloned()
}

/// All keys, sorted.
pub fn keys(cx: &HostContext) -> Vec<String> {
    cx.env.config.keys().cloned().collect()
}
