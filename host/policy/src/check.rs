//! Check strings, oslo.policy's language: parsed once into a [`Check`] tree.
//!
//! Grammar (as oslo.policy's parser; `and` binds tighter than `or`):
//! `expr := and ("or" and)*`, `and := not ("and" not)*`, `not := "not" not | atom`,
//! `atom := "(" expr ")" | "@" | "!" | kind ":" match`. The empty string always passes.
//! Kinds: `rule:NAME`, `role:NAME` (case-insensitive), Neutron's
//! `field:RESOURCE:FIELD=VALUE` (or `=~REGEX`), and any other `KEY:MATCH`, which compares a
//! credential (`project_id`, `user_id`, `domain_id`, `system_scope`, `is_admin`, …) with
//! `MATCH`, where `%(key)s` stands for the target's value of `key` (`%(network:project_id)s`
//! is the project of the target's network).

use std::fmt;

/// Why a check string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// One piece of a `%(key)s` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// The target's value of this key.
    Key(String),
}

/// What a field check compares with.
#[derive(Debug, Clone)]
pub enum FieldValue {
    /// Equal to this text (booleans compare case-insensitively with `True`/`False`).
    Exact(String),
    /// Matches this regular expression (`=~`), anchored as written.
    Regex(regex::Regex),
}

/// A parsed check string.
#[derive(Debug, Clone)]
pub enum Check {
    /// `@` or the empty string: always passes.
    Pass,
    /// `!`: never passes.
    Fail,
    /// `rule:NAME`, resolved to the index of the rule when the policy is compiled
    /// (`usize::MAX` until then).
    Rule(String, usize),
    /// `role:NAME`, lower-cased.
    Role(String),
    /// `field:RESOURCE:FIELD=VALUE`: the target's (or its parent's) field.
    Field {
        /// Collection the field belongs to (`networks`).
        resource: String,
        /// Its member name (`network`), for looking the field up on a parent.
        member: String,
        /// The field (`shared`, `router:external`).
        field: String,
        /// The expected value.
        value: FieldValue,
    },
    /// `KEY:MATCH`: a credential compared with a template on the target.
    Generic {
        /// Credential key, or a literal (`True`, `'text'`).
        kind: String,
        /// The template.
        pieces: Vec<Piece>,
    },
    /// `not X`.
    Not(Box<Check>),
    /// `X and Y and …`.
    And(Vec<Check>),
    /// `X or Y or …`.
    Or(Vec<Check>),
}

impl Check {
    /// Parse a check string.
    pub fn parse(text: &str) -> Result<Check, ParseError> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Ok(Check::Pass);
        }
        let mut p = Parser { tokens, pos: 0 };
        let c = p.or()?;
        if p.pos != p.tokens.len() {
            return Err(ParseError(format!(
                "unexpected '{}'",
                p.tokens[p.pos].text()
            )));
        }
        Ok(c)
    }

    /// The names of the rules this check refers to.
    pub fn rule_refs(&self, out: &mut Vec<String>) {
        match self {
            Check::Rule(n, _) => out.push(n.clone()),
            Check::Not(c) => c.rule_refs(out),
            Check::And(cs) | Check::Or(cs) => cs.iter().for_each(|c| c.rule_refs(out)),
            _ => {}
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Pass => f.write_str("@"),
            Check::Fail => f.write_str("!"),
            Check::Rule(n, _) => write!(f, "rule:{n}"),
            Check::Role(r) => write!(f, "role:{r}"),
            Check::Field {
                resource,
                field,
                value,
                ..
            } => match value {
                FieldValue::Exact(v) => write!(f, "field:{resource}:{field}={v}"),
                FieldValue::Regex(r) => write!(f, "field:{resource}:{field}=~{}", r.as_str()),
            },
            Check::Generic { kind, pieces } => {
                write!(f, "{kind}:")?;
                for p in pieces {
                    match p {
                        Piece::Text(t) => f.write_str(t)?,
                        Piece::Key(k) => write!(f, "%({k})s")?,
                    }
                }
                Ok(())
            }
            Check::Not(c) => write!(f, "not {c}"),
            Check::And(cs) | Check::Or(cs) => {
                let sep = if matches!(self, Check::And(_)) {
                    " and "
                } else {
                    " or "
                };
                f.write_str("(")?;
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str(")")
            }
        }
    }
}

#[derive(Debug)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Atom(String),
}

impl Token {
    fn text(&self) -> &str {
        match self {
            Token::Open => "(",
            Token::Close => ")",
            Token::And => "and",
            Token::Or => "or",
            Token::Not => "not",
            Token::Atom(a) => a,
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let mut w = word;
        while let Some(rest) = w.strip_prefix('(') {
            out.push(Token::Open);
            w = rest;
        }
        let mut closes = 0;
        while let Some(rest) = w.strip_suffix(')') {
            // `%(key)s` ends in `)s`, never in `)`, so a trailing `)` closes a group.
            closes += 1;
            w = rest;
        }
        if !w.is_empty() {
            out.push(match w.to_ascii_lowercase().as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                "not" => Token::Not,
                _ => Token::Atom(w.to_string()),
            });
        }
        out.extend((0..closes).map(|_| Token::Close));
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn or(&mut self) -> Result<Check, ParseError> {
        let mut items = vec![self.and()?];
        while matches!(self.peek(), Some(Token::Or)) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Check::Or(items)
        })
    }

    fn and(&mut self) -> Result<Check, ParseError> {
        let mut items = vec![self.not()?];
        while matches!(self.peek(), Some(Token::And)) {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Check::And(items)
        })
    }

    fn not(&mut self) -> Result<Check, ParseError> {
        if matches!(self.peek(), Some(Token::Not)) {
            self.pos += 1;
            return Ok(Check::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Check, ParseError> {
        let Some(tok) = self.tokens.get(self.pos) else {
            return Err(ParseError("the check string ends too early".into()));
        };
        self.pos += 1;
        match tok {
            Token::Open => {
                let inner = self.or()?;
                match self.peek() {
                    Some(Token::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(ParseError("a '(' is not closed".into())),
                }
            }
            Token::Atom(a) => atom(a),
            other => Err(ParseError(format!("unexpected '{}'", other.text()))),
        }
    }
}

fn atom(a: &str) -> Result<Check, ParseError> {
    match a {
        "@" => return Ok(Check::Pass),
        "!" => return Ok(Check::Fail),
        _ => {}
    }
    let Some((kind, rest)) = a.split_once(':') else {
        return Err(ParseError(format!(
            "'{a}' is not a check (expected KIND:VALUE, @ or !)"
        )));
    };
    match kind {
        "rule" if !rest.is_empty() => Ok(Check::Rule(rest.to_string(), usize::MAX)),
        "role" if !rest.is_empty() => Ok(Check::Role(rest.to_ascii_lowercase())),
        "field" => field(a, rest),
        "http" | "https" => Err(ParseError(format!(
            "'{a}': remote ({kind}) checks are not supported"
        ))),
        _ if kind.is_empty() => Err(ParseError(format!("'{a}' has no kind before ':'"))),
        _ => Ok(Check::Generic {
            kind: kind.to_string(),
            pieces: template(rest)?,
        }),
    }
}

fn field(whole: &str, rest: &str) -> Result<Check, ParseError> {
    let bad = || ParseError(format!("'{whole}' is not field:RESOURCE:FIELD=VALUE"));
    let (resource, fv) = rest.split_once(':').ok_or_else(bad)?;
    let (field, value) = fv.split_once('=').ok_or_else(bad)?;
    if resource.is_empty() || field.is_empty() {
        return Err(bad());
    }
    let value = match value.strip_prefix('~') {
        Some(re) => FieldValue::Regex(
            regex::Regex::new(re)
                .map_err(|e| ParseError(format!("'{whole}': bad regular expression: {e}")))?,
        ),
        None => FieldValue::Exact(value.to_string()),
    };
    Ok(Check::Field {
        resource: resource.to_string(),
        member: member_of(resource),
        field: field.to_string(),
        value,
    })
}

/// The member name of a collection (`networks` → `network`, `address_scopes` →
/// `address_scope`, `policies` → `policy`).
pub fn member_of(collection: &str) -> String {
    if let Some(stem) = collection.strip_suffix("ies") {
        return format!("{stem}y");
    }
    collection
        .strip_suffix('s')
        .unwrap_or(collection)
        .to_string()
}

fn template(text: &str) -> Result<Vec<Piece>, ParseError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("%(") {
        if start > 0 {
            out.push(Piece::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find(")s")
            .ok_or_else(|| ParseError(format!("'{text}': '%(' without ')s'")))?;
        out.push(Piece::Key(after[..end].to_string()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(s: &str) -> String {
        Check::parse(s).unwrap().to_string()
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            show("role:a or role:b and role:c"),
            "(role:a or (role:b and role:c))"
        );
    }

    #[test]
    fn parentheses_group_and_not_negates() {
        assert_eq!(
            show("(role:a or role:b) and not rule:x"),
            "((role:a or role:b) and not rule:x)"
        );
        assert_eq!(show("not (role:a)"), "not role:a");
    }

    #[test]
    fn templates_and_fields_are_understood() {
        assert_eq!(
            show("project_id:%(network:project_id)s"),
            "project_id:%(network:project_id)s"
        );
        assert!(matches!(
            Check::parse("field:networks:router:external=True").unwrap(),
            Check::Field { ref field, ref member, .. } if field == "router:external" && member == "network"
        ));
        assert!(matches!(
            Check::parse("field:port:device_owner=~^network:").unwrap(),
            Check::Field {
                value: FieldValue::Regex(_),
                ..
            }
        ));
    }

    #[test]
    fn empty_is_pass_and_roles_are_lower_case() {
        assert!(matches!(Check::parse("  ").unwrap(), Check::Pass));
        assert!(matches!(Check::parse("role:Admin").unwrap(), Check::Role(ref r) if r == "admin"));
    }

    #[test]
    fn malformed_strings_are_refused_with_a_reason() {
        for bad in [
            "role:a or",
            "(role:a",
            "role:a)",
            "admin",
            "and role:a",
            "field:networks",
            "http://x:y",
            "project_id:%(project_id",
        ] {
            assert!(Check::parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
