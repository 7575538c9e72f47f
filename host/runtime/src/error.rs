//! Errors: creating the runtime ([`RuntimeError`]), loading a driver
//! ([`LoadError`]) and calling it ([`CallError`]). Every message names the
//! driver and the cause.

use crate::capability::Capability;
use crate::types::ErrorKind;
use std::fmt;
use std::time::Duration;

/// The runtime could not be created.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the engine configuration.
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),
    /// The compile cache directory cannot be created.
    #[error("cannot use the compile cache directory {path}: {source}")]
    CacheDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP transport cannot be set up.
    #[error("cannot set up outbound HTTP: {0}")]
    Http(String),
}

/// Why a capability import was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialReason {
    /// The driver's manifest does not declare the capability.
    NotDeclared,
    /// The operator's settings do not grant it.
    NotGranted,
}

/// A driver could not be loaded; nothing was swapped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest is missing or invalid.
    #[error("invalid driver manifest{}: {message}", driver.as_ref().map(|d| format!(" of `{d}`")).unwrap_or_default())]
    Manifest {
        /// The driver, when its name is known.
        driver: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// `driver.toml` and the embedded manifest disagree.
    #[error(
        "driver `{driver}`: driver.toml and the manifest embedded in the component disagree on `{field}` (driver.toml: {file:?}, embedded: {embedded:?})"
    )]
    ManifestMismatch {
        /// The driver.
        driver: String,
        /// The field that differs.
        field: &'static str,
        /// Its value in the component.
        embedded: String,
        /// Its value in driver.toml.
        file: String,
    },
    /// The driver was built for a contract version this host does not run.
    #[error("driver `{driver}` was built for neutrino:ml2@{found}; this host supports {supported}")]
    UnsupportedContract {
        /// The driver.
        driver: String,
        /// The version it was built for.
        found: String,
        /// What this host supports, e.g. `0.1.x`.
        supported: String,
    },
    /// The component does not export the mechanism interface.
    #[error("driver `{driver}` does not export neutrino:ml2/mechanism; its exports are: {exports}")]
    NotADriver {
        /// The driver.
        driver: String,
        /// What it exports.
        exports: String,
    },
    /// The component imports a capability it was not given.
    #[error("driver `{driver}` imports `{interface}` but {}", match reason {
        DenialReason::NotDeclared => format!("its manifest does not declare `{capability}`"),
        DenialReason::NotGranted => format!("the operator did not grant `{capability}`"),
    })]
    CapabilityNotGranted {
        /// The driver.
        driver: String,
        /// The imported interface, e.g. `neutrino:ml2/http@0.1.0`.
        interface: String,
        /// The capability it needs.
        capability: Capability,
        /// Why it is refused.
        reason: DenialReason,
    },
    /// The component imports something no driver gets.
    #[error(
        "driver `{driver}` imports `{interface}`, which drivers do not get (no filesystem, sockets, clocks or random numbers; only the neutrino:ml2 capabilities)"
    )]
    ForbiddenImport {
        /// The driver.
        driver: String,
        /// The import.
        interface: String,
    },
    /// The operator's settings for the driver are invalid.
    #[error("driver `{driver}`: invalid settings: {message}")]
    Settings {
        /// The driver.
        driver: String,
        /// What is wrong.
        message: String,
    },
    /// The bytes are not a valid component for this engine.
    #[error("driver `{driver}` cannot be compiled: {message}")]
    Compile {
        /// The driver.
        driver: String,
        /// wasmtime's error.
        message: String,
    },
    /// The component's imports or exports do not match the contract.
    #[error("driver `{driver}` does not match the neutrino:ml2 contract: {message}")]
    Link {
        /// The driver.
        driver: String,
        /// wasmtime's error.
        message: String,
    },
    /// The driver's own `initialize` failed (refused, trapped, timed out).
    #[error("driver `{driver}` failed to initialize: {source}")]
    Initialize {
        /// The driver.
        driver: String,
        /// The failed call.
        #[source]
        source: Box<CallError>,
    },
}

/// Which clock a timeout was measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Time spent running guest code (epoch ticks while the guest runs).
    Cpu,
    /// Time from the start of the call, including host calls such as HTTP.
    Wall,
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Clock::Cpu => "CPU",
            Clock::Wall => "wall-clock",
        })
    }
}

/// One call into a driver failed. The driver itself stays usable: every
/// call runs in a fresh instance.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The driver refused: it returned its own error. This is the driver
    /// working as intended (Neutron: the driver raised), not a fault.
    #[error("driver `{driver}` refused {hook}: {message}")]
    Driver {
        /// The driver.
        driver: String,
        /// The function called, e.g. `create_port_precommit`.
        hook: &'static str,
        /// The driver's classification.
        kind: ErrorKind,
        /// The driver's message (truncated to a sane length).
        message: String,
    },
    /// The guest trapped (panic, `unreachable`, bad memory access...).
    #[error(
        "driver `{driver}` crashed in {hook}: {message}{}",
        stderr_suffix(stderr)
    )]
    Trap {
        /// The driver.
        driver: String,
        /// The function called.
        hook: &'static str,
        /// The trap.
        message: String,
        /// What the guest wrote to stderr (a panic message), if anything.
        stderr: String,
    },
    /// The call ran out of time.
    #[error("driver `{driver}` exceeded its {clock} budget of {budget:?} in {hook}")]
    Timeout {
        /// The driver.
        driver: String,
        /// The function called.
        hook: &'static str,
        /// The budget that ran out.
        budget: Duration,
        /// Which clock.
        clock: Clock,
    },
    /// The call hit a resource limit (memory, instances).
    #[error("driver `{driver}` hit a resource limit in {hook}: {message}")]
    ResourceLimit {
        /// The driver.
        driver: String,
        /// The function called.
        hook: &'static str,
        /// Which limit.
        message: String,
    },
    /// The driver returned something malformed or too large.
    #[error("driver `{driver}` returned an invalid result from {hook}: {message}")]
    Invalid {
        /// The driver.
        driver: String,
        /// The function called.
        hook: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The driver already runs its maximum number of concurrent calls.
    #[error(
        "driver `{driver}` is busy: {limit} calls already running, none finished within {waited:?} ({hook})"
    )]
    Busy {
        /// The driver.
        driver: String,
        /// The function called.
        hook: &'static str,
        /// The concurrency limit.
        limit: usize,
        /// How long the call waited for a slot.
        waited: Duration,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; stderr: {stderr}")
    }
}

impl CallError {
    /// The driver's name.
    pub fn driver(&self) -> &str {
        match self {
            CallError::Driver { driver, .. }
            | CallError::Trap { driver, .. }
            | CallError::Timeout { driver, .. }
            | CallError::ResourceLimit { driver, .. }
            | CallError::Invalid { driver, .. }
            | CallError::Busy { driver, .. } => driver,
        }
    }

    /// The function that was called.
    pub fn hook(&self) -> &'static str {
        match self {
            CallError::Driver { hook, .. }
            | CallError::Trap { hook, .. }
            | CallError::Timeout { hook, .. }
            | CallError::ResourceLimit { hook, .. }
            | CallError::Invalid { hook, .. }
            | CallError::Busy { hook, .. } => hook,
        }
    }

    /// Whether the driver is at fault (anything but its own refusal). The
    /// driver's [`FailurePolicy`](crate::FailurePolicy) applies to faults
    /// only: a refusal always fails the request.
    pub fn is_fault(&self) -> bool {
        !matches!(self, CallError::Driver { .. })
    }

    /// Whether a journaled postcommit that ended so is tried again later: the
    /// driver said `unavailable` (backend unreachable or busy), or it faulted
    /// (trap, timeout, memory, no free call slot). Its other refusals and
    /// invalid results are permanent.
    pub fn is_retryable(&self) -> bool {
        match self {
            CallError::Driver { kind, .. } => *kind == crate::types::ErrorKind::Unavailable,
            CallError::Invalid { .. } => false,
            CallError::Trap { .. }
            | CallError::Timeout { .. }
            | CallError::ResourceLimit { .. }
            | CallError::Busy { .. } => true,
        }
    }
}
