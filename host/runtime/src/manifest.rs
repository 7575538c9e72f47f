//! The driver manifest: `driver.toml` beside the `.wasm`, and the same TOML
//! embedded in the component by the SDK (custom section
//! `neutrino:manifest`), so a bare `.wasm` upload describes itself.
//!
//! ```toml
//! name = "openvswitch"
//! version = "0.1.0"
//! contract = "neutrino:ml2@0.1.0"
//! description = "Binds ports to Open vSwitch agents"
//! capabilities = ["log", "config", "agents"]
//! journal = true            # postcommit hooks delivered in the background (default false)
//! periodic_interval = 30    # seconds between `periodic` calls (0.2; absent: never)
//! hooks = ["create_port_postcommit", "delete_port_postcommit"]  # the only hooks called
//! ```
//!
//! When both exist they must agree ([`reconcile`]).

use crate::capability::CapabilitySet;
use crate::error::LoadError;
use serde::{Deserialize, Serialize};

/// The custom section the SDK writes the manifest into.
pub const SECTION: &str = "neutrino:manifest";

/// Longest accepted driver name.
const MAX_NAME_LEN: usize = 64;

/// A driver's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The driver's name: lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// The driver's own version.
    pub version: String,
    /// The contract it was built for, e.g. `neutrino:ml2@0.1.0`.
    pub contract: String,
    /// One line for operators.
    #[serde(default)]
    pub description: String,
    /// The capabilities it uses.
    #[serde(default)]
    pub capabilities: CapabilitySet,
    /// Configuration paths that hold the URLs the driver may reach (`url`,
    /// `nsx_api_managers`, `switches.*.url`, `https://{switches.*}`): each URL's origin is
    /// allowed as if listed in `http.allow` ([`crate::net::destinations`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<String>,
    /// Configuration paths of booleans (`switches.*.https_verify`): a `false` one turns
    /// certificate verification off for the destinations named through the same table entry
    /// ([`crate::net::destinations`]); every other destination is verified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_verify: Vec<String>,
    /// Configuration keys that hold secrets (besides the ones secret by name, see
    /// [`crate::config::is_secret_key`]): never shown by the API or the CLI, never logged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Whether the driver's postcommit hooks are journaled: recorded in the request's
    /// transaction and delivered in the background, in order, retried while the driver
    /// answers `unavailable` (see `neutrino_ml2::mech::journal`). Default: called at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub journal: bool,
    /// Seconds between calls of the driver's `periodic` export (contract 0.2, optional
    /// export); absent: never called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periodic_interval: Option<u64>,
    /// The hooks the driver implements (`create_port_postcommit`, …; every name in
    /// [`crate::call::HOOKS`]); absent: all of them. The host calls no other hook of the
    /// driver: one left out behaves as a hook that returns at once, without an instance, and
    /// a journaled driver records no entry for a postcommit left out. `bind_port`,
    /// `initialize` and `periodic` are not hooks in this sense and are called as always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Vec<String>>,
}

impl Manifest {
    /// Parse and validate a manifest. Errors name the driver when known.
    pub fn parse(toml_text: &str) -> Result<Manifest, LoadError> {
        let manifest: Manifest = toml::from_str(toml_text).map_err(|e| LoadError::Manifest {
            driver: None,
            message: e.message().to_string(),
        })?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), LoadError> {
        let invalid = |message: String| LoadError::Manifest {
            driver: Some(self.name.clone()),
            message,
        };
        let name_ok = !self.name.is_empty()
            && self.name.len() <= MAX_NAME_LEN
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(LoadError::Manifest {
                driver: None,
                message: format!(
                    "name {:?} must be 1 to {MAX_NAME_LEN} lowercase letters, digits, `-` or `_`",
                    self.name
                ),
            });
        }
        if self.version.is_empty() || self.version.len() > MAX_NAME_LEN {
            return Err(invalid(format!(
                "version {:?} is empty or too long",
                self.version
            )));
        }
        if crate::contract::parse_contract_id(&self.contract).is_none() {
            return Err(invalid(format!(
                "contract {:?} is not of the form `neutrino:ml2@MAJOR.MINOR.PATCH`",
                self.contract
            )));
        }
        if let Some(hooks) = &self.hooks {
            let unknown: Vec<&str> = hooks
                .iter()
                .map(String::as_str)
                .filter(|h| !crate::call::HOOKS.contains(h))
                .collect();
            if !unknown.is_empty() {
                return Err(invalid(format!(
                    "hooks: unknown hook {} (hooks are named as the contract's functions with `_`, \
                     e.g. `create_port_postcommit`)",
                    unknown.join(", ")
                )));
            }
        }
        if self.periodic_interval == Some(0) {
            return Err(invalid(
                "periodic_interval must be at least 1 second (leave it out for never)".into(),
            ));
        }
        Ok(())
    }
}

/// The manifest embedded in a component, if any: the first custom section
/// named [`SECTION`] at any nesting level (the SDK writes it into the core
/// module, which the component wraps). `driver` names the driver in the
/// error if the bytes are not WebAssembly.
pub fn embedded(wasm: &[u8], driver: Option<&str>) -> Result<Option<Manifest>, LoadError> {
    match find_custom_section(wasm, SECTION, 0) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => {
            let text = std::str::from_utf8(bytes).map_err(|_| LoadError::Manifest {
                driver: None,
                message: format!("the embedded `{SECTION}` section is not UTF-8"),
            })?;
            Manifest::parse(text).map(Some)
        }
        Err(message) => Err(LoadError::Compile {
            driver: driver.unwrap_or("<unknown>").to_string(),
            message: format!("not a WebAssembly binary: {message}"),
        }),
    }
}

/// The manifest of a driver given its embedded manifest and the
/// `driver.toml` shipped beside it: either alone, or both when they agree.
pub fn reconcile(
    embedded: Option<Manifest>,
    file: Option<Manifest>,
) -> Result<Manifest, LoadError> {
    match (embedded, file) {
        (None, None) => Err(LoadError::Manifest {
            driver: None,
            message: format!(
                "no manifest: the component has no `{SECTION}` section and no driver.toml was given"
            ),
        }),
        (Some(m), None) | (None, Some(m)) => Ok(m),
        (Some(e), Some(f)) => {
            let fields: [(&str, String, String); 8] = [
                ("name", e.name.clone(), f.name.clone()),
                ("version", e.version.clone(), f.version.clone()),
                ("contract", e.contract.clone(), f.contract.clone()),
                ("description", e.description.clone(), f.description.clone()),
                (
                    "capabilities",
                    e.capabilities.to_string(),
                    f.capabilities.to_string(),
                ),
                ("journal", e.journal.to_string(), f.journal.to_string()),
                (
                    "periodic_interval",
                    format!("{:?}", e.periodic_interval),
                    format!("{:?}", f.periodic_interval),
                ),
                ("hooks", format!("{:?}", e.hooks), format!("{:?}", f.hooks)),
            ];
            match fields.into_iter().find(|(_, a, b)| a != b) {
                Some((field, embedded, file)) => Err(LoadError::ManifestMismatch {
                    driver: f.name,
                    field,
                    embedded,
                    file,
                }),
                None => Ok(f),
            }
        }
    }
}

/// How deep nested modules/components are searched.
const MAX_NESTING: usize = 4;

/// Walk the sections of a module or component (both start with the 4-byte
/// magic and a 4-byte version/layer word) and return the contents of the
/// custom section `name`, descending into nested core modules (section 1)
/// and components (section 4).
fn find_custom_section<'a>(
    wasm: &'a [u8],
    name: &str,
    depth: usize,
) -> Result<Option<&'a [u8]>, String> {
    const MAGIC: &[u8] = b"\0asm";
    if wasm.len() < 8 || &wasm[..4] != MAGIC {
        return Err("missing the `\\0asm` header".into());
    }
    let is_component = wasm[6..8] == [1, 0];
    let mut rest = &wasm[8..];
    while !rest.is_empty() {
        let id = rest[0];
        rest = &rest[1..];
        let size = read_leb_u32(&mut rest)? as usize;
        if size > rest.len() {
            return Err("a section runs past the end of the binary".into());
        }
        let (body, tail) = rest.split_at(size);
        rest = tail;
        match id {
            0 => {
                let mut b = body;
                let len = read_leb_u32(&mut b)? as usize;
                if len > b.len() {
                    return Err("a custom section name runs past its section".into());
                }
                if &b[..len] == name.as_bytes() {
                    return Ok(Some(&b[len..]));
                }
            }
            1 | 4 if is_component && depth < MAX_NESTING => {
                if let Some(found) = find_custom_section(body, name, depth + 1)? {
                    return Ok(Some(found));
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

fn read_leb_u32(bytes: &mut &[u8]) -> Result<u32, String> {
    let mut result: u32 = 0;
    for i in 0..5 {
        let Some((&byte, rest)) = bytes.split_first() else {
            return Err("truncated LEB128 number".into());
        };
        *bytes = rest;
        result |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(result);
        }
    }
    Err("LEB128 number too long".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OVS: &str = r#"
        name = "openvswitch"
        version = "0.1.0"
        contract = "neutrino:ml2@0.1.0"
        capabilities = ["log", "agents"]
    "#;

    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// A core module with one custom section `name` holding `data`.
    fn module_with_section(name: &str, data: &[u8]) -> Vec<u8> {
        let mut section = Vec::new();
        leb(name.len(), &mut section);
        section.extend_from_slice(name.as_bytes());
        section.extend_from_slice(data);
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.push(0);
        leb(section.len(), &mut wasm);
        wasm.extend(section);
        wasm
    }

    /// A component wrapping `module` (section 1).
    fn component_wrapping(module: &[u8]) -> Vec<u8> {
        let mut wasm = b"\0asm\x0d\0\x01\0".to_vec();
        wasm.push(1);
        leb(module.len(), &mut wasm);
        wasm.extend_from_slice(module);
        wasm
    }

    #[test]
    fn a_manifest_in_a_nested_core_module_is_found() {
        let wasm = component_wrapping(&module_with_section(SECTION, OVS.as_bytes()));
        let manifest = embedded(&wasm, None).unwrap().unwrap();
        assert_eq!(manifest.name, "openvswitch");
        assert_eq!(manifest.capabilities.to_string(), "log, agents");
    }

    #[test]
    fn a_component_without_the_section_has_no_manifest() {
        let wasm = component_wrapping(&module_with_section("producers", b"x"));
        assert_eq!(embedded(&wasm, None).unwrap(), None);
    }

    #[test]
    fn a_truncated_binary_is_an_error_not_a_panic() {
        let mut wasm = component_wrapping(&module_with_section(SECTION, OVS.as_bytes()));
        wasm.truncate(20);
        assert!(embedded(&wasm, None).is_err());
        assert!(embedded(b"nope", None).is_err());
    }

    #[test]
    fn embedded_and_file_manifests_must_agree() {
        let file = Manifest::parse(OVS).unwrap();
        let mut other = file.clone();
        other.version = "0.2.0".into();
        let err = reconcile(Some(other), Some(file.clone())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "driver `openvswitch`: driver.toml and the manifest embedded in the component disagree on `version` (driver.toml: \"0.1.0\", embedded: \"0.2.0\")"
        );
        assert_eq!(
            reconcile(Some(file.clone()), Some(file.clone())).unwrap(),
            file
        );
        assert!(reconcile(None, None).is_err());
    }

    #[test]
    fn invalid_manifests_are_refused_with_the_reason() {
        let err = Manifest::parse(
            "name = \"Bad Name\"\nversion = \"1\"\ncontract = \"neutrino:ml2@0.1.0\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("lowercase letters"), "{err}");
        let err = Manifest::parse("name = \"x\"\nversion = \"1\"\ncontract = \"ml2\"").unwrap_err();
        assert!(
            err.to_string().contains("neutrino:ml2@MAJOR.MINOR.PATCH"),
            "{err}"
        );
        let err = Manifest::parse("name = \"x\"\nversion = \"1\"\ncontract = \"neutrino:ml2@0.1.0\"\ncapabilities = [\"disk\"]").unwrap_err();
        assert!(err.to_string().contains("disk"), "{err}");
    }

    #[test]
    fn hooks_name_the_contracts_hooks_and_leave_out_the_others() {
        let base = "name = \"x\"\nversion = \"1\"\ncontract = \"neutrino:ml2@0.2.0\"\n";
        let m = Manifest::parse(&format!(
            "{base}hooks = [\"create_port_postcommit\", \"delete_port_postcommit\"]"
        ))
        .unwrap();
        assert_eq!(
            m.hooks.as_deref(),
            Some(
                &[
                    "create_port_postcommit".to_string(),
                    "delete_port_postcommit".into()
                ][..]
            )
        );
        assert_eq!(
            Manifest::parse(base).unwrap().hooks,
            None,
            "absent: all hooks"
        );
        let err = Manifest::parse(&format!(
            "{base}hooks = [\"create_port_postcommit\", \"bind_port\", \"create_port\"]"
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown hook bind_port, create_port"),
            "{err}"
        );
        // Embedded and driver.toml must agree on them too.
        let file = Manifest::parse(&format!("{base}hooks = [\"create_port_postcommit\"]")).unwrap();
        let err = reconcile(Some(Manifest::parse(base).unwrap()), Some(file)).unwrap_err();
        assert!(err.to_string().contains("`hooks`"), "{err}");
    }
}
