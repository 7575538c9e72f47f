//! The resources mirrored to ODL, their northbound collections, and the copies kept in
//! driver state for a full resync.
//!
//! Copies live under `copy/<order>-<kind>/<id>`, so listing `copy/` gives them in the
//! order a resync sends them (networking-odl's `_ORDERED_ODL_RESOURCES`: security
//! groups, their rules, networks, subnets, ports). They are written in the precommit
//! hooks, inside the request's transaction, so they match Neutron's database exactly: a
//! request that rolls back leaves no copy behind.

use neutrino_driver::{DriverError, state};
use serde_json::{Map, Value};

/// Where the copies live in driver state.
pub const PREFIX: &str = "copy/";

/// A resource type ODL's northbound knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `security-groups`.
    SecurityGroup,
    /// `security-group-rules`.
    SecurityGroupRule,
    /// `networks`.
    Network,
    /// `subnets`.
    Subnet,
    /// `ports`.
    Port,
}

/// What happens to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `POST <collection>`.
    Create,
    /// `PUT <collection>/<id>`.
    Update,
    /// `DELETE <collection>/<id>`.
    Delete,
}

impl Kind {
    /// In resync order.
    pub const ALL: [Kind; 5] = [
        Kind::SecurityGroup,
        Kind::SecurityGroupRule,
        Kind::Network,
        Kind::Subnet,
        Kind::Port,
    ];

    /// The northbound collection (Neutron's name with `_` → `-`).
    pub fn collection(self) -> &'static str {
        match self {
            Kind::SecurityGroup => "security-groups",
            Kind::SecurityGroupRule => "security-group-rules",
            Kind::Network => "networks",
            Kind::Subnet => "subnets",
            Kind::Port => "ports",
        }
    }

    /// The body's single key (`{"network": {...}}`).
    pub fn singular(self) -> &'static str {
        match self {
            Kind::SecurityGroup => "security_group",
            Kind::SecurityGroupRule => "security_group_rule",
            Kind::Network => "network",
            Kind::Subnet => "subnet",
            Kind::Port => "port",
        }
    }

    fn prefix(self) -> String {
        let order = Kind::ALL.iter().position(|k| *k == self).unwrap_or(0);
        format!("{PREFIX}{order}-{}/", self.collection())
    }

    /// The kind of a copy's key.
    pub fn of_key(key: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| key.starts_with(&k.prefix()))
    }
}

/// Keep (or replace) the copy of a resource.
pub fn keep(kind: Kind, id: &str, data: &Map<String, Value>) -> Result<(), DriverError> {
    state::set_json(&format!("{}{id}", kind.prefix()), data)
}

/// Drop the copy of a deleted resource.
pub fn forget(kind: Kind, id: &str) -> Result<(), DriverError> {
    Ok(state::delete(&format!("{}{id}", kind.prefix()))?)
}

/// The `id` of a resource's dict.
pub fn id_of(data: &Map<String, Value>) -> String {
    data.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A resource's API dict from a context's `json` field.
pub fn dict(json: &str) -> Map<String, Value> {
    serde_json::from_str(json).unwrap_or_default()
}
