//! Time for drivers (contract 0.2): the host gives drivers the wall clock and
//! a monotonic clock (`wasi:clocks`), so `std::time::SystemTime` and
//! `std::time::Instant` work. No capability is needed. These helpers name
//! the usual cases.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Now, on a clock that never goes back: for timeouts and durations.
pub fn monotonic() -> Instant {
    Instant::now()
}

/// Now, as time since the Unix epoch: for timestamps.
pub fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Now, as whole seconds since the Unix epoch.
pub fn unix_seconds() -> u64 {
    since_epoch().as_secs()
}
