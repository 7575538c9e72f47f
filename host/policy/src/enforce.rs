//! A compiled policy and its evaluation against a caller and a target.

use std::collections::HashMap;

use crate::check::{Check, FieldValue, ParseError, Piece};
use crate::defaults;

/// A policy that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A rule's check string does not parse.
    #[error("{source_name}{line}: rule '{rule}': {error}")]
    Parse {
        /// Where the rule came from (a file name, or "default").
        source_name: String,
        /// `:LINE` when known.
        line: String,
        /// The rule.
        rule: String,
        /// Why.
        error: ParseError,
    },
    /// Rules refer to each other in a circle.
    #[error("{source_name}: rule '{rule}' refers to itself through {path}")]
    Cycle {
        /// Where the rule came from.
        source_name: String,
        /// The rule.
        rule: String,
        /// The chain of references.
        path: String,
    },
    /// The file is not a mapping of rule names to check strings.
    #[error("{source_name}{line}: {message}")]
    File {
        /// The file.
        source_name: String,
        /// `:LINE` when known.
        line: String,
        /// What is wrong.
        message: String,
    },
}

/// Who is asking, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Creds<'a> {
    /// Project of the token.
    pub project_id: &'a str,
    /// User.
    pub user_id: &'a str,
    /// Roles, lower-cased.
    pub roles: &'a [String],
    /// Domain of a domain-scoped token.
    pub domain_id: &'a str,
    /// Domain of the user.
    pub user_domain_id: &'a str,
    /// Domain of the project.
    pub project_domain_id: &'a str,
    /// `all` for a system-scoped token.
    pub system_scope: &'a str,
}

impl Creds<'_> {
    fn value(&self, key: &str) -> Option<&str> {
        Some(match key {
            "project_id" | "tenant_id" | "tenant" => self.project_id,
            "user_id" | "user" => self.user_id,
            "domain_id" => self.domain_id,
            "user_domain_id" => self.user_domain_id,
            "project_domain_id" => self.project_domain_id,
            "system_scope" => self.system_scope,
            _ => return None,
        })
    }

    /// Whether the caller holds `role` (lower-case).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// A value of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// A string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// The target has no such key.
    Absent,
    /// The key belongs to a parent (`network`) the target does not carry yet.
    Needs(&'static str),
}

/// What a rule is checked against: the resource, with its parent's values under
/// `parent:key` (`network:project_id`).
pub trait Target {
    /// The value of `key`.
    fn get(&self, key: &str) -> Lookup<'_>;
}

/// A target with nothing in it whose every key is "not known yet": evaluating against it
/// decides the rules that depend only on the caller.
pub struct NoTarget;

/// What [`NoTarget`] answers for every key.
pub const UNKNOWN: &str = "<target>";

impl Target for NoTarget {
    fn get(&self, _key: &str) -> Lookup<'_> {
        Lookup::Needs(UNKNOWN)
    }
}

/// The answer of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
    /// Undecided until the named parent (or, for [`NoTarget`], the target) is known.
    Needs(&'static str),
}

impl Decision {
    /// Allowed (an undecided answer counts as denied).
    pub fn allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// A compiled set of rules.
#[derive(Debug)]
pub struct Policy {
    names: Vec<String>,
    checks: Vec<Check>,
    index: HashMap<String, usize>,
    default_rule: Option<usize>,
}

impl Policy {
    /// Neutron's defaults.
    pub fn defaults() -> Policy {
        Policy::with_overrides(&[]).expect("the default rules are valid")
    }

    /// Neutron's defaults with `overrides` (rule name, check string, where it came from —
    /// file and line — for errors) replacing or adding rules.
    pub fn with_overrides(overrides: &[(String, String, String)]) -> Result<Policy, PolicyError> {
        let mut names = Vec::new();
        let mut checks = Vec::new();
        let mut index = HashMap::new();
        let mut put = |name: &str, check: Check| match index.get(name) {
            Some(&i) => checks[i] = check,
            None => {
                index.insert(name.to_string(), names.len());
                names.push(name.to_string());
                checks.push(check);
            }
        };
        for (name, text) in defaults::all() {
            let check = Check::parse(text).map_err(|error| PolicyError::Parse {
                source_name: "default".into(),
                line: String::new(),
                rule: name.to_string(),
                error,
            })?;
            put(name, check);
        }
        for (name, text, origin) in overrides {
            let check = Check::parse(text).map_err(|error| {
                let (source_name, line) = split_origin(origin);
                PolicyError::Parse {
                    source_name,
                    line,
                    rule: name.clone(),
                    error,
                }
            })?;
            put(name, check);
        }
        let mut policy = Policy {
            default_rule: index.get("default").copied(),
            names,
            checks,
            index,
        };
        policy.resolve();
        policy.check_cycles(overrides)?;
        Ok(policy)
    }

    fn resolve(&mut self) {
        fn walk(c: &mut Check, index: &HashMap<String, usize>, default: Option<usize>) {
            match c {
                Check::Rule(name, slot) => {
                    // oslo.policy: a rule that is not registered is the default rule.
                    *slot = index
                        .get(name.as_str())
                        .copied()
                        .or(default)
                        .unwrap_or(usize::MAX);
                }
                Check::Not(inner) => walk(inner, index, default),
                Check::And(cs) | Check::Or(cs) => {
                    cs.iter_mut().for_each(|c| walk(c, index, default))
                }
                _ => {}
            }
        }
        for c in &mut self.checks {
            walk(c, &self.index, self.default_rule);
        }
    }

    fn check_cycles(&self, overrides: &[(String, String, String)]) -> Result<(), PolicyError> {
        // 0 = not visited, 1 = on the path, 2 = done.
        let mut state = vec![0u8; self.checks.len()];
        fn refs(c: &Check, out: &mut Vec<usize>) {
            match c {
                Check::Rule(_, i) if *i != usize::MAX => out.push(*i),
                Check::Not(inner) => refs(inner, out),
                Check::And(cs) | Check::Or(cs) => cs.iter().for_each(|c| refs(c, out)),
                _ => {}
            }
        }
        fn visit(
            p: &Policy,
            i: usize,
            state: &mut [u8],
            path: &mut Vec<usize>,
        ) -> Option<Vec<usize>> {
            if state[i] == 2 {
                return None;
            }
            if state[i] == 1 {
                let start = path.iter().position(|&x| x == i).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(i);
                return Some(cycle);
            }
            state[i] = 1;
            path.push(i);
            let mut next = Vec::new();
            refs(&p.checks[i], &mut next);
            for n in next {
                if let Some(c) = visit(p, n, state, path) {
                    return Some(c);
                }
            }
            path.pop();
            state[i] = 2;
            None
        }
        for i in 0..self.checks.len() {
            let mut path = Vec::new();
            if let Some(cycle) = visit(self, i, &mut state, &mut path) {
                let rule = self.names[cycle[0]].clone();
                let origin = overrides
                    .iter()
                    .find(|(n, _, _)| cycle.iter().any(|&c| &self.names[c] == n))
                    .map(|(_, _, o)| o.clone())
                    .unwrap_or_else(|| "default".into());
                return Err(PolicyError::Cycle {
                    source_name: origin,
                    rule,
                    path: cycle
                        .iter()
                        .map(|&c| format!("rule:{}", self.names[c]))
                        .collect::<Vec<_>>()
                        .join(" -> "),
                });
            }
        }
        Ok(())
    }

    /// Whether a rule of this name exists (defaults or overrides).
    pub fn has(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The check string of a rule as it is in force.
    pub fn rule_text(&self, name: &str) -> Option<String> {
        self.index.get(name).map(|&i| self.checks[i].to_string())
    }

    /// Evaluate the rule `name` (the default rule when there is none of that name).
    pub fn check(&self, name: &str, creds: &Creds<'_>, target: &dyn Target) -> Decision {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => match self.default_rule {
                Some(d) => d,
                None => return Decision::Deny,
            },
        };
        self.eval(&self.checks[i], creds, target)
    }

    /// Evaluate `name` only when such a rule exists (`None` otherwise).
    pub fn check_if_exists(
        &self,
        name: &str,
        creds: &Creds<'_>,
        target: &dyn Target,
    ) -> Option<Decision> {
        self.index
            .get(name)
            .map(|&i| self.eval(&self.checks[i], creds, target))
    }

    fn eval(&self, c: &Check, creds: &Creds<'_>, target: &dyn Target) -> Decision {
        use Decision::*;
        match c {
            Check::Pass => Allow,
            Check::Fail => Deny,
            Check::Role(r) => bool_to(creds.has_role(r)),
            Check::Rule(_, i) => match self.checks.get(*i) {
                Some(inner) => self.eval(inner, creds, target),
                None => Deny,
            },
            Check::Not(inner) => match self.eval(inner, creds, target) {
                Allow => Deny,
                Deny => Allow,
                n => n,
            },
            Check::And(cs) => {
                let mut pending = None;
                for c in cs {
                    match self.eval(c, creds, target) {
                        Deny => return Deny,
                        Needs(p) => pending = pending.or(Some(p)),
                        Allow => {}
                    }
                }
                pending.map_or(Allow, Needs)
            }
            Check::Or(cs) => {
                let mut pending = None;
                for c in cs {
                    match self.eval(c, creds, target) {
                        Allow => return Allow,
                        Needs(p) => pending = pending.or(Some(p)),
                        Deny => {}
                    }
                }
                pending.map_or(Deny, Needs)
            }
            Check::Field {
                member,
                field,
                value,
                ..
            } => {
                let mut found = target.get(field);
                if found == Lookup::Absent {
                    // Neutron's FieldCheck reads the field of the parent resource
                    // (`field:networks:shared` on a port reads its network).
                    let mut key = String::with_capacity(member.len() + field.len() + 1);
                    key.push_str(member);
                    key.push(':');
                    key.push_str(field);
                    found = target.get(&key);
                }
                match found {
                    Lookup::Needs(p) => Needs(p),
                    Lookup::Absent => Deny,
                    Lookup::Bool(b) => bool_to(match value {
                        FieldValue::Exact(v) => {
                            v.eq_ignore_ascii_case(if b { "true" } else { "false" })
                        }
                        FieldValue::Regex(r) => r.is_match(if b { "True" } else { "False" }),
                    }),
                    Lookup::Str(s) => bool_to(match value {
                        FieldValue::Exact(v) => v == s,
                        FieldValue::Regex(r) => r.is_match(s),
                    }),
                }
            }
            Check::Generic { kind, pieces } => self.generic(kind, pieces, creds, target),
        }
    }

    fn generic(
        &self,
        kind: &str,
        pieces: &[Piece],
        creds: &Creds<'_>,
        target: &dyn Target,
    ) -> Decision {
        let expected: std::borrow::Cow<'_, str> = match kind {
            "is_admin" => (if creds.has_role("admin") {
                "True"
            } else {
                "False"
            })
            .into(),
            _ => match creds.value(kind) {
                Some(v) => v.into(),
                None => match literal(kind) {
                    Some(l) => l.into(),
                    None => return Decision::Deny,
                },
            },
        };
        // The common case, `%(key)s`, compares without building a string.
        if let [Piece::Key(k)] = pieces {
            return match target.get(k) {
                Lookup::Str(s) => bool_to(!s.is_empty() && s == expected),
                Lookup::Bool(b) => {
                    bool_to(expected.eq_ignore_ascii_case(if b { "true" } else { "false" }))
                }
                Lookup::Absent => Decision::Deny,
                Lookup::Needs(p) => Decision::Needs(p),
            };
        }
        let mut built = String::new();
        for p in pieces {
            match p {
                Piece::Text(t) => built.push_str(t),
                Piece::Key(k) => match target.get(k) {
                    Lookup::Str(s) => built.push_str(s),
                    Lookup::Bool(b) => built.push_str(if b { "True" } else { "False" }),
                    Lookup::Absent => return Decision::Deny,
                    Lookup::Needs(p) => return Decision::Needs(p),
                },
            }
        }
        bool_to(built == expected)
    }
}

fn literal(kind: &str) -> Option<&str> {
    let quoted = |q: char| kind.strip_prefix(q).and_then(|k| k.strip_suffix(q));
    quoted('\'').or_else(|| quoted('"')).or(match kind {
        "True" | "False" => Some(kind),
        _ if kind.parse::<f64>().is_ok() => Some(kind),
        _ => None,
    })
}

fn bool_to(b: bool) -> Decision {
    if b { Decision::Allow } else { Decision::Deny }
}

fn split_origin(origin: &str) -> (String, String) {
    match origin.rsplit_once(':') {
        Some((file, line)) if line.parse::<u64>().is_ok() => (file.to_string(), format!(":{line}")),
        _ => (origin.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Map(&'static [(&'static str, Lookup<'static>)]);
    impl Target for Map {
        fn get(&self, key: &str) -> Lookup<'_> {
            self.0
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .unwrap_or(Lookup::Absent)
        }
    }

    fn creds<'a>(project: &'a str, roles: &'a [String]) -> Creds<'a> {
        Creds {
            project_id: project,
            user_id: "u",
            roles,
            domain_id: "",
            user_domain_id: "default",
            project_domain_id: "default",
            system_scope: "",
        }
    }

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_member_may_create_networks_in_its_own_project_only() {
        let p = Policy::defaults();
        let member = roles(&["member", "reader"]);
        let own = Map(&[("project_id", Lookup::Str("p1"))]);
        let other = Map(&[("project_id", Lookup::Str("p2"))]);
        assert_eq!(
            p.check("create_network", &creds("p1", &member), &own),
            Decision::Allow
        );
        assert_eq!(
            p.check("create_network", &creds("p1", &member), &other),
            Decision::Deny
        );
        let reader = roles(&["reader"]);
        assert_eq!(
            p.check("create_network", &creds("p1", &reader), &own),
            Decision::Deny
        );
    }

    #[test]
    fn admin_decides_without_the_target() {
        let p = Policy::defaults();
        let admin = roles(&["admin", "member", "reader"]);
        assert_eq!(
            p.check("create_port", &creds("p", &admin), &NoTarget),
            Decision::Allow
        );
        let member = roles(&["member"]);
        assert_eq!(
            p.check("create_port", &creds("p", &member), &NoTarget),
            Decision::Needs(UNKNOWN)
        );
    }

    #[test]
    fn a_parent_is_asked_for_only_when_needed() {
        let p = Policy::defaults();
        let member = roles(&["member", "reader"]);
        let port = Map(&[
            ("project_id", Lookup::Str("p1")),
            ("network:project_id", Lookup::Needs("network")),
            ("network:shared", Lookup::Needs("network")),
        ]);
        assert_eq!(
            p.check("create_port", &creds("p1", &member), &port),
            Decision::Needs("network")
        );
        let loaded = Map(&[
            ("project_id", Lookup::Str("p1")),
            ("network:project_id", Lookup::Str("p2")),
            ("network:shared", Lookup::Bool(true)),
        ]);
        assert_eq!(
            p.check("create_port", &creds("p1", &member), &loaded),
            Decision::Allow
        );
        assert_eq!(
            p.check("create_port:mac_address", &creds("p1", &member), &loaded),
            Decision::Deny
        );
    }

    #[test]
    fn unknown_rules_fall_back_to_default_and_overrides_replace() {
        let p = Policy::with_overrides(&[(
            "create_network".into(),
            "role:netadmin".into(),
            "f.yaml:3".into(),
        )])
        .unwrap();
        let r = roles(&["netadmin"]);
        assert_eq!(
            p.check("create_network", &creds("x", &r), &NoTarget),
            Decision::Allow
        );
        let owner = Map(&[("project_id", Lookup::Str("x"))]);
        assert_eq!(
            p.check("no_such_rule", &creds("x", &r), &owner),
            Decision::Allow
        );
        assert_eq!(
            p.check("no_such_rule", &creds("y", &r), &owner),
            Decision::Deny
        );
    }

    #[test]
    fn regex_fields_and_not() {
        let p = Policy::defaults();
        let member = roles(&["member"]);
        let dhcp = Map(&[
            ("device_owner", Lookup::Str("network:dhcp")),
            ("project_id", Lookup::Str("p1")),
            ("network:project_id", Lookup::Str("p2")),
        ]);
        let vm = Map(&[
            ("device_owner", Lookup::Str("compute:nova")),
            ("project_id", Lookup::Str("p1")),
            ("network:project_id", Lookup::Str("p2")),
        ]);
        assert_eq!(
            p.check("create_port:device_owner", &creds("p1", &member), &dhcp),
            Decision::Deny
        );
        assert_eq!(
            p.check("create_port:device_owner", &creds("p1", &member), &vm),
            Decision::Allow
        );
    }

    #[test]
    fn cycles_and_bad_strings_are_refused_with_their_origin() {
        let e = Policy::with_overrides(&[
            ("a".into(), "rule:b".into(), "p.yaml:1".into()),
            ("b".into(), "rule:a".into(), "p.yaml:2".into()),
        ])
        .unwrap_err();
        assert!(
            e.to_string().contains("rule:a -> rule:b -> rule:a")
                || e.to_string().contains("rule:b -> rule:a -> rule:b"),
            "{e}"
        );
        let e = Policy::with_overrides(&[("a".into(), "role:x or".into(), "p.yaml:7".into())])
            .unwrap_err();
        assert!(e.to_string().starts_with("p.yaml:7: rule 'a'"), "{e}");
    }
}
