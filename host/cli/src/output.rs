//! Printing drivers and histories as tables (or JSON with `--json`).

use serde_json::Value;

/// Write one line to standard output. A closed pipe (`neutrino driver list | head`) ends
/// the program quietly, as other command-line tools do, instead of panicking.
pub fn emit(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("neutrino: cannot write the output: {e}");
        std::process::exit(1);
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect();
        emit(parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}

/// The driver list.
pub fn drivers(list: &Value, json: bool) {
    if json {
        emit(&serde_json::to_string_pretty(list).unwrap_or_default());
        return;
    }
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    let st = &d["stats"];
                    vec![
                        text(&d["name"]),
                        text(&d["version"]),
                        text(&d["sha256"]).chars().take(12).collect(),
                        text(&d["contract"]),
                        text(&d["state"]),
                        text(&st["calls"]),
                        text(&st["errors"]),
                        text(&st["refusals"]),
                        text(&st["timeouts"]),
                        text(&st["traps"]),
                        text(&st["p50_ms"]),
                        text(&st["p99_ms"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    table(
        &[
            "NAME", "VERSION", "SHA256", "CONTRACT", "STATE", "CALLS", "ERRORS", "REFUSALS",
            "TIMEOUTS", "TRAPS", "P50 ms", "P99 ms",
        ],
        &rows,
    );
}

/// One driver.
pub fn driver(d: &Value, json: bool) {
    if json {
        emit(&serde_json::to_string_pretty(d).unwrap_or_default());
        return;
    }
    let st = &d["stats"];
    let mut rows = vec![
        vec!["name".into(), text(&d["name"])],
        vec!["version".into(), text(&d["version"])],
        vec!["sha256".into(), text(&d["sha256"])],
        vec!["contract".into(), text(&d["contract"])],
        vec!["state".into(), text(&d["state"])],
        vec!["position".into(), text(&d["position"])],
        vec!["capabilities".into(), text(&d["capabilities"])],
        vec!["failure_policy".into(), text(&d["failure_policy"])],
        vec!["calls".into(), text(&st["calls"])],
        vec!["errors".into(), text(&st["errors"])],
        vec!["refusals".into(), text(&st["refusals"])],
        vec!["traps".into(), text(&st["traps"])],
        vec!["timeouts".into(), text(&st["timeouts"])],
        vec!["invalid_results".into(), text(&st["invalid_results"])],
        vec!["busy".into(), text(&st["busy"])],
        vec!["p50_ms".into(), text(&st["p50_ms"])],
        vec!["p99_ms".into(), text(&st["p99_ms"])],
        vec![
            "compiled_from_cache".into(),
            text(&d["compiled_from_cache"]),
        ],
        vec!["prepare_ms".into(), text(&d["prepare_ms"])],
        vec!["last_fault".into(), text(&st["last_fault"])],
        vec!["quarantined".into(), text(&d["quarantined"])],
    ];
    // Configuration as the server shows it: secret values are already masked.
    if let Some(config) = d["settings"]["config"].as_object() {
        for (key, value) in config {
            rows.push(vec![format!("config.{key}"), text(value)]);
        }
    }
    table(&["FIELD", "VALUE"], &rows);
}

/// A history.
pub fn history(list: &Value, json: bool) {
    if json {
        emit(&serde_json::to_string_pretty(list).unwrap_or_default());
        return;
    }
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| {
                    vec![
                        text(&h["at"]),
                        text(&h["action"]),
                        text(&h["version"]),
                        text(&h["by"]),
                        text(&h["detail"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    table(&["AT", "ACTION", "VERSION", "BY", "DETAIL"], &rows);
}

/// A driver's state.
pub fn state(list: &Value, json: bool) {
    if json {
        emit(&serde_json::to_string_pretty(list).unwrap_or_default());
        return;
    }
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let value = match e["encoding"].as_str() {
                        Some("base64") => format!("base64:{}", text(&e["value"])),
                        _ => text(&e["value"]),
                    };
                    vec![text(&e["key"]), text(&e["size"]), value]
                })
                .collect()
        })
        .unwrap_or_default();
    table(&["KEY", "SIZE", "VALUE"], &rows);
}

/// A driver's journal: the counts, then one line per entry.
pub fn journal(j: &Value, json: bool) {
    if json {
        emit(&serde_json::to_string_pretty(j).unwrap_or_default());
        return;
    }
    emit(&format!(
        "pending {}  failed {}  delivered {}  oldest pending {}",
        text(&j["pending"]),
        text(&j["failed"]),
        text(&j["delivered"]),
        match j["oldest_pending_age"].as_f64() {
            Some(age) => format!("{age:.1} s ago"),
            None => "-".into(),
        }
    ));
    let rows: Vec<Vec<String>> = j["entries"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    vec![
                        text(&e["id"]),
                        text(&e["state"]),
                        text(&e["operation"]),
                        text(&e["resource_id"]),
                        text(&e["attempts"]),
                        text(&e["next_attempt_at"]),
                        text(&e["last_error"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    if !rows.is_empty() {
        table(
            &[
                "ID",
                "STATE",
                "OPERATION",
                "RESOURCE",
                "ATTEMPTS",
                "NEXT_ATTEMPT",
                "LAST_ERROR",
            ],
            &rows,
        );
    }
}
