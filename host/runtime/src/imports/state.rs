//! `neutrino:ml2/state`: the driver's key-value store, kept by the host
//! ([`HostServices`](crate::HostServices)) in the driver's namespace. Keys and
//! values are size-checked; `bind_port` may only read.

use super::HostContext;
use crate::limits::{MAX_STATE_KEY, MAX_STATE_VALUE};
use crate::services::StateChange;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Run a state operation, adding the time it took to the call's `state_wait`.
async fn timed<T>(cx: &HostContext, op: impl Future<Output = T>) -> T {
    let started = Instant::now();
    cx.state_wait.in_flight.fetch_add(1, Ordering::SeqCst);
    let out = op.await;
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    cx.state_wait.nanos.fetch_add(nanos, Ordering::SeqCst);
    cx.state_wait.in_flight.fetch_sub(1, Ordering::SeqCst);
    out
}

/// Why a state operation failed (the `state-error` the driver sees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateFailure {
    /// Bad key.
    Invalid(String),
    /// Not allowed in this phase.
    Denied(String),
    /// Value too large.
    TooLarge,
    /// The host's store failed.
    Unavailable(String),
}

fn check_key(key: &str) -> Result<(), StateFailure> {
    if key.is_empty() || key.len() > MAX_STATE_KEY {
        return Err(StateFailure::Invalid(format!(
            "keys must be 1 to {MAX_STATE_KEY} bytes, got {}",
            key.len()
        )));
    }
    Ok(())
}

fn check_writable(cx: &HostContext) -> Result<(), StateFailure> {
    if cx.phase.may_write_state() {
        Ok(())
    } else {
        Err(StateFailure::Denied(format!(
            "state is read-only in {}",
            cx.phase.as_str()
        )))
    }
}

/// The value under `key`.
pub async fn get(cx: &HostContext, key: &str) -> Result<Option<Vec<u8>>, StateFailure> {
    check_key(key)?;
    timed(cx, cx.services.state_get(&cx.env.name, key))
        .await
        .map_err(|e| StateFailure::Unavailable(e.0))
}

/// Store `value` under `key`.
pub async fn set(cx: &HostContext, key: &str, value: Vec<u8>) -> Result<(), StateFailure> {
    check_key(key)?;
    check_writable(cx)?;
    if value.len() > MAX_STATE_VALUE {
        return Err(StateFailure::TooLarge);
    }
    timed(cx, cx.services.state_set(&cx.env.name, key, value))
        .await
        .map_err(|e| StateFailure::Unavailable(e.0))
}

/// Remove `key`.
pub async fn delete(cx: &HostContext, key: &str) -> Result<(), StateFailure> {
    check_key(key)?;
    check_writable(cx)?;
    timed(cx, cx.services.state_delete(&cx.env.name, key))
        .await
        .map_err(|e| StateFailure::Unavailable(e.0))
}

/// The keys starting with `prefix`.
pub async fn list_keys(cx: &HostContext, prefix: &str) -> Result<Vec<String>, StateFailure> {
    if prefix.len() > MAX_STATE_KEY {
        return Err(StateFailure::Invalid("prefix too long".into()));
    }
    timed(cx, cx.services.state_list_keys(&cx.env.name, prefix))
        .await
        .map_err(|e| StateFailure::Unavailable(e.0))
}

/// The counter a stored value holds: decimal ASCII (what JSON `42` is).
fn counter(value: Option<&[u8]>) -> Option<i64> {
    match value {
        None => Some(0),
        Some(bytes) => std::str::from_utf8(bytes).ok()?.trim().parse().ok(),
    }
}

/// Add `delta` to the counter under `key`, atomically; the new value.
pub async fn increment(cx: &HostContext, key: &str, delta: i64) -> Result<i64, StateFailure> {
    check_key(key)?;
    check_writable(cx)?;
    let next = |read: Option<&[u8]>| counter(read).and_then(|n| n.checked_add(delta));
    let change = |read: Option<&[u8]>| match next(read) {
        Some(n) => StateChange::Set(n.to_string().into_bytes()),
        None => StateChange::Keep,
    };
    let read = timed(cx, cx.services.state_modify(&cx.env.name, key, &change))
        .await
        .map_err(|e| StateFailure::Unavailable(e.0))?;
    match counter(read.as_deref()) {
        None => Err(StateFailure::Invalid(format!(
            "`{key}` does not hold an integer counter"
        ))),
        Some(n) => n
            .checked_add(delta)
            .ok_or_else(|| StateFailure::Invalid(format!("`{key}` would overflow: {n} + {delta}"))),
    }
}

/// Replace the value under `key` by `new` (`None` deletes) if it is
/// `expected` (`None`: absent), atomically; whether it was replaced.
pub async fn compare_and_set(
    cx: &HostContext,
    key: &str,
    expected: Option<Vec<u8>>,
    new: Option<Vec<u8>>,
) -> Result<bool, StateFailure> {
    check_key(key)?;
    check_writable(cx)?;
    if new.as_ref().is_some_and(|v| v.len() > MAX_STATE_VALUE) {
        return Err(StateFailure::TooLarge);
    }
    let change = |read: Option<&[u8]>| {
        if read != expected.as_deref() {
            StateChange::Keep
        } else {
            match &new {
                Some(v) => StateChange::Set(v.clone()),
                None => StateChange::Delete,
            }
        }
    };
    let read = timed(cx, cx.services.state_modify(&cx.env.name, key, &change))
        .await
        .map_err(|e| StateFailure::Unavailable(e.0))?;
    Ok(read == expected)
}

#[cfg(test)]
mod tests {
    use super::counter;

    #[test]
    fn counters_are_decimal_ascii_and_absent_is_zero() {
        assert_eq!(counter(None), Some(0));
        assert_eq!(counter(Some(b"42")), Some(42));
        assert_eq!(counter(Some(b"-7")), Some(-7));
        assert_eq!(counter(Some(b"\"x\"")), None);
        assert_eq!(counter(Some(&[0xff])), None);
    }
}
