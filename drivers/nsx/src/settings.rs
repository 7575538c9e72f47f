//! The operator's settings, with vmware-nsx's `[nsx_p]` option names.

use neutrino_driver::{DriverError, config};
use serde::Deserialize;

/// The driver's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The NSX Managers: `https://nsx-1.example`, or a bare address (HTTPS assumed).
    pub nsx_api_managers: Vec<String>,
    /// The API user.
    pub nsx_api_user: String,
    /// Its password.
    pub nsx_api_password: String,
    /// Transport zone of overlay networks (VXLAN, Geneve, local).
    #[serde(default)]
    pub default_overlay_tz: Option<String>,
    /// Transport zone of VLAN and flat networks.
    #[serde(default)]
    pub default_vlan_tz: Option<String>,
    /// The tier-0 gateway external networks lead to.
    #[serde(default)]
    pub default_tier0_router: Option<String>,
    /// How many times to ask whether NSX realized a new segment.
    #[serde(default = "max_attempts")]
    pub realization_max_attempts: u32,
    /// Seconds between two of those questions.
    #[serde(default = "wait_sec")]
    pub realization_wait_sec: f64,
}

fn max_attempts() -> u32 {
    50
}

fn wait_sec() -> f64 {
    1.0
}

impl Settings {
    /// The configuration, checked.
    pub fn load() -> Result<Self, DriverError> {
        let settings: Settings = config::load()?;
        if settings.nsx_api_managers.is_empty() {
            return Err(DriverError::invalid_input(
                "config `nsx_api_managers`: name at least one NSX Manager",
            ));
        }
        Ok(settings)
    }

    /// The managers as base URLs without a trailing slash.
    pub fn managers(&self) -> Vec<String> {
        self.nsx_api_managers
            .iter()
            .map(|m| {
                let m = m.trim().trim_end_matches('/');
                if m.starts_with("http://") || m.starts_with("https://") {
                    m.to_string()
                } else {
                    format!("https://{m}")
                }
            })
            .collect()
    }
}
