//! The connection to the database: pools, migrations and retried write transactions.
//!
//! SQLite runs with one writer connection (WAL, so readers never wait) and a small pool of
//! readers, and its log is checkpointed in the background rather than inside the writer's
//! commits; PostgreSQL uses one pool for both. Every write runs in a transaction that is run
//! again, from the start, when the database reports a transient conflict.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor};

use crate::error::{Result, StoreError};

use crate::tx::SqliteWriter;
pub use crate::tx::Tx;

/// Which database engine is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Errors a write closure may return: they must wrap store errors and say whether to retry.
pub trait RetryableError: From<StoreError> {
    /// Whether running the transaction again could succeed.
    fn is_retriable(&self) -> bool;
}

impl RetryableError for StoreError {
    fn is_retriable(&self) -> bool {
        StoreError::is_retriable(self)
    }
}

/// The store: the only way into the database.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    read: AnyPool,
    write: Writes,
}

/// Where write transactions run.
#[derive(Clone, Debug)]
enum Writes {
    /// PostgreSQL: the shared pool.
    Pool(AnyPool),
    /// SQLite: the one writer connection (see [`crate::tx`]).
    Sqlite(Arc<SqliteWriter>),
}

/// How the store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// SQLite: the size, in bytes, past which the write-ahead log is restarted from its
    /// beginning (and to which SQLite cuts the file back when it does).
    pub wal_size_limit: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            wal_size_limit: WAL_SIZE_LIMIT,
        }
    }
}

/// The default [`StoreOptions::wal_size_limit`]: 64 MiB.
pub const WAL_SIZE_LIMIT: u64 = 64 << 20;

/// How many times a conflicting write transaction is run again before giving up.
pub const MAX_ATTEMPTS: u32 = 20;

impl Store {
    /// Connect to `url` (`sqlite:…` or `postgres://…`) and bring the schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// [`Store::connect`] with options.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Db(sqlx::Error::Configuration(
                format!("unsupported database URL `{url}`: use sqlite:FILE or postgres://…").into(),
            )));
        };
        let store = match backend {
            Backend::Sqlite => {
                let url = sqlite_url(url);
                let writer = Arc::new(SqliteWriter::connect(&url).await?);
                let write = Writes::Sqlite(writer.clone());
                // An embedded database's connections cannot go stale: no ping on every
                // checkout.
                let read = AnyPoolOptions::new()
                    .max_connections(4)
                    .test_before_acquire(false)
                    .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn).await }))
                    .connect(&url)
                    .await?;
                tokio::spawn(checkpoints(
                    read.clone(),
                    writer,
                    wal_path(&url),
                    options.wal_size_limit,
                ));
                Store {
                    backend,
                    read,
                    write,
                }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await?;
                Store {
                    backend,
                    read: pool.clone(),
                    write: Writes::Pool(pool),
                }
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let files: &[(i64, &str, &str)] = match self.backend {
            Backend::Sqlite => &[
                (
                    1,
                    "core",
                    include_str!("../migrations/sqlite/0001_core.sql"),
                ),
                (
                    2,
                    "drivers",
                    include_str!("../migrations/sqlite/0002_drivers.sql"),
                ),
                (
                    3,
                    "core_indexes",
                    include_str!("../migrations/sqlite/0003_core_indexes.sql"),
                ),
                (
                    4,
                    "port_documents",
                    include_str!("../migrations/sqlite/0004_port_documents.sql"),
                ),
                (
                    8,
                    "identity",
                    include_str!("../migrations/sqlite/0008_identity.sql"),
                ),
                (
                    10,
                    "extensions",
                    include_str!("../migrations/sqlite/0010_extensions.sql"),
                ),
                (
                    11,
                    "driver_secrets",
                    include_str!("../migrations/sqlite/0011_driver_secrets.sql"),
                ),
                (12, "l3", include_str!("../migrations/sqlite/0012_l3.sql")),
                (
                    13,
                    "scopes",
                    include_str!("../migrations/sqlite/0013_scopes.sql"),
                ),
                (
                    14,
                    "dhcp_scheduling",
                    include_str!("../migrations/sqlite/0014_dhcp_scheduling.sql"),
                ),
                (
                    15,
                    "driver_journal",
                    include_str!("../migrations/sqlite/0015_driver_journal.sql"),
                ),
                (
                    16,
                    "port_extensions",
                    include_str!("../migrations/sqlite/0016_port_extensions.sql"),
                ),
                (
                    17,
                    "port_bindings",
                    include_str!("../migrations/sqlite/0017_port_bindings.sql"),
                ),
                (
                    18,
                    "router_flavor_key",
                    include_str!("../migrations/sqlite/0018_router_flavor_key.sql"),
                ),
                (
                    19,
                    "driver_periodic",
                    include_str!("../migrations/sqlite/0019_driver_periodic.sql"),
                ),
                (
                    20,
                    "auto_allocate",
                    include_str!("../migrations/sqlite/0020_auto_allocate.sql"),
                ),
                (
                    24,
                    "tunnel_endpoints",
                    include_str!("../migrations/sqlite/0024_tunnel_endpoints.sql"),
                ),
                (
                    26,
                    "provisioning_blocks",
                    include_str!("../migrations/sqlite/0026_provisioning_blocks.sql"),
                ),
            ],
            Backend::Postgres => &[
                (
                    1,
                    "core",
                    include_str!("../migrations/postgres/0001_core.sql"),
                ),
                (
                    2,
                    "drivers",
                    include_str!("../migrations/postgres/0002_drivers.sql"),
                ),
                (
                    3,
                    "core_indexes",
                    include_str!("../migrations/postgres/0003_core_indexes.sql"),
                ),
                (
                    4,
                    "port_documents",
                    include_str!("../migrations/postgres/0004_port_documents.sql"),
                ),
                (
                    8,
                    "identity",
                    include_str!("../migrations/postgres/0008_identity.sql"),
                ),
                (
                    10,
                    "extensions",
                    include_str!("../migrations/postgres/0010_extensions.sql"),
                ),
                (
                    11,
                    "driver_secrets",
                    include_str!("../migrations/postgres/0011_driver_secrets.sql"),
                ),
                (12, "l3", include_str!("../migrations/postgres/0012_l3.sql")),
                (
                    13,
                    "scopes",
                    include_str!("../migrations/postgres/0013_scopes.sql"),
                ),
                (
                    14,
                    "dhcp_scheduling",
                    include_str!("../migrations/postgres/0014_dhcp_scheduling.sql"),
                ),
                (
                    15,
                    "driver_journal",
                    include_str!("../migrations/postgres/0015_driver_journal.sql"),
                ),
                (
                    16,
                    "port_extensions",
                    include_str!("../migrations/postgres/0016_port_extensions.sql"),
                ),
                (
                    17,
                    "port_bindings",
                    include_str!("../migrations/postgres/0017_port_bindings.sql"),
                ),
                (
                    18,
                    "router_flavor_key",
                    include_str!("../migrations/postgres/0018_router_flavor_key.sql"),
                ),
                (
                    19,
                    "driver_periodic",
                    include_str!("../migrations/postgres/0019_driver_periodic.sql"),
                ),
                (
                    20,
                    "auto_allocate",
                    include_str!("../migrations/postgres/0020_auto_allocate.sql"),
                ),
                (
                    21,
                    "quota_shards",
                    include_str!("../migrations/postgres/0021_quota_shards.sql"),
                ),
                (
                    24,
                    "tunnel_endpoints",
                    include_str!("../migrations/postgres/0024_tunnel_endpoints.sql"),
                ),
                (
                    26,
                    "provisioning_blocks",
                    include_str!("../migrations/postgres/0026_provisioning_blocks.sql"),
                ),
            ],
        };
        let migrations = files
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    sqlx::SqlStr::from_static(sql),
                    false,
                )
            })
            .collect();
        let migrator = Migrator::with_migrations(migrations);
        match &self.write {
            Writes::Pool(pool) => migrator.run(pool).await?,
            Writes::Sqlite(writer) => migrator.run(writer.lock().await?.conn()).await?,
        }
        Ok(())
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for reads outside a transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Start a write transaction (not retried; see [`Store::write`]).
    pub async fn begin(&self) -> Result<Tx> {
        match &self.write {
            Writes::Pool(pool) => pool.begin().await.map(Tx::pooled),
            Writes::Sqlite(writer) => writer.begin().await,
        }
        .map_err(StoreError::classify)
    }

    /// Start a write transaction whose statements travel together where the engine allows
    /// (see [`crate::tx`]): use [`Tx::fetch_all`], [`Tx::defer`] and [`Tx::flush`] before
    /// the connection itself.
    pub async fn begin_batched(&self) -> Result<Tx> {
        match &self.write {
            Writes::Pool(pool) => pool.begin().await.map(Tx::pooled),
            Writes::Sqlite(writer) => writer.begin_batched().await,
        }
        .map_err(StoreError::classify)
    }

    /// How many write transactions are waiting for SQLite's one writer connection right now
    /// (always 0 on PostgreSQL). Transactions that end while this is above 0 are committed
    /// together (see [`crate::tx`]).
    pub fn writers_waiting(&self) -> usize {
        match &self.write {
            Writes::Pool(_) => 0,
            Writes::Sqlite(writer) => writer.waiting(),
        }
    }

    /// Close every connection (used at shutdown).
    pub async fn close(&self) {
        self.read.close().await;
        match &self.write {
            Writes::Pool(pool) => pool.close().await,
            Writes::Sqlite(writer) => match writer.lock().await {
                Ok(mut conn) => {
                    // Fold the write-ahead log back into the database file.
                    if let Err(e) = conn.conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").await {
                        tracing::warn!(error = %e, "final SQLite checkpoint failed");
                    }
                    if let Err(e) = conn.close().await {
                        tracing::warn!(error = %e, "closing the SQLite writer failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "SQLite writer unavailable at shutdown"),
            },
        }
    }
}

/// How often the checkpoint task looks at SQLite's write-ahead log (a `stat` of its file):
/// under continuous writes the log grows past its limit by at most what is written in this
/// time, plus what is written while a checkpoint runs.
const CHECKPOINT_TICK: Duration = Duration::from_millis(50);

/// Writes have paused when the log file has not changed for this long.
const IDLE_AFTER: Duration = Duration::from_millis(250);

/// The longest a busy server goes without a checkpoint.
const CHECKPOINT_AT_LEAST_EVERY: Duration = Duration::from_secs(10);

/// How long a restarting checkpoint on the writer waits for readers of older snapshots
/// before giving up until the next tick (the writer, and the requests behind it, wait that
/// long at most).
const RESTART_WAIT: Duration = Duration::from_millis(50);

/// Keep SQLite's write-ahead log bounded and small, from a background task, while the pool
/// is open.
///
/// The writer runs with `wal_autocheckpoint = 0`. SQLite's automatic checkpoint would run
/// inside the commit that crosses 1000 pages and stall the one writer, and every request
/// queued behind it, for milliseconds. Instead, every [`CHECKPOINT_TICK`]:
/// - when writes have paused (the log file has not changed for [`IDLE_AFTER`]): a `PASSIVE` checkpoint from a
///   reader, then a `TRUNCATE` one on the writer, so an idle server's log is empty;
/// - when the log file has grown past `limit` under continuous writes: a `PASSIVE`
///   checkpoint (it copies the log back without blocking the writer), then a `RESTART` one
///   on the writer, which copies only what was written meanwhile and makes the next write
///   start the log from its beginning (a `PASSIVE` checkpoint alone never does while
///   writes keep coming, so the log would grow without bound). SQLite then cuts the file
///   back to `limit` (`journal_size_limit`);
/// - otherwise, at least every [`CHECKPOINT_AT_LEAST_EVERY`] under load, a `PASSIVE` one.
async fn checkpoints(
    pool: AnyPool,
    writer: Arc<SqliteWriter>,
    wal: Option<std::path::PathBuf>,
    limit: u64,
) {
    let stamp = |wal: &Option<std::path::PathBuf>| {
        wal.as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| (m.len(), m.modified().ok()))
    };
    let mut last = stamp(&wal);
    let mut dirty = false;
    let mut since = tokio::time::Instant::now();
    let mut last_change = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(CHECKPOINT_TICK).await;
        if pool.is_closed() {
            return;
        }
        let now = stamp(&wal);
        let changed = wal.is_none() || now != last;
        last = now;
        if changed {
            last_change = tokio::time::Instant::now();
        }
        dirty |= changed;
        let idle = last_change.elapsed() >= IDLE_AFTER;
        let over = now.is_some_and(|(len, _)| len > limit);
        let restart = if idle && (dirty || over) {
            Some("TRUNCATE")
        } else if over && dirty {
            Some("RESTART")
        } else {
            None
        };
        if restart.is_none() && !(dirty && since.elapsed() >= CHECKPOINT_AT_LEAST_EVERY) {
            continue;
        }
        let mut result = pool
            .execute("PRAGMA wal_checkpoint(PASSIVE)")
            .await
            .map(drop);
        if let (Ok(()), Some(mode)) = (&result, restart) {
            if pool.is_closed() {
                return;
            }
            result = writer.checkpoint(mode, RESTART_WAIT, limit).await.map(|r| {
                if let Some((busy, log, done)) = r {
                    tracing::debug!(mode, busy, log, done, "SQLite checkpoint");
                }
            });
        }
        match result {
            Ok(()) => {
                dirty = false;
                since = tokio::time::Instant::now();
                last = stamp(&wal);
            }
            Err(_) if pool.is_closed() => return,
            Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed"),
        }
    }
}

/// The write-ahead log file of a SQLite URL (`sqlite:FILE[?…]`), if it names a file.
fn wal_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let file = rest.split('?').next()?;
    if file.is_empty() || file == ":memory:" || url.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(format!("{file}-wal")))
}

/// Sleep before attempt `attempt + 1` of a conflicting transaction: short, growing, jittered.
pub async fn backoff(attempt: u32) {
    let pause = Duration::from_micros(200 * u64::from(attempt) + u64::from(rand_jitter() % 500));
    tracing::debug!(attempt, "retrying write transaction after a conflict");
    tokio::time::sleep(pause).await;
}

fn rand_jitter() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

fn sqlite_url(url: &str) -> String {
    if url.contains('?') {
        url.to_string()
    } else {
        format!("{url}?mode=rwc")
    }
}

pub(crate) async fn sqlite_pragmas(
    conn: &mut AnyConnection,
) -> std::result::Result<(), sqlx::Error> {
    for pragma in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
        "PRAGMA busy_timeout = 10000",
        // Checkpoints run in the background (see `checkpoints`), not in the writer's commits.
        "PRAGMA wal_autocheckpoint = 0",
    ] {
        conn.execute(pragma).await?;
    }
    Ok(())
}

/// Rewrite a statement written with `?` placeholders into `$1, $2, …`, which both engines accept.
pub fn numbered(sql: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for (i, part) in sql.split('?').enumerate() {
        if i > 0 {
            n += 1;
            let _ = write!(out, "${n}");
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn the_wal_file_is_found_from_the_url() {
        use super::wal_path;
        assert_eq!(
            wal_path("sqlite:/tmp/n.sqlite?mode=rwc"),
            Some("/tmp/n.sqlite-wal".into())
        );
        assert_eq!(wal_path("sqlite:n.sqlite"), Some("n.sqlite-wal".into()));
        assert_eq!(wal_path("sqlite::memory:"), None);
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            numbered("a = ? AND b IN (?, ?)"),
            "a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
        assert_eq!(numbered("?"), "$1");
    }
}
