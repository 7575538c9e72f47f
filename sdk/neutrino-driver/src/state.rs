//! The driver's key-value store, owned by the host: one namespace per driver,
//! kept in the database, surviving restarts and upgrades and shared by all
//! servers. Needs the `state` capability.
//!
//! Writes in a precommit hook belong to that hook's transaction. `bind_port`
//! may only read.

use crate::bindings::neutrino::ml2::state as host;
use crate::{DriverError, ErrorKind};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use host::StateError;

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, StateError> {
    host::get(key)
}

/// Store `value` under `key`.
pub fn set(key: &str, value: &[u8]) -> Result<(), StateError> {
    host::set(key, value)
}

/// Remove `key` (no error if it was not set).
pub fn delete(key: &str) -> Result<(), StateError> {
    host::delete(key)
}

/// The keys that start with `prefix`, sorted.
pub fn list_keys(prefix: &str) -> Result<Vec<String>, StateError> {
    host::list_keys(prefix)
}

/// The value under `key` decoded from JSON.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, DriverError> {
    match get(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            DriverError::internal(format!("state `{key}` is not the expected JSON: {e}"))
        }),
    }
}

/// Store `value` as JSON under `key`.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), DriverError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| DriverError::internal(format!("cannot encode state `{key}`: {e}")))?;
    Ok(set(key, &bytes)?)
}

/// Add `delta` to the integer counter under `key` (0 when unset) and return
/// the new value. Atomic on the host: concurrent increments from any number
/// of calls and servers are all counted. The counter is stored as decimal
/// ASCII, so [`get_json::<i64>`](get_json) reads it.
pub fn increment(key: &str, delta: i64) -> Result<i64, DriverError> {
    Ok(host::increment(key, delta)?)
}

/// Replace the value under `key` by `new` (`None` deletes it) only if it is
/// `expected` now (`None`: absent), atomically. Returns whether it was
/// replaced; on `false` read the value again and retry, or give up.
///
/// ```ignore
/// // Claim VLAN 100 for a network unless another network has it.
/// let claimed = state::compare_and_set("vlan/100", None, Some(net_id.as_bytes()))?;
/// ```
pub fn compare_and_set(
    key: &str,
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
) -> Result<bool, DriverError> {
    Ok(host::compare_and_set(key, expected, new)?)
}

impl StateError {
    /// A one-line description, e.g. `state value too large`.
    pub fn describe(&self) -> String {
        match self {
            StateError::Invalid(m) => format!("invalid state request: {m}"),
            StateError::Denied(m) => format!("state access denied: {m}"),
            StateError::TooLarge => "state value too large".to_string(),
            StateError::Unavailable(m) => format!("state store unavailable: {m}"),
        }
    }
}

impl From<StateError> for DriverError {
    fn from(e: StateError) -> Self {
        let kind = match e {
            StateError::Unavailable(_) => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        DriverError {
            kind,
            message: e.describe(),
        }
    }
}
