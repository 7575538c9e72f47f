//! Configuration: the process-wide [`RuntimeConfig`] and the operator's
//! per-driver [`DriverSettings`] (configuration, grants, destinations,
//! limits, failure policy).
//!
//! `DriverSettings` deserializes from the server's configuration file:
//!
//! ```toml
//! failure_policy = "skip"
//! grants = ["log", "config", "state", "http"]
//! [config]
//! controller_url = "https://ctrl.example.net:8443/api"
//! [http]
//! allow = ["https://ctrl.example.net:8443/api"]
//! timeout_ms = 5000
//! [limits]
//! memory_mib = 32
//! precommit_cpu_ms = 100
//! ```

use crate::capability::CapabilitySet;
use crate::net::HttpTransport;
use crate::types::Phase;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How Cranelift compiles drivers (part of the compile cache key).
///
/// `Quick` halves the time from upload to serving, and each call then
/// costs about a third more (the canonical-ABI glue runs unoptimized); see
/// BENCHMARKS.md, "Driver runtime". Compiles are rare and cached, calls are
/// not, so `Optimized` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompileStrategy {
    /// Cranelift's optimizations and backtracking register allocation
    /// (default).
    #[default]
    Optimized,
    /// No Cranelift optimizations and single-pass register allocation.
    Quick,
}

/// Process-wide runtime configuration.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached (created if missing, should be
    /// private to the server: cached code is loaded without re-validation).
    /// `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Instances that may exist at once across all drivers (pooling
    /// allocator slots); calls beyond it fail with a resource limit. Each
    /// slot reserves (but does not commit) about 8 GiB of address space for
    /// its linear memories, so keep this in the hundreds.
    pub max_instances: u32,
    /// Hard cap on any driver's linear memory, in bytes; per-driver limits
    /// above it are lowered to it.
    pub max_memory_bytes: u64,
    /// How often the epoch advances; CPU budgets are counted in these ticks.
    pub epoch_tick: Duration,
    /// How drivers are compiled (part of the compile cache key).
    pub compile: CompileStrategy,
    /// Bytes of each instance's linear memory kept mapped (and reset with
    /// `memset`) between calls instead of being returned to the kernel.
    pub memory_keep_resident: usize,
    /// Outbound HTTP; `None` means real HTTP(S) with [`crate::HyperTransport`].
    pub http: Option<Arc<dyn HttpTransport>>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_instances: 256,
            max_memory_bytes: 256 << 20,
            epoch_tick: Duration::from_millis(10),
            compile: CompileStrategy::Optimized,
            // Rust drivers built with a 128 KiB stack (see sdk/README.md)
            // touch well under 1 MiB per call; keeping it mapped avoids page
            // faults on every fresh instance.
            memory_keep_resident: 1 << 20,
            http: None,
        }
    }
}

impl std::fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("cache_dir", &self.cache_dir)
            .field("max_instances", &self.max_instances)
            .field("max_memory_bytes", &self.max_memory_bytes)
            .field("epoch_tick", &self.epoch_tick)
            .field("compile", &self.compile)
            .field("memory_keep_resident", &self.memory_keep_resident)
            .field("http", &self.http.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// What ML2 should do when a call into a driver faults (traps, times out,
/// hits a limit, returns garbage). A driver's own refusal always fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Fail the request (default).
    #[default]
    Fail,
    /// Skip this driver for this call, record it, and carry on.
    Skip,
}

/// What the API, the CLI and the log show instead of a secret configuration value.
pub const MASK: &str = "****";

/// Whether configuration `key` holds a secret: declared so by the driver's manifest
/// (`declared`), or named `password`, `*_password`, `secret`, `*_secret`, `token` or
/// `*_token` (any case).
pub fn is_secret_key(key: &str, declared: &[String]) -> bool {
    let k = key.to_ascii_lowercase();
    declared.iter().any(|d| d == key)
        || ["password", "secret", "token"]
            .iter()
            .any(|s| k == *s || k.ends_with(&format!("_{s}")))
}

/// Replace `value` by [`MASK`] if `key` names a secret, else mask the secrets
/// of the tables inside it (a list of switches, each with a `password`).
fn mask_value(key: &str, value: &mut serde_json::Value, declared: &[String]) {
    if is_secret_key(key, declared) {
        *value = serde_json::Value::String(MASK.to_string());
        return;
    }
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                mask_value(k, v, declared);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items.iter_mut() {
                mask_value("", v, declared);
            }
        }
        _ => {}
    }
}

/// The secret values inside `value` (all of it if `key` names a secret), or `None`.
fn secret_part(
    key: &str,
    value: &serde_json::Value,
    declared: &[String],
) -> Option<serde_json::Value> {
    use serde_json::Value;
    if is_secret_key(key, declared) {
        return Some(value.clone());
    }
    match value {
        Value::Object(map) => {
            let inner: serde_json::Map<String, Value> = map
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), secret_part(k, v, declared)?)))
                .collect();
            (!inner.is_empty()).then_some(Value::Object(inner))
        }
        Value::Array(items) => {
            let inner: Vec<Value> = items
                .iter()
                .map(|v| secret_part("", v, declared).unwrap_or(Value::Null))
                .collect();
            inner
                .iter()
                .any(|v| !v.is_null())
                .then_some(Value::Array(inner))
        }
        _ => None,
    }
}

fn restore_masked(new: &mut serde_json::Value, old: &serde_json::Value) {
    use serde_json::Value;
    if new.as_str() == Some(MASK) {
        *new = old.clone();
        return;
    }
    match (new, old) {
        (Value::Object(n), Value::Object(o)) => {
            for (k, v) in n.iter_mut() {
                if let Some(ov) = o.get(k) {
                    restore_masked(v, ov);
                }
            }
        }
        (Value::Array(n), Value::Array(o)) => {
            for (v, ov) in n.iter_mut().zip(o) {
                restore_masked(v, ov);
            }
        }
        _ => {}
    }
}

/// The operator's settings for one driver. Its `Debug` masks secret-named configuration
/// values, so logging settings never logs a password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriverSettings {
    /// The driver's configuration, readable through the `config` import:
    /// strings, numbers, booleans, arrays and nested tables.
    pub config: BTreeMap<String, serde_json::Value>,
    /// Capabilities the operator grants; the driver gets these ∩ its
    /// manifest's. Default: everything but `http`.
    pub grants: CapabilitySet,
    /// Outbound HTTP.
    pub http: HttpSettings,
    /// Limits per call.
    pub limits: Limits,
    /// What to do when a call faults.
    pub failure_policy: FailurePolicy,
}

impl Default for DriverSettings {
    fn default() -> Self {
        DriverSettings {
            config: BTreeMap::new(),
            grants: CapabilitySet::default_grants(),
            http: HttpSettings::default(),
            limits: Limits::default(),
            failure_policy: FailurePolicy::Fail,
        }
    }
}

impl std::fmt::Debug for DriverSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverSettings")
            .field("config", &self.masked(&[]).config)
            .field("grants", &self.grants)
            .field("http", &self.http)
            .field("limits", &self.limits)
            .field("failure_policy", &self.failure_policy)
            .finish()
    }
}

impl DriverSettings {
    /// These settings with secret configuration values (see [`is_secret_key`]) replaced by
    /// [`MASK`]: what the API and the CLI show.
    pub fn masked(&self, declared: &[String]) -> DriverSettings {
        let mut shown = self.clone();
        for (key, value) in shown.config.iter_mut() {
            mask_value(key, value, declared);
        }
        shown
    }

    /// Only the secret configuration values (see [`is_secret_key`]), at their paths: what is
    /// stored once per driver instead of in every stored version (which keeps
    /// [`masked`](Self::masked) settings). [`keep_masked_from`](Self::keep_masked_from) with
    /// these puts them back.
    pub fn secret_values(&self, declared: &[String]) -> DriverSettings {
        let mut secrets = DriverSettings {
            config: BTreeMap::new(),
            ..self.clone()
        };
        for (key, value) in &self.config {
            if let Some(v) = secret_part(key, value, declared) {
                secrets.config.insert(key.clone(), v);
            }
        }
        secrets
    }

    /// Put back the secrets a client sent as [`MASK`]: a configuration value (at any depth)
    /// that is exactly `****` where `previous` has a value means "unchanged", so sending back
    /// what `GET` showed never overwrites a password with the mask.
    pub fn keep_masked_from(&mut self, previous: &DriverSettings) {
        for (key, value) in self.config.iter_mut() {
            if let Some(old) = previous.config.get(key) {
                restore_masked(value, old);
            }
        }
    }

    /// Default settings with `config` set.
    pub fn with_config<K: Into<String>, V: Into<serde_json::Value>>(
        config: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        DriverSettings {
            config: config
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..DriverSettings::default()
        }
    }
}

/// Outbound HTTP settings of a driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Allowed destinations, `scheme://host[:port|:*][/path-prefix]`, e.g.
    /// `https://ctrl.example.net:8443/api`. Empty denies everything.
    pub allow: Vec<String>,
    /// Longest time one request may take.
    #[serde(rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Keep connections alive and reuse them per destination (default);
    /// `false` opens a connection per request.
    pub keep_alive: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            allow: Vec::new(),
            timeout: Duration::from_secs(10),
            max_response_bytes: 1 << 20,
            keep_alive: true,
        }
    }
}

/// Limits applied to every call of a driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest linear memory, in MiB.
    pub memory_mib: u64,
    /// CPU budget of precommit hooks, `bind_port` and `initialize`.
    #[serde(rename = "precommit_cpu_ms", with = "millis")]
    pub precommit_cpu: Duration,
    /// Wall-clock budget of precommit hooks, `bind_port` and `initialize`.
    #[serde(rename = "precommit_wall_ms", with = "millis")]
    pub precommit_wall: Duration,
    /// CPU budget of postcommit hooks.
    #[serde(rename = "postcommit_cpu_ms", with = "millis")]
    pub postcommit_cpu: Duration,
    /// Wall-clock budget of postcommit hooks (covers HTTP).
    #[serde(rename = "postcommit_wall_ms", with = "millis")]
    pub postcommit_wall: Duration,
    /// Calls that may run at once.
    pub max_concurrent_calls: usize,
    /// How long a call waits for a free slot before failing as busy.
    #[serde(rename = "queue_timeout_ms", with = "millis")]
    pub queue_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mib: 64,
            precommit_cpu: Duration::from_millis(200),
            precommit_wall: Duration::from_secs(2),
            postcommit_cpu: Duration::from_secs(5),
            postcommit_wall: Duration::from_secs(30),
            max_concurrent_calls: 32,
            queue_timeout: Duration::from_secs(1),
        }
    }
}

impl Limits {
    /// The (CPU, wall-clock) budget of a call in `phase`.
    pub fn budget(&self, phase: Phase) -> (Duration, Duration) {
        match phase {
            Phase::Postcommit => (self.postcommit_cpu, self.postcommit_wall),
            Phase::Initialize | Phase::Precommit | Phase::BindPort => {
                (self.precommit_cpu, self.precommit_wall)
            }
        }
    }
}

/// (De)serialize a [`Duration`] as integer milliseconds.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Capability;

    #[test]
    fn settings_read_from_toml_keep_defaults_for_what_is_not_said() {
        let settings: DriverSettings = toml::from_str(
            r#"
            failure_policy = "skip"
            grants = ["log", "http"]
            [config]
            controller_url = "http://ctrl:8080"
            [http]
            allow = ["http://ctrl:8080/api"]
            [limits]
            precommit_cpu_ms = 50
            "#,
        )
        .unwrap();
        assert_eq!(settings.failure_policy, FailurePolicy::Skip);
        assert!(settings.grants.contains(Capability::Http));
        assert!(!settings.grants.contains(Capability::State));
        assert_eq!(settings.config["controller_url"], "http://ctrl:8080");
        assert_eq!(settings.limits.precommit_cpu, Duration::from_millis(50));
        assert_eq!(settings.limits.memory_mib, 64);
        assert_eq!(settings.http.timeout, Duration::from_secs(10));
    }

    #[test]
    fn default_settings_grant_everything_but_http() {
        let settings: DriverSettings = toml::from_str("").unwrap();
        assert_eq!(settings.grants, CapabilitySet::default_grants());
        assert!(!settings.grants.contains(Capability::Http));
    }

    #[test]
    fn configuration_holds_numbers_booleans_arrays_and_nested_tables() {
        let settings: DriverSettings = toml::from_str(
            r#"
            [config]
            retries = 3
            verify_tls = false
            [[config.switches]]
            name = "tor-1"
            password = "s3cret"
            host_interfaces = { compute-1 = ["eth1", "eth2"] }
            "#,
        )
        .unwrap();
        assert_eq!(settings.config["retries"], 3);
        assert_eq!(settings.config["verify_tls"], false);
        assert_eq!(
            settings.config["switches"][0]["host_interfaces"]["compute-1"][1],
            "eth2"
        );
        let shown = settings.masked(&[]);
        assert_eq!(shown.config["switches"][0]["password"], MASK);
        assert_eq!(shown.config["switches"][0]["name"], "tor-1");
        assert_eq!(shown.config["retries"], 3);
    }

    #[test]
    fn a_masked_secret_sent_back_keeps_the_stored_one() {
        let stored = DriverSettings::with_config([
            ("password", serde_json::json!("s3cret")),
            ("url", serde_json::json!("http://x")),
            (
                "switches",
                serde_json::json!([{"name": "tor-1", "password": "p1"}]),
            ),
        ]);
        let mut sent = stored.masked(&[]);
        sent.config
            .insert("url".into(), serde_json::json!("http://y"));

        sent.keep_masked_from(&stored);

        assert_eq!(sent.config["password"], "s3cret");
        assert_eq!(sent.config["switches"][0]["password"], "p1");
        assert_eq!(sent.config["url"], "http://y");
    }

    #[test]
    fn secret_values_hold_only_the_secrets_and_restore_a_masked_copy() {
        let stored = DriverSettings::with_config([
            ("password", serde_json::json!("s3cret")),
            ("url", serde_json::json!("http://x")),
            (
                "switches",
                serde_json::json!([{"name": "tor-1"}, {"name": "tor-2", "password": "p2"}]),
            ),
        ]);
        let secrets = stored.secret_values(&[]);
        assert_eq!(
            serde_json::to_value(&secrets.config).unwrap(),
            serde_json::json!({"password": "s3cret", "switches": [null, {"password": "p2"}]})
        );
        let mut version = stored.masked(&[]);
        assert!(!serde_json::to_string(&version).unwrap().contains("s3cret"));
        version.keep_masked_from(&secrets);
        assert_eq!(version, stored);
    }

    #[test]
    fn unknown_settings_are_refused() {
        let err = toml::from_str::<DriverSettings>("[limits]\nmemory = 1").unwrap_err();
        assert!(err.to_string().contains("memory"), "{err}");
    }

    #[test]
    fn secret_values_are_masked_by_name_or_declaration() {
        let settings = DriverSettings::with_config([
            ("password", "a"),
            ("Controller_Password", "b"),
            ("token", "c"),
            ("community", "d"),
            ("url", "http://x"),
        ]);
        let shown = settings.masked(&["community".to_string()]);
        assert_eq!(shown.config["password"], MASK);
        assert_eq!(shown.config["Controller_Password"], MASK);
        assert_eq!(shown.config["token"], MASK);
        assert_eq!(shown.config["community"], MASK);
        assert_eq!(shown.config["url"], "http://x");
        let logged = format!("{settings:?}");
        assert!(
            !logged.contains("\"a\"") && !logged.contains("\"c\""),
            "{logged}"
        );
        assert!(logged.contains("http://x"), "{logged}");
    }
}
