//! Typed errors of the store: what went wrong, classified so callers can retry or map it.

/// Which unique constraint a write collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueKind {
    /// `ports (network_id, mac_address)`.
    MacAddress,
    /// `ip_allocations (subnet_id, ip_address)`.
    IpAddress,
    /// A free-range row of the IPAM table (two allocators raced).
    IpamRange,
    /// A segment allocation (`segment_allocations`).
    Segment,
    /// Any other unique or primary key.
    Other,
}

/// An error from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused a write.
    #[error("unique constraint violated ({kind:?}): {message}")]
    Unique {
        /// The constraint that was hit.
        kind: UniqueKind,
        /// The database's own message.
        message: String,
    },
    /// The database asked for the transaction to be retried (deadlock, serialization, busy).
    #[error("transient database conflict: {0}")]
    Retry(String),
    /// A foreign key refused a write (the parent row is gone).
    #[error("foreign key violated: {0}")]
    ForeignKey(String),
    /// A row that should have been there was not.
    #[error("{0} not found")]
    NotFound(String),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the whole transaction should simply be run again.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            StoreError::Retry(_)
                | StoreError::Unique {
                    kind: UniqueKind::IpamRange,
                    ..
                }
        )
    }

    /// Classify a raw sqlx error.
    pub fn classify(err: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &err {
            let message = db.message().to_string();
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            // PostgreSQL: 40001 serialization_failure, 40P01 deadlock_detected.
            // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED (and extended codes ending in them).
            if code == "40001" || code == "40P01" || code == "5" || code == "6" || code == "517" {
                return StoreError::Retry(message);
            }
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    let hint = format!("{} {}", db.constraint().unwrap_or_default(), message);
                    return StoreError::Unique {
                        kind: unique_kind(&hint),
                        message,
                    };
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    return StoreError::ForeignKey(message);
                }
                _ => {}
            }
            // SQLite triggers that stand in for a foreign key (`RAISE(ABORT, …)`).
            if message.starts_with("FOREIGN KEY constraint failed") {
                return StoreError::ForeignKey(message);
            }
            if message.contains("database is locked") {
                return StoreError::Retry(message);
            }
        }
        StoreError::Db(err)
    }
}

fn unique_kind(hint: &str) -> UniqueKind {
    if hint.contains("mac_address") || hint.contains("uniq_ports_mac") {
        UniqueKind::MacAddress
    } else if hint.contains("ip_allocations") {
        UniqueKind::IpAddress
    } else if hint.contains("ipam_ranges") {
        UniqueKind::IpamRange
    } else if hint.contains("segment_allocations") {
        UniqueKind::Segment
    } else {
        UniqueKind::Other
    }
}

/// Shorthand for results of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
