//! Policy files as oslo.policy reads them: a YAML (or JSON, which is YAML) mapping of rule
//! names to check strings. Each rule keeps its line, so a bad rule is reported as
//! `FILE:LINE: rule 'NAME': why`.

use std::path::Path;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::enforce::{Policy, PolicyError};

/// Read the rules of a policy file: (name, check string, `FILE:LINE`).
pub fn parse(source_name: &str, text: &str) -> Result<Vec<(String, String, String)>, PolicyError> {
    let mut r = Receiver::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut r, false).map_err(|e| PolicyError::File {
        source_name: source_name.to_string(),
        line: format!(":{}", e.marker().line()),
        message: format!("not valid YAML: {}", e.info()),
    })?;
    if let Some((line, message)) = r.error {
        return Err(PolicyError::File {
            source_name: source_name.to_string(),
            line: format!(":{line}"),
            message,
        });
    }
    let mut out = Vec::with_capacity(r.rules.len());
    for (name, text, line) in r.rules {
        if out
            .iter()
            .any(|(n, _, _): &(String, String, String)| *n == name)
        {
            return Err(PolicyError::File {
                source_name: source_name.to_string(),
                line: format!(":{line}"),
                message: format!("rule '{name}' is given twice"),
            });
        }
        out.push((name, text, format!("{source_name}:{line}")));
    }
    Ok(out)
}

/// Neutron's defaults overridden by the rules of the file at `path`.
pub fn load(path: &Path) -> Result<Policy, PolicyError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError::File {
        source_name: name.clone(),
        line: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    Policy::with_overrides(&parse(&name, &text)?)
}

/// Collects a flat mapping of scalars.
#[derive(Default)]
struct Receiver {
    depth: usize,
    key: Option<(String, usize)>,
    rules: Vec<(String, String, usize)>,
    error: Option<(usize, String)>,
}

impl MarkedEventReceiver for Receiver {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line();
        match ev {
            Event::MappingStart(..) => {
                self.depth += 1;
                if self.depth > 1 {
                    self.error = Some((
                        line,
                        match &self.key {
                            Some((k, _)) => {
                                format!("rule '{k}' must be a check string, not a mapping")
                            }
                            None => "a rule name must be a string".into(),
                        },
                    ));
                }
            }
            Event::MappingEnd => self.depth = self.depth.saturating_sub(1),
            Event::SequenceStart(..) => {
                self.error = Some((
                    line,
                    match &self.key {
                        Some((k, _)) => format!("rule '{k}' must be a check string, not a list"),
                        None => "the file must be a mapping of rule names to check strings".into(),
                    },
                ));
            }
            Event::Scalar(value, ..) => {
                if self.depth == 0 {
                    // A document that is a lone scalar: only an empty file is fine.
                    if !value.is_empty() {
                        self.error = Some((
                            line,
                            "the file must be a mapping of rule names to check strings".into(),
                        ));
                    }
                    return;
                }
                match self.key.take() {
                    None => self.key = Some((value, line)),
                    Some((k, kline)) => {
                        // `~` and `null` are YAML's null: oslo.policy reads them as "".
                        let v = if value == "~" || value == "null" {
                            String::new()
                        } else {
                            value
                        };
                        self.rules.push((k, v, kline));
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_files_give_rules_with_their_lines() {
        let yaml = "# comment\n\"create_network\": \"role:admin\"\nget_network: rule:admin_only or rule:shared\n";
        let rules = parse("p.yaml", yaml).unwrap();
        assert_eq!(rules[0].0, "create_network");
        assert_eq!(rules[0].2, "p.yaml:2");
        assert_eq!(rules[1].1, "rule:admin_only or rule:shared");
        assert_eq!(rules[1].2, "p.yaml:3");
        let json = "{\n  \"create_port\": \"\",\n  \"delete_port\": \"!\"\n}\n";
        let rules = parse("p.json", json).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].2, "p.json:3");
    }

    #[test]
    fn bad_files_name_the_line_and_why() {
        let e = parse("p.yaml", "a: role:x\nb: [1, 2]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("p.yaml:2: rule 'b' must be a check string"),
            "{e}"
        );
        let e = parse("p.yaml", "a: role:x\na: role:y\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.yaml:2: rule 'a' is given twice"), "{e}");
        let e = parse("p.yaml", "a: \"role:x\n").unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:"), "{e}");
        let overrides = parse("p.yaml", "a: role:x\nb: role:y and (rule:a\n").unwrap();
        let e = Policy::with_overrides(&overrides).unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:2: rule 'b'"), "{e}");
    }
}
