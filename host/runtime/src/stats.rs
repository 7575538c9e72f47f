//! Per-driver counters and latency percentiles.
//!
//! Counters are atomics; latencies go to a ring of the most recent
//! [`RING`] durations from which p50/p99 are computed on demand.

use crate::error::CallError;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Recent call durations kept for percentiles.
pub const RING: usize = 1024;

/// Counters of one driver (one version, or a slot across versions).
#[derive(Debug, Default)]
pub struct DriverStats {
    calls: AtomicU64,
    ok: AtomicU64,
    refusals: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    resource_limits: AtomicU64,
    invalid: AtomicU64,
    busy: AtomicU64,
    recent: Mutex<Ring>,
    by_version: Mutex<BTreeMap<String, u64>>,
    last_fault: Mutex<Option<String>>,
}

#[derive(Debug)]
struct Ring {
    micros: Vec<u32>,
    next: usize,
}

impl Default for Ring {
    fn default() -> Self {
        Ring {
            micros: Vec::with_capacity(RING),
            next: 0,
        }
    }
}

/// A copy of a driver's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Calls made.
    pub calls: u64,
    /// Calls that succeeded.
    pub ok: u64,
    /// Calls that failed, for any reason (refusals included).
    pub errors: u64,
    /// Calls the driver refused with its own error.
    pub refusals: u64,
    /// Calls that trapped (panic, unreachable...).
    pub traps: u64,
    /// Calls that ran out of CPU or wall-clock time.
    pub timeouts: u64,
    /// Calls that hit a memory or instance limit.
    pub resource_limits: u64,
    /// Calls that returned a malformed result.
    pub invalid: u64,
    /// Calls refused because the driver was at its concurrency limit.
    pub busy: u64,
    /// Median duration of recent calls.
    pub p50: Option<Duration>,
    /// 99th percentile duration of recent calls.
    pub p99: Option<Duration>,
    /// Calls per driver version (`version (sha256 prefix)`).
    pub by_version: BTreeMap<String, u64>,
    /// The full message of the most recent fault (trap with its panic text, timeout,
    /// limit, invalid result): shown to admins only, never in a user's error.
    pub last_fault: Option<String>,
}

impl DriverStats {
    /// Record one call's outcome and duration (`version` labels it).
    pub fn record<T>(&self, result: &Result<T, CallError>, elapsed: Duration, version: &str) {
        self.calls.fetch_add(1, Relaxed);
        let counter = match result {
            Ok(_) => &self.ok,
            Err(CallError::Driver { .. }) => &self.refusals,
            Err(CallError::Trap { .. }) => &self.traps,
            Err(CallError::Timeout { .. }) => &self.timeouts,
            Err(CallError::ResourceLimit { .. }) => &self.resource_limits,
            Err(CallError::Invalid { .. }) => &self.invalid,
            Err(CallError::Busy { .. }) => &self.busy,
        };
        counter.fetch_add(1, Relaxed);
        if let Err(e) = result
            && e.is_fault()
        {
            *self.last_fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
        let micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
        {
            let mut ring = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if ring.micros.len() < RING {
                ring.micros.push(micros);
            } else {
                let i = ring.next;
                ring.micros[i] = micros;
            }
            ring.next = (ring.next + 1) % RING;
        }
        let mut by_version = self.by_version.lock().unwrap_or_else(|p| p.into_inner());
        match by_version.get_mut(version) {
            Some(n) => *n += 1,
            None => {
                by_version.insert(version.to_string(), 1);
            }
        }
    }

    /// The current counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut sorted = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .micros
            .clone();
        sorted.sort_unstable();
        let percentile = |p: usize| {
            (!sorted.is_empty()).then(|| {
                let i = ((sorted.len() * p).div_ceil(100)).saturating_sub(1);
                Duration::from_micros(u64::from(sorted[i.min(sorted.len() - 1)]))
            })
        };
        let calls = self.calls.load(Relaxed);
        let ok = self.ok.load(Relaxed);
        StatsSnapshot {
            calls,
            ok,
            errors: calls - ok,
            refusals: self.refusals.load(Relaxed),
            traps: self.traps.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            resource_limits: self.resource_limits.load(Relaxed),
            invalid: self.invalid.load(Relaxed),
            busy: self.busy.load(Relaxed),
            p50: percentile(50),
            p99: percentile(99),
            by_version: self
                .by_version
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            last_fault: self
                .last_fault
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trap() -> Result<(), CallError> {
        Err(CallError::Trap {
            driver: "d".into(),
            hook: "bind_port",
            message: "boom".into(),
            stderr: String::new(),
        })
    }

    #[test]
    fn outcomes_are_counted_by_kind_and_version() {
        let stats = DriverStats::default();
        stats.record(&Ok(()), Duration::from_micros(10), "1.0.0");
        stats.record(&trap(), Duration::from_micros(30), "2.0.0");
        let s = stats.snapshot();
        assert_eq!((s.calls, s.ok, s.errors, s.traps), (2, 1, 1, 1));
        assert_eq!(s.by_version["1.0.0"], 1);
        assert_eq!(s.by_version["2.0.0"], 1);
        assert_eq!(
            s.last_fault.as_deref(),
            Some(trap().unwrap_err().to_string().as_str())
        );
    }

    #[test]
    fn percentiles_come_from_recent_calls() {
        let stats = DriverStats::default();
        for us in 1..=100 {
            stats.record(&Ok(()), Duration::from_micros(us), "v");
        }
        let s = stats.snapshot();
        assert_eq!(s.p50, Some(Duration::from_micros(50)));
        assert_eq!(s.p99, Some(Duration::from_micros(99)));
        for _ in 0..RING {
            stats.record(&Ok(()), Duration::from_micros(7), "v");
        }
        assert_eq!(stats.snapshot().p99, Some(Duration::from_micros(7)));
    }
}
