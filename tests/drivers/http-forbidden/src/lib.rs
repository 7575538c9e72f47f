//! Hostile test driver: `create_port_postcommit` sends `GET` to config `url`
//! (default: the cloud metadata service), a destination the operator did not
//! allow, and fails with the host's answer. Every other hook succeeds.

use neutrino_driver::{DriverError, MechanismDriver, PortContext, config, http};

#[derive(Default)]
struct HttpForbidden;

impl MechanismDriver for HttpForbidden {
    fn create_port_postcommit(&self, _ctx: &PortContext) -> Result<(), DriverError> {
        let url =
            config::get("url").unwrap_or_else(|| "http://169.254.169.254/latest/meta-data/".into());
        let response = http::Client::new().get(&url)?;
        Err(DriverError::internal(format!(
            "the host let a forbidden request through: {url} answered {}",
            response.status
        )))
    }
}

neutrino_driver::export!(HttpForbidden);
