//! `neutrino:ml2/state`: the driver's key-value store, kept by the host
//! ([`HostServices`](crate::HostServices)) in the driver's namespace. Keys and
//! values are size-checked; `bind_port` may only read.

use super::HostContext;
use crate::limits::{MAX_STATE_KEY, MAX_STATE_VALUE};

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
    cx.services
        .state_get(&cx.env.name, key)
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
    cx.services
        .state_set(&cx.env.name, key, value)
        .await
        .map_err(|e| StateFailure::Unavailable(e.0))
}

/// Remove `key`.
pub async fn delete(cx: &HostContext, key: &str) -> Result<(), StateFailure> {
    check_key(key)?;
    check_writable(cx)?;
    cx.services
        .state_delete(&cx.env.name, key)
        .await
        .map_err(|e| StateFailure::Unavailable(e.0))
}

/// The keys starting with `prefix`.
pub async fn list_keys(cx: &HostContext, prefix: &str) -> Result<Vec<String>, StateFailure> {
    if prefix.len() > MAX_STATE_KEY {
        return Err(StateFailure::Invalid("prefix too long".into()));
    }
    cx.services
        .state_list_keys(&cx.env.name, prefix)
        .await
        .map_err(|e| StateFailure::Unavailable(e.0))
}
