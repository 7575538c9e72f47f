//! The driver's own configuration, as the operator set it. Needs the `config`
//! capability.

use crate::DriverError;
use crate::bindings::neutrino::ml2::config as host;
use std::str::FromStr;

/// The value of `key`, if set.
pub fn get(key: &str) -> Option<String> {
    host::get(key)
}

/// All keys that are set, sorted.
pub fn keys() -> Vec<String> {
    host::keys()
}

/// The value of `key` parsed as `T`; `Ok(None)` when unset, an
/// `invalid-input` error naming the key when it does not parse.
pub fn get_parsed<T: FromStr>(key: &str) -> Result<Option<T>, DriverError>
where
    T::Err: std::fmt::Display,
{
    match get(key) {
        None => Ok(None),
        Some(raw) => raw.trim().parse().map(Some).map_err(|e| {
            DriverError::invalid_input(format!("config `{key}` = {raw:?} is invalid: {e}"))
        }),
    }
}

/// The value of `key` parsed as `T`, or `default` when unset.
pub fn get_or<T: FromStr>(key: &str, default: T) -> Result<T, DriverError>
where
    T::Err: std::fmt::Display,
{
    Ok(get_parsed(key)?.unwrap_or(default))
}

/// The value of `key`, or an `invalid-input` error saying it is required.
pub fn require(key: &str) -> Result<String, DriverError> {
    get(key).ok_or_else(|| DriverError::invalid_input(format!("config `{key}` is required")))
}
