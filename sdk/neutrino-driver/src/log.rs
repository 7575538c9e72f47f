//! Logging to the server's log, tagged with the driver's name.
//!
//! Use the macros [`trace!`](crate::trace), [`debug!`](crate::debug),
//! [`info!`](crate::info), [`warn!`](crate::warn) and
//! [`error!`](crate::error), which take `format!` arguments. Needs the `log`
//! capability.

pub use crate::bindings::neutrino::ml2::log::Level;

/// Write one log line at `level`.
pub fn write(level: Level, message: &str) {
    crate::bindings::neutrino::ml2::log::log(level, message);
}

/// Log at trace level: `neutrino_driver::trace!("segment {}", id)`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Trace, &::std::format!($($arg)*)) };
}

/// Log at debug level: `neutrino_driver::debug!("segment {}", id)`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, &::std::format!($($arg)*)) };
}

/// Log at info level: `neutrino_driver::info!("port {} created", id)`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, &::std::format!($($arg)*)) };
}

/// Log at warn level: `neutrino_driver::warn!("agent {} is dead", host)`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, &::std::format!($($arg)*)) };
}

/// Log at error level: `neutrino_driver::error!("controller said {}", status)`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, &::std::format!($($arg)*)) };
}
