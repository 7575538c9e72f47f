//! A per-driver in-memory cache on the host, for what must not be written to
//! the database: a controller's login cookie or token. Needs the `session`
//! capability (contract 0.2).
//!
//! Entries live for their time to live at most, on this server only; they
//! are dropped when the driver is upgraded or rolled back and when the
//! server restarts. Use [`get_or_fill`] so that concurrent first calls log
//! in once:
//!
//! ```ignore
//! let token = session::get_or_fill("token", Duration::from_secs(2), Duration::from_secs(3000), || {
//!     login() // one HTTP call, made by one call; the others wait for its result
//! })?;
//! ```

use crate::bindings::neutrino::ml2::session as host;
use std::time::Duration;

pub use host::Lookup;

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// The value under `key`, if set and not expired.
pub fn get(key: &str) -> Option<Vec<u8>> {
    host::get(key)
}

/// Keep `value` under `key` for `ttl` (at most a day).
pub fn set(key: &str, value: &[u8], ttl: Duration) {
    host::set(key, value, millis(ttl))
}

/// Remove `key` (a token the controller refused).
pub fn delete(key: &str) {
    host::delete(key)
}

/// The value under `key`, or [`Lookup::Fill`] for exactly one of the calls
/// that find it absent at once (the others wait up to `wait` for its
/// [`set`]). After `Fill`, call [`set`] or [`unlock`].
pub fn get_or_lock(key: &str, wait: Duration) -> Lookup {
    host::get_or_lock(key, millis(wait))
}

/// Give up the fill lock taken by [`get_or_lock`] (the login failed).
pub fn unlock(key: &str) {
    host::unlock(key)
}

/// Single flight: the value under `key`, or the one `fill` produces (kept for
/// `ttl`). Of concurrent callers finding the key absent, one runs `fill`,
/// the others wait up to `wait` for its value. A failed `fill` releases the
/// lock and returns its error.
pub fn get_or_fill<E>(
    key: &str,
    wait: Duration,
    ttl: Duration,
    fill: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    match get_or_lock(key, wait) {
        Lookup::Hit(value) => Ok(value),
        Lookup::Fill => match fill() {
            Ok(value) => {
                set(key, &value, ttl);
                Ok(value)
            }
            Err(e) => {
                unlock(key);
                Err(e)
            }
        },
    }
}
