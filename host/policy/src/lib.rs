//! Neutron's policy engine: who may do what.
//!
//! Rules are oslo.policy check strings (`role:admin or project_id:%(project_id)s`,
//! `rule:shared`, `field:networks:shared=True`, `@`, `!`, `not`, `and`, `or`, parentheses),
//! keyed by Neutron's rule names (`create_network`, `create_port:mac_address`, …). The
//! defaults are Neutron's secure-RBAC defaults ([`defaults::RULES`], the one table to extend);
//! an operator's policy file (YAML or JSON, as oslo.policy reads it) overrides any of them.
//!
//! Rules are parsed once into a [`Policy`]; a check evaluates against the caller's
//! [`Creds`] and a [`Target`] without allocating. Evaluation is three-valued: when a rule
//! needs something of the target's parent (its network's owner, say) that the target does
//! not carry, the answer is [`Decision::Needs`] and the caller loads it and asks again, so a
//! parent is read only when a rule actually depends on it.

pub mod check;
pub mod defaults;
pub mod enforce;
pub mod file;

pub use check::{Check, ParseError};
pub use enforce::{Creds, Decision, Lookup, NoTarget, Policy, PolicyError, Target};
