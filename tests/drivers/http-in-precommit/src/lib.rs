//! Test driver: `create_port_precommit` and `create_port_postcommit` both
//! send `GET` to config `url` and succeed only on a 2xx answer. The host must
//! deny the precommit request and let the postcommit one through when the
//! destination is allowed.

use neutrino_driver::{DriverError, MechanismDriver, PortContext, config, http};

#[derive(Default)]
struct HttpInPrecommit;

fn get_configured_url() -> Result<(), DriverError> {
    let url = config::require("url")?;
    let response = http::Client::new().get(&url)?;
    if response.is_success() {
        Ok(())
    } else {
        Err(DriverError::unavailable(format!(
            "{url} answered {}",
            response.status
        )))
    }
}

impl MechanismDriver for HttpInPrecommit {
    fn create_port_precommit(&self, _ctx: &PortContext) -> Result<(), DriverError> {
        get_configured_url()
    }

    fn create_port_postcommit(&self, _ctx: &PortContext) -> Result<(), DriverError> {
        get_configured_url()
    }
}

neutrino_driver::export!(HttpInPrecommit);
