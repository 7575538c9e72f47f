//! Capabilities: the host interfaces a driver may import.
//!
//! A driver declares the capabilities it uses in its manifest; the operator
//! grants capabilities per driver; the driver gets the intersection. A
//! component that *imports* an interface outside that set is refused at load
//! with a message naming the interface and why ([`check_imports`]).
//! Interfaces that are not capabilities are always allowed:
//! `neutrino:ml2/types`; from WASI only `wasi:io` and `wasi:cli`, which
//! Rust's standard library imports and which the host gives empty (no args,
//! no env, stdin closed, stderr captured); and `wasi:random/insecure-seed`,
//! which `std::collections::HashMap::new` reads and the host answers with a
//! fixed seed (no entropy reaches a driver). Drivers of contract 0.2 may
//! also read the clocks (`wasi:clocks/monotonic-clock` and
//! `wasi:clocks/wall-clock`). Any other import (filesystem, sockets, clocks
//! for 0.1 drivers, random numbers, `wasi:http`) is refused.

use crate::contract::Family;
use crate::error::{DenialReason, LoadError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A host interface a driver may import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// `neutrino:ml2/log`: write to the server's log.
    Log,
    /// `neutrino:ml2/config`: read the driver's own configuration.
    Config,
    /// `neutrino:ml2/state`: the driver's key-value store.
    State,
    /// `neutrino:ml2/agents`: list Neutron's agents.
    Agents,
    /// `neutrino:ml2/http`: outbound HTTP to allowed destinations, in
    /// postcommit only.
    Http,
    /// `neutrino:ml2/session`: the per-driver in-memory cache (0.2).
    Session,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 6] = [
        Capability::Log,
        Capability::Config,
        Capability::State,
        Capability::Agents,
        Capability::Http,
        Capability::Session,
    ];

    /// The name used in manifests and settings (`"http"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Config => "config",
            Capability::State => "state",
            Capability::Agents => "agents",
            Capability::Http => "http",
            Capability::Session => "session",
        }
    }

    /// The capability with this name.
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of capabilities; (de)serialized as a list of names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapabilitySet(u8);

impl CapabilitySet {
    /// No capability.
    pub const fn empty() -> Self {
        CapabilitySet(0)
    }

    /// Every capability.
    pub fn all() -> Self {
        Capability::ALL.into_iter().collect()
    }

    /// What the operator grants unless told otherwise: everything but
    /// `http`, which also needs destinations.
    pub fn default_grants() -> Self {
        [
            Capability::Log,
            Capability::Config,
            Capability::State,
            Capability::Agents,
            Capability::Session,
        ]
        .into_iter()
        .collect()
    }

    /// Whether `c` is in the set.
    pub fn contains(self, c: Capability) -> bool {
        self.0 & c.bit() != 0
    }

    /// Add `c`.
    pub fn insert(&mut self, c: Capability) {
        self.0 |= c.bit();
    }

    /// The capabilities in both sets.
    pub fn intersection(self, other: CapabilitySet) -> CapabilitySet {
        CapabilitySet(self.0 & other.0)
    }

    /// The capabilities, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = CapabilitySet::empty();
        for c in iter {
            set.insert(c);
        }
        set
    }
}

impl fmt::Debug for CapabilitySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for CapabilitySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Capability::as_str).collect();
        f.write_str(&names.join(", "))
    }
}

impl Serialize for CapabilitySet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for CapabilitySet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Capability>::deserialize(d)?.into_iter().collect())
    }
}

/// What one import of a component is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Import<'a> {
    /// A capability interface of the contract.
    Capability(Capability),
    /// Needed by every driver and harmless: contract types, `wasi:io`,
    /// `wasi:cli`.
    Always,
    /// Anything else.
    Forbidden(&'a str),
}

fn classify(name: &str, family: Family) -> Import<'_> {
    let unversioned = name.split('@').next().unwrap_or(name);
    if let Some(interface) = unversioned.strip_prefix(crate::contract::PACKAGE_PREFIX) {
        return match interface {
            "types" => Import::Always,
            other => Capability::from_name(other)
                .map(Import::Capability)
                .unwrap_or(Import::Forbidden(name)),
        };
    }
    if unversioned.starts_with("wasi:io/")
        || unversioned.starts_with("wasi:cli/")
        || unversioned == "wasi:random/insecure-seed"
    {
        return Import::Always;
    }
    if family != Family::V0_1
        && (unversioned == "wasi:clocks/monotonic-clock" || unversioned == "wasi:clocks/wall-clock")
    {
        return Import::Always;
    }
    Import::Forbidden(name)
}

/// The capabilities a component's imports use, after checking each import
/// against the manifest's declared capabilities and the operator's grants
/// (and, for WASI, what the driver's contract `family` allows).
pub fn check_imports<'a>(
    driver: &str,
    family: Family,
    imports: impl IntoIterator<Item = &'a str>,
    declared: CapabilitySet,
    granted: CapabilitySet,
) -> Result<CapabilitySet, LoadError> {
    let mut used = CapabilitySet::empty();
    for name in imports {
        match classify(name, family) {
            Import::Always => {}
            Import::Forbidden(interface) => {
                return Err(LoadError::ForbiddenImport {
                    driver: driver.to_string(),
                    interface: interface.to_string(),
                });
            }
            Import::Capability(capability) => {
                let reason = if !declared.contains(capability) {
                    Some(DenialReason::NotDeclared)
                } else if !granted.contains(capability) {
                    Some(DenialReason::NotGranted)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(LoadError::CapabilityNotGranted {
                        driver: driver.to_string(),
                        interface: name.to_string(),
                        capability,
                        reason,
                    });
                }
                used.insert(capability);
            }
        }
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(caps: &[Capability]) -> CapabilitySet {
        caps.iter().copied().collect()
    }

    #[test]
    fn an_import_the_operator_did_not_grant_is_refused_naming_interface_and_capability() {
        let err = check_imports(
            "x",
            Family::V0_1,
            ["neutrino:ml2/log@0.1.0", "neutrino:ml2/http@0.1.0"],
            CapabilitySet::all(),
            set(&[Capability::Log]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "driver `x` imports `neutrino:ml2/http@0.1.0` but the operator did not grant `http`"
        );
    }

    #[test]
    fn an_import_the_manifest_does_not_declare_is_refused() {
        let err = check_imports(
            "x",
            Family::V0_1,
            ["neutrino:ml2/state@0.1.0"],
            set(&[Capability::Log]),
            CapabilitySet::all(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "driver `x` imports `neutrino:ml2/state@0.1.0` but its manifest does not declare `state`"
        );
    }

    #[test]
    fn wasi_beyond_io_cli_and_the_hash_seed_is_refused() {
        for import in [
            "wasi:random/insecure@0.2.6",
            "wasi:filesystem/types@0.2.6",
            "wasi:sockets/tcp@0.2.6",
            "wasi:clocks/wall-clock@0.2.6",
            "wasi:random/random@0.2.6",
        ] {
            let err = check_imports(
                "x",
                Family::V0_1,
                [import],
                CapabilitySet::all(),
                CapabilitySet::all(),
            )
            .unwrap_err();
            assert!(
                matches!(err, LoadError::ForbiddenImport { .. }),
                "{import}: {err}"
            );
        }
    }

    #[test]
    fn contract_0_2_drivers_may_read_the_clocks_and_nothing_more() {
        for import in [
            "wasi:clocks/wall-clock@0.2.6",
            "wasi:clocks/monotonic-clock@0.2.6",
        ] {
            check_imports(
                "x",
                Family::V0_2,
                [import],
                CapabilitySet::all(),
                CapabilitySet::all(),
            )
            .unwrap();
        }
        for import in [
            "wasi:clocks/timezone@0.2.6",
            "wasi:filesystem/types@0.2.6",
            "wasi:random/random@0.2.6",
        ] {
            let err = check_imports(
                "x",
                Family::V0_2,
                [import],
                CapabilitySet::all(),
                CapabilitySet::all(),
            )
            .unwrap_err();
            assert!(
                matches!(err, LoadError::ForbiddenImport { .. }),
                "{import}: {err}"
            );
        }
    }

    #[test]
    fn types_io_and_cli_are_always_allowed_and_used_capabilities_are_reported() {
        let used = check_imports(
            "x",
            Family::V0_1,
            [
                "neutrino:ml2/types@0.1.0",
                "wasi:io/streams@0.2.6",
                "wasi:cli/stderr@0.2.6",
                "neutrino:ml2/agents@0.1.0",
            ],
            CapabilitySet::all(),
            CapabilitySet::default_grants(),
        )
        .unwrap();
        assert_eq!(used, set(&[Capability::Agents]));
    }

    #[test]
    fn capability_sets_serialize_as_lists_of_names() {
        let parsed: CapabilitySet = serde_json::from_str(r#"["http","log"]"#).unwrap();
        assert_eq!(parsed, set(&[Capability::Log, Capability::Http]));
        assert_eq!(serde_json::to_string(&parsed).unwrap(), r#"["log","http"]"#);
    }
}
