//! `neutrino:ml2/log`: guest log lines go to `tracing` (target
//! `neutrino_runtime::guest`, field `driver`) and to
//! [`HostServices::log`](crate::HostServices::log), capped in length and
//! number per call.

use super::HostContext;
use crate::limits::{MAX_LOG_LINE, MAX_LOG_LINES_PER_CALL, truncate};
use crate::types::LogLevel;

/// Log one line for the calling driver.
pub fn log(cx: &mut HostContext, level: LogLevel, message: String) {
    cx.log_lines = cx.log_lines.saturating_add(1);
    let driver = cx.env.name.as_str();
    if cx.log_lines > MAX_LOG_LINES_PER_CALL {
        if cx.log_lines == MAX_LOG_LINES_PER_CALL + 1 {
            tracing::warn!(target: "neutrino_runtime::guest", driver, "more than {MAX_LOG_LINES_PER_CALL} log lines in one call; dropping the rest");
        }
        return;
    }
    let message = truncate(message, MAX_LOG_LINE);
    match level {
        LogLevel::Trace => tracing::trace!(target: "neutrino_runtime::guest", driver, "{message}"),
        LogLevel::Debug => tracing::debug!(target: "neutrino_runtime::guest", driver, "{message}"),
        LogLevel::Info => tracing::info!(target: "neutrino_runtime::guest", driver, "{message}"),
        LogLevel::Warn => tracing::warn!(target: "neutrino_runtime::guest", driver, "{message}"),
        LogLevel::Error => tracing::error!(target: "neutrino_runtime::guest", driver, "{message}"),
    }
    cx.services.log(driver, level, &message);
}
