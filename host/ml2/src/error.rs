//! Errors of the core plugin, each one a Neutron exception: its type name, its HTTP status
//! and its message, so the API layer can answer exactly as Neutron does.

use neutrino_store::{RetryableError, StoreError};

/// An error of the core plugin.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Neutron exception (`NetworkNotFound`, `InvalidInput`, `IpAddressAlreadyAllocated`, …).
    #[error("{message}")]
    Neutron {
        /// Neutron's exception class name, shown as `NeutronError.type`.
        kind: &'static str,
        /// HTTP status.
        status: u16,
        /// Human-readable message.
        message: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shorthand for results of the core plugin.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl RetryableError for Error {
    fn is_retriable(&self) -> bool {
        matches!(self, Error::Store(e) if e.is_retriable())
    }
}

impl Error {
    /// A Neutron exception with an explicit type and status.
    pub fn neutron(kind: &'static str, status: u16, message: impl Into<String>) -> Error {
        Error::Neutron {
            kind,
            status,
            message: message.into(),
        }
    }

    /// `<Resource>NotFound` (404), e.g. `NetworkNotFound`.
    pub fn not_found(kind: &'static str, what: &str, id: &str) -> Error {
        Error::neutron(kind, 404, format!("{what} {id} could not be found."))
    }

    /// `InvalidInput` (400): "Invalid input for operation: …".
    pub fn invalid_input(message: impl std::fmt::Display) -> Error {
        Error::neutron(
            "InvalidInput",
            400,
            format!("Invalid input for operation: {message}"),
        )
    }

    /// `HTTPBadRequest` (400) with a plain message.
    pub fn bad_request(message: impl Into<String>) -> Error {
        Error::neutron("HTTPBadRequest", 400, message)
    }

    /// A 409 conflict of the given type.
    pub fn conflict(kind: &'static str, message: impl Into<String>) -> Error {
        Error::neutron(kind, 409, message)
    }

    /// `PolicyNotAuthorized` (403).
    pub fn policy(rule: &str) -> Error {
        Error::neutron(
            "PolicyNotAuthorized",
            403,
            format!("({rule}) is disallowed by policy"),
        )
    }

    /// `RevisionNumberConstraintFailed` (412).
    pub fn revision_mismatch(expected: i64, current: i64) -> Error {
        Error::neutron(
            "RevisionNumberConstraintFailed",
            412,
            format!("Constrained to {expected}, but current revision is {current}"),
        )
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::Neutron { status, .. } => *status,
            Error::Store(_) => 500,
        }
    }

    /// The Neutron type name of this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Neutron { kind, .. } => kind,
            Error::Store(_) => "HTTPInternalServerError",
        }
    }
}
