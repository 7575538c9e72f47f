//! `[ml2] extension_drivers`: Neutron's ML2 extension drivers this server serves, by
//! Neutron's names. All are on unless the option lists some; then only those are, and the
//! others' attributes are neither accepted nor shown and their aliases are not advertised.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use crate::attrs::Attr;

/// One ML2 extension driver: what it adds to the API.
#[derive(Debug)]
pub struct ExtensionDriver {
    /// Neutron's entry point name (`port_numa_affinity_policy`).
    pub name: &'static str,
    /// The extension aliases it brings.
    pub aliases: &'static [&'static str],
    /// The `(member, attribute)` pairs it adds to resources.
    pub attrs: &'static [(&'static str, &'static str)],
    /// The `(member, attribute)` pairs it lets clients set on create (an attribute that
    /// exists without it, read-only on create).
    pub on_create: &'static [(&'static str, &'static str)],
}

/// The ML2 extension drivers Neutrino serves (Neutron's names).
pub const EXTENSION_DRIVERS: &[ExtensionDriver] = &[
    ExtensionDriver {
        name: "port_security",
        aliases: &["port-security"],
        attrs: &[
            ("network", "port_security_enabled"),
            ("port", "port_security_enabled"),
        ],
        on_create: &[],
    },
    ExtensionDriver {
        name: "port_device_profile",
        aliases: &["port-device-profile"],
        attrs: &[("port", "device_profile")],
        on_create: &[],
    },
    ExtensionDriver {
        name: "port_numa_affinity_policy",
        aliases: &[
            "port-numa-affinity-policy",
            "port-numa-affinity-policy-socket",
        ],
        attrs: &[("port", "numa_affinity_policy")],
        on_create: &[],
    },
    ExtensionDriver {
        name: "tag_ports_during_bulk_creation",
        aliases: &["tag-ports-during-bulk-creation"],
        attrs: &[],
        on_create: &[("port", "tags")],
    },
    // networking-cisco's: marks networks created with `provider:segmentation_id` as
    // provider networks (`is_provider_network` in the dict mechanism drivers get on create),
    // which the `cisco_nexus` driver's `provider_vlan_auto_*` options need. Nothing in the API.
    ExtensionDriver {
        name: "cisco_providernet_ext",
        aliases: &[],
        attrs: &[],
        on_create: &[],
    },
];

/// A name in `[ml2] extension_drivers` that names no driver this server has.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown ML2 extension driver '{name}' (known: {known})",
    known = EXTENSION_DRIVERS.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
)]
pub struct UnknownExtensionDriver {
    /// The name.
    pub name: String,
}

/// Which extension drivers are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionDrivers {
    off: Vec<&'static ExtensionDriver>,
}

impl Default for ExtensionDrivers {
    fn default() -> Self {
        ExtensionDrivers::all()
    }
}

impl PartialEq for ExtensionDriver {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for ExtensionDriver {}

impl ExtensionDrivers {
    /// Every driver on (the default).
    pub fn all() -> Self {
        ExtensionDrivers { off: Vec::new() }
    }

    /// Only the drivers `names` lists (`None`: the option is not set, all on).
    pub fn only(names: Option<&[String]>) -> Result<Self, UnknownExtensionDriver> {
        let Some(names) = names else {
            return Ok(Self::all());
        };
        if let Some(unknown) = names
            .iter()
            .find(|n| !EXTENSION_DRIVERS.iter().any(|d| d.name == n.as_str()))
        {
            return Err(UnknownExtensionDriver {
                name: unknown.clone(),
            });
        }
        Ok(ExtensionDrivers {
            off: EXTENSION_DRIVERS
                .iter()
                .filter(|d| !names.iter().any(|n| n == d.name))
                .collect(),
        })
    }

    /// The names of the drivers that are on.
    pub fn enabled(&self) -> Vec<&'static str> {
        EXTENSION_DRIVERS
            .iter()
            .filter(|d| !self.off.contains(d))
            .map(|d| d.name)
            .collect()
    }

    /// Whether the driver named `name` is on.
    pub fn is_on(&self, name: &str) -> bool {
        EXTENSION_DRIVERS.iter().any(|d| d.name == name) && !self.off.iter().any(|d| d.name == name)
    }

    /// Whether an extension alias belongs to a driver that is off.
    pub fn hides_alias(&self, alias: &str) -> bool {
        self.off.iter().any(|d| d.aliases.contains(&alias))
    }

    /// Whether a resource's attribute belongs to a driver that is off.
    pub fn hides_attr(&self, member: &str, attr: &str) -> bool {
        self.off.iter().any(|d| d.attrs.contains(&(member, attr)))
    }

    fn no_create(&self, member: &str, attr: &str) -> bool {
        self.off
            .iter()
            .any(|d| d.on_create.contains(&(member, attr)))
    }

    /// `attrs`, the attribute map of `member`, without what the drivers that are off add.
    pub fn attrs(&self, member: &'static str, attrs: &'static [Attr]) -> &'static [Attr] {
        if self.off.is_empty() {
            return attrs;
        }
        type Key = (usize, &'static str, Vec<&'static str>);
        static SERVED: LazyLock<Mutex<HashMap<Key, &'static [Attr]>>> =
            LazyLock::new(Default::default);
        let key = (
            attrs.as_ptr() as usize,
            member,
            self.off.iter().map(|d| d.name).collect(),
        );
        let mut served = SERVED.lock().unwrap_or_else(|p| p.into_inner());
        served.entry(key).or_insert_with(|| {
            let kept: Vec<Attr> = attrs
                .iter()
                .filter(|a| !self.hides_attr(member, a.name))
                .cloned()
                .map(|mut a| {
                    if self.no_create(member, a.name) {
                        a.post = false;
                    }
                    a
                })
                .collect();
            // One leaked map per combination of drivers and resource: a handful at most.
            Box::leak(kept.into_boxed_slice())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_on_unless_listed() {
        let all = ExtensionDrivers::only(None).unwrap();
        assert!(!all.hides_alias("port-device-profile"));
        let some = ExtensionDrivers::only(Some(&["port_security".to_string()])).unwrap();
        assert!(some.hides_alias("port-numa-affinity-policy-socket"));
        assert!(some.hides_attr("port", "device_profile"));
        assert!(!some.hides_attr("port", "port_security_enabled"));
        assert_eq!(some.enabled(), vec!["port_security"]);
        let none = ExtensionDrivers::only(Some(&[])).unwrap();
        assert!(none.hides_attr("network", "port_security_enabled"));
    }

    #[test]
    fn unknown_names_are_refused() {
        let e = ExtensionDrivers::only(Some(&["qos".to_string()])).unwrap_err();
        assert!(e.to_string().contains("'qos'"), "{e}");
    }
}
