//! The operator's settings, under networking-odl's `[ml2_odl]` option names.

use neutrino_driver::{DriverError, config};
use serde::Deserialize;

/// `[drivers.settings.opendaylight.config]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The neutron northbound base, e.g. `http://odl:8080/controller/nb/v2/neutron`.
    pub url: String,
    /// HTTP Basic user.
    pub username: String,
    /// HTTP Basic password.
    pub password: String,
    /// Seconds one request may take (networking-odl: 10).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Replay everything when ODL lost its state (canary network missing). Neutrino's
    /// option; networking-odl always does.
    #[serde(default = "default_true")]
    pub enable_full_sync: bool,
    /// Seconds between two reads of ODL's host configurations (networking-odl: 30).
    #[serde(default = "default_poll")]
    pub restconf_poll_interval: u64,
    /// Seconds between two canary checks (networking-odl's maintenance interval: 300).
    #[serde(default = "default_maintenance")]
    pub maintenance_interval: u64,
    /// Path of the host configurations on ODL's RESTCONF server (same scheme, host and
    /// port as `url`).
    #[serde(default = "default_hostconf_uri")]
    pub odl_hostconf_uri: String,
}

fn default_timeout() -> u64 {
    10
}
fn default_true() -> bool {
    true
}
fn default_poll() -> u64 {
    30
}
fn default_maintenance() -> u64 {
    300
}
fn default_hostconf_uri() -> String {
    "/restconf/operational/neutron:neutron/hostconfigs".into()
}

impl Settings {
    /// The settings the operator gave, checked.
    pub fn load() -> Result<Settings, DriverError> {
        let mut s: Settings = config::load()?;
        s.url = s.url.trim_end_matches('/').to_string();
        if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
            return Err(DriverError::invalid_input(format!(
                "config `url`: {:?} is not an http:// or https:// URL",
                s.url
            )));
        }
        if s.timeout == 0 {
            return Err(DriverError::invalid_input(
                "config `timeout`: must be at least 1 second",
            ));
        }
        Ok(s)
    }

    /// `scheme://host[:port]` of `url` (networking-odl's `get_odl_url`).
    pub fn origin(&self) -> &str {
        let after_scheme = self.url.find("://").map(|i| i + 3).unwrap_or(0);
        match self.url[after_scheme..].find('/') {
            Some(i) => &self.url[..after_scheme + i],
            None => &self.url,
        }
    }

    /// The URL of ODL's host configurations.
    pub fn hostconfigs_url(&self) -> String {
        format!("{}{}", self.origin(), self.odl_hostconf_uri)
    }
}
