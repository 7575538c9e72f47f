//! The operator's settings, under networking-midonet's `[MIDONET]` option names and
//! defaults (`midonet/neutron/common/config.py`).

use neutrino_driver::{DriverError, config};
use serde::Deserialize;

/// `[drivers.settings.midonet.config]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The MidoNet API root.
    #[serde(default = "default_uri")]
    pub midonet_uri: String,
    /// The MidoNet admin user.
    #[serde(default = "default_username")]
    pub username: String,
    /// Its password.
    #[serde(default = "default_password")]
    pub password: String,
    /// The project the admin user belongs to (`X-Auth-Project` of the login).
    #[serde(default = "default_project_id")]
    pub project_id: String,
}

fn default_uri() -> String {
    "http://localhost:8080/midonet-api".into()
}
fn default_username() -> String {
    "admin".into()
}
fn default_password() -> String {
    "passw0rd".into()
}
fn default_project_id() -> String {
    "77777777-7777-7777-7777-777777777777".into()
}

impl Settings {
    /// The settings the operator gave, checked.
    pub fn load() -> Result<Settings, DriverError> {
        let mut s: Settings = config::load()?;
        s.midonet_uri = s.midonet_uri.trim_end_matches('/').to_string();
        if !(s.midonet_uri.starts_with("http://") || s.midonet_uri.starts_with("https://")) {
            return Err(DriverError::invalid_input(format!(
                "config `midonet_uri`: {:?} is not an http:// or https:// URL",
                s.midonet_uri
            )));
        }
        Ok(s)
    }
}
