//! Contract versions: which `neutrino:ml2` versions this host runs, and
//! which one a component was built for.
//!
//! A component's contract version is read from the name of its exported
//! interface, `neutrino:ml2/mechanism@X.Y.Z`. Versions are compatible in the
//! semver sense: same major, and for `0.x` the same minor. Each supported
//! family has its own bindings module in [`abi`](crate::abi).

use std::fmt;

/// The contract's package name.
pub const PACKAGE: &str = "neutrino:ml2";
/// `neutrino:ml2/`, the prefix of every contract interface.
pub const PACKAGE_PREFIX: &str = "neutrino:ml2/";
/// The interface every driver exports.
pub const MECHANISM: &str = "neutrino:ml2/mechanism";

/// A contract version, `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl Version {
    /// Parse `X.Y.Z` (no pre-release or build metadata).
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.split('.').map(|p| p.parse::<u64>().ok());
        let v = Version {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A family of mutually compatible contract versions this host supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `0.1.x`.
    V0_1,
    /// `0.2.x`: atomic state operations, sessions, clocks, structured
    /// configuration, security-group hooks.
    V0_2,
}

impl Family {
    /// The families this host supports, newest first.
    pub const SUPPORTED: [Family; 2] = [Family::V0_2, Family::V0_1];

    /// The version this host's bindings were generated from.
    pub fn host_version(self) -> Version {
        match self {
            Family::V0_1 => Version {
                major: 0,
                minor: 1,
                patch: 0,
            },
            Family::V0_2 => Version {
                major: 0,
                minor: 2,
                patch: 0,
            },
        }
    }

    /// The family `v` belongs to, if supported.
    pub fn of(v: Version) -> Option<Family> {
        Family::SUPPORTED.into_iter().find(|f| {
            let h = f.host_version();
            if h.major == 0 {
                v.major == 0 && v.minor == h.minor
            } else {
                v.major == h.major
            }
        })
    }

    /// `0.1.x`.
    pub fn pattern(self) -> String {
        let h = self.host_version();
        if h.major == 0 {
            format!("{}.{}.x", h.major, h.minor)
        } else {
            format!("{}.x", h.major)
        }
    }
}

/// The supported versions as errors show them: `0.1.x`.
pub fn supported_description() -> String {
    Family::SUPPORTED
        .iter()
        .map(|f| f.pattern())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The version in a contract id `neutrino:ml2@X.Y.Z`, if it is one.
pub fn parse_contract_id(id: &str) -> Option<Version> {
    let (package, version) = id.split_once('@')?;
    (package == PACKAGE).then_some(())?;
    Version::parse(version)
}

/// The contract version of an export named `neutrino:ml2/mechanism@X.Y.Z`.
pub fn parse_mechanism_export(name: &str) -> Option<Version> {
    let (interface, version) = name.split_once('@')?;
    (interface == MECHANISM).then_some(())?;
    Version::parse(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_minor_versions_are_compatible_within_the_minor_only() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(Family::of(v("0.1.0")), Some(Family::V0_1));
        assert_eq!(Family::of(v("0.1.7")), Some(Family::V0_1));
        assert_eq!(Family::of(v("0.2.0")), Some(Family::V0_2));
        assert_eq!(Family::of(v("0.2.3")), Some(Family::V0_2));
        assert_eq!(Family::of(v("0.3.0")), None);
        assert_eq!(Family::of(v("9.0.0")), None);
        assert_eq!(supported_description(), "0.2.x, 0.1.x");
    }

    #[test]
    fn contract_ids_and_export_names_are_parsed() {
        assert_eq!(
            parse_contract_id("neutrino:ml2@0.1.0").map(|v| v.to_string()),
            Some("0.1.0".into())
        );
        assert_eq!(parse_contract_id("other:ml2@0.1.0"), None);
        assert_eq!(parse_contract_id("neutrino:ml2@0.1"), None);
        assert_eq!(
            parse_mechanism_export("neutrino:ml2/mechanism@9.0.0").map(|v| v.major),
            Some(9)
        );
        assert_eq!(parse_mechanism_export("neutrino:ml2/log@0.1.0"), None);
    }
}
