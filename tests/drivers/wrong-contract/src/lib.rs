//! Test driver built against `neutrino:ml2@9.0.0` (see `wit/`), a contract
//! version this host does not support. It uses wit-bindgen directly because
//! the SDK speaks 0.1.0; it embeds its manifest the way the SDK does.

wit_bindgen::generate!({
    path: "wit",
    world: "neutrino:ml2/mechanism-driver@9.0.0",
});

#[unsafe(link_section = "neutrino:manifest")]
#[used]
static MANIFEST: [u8; include_bytes!("../driver.toml").len()] = *include_bytes!("../driver.toml");

struct WrongContract;

impl exports::neutrino::ml2::mechanism::Guest for WrongContract {
    fn initialize() -> Result<(), String> {
        Ok(())
    }
}

export!(WrongContract);
