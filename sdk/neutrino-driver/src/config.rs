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

/// The whole configuration as JSON: an object whose values are typed as the
/// operator wrote them (strings, numbers, booleans, arrays, tables).
pub fn document() -> serde_json::Value {
    serde_json::from_str(&host::document()).unwrap_or_default()
}

/// The whole configuration deserialized into your own struct. A value of
/// the wrong type is an `invalid-input` error naming the key (its path, for
/// nested tables and arrays) and what was expected:
///
/// ```ignore
/// #[derive(serde::Deserialize)]
/// struct Settings {
///     controller_url: String,
///     #[serde(default = "three")]
///     retries: u32,
///     #[serde(default)]
///     switches: Vec<Switch>,   // [[config.switches]] tables
/// }
/// let settings: Settings = config::load()?;
/// // `retries = "x"`: config `retries`: invalid type: string "x", expected u32
/// ```
pub fn load<T: serde::de::DeserializeOwned>() -> Result<T, DriverError> {
    from_document(document())
}

/// [`load`] from a given document (for tests of your settings struct).
pub fn from_document<T: serde::de::DeserializeOwned>(
    document: serde_json::Value,
) -> Result<T, DriverError> {
    serde_path_to_error::deserialize(document).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            DriverError::invalid_input(format!("config: {inner}"))
        } else {
            DriverError::invalid_input(format!("config `{path}`: {inner}"))
        }
    })
}
