//! Limits on what one call may consume and return.
//!
//! Memory is capped per call by [`CallLimiter`] (a wasmtime
//! `ResourceLimiter`); CPU by counting epoch ticks while guest code runs;
//! wall-clock time by a timeout around the whole call (see
//! [`call`](crate::call)). What a driver returns is checked by
//! [`validate_bind`] and the size caps below: a driver cannot make the host
//! store megabytes of `vif_details` or log without bound.

use crate::types::{BindResult, Binding, Continuation, ErrorKind, PortContext, Segment};

/// Largest `vif_details` JSON a binding may carry.
pub const MAX_VIF_DETAILS_BYTES: usize = 16 * 1024;
/// Longest `vif_type`, segment id or status accepted.
pub const MAX_SHORT_STRING: usize = 255;
/// Most segments a continuation may pass down.
pub const MAX_NEXT_SEGMENTS: usize = 16;
/// Longest driver error message kept (longer ones are truncated).
pub const MAX_ERROR_MESSAGE: usize = 4096;
/// Longest log line kept (longer ones are truncated).
pub const MAX_LOG_LINE: usize = 4096;
/// Log lines per call; further lines are dropped.
pub const MAX_LOG_LINES_PER_CALL: u32 = 256;
/// Guest stderr kept per call (for panic messages).
pub const MAX_STDERR_BYTES: usize = 8 * 1024;
/// Longest state key.
pub const MAX_STATE_KEY: usize = 512;
/// Largest state value.
pub const MAX_STATE_VALUE: usize = 256 * 1024;
/// Most agents returned to a driver.
pub const MAX_AGENTS: usize = 4096;
/// Largest HTTP request body a driver may send.
pub const MAX_HTTP_REQUEST_BODY: usize = 4 << 20;
/// Most HTTP request headers a driver may send.
pub const MAX_HTTP_HEADERS: usize = 64;
/// Instances, tables and memories one call may create (a component holds a
/// handful of core instances; nothing legitimate needs more).
const MAX_INSTANCES: usize = 32;
const MAX_TABLES: usize = 32;
const MAX_MEMORIES: usize = 8;
/// Largest table a guest may grow to (elements).
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Caps memory and table growth of one call and remembers a refused
/// memory growth, so the failure is reported as a resource limit rather
/// than a generic trap.
#[derive(Debug)]
pub struct CallLimiter {
    memory_bytes: usize,
    /// The size a refused `memory.grow` asked for.
    pub denied_memory: Option<usize>,
}

impl CallLimiter {
    /// A limiter allowing `memory_bytes` per linear memory.
    pub fn new(memory_bytes: usize) -> Self {
        CallLimiter {
            memory_bytes,
            denied_memory: None,
        }
    }

    /// The memory limit in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.denied_memory = Some(desired);
            // Trap rather than let `memory.grow` return -1: the guest's
            // allocator would abort with a less useful message.
            wasmtime::bail!(
                "memory limit of {} bytes reached (asked for {desired})",
                self.memory_bytes
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// `s` cut to at most `max` bytes (on a char boundary), marked if cut.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let dropped = s.len() - end;
        s.truncate(end);
        s.push_str(&format!("… ({dropped} more bytes)"));
    }
    s
}

/// A bind result as the guest returned it, before validation.
#[derive(Debug)]
pub enum RawBindResult {
    /// `bound(binding)`.
    Bound {
        /// The bound segment.
        segment_id: String,
        /// The vif type.
        vif_type: String,
        /// The vif details, JSON text.
        vif_details: String,
        /// The status to set.
        status: Option<String>,
    },
    /// `continue-binding(continuation)`.
    Continue(Continuation),
    /// `not-bound`.
    NotBound,
}

/// A driver's refusal as the guest returned it.
#[derive(Debug)]
pub struct Refusal {
    /// Its classification.
    pub kind: ErrorKind,
    /// Its message (not yet truncated).
    pub message: String,
}

/// Check a guest's bind result against the port context it was given.
pub fn validate_bind(raw: RawBindResult, ctx: &PortContext) -> Result<BindResult, String> {
    let offered = |id: &str| -> Result<(), String> {
        check_len("segment id", id)?;
        if ctx.segments_to_bind.iter().any(|s| s.id == id) {
            Ok(())
        } else {
            let ids: Vec<&str> = ctx.segments_to_bind.iter().map(|s| s.id.as_str()).collect();
            Err(format!(
                "segment {id:?} was not offered (segments to bind: {ids:?})"
            ))
        }
    };
    match raw {
        RawBindResult::NotBound => Ok(BindResult::NotBound),
        RawBindResult::Bound {
            segment_id,
            vif_type,
            vif_details,
            status,
        } => {
            offered(&segment_id)?;
            check_len("vif_type", &vif_type)?;
            if vif_type.is_empty() || vif_type == "unbound" || vif_type == "binding_failed" {
                return Err(format!("vif_type {vif_type:?} cannot be bound"));
            }
            if vif_details.len() > MAX_VIF_DETAILS_BYTES {
                return Err(format!(
                    "vif_details is {} bytes; the limit is {MAX_VIF_DETAILS_BYTES}",
                    vif_details.len()
                ));
            }
            let vif_details = match serde_json::from_str::<serde_json::Value>(&vif_details) {
                Ok(serde_json::Value::Object(map)) => map,
                Ok(_) => return Err("vif_details is not a JSON object".into()),
                Err(e) => return Err(format!("vif_details is not JSON: {e}")),
            };
            if let Some(status) = &status
                && !matches!(status.as_str(), "ACTIVE" | "DOWN" | "BUILD" | "ERROR")
            {
                return Err(format!(
                    "status {:?} is not a port status",
                    truncate(status.clone(), 64)
                ));
            }
            Ok(BindResult::Bound(Binding {
                segment_id,
                vif_type,
                vif_details,
                status,
            }))
        }
        RawBindResult::Continue(c) => {
            offered(&c.segment_id)?;
            if c.next_segments.is_empty() || c.next_segments.len() > MAX_NEXT_SEGMENTS {
                return Err(format!(
                    "a continuation needs 1 to {MAX_NEXT_SEGMENTS} next segments, got {}",
                    c.next_segments.len()
                ));
            }
            for s in &c.next_segments {
                check_segment(s)?;
            }
            Ok(BindResult::Continue(c))
        }
    }
}

fn check_segment(s: &Segment) -> Result<(), String> {
    check_len("segment id", &s.id)?;
    check_len("network_type", &s.network_type)?;
    if s.network_type.is_empty() {
        return Err("a next segment has no network_type".into());
    }
    if let Some(p) = &s.physical_network {
        check_len("physical_network", p)?;
    }
    Ok(())
}

fn check_len(what: &str, s: &str) -> Result<(), String> {
    if s.len() > MAX_SHORT_STRING {
        Err(format!(
            "{what} is {} bytes; the limit is {MAX_SHORT_STRING}",
            s.len()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PortContext {
        PortContext {
            segments_to_bind: vec![Segment {
                id: "seg-1".into(),
                network_type: "vlan".into(),
                ..Segment::default()
            }],
            ..PortContext::default()
        }
    }

    fn bound(segment: &str, vif_type: &str, details: &str) -> RawBindResult {
        RawBindResult::Bound {
            segment_id: segment.into(),
            vif_type: vif_type.into(),
            vif_details: details.into(),
            status: None,
        }
    }

    #[test]
    fn a_binding_of_an_offered_segment_with_json_details_is_accepted() {
        let result =
            validate_bind(bound("seg-1", "ovs", r#"{"port_filter":true}"#), &ctx()).unwrap();
        let BindResult::Bound(b) = result else {
            panic!("not bound")
        };
        assert_eq!(b.vif_details["port_filter"], serde_json::json!(true));
    }

    #[test]
    fn malformed_bindings_are_refused_with_the_reason() {
        let cases = [
            (bound("seg-9", "ovs", "{}"), "was not offered"),
            (bound("seg-1", "ovs", "{nope"), "not JSON"),
            (bound("seg-1", "ovs", "[1]"), "not a JSON object"),
            (bound("seg-1", "binding_failed", "{}"), "cannot be bound"),
            (
                bound(
                    "seg-1",
                    "ovs",
                    &format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_VIF_DETAILS_BYTES)),
                ),
                "the limit is",
            ),
            (
                RawBindResult::Continue(Continuation {
                    segment_id: "seg-1".into(),
                    next_segments: vec![],
                }),
                "next segments",
            ),
        ];
        for (raw, expected) in cases {
            let err = validate_bind(raw, &ctx()).unwrap_err();
            assert!(err.contains(expected), "{err} should mention {expected}");
        }
    }

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let s = truncate("é".repeat(10), 5);
        assert!(s.starts_with("éé"), "{s}");
        assert!(s.contains("more bytes"), "{s}");
        assert_eq!(truncate("short".into(), 10), "short");
    }
}
