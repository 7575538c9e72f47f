//! Write transactions: sqlx's own on PostgreSQL; on SQLite, the one writer connection behind
//! a first-come-first-served lock, with `BEGIN` and `COMMIT` sent as ordinary statements.
//!
//! Why SQLite does not use sqlx's pool and `Transaction` for writes: SQLite has one writer,
//! so everything done while holding it is paid by every request queued behind it, and with
//! sqlx each of these is a hand-off to the connection's worker thread and back: the ping when
//! a connection is taken from the pool, `BEGIN` and `COMMIT` (which also wait for the caller
//! to acknowledge the answer), and a spawned task with another ping when it goes back. Here
//! a transaction costs its statements, one `BEGIN IMMEDIATE` and one `COMMIT`.
//!
//! A transaction dropped without [`Tx::commit`] (an error, a cancelled request) is rolled
//! back before the connection is used again.
//!
//! A transaction begun with [`crate::Store::begin_batched`] goes further, for the hottest
//! write (creating a port): on SQLite its `BEGIN` travels with its first query, and the
//! writes it [defers](Tx::defer) travel with the next query or with its `COMMIT`, so that a
//! port costs two hand-offs to SQLite instead of five. PostgreSQL runs every statement at
//! once, as before.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Connection, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::db::numbered;
use crate::query::{SqlValue, bind_all};

/// The SQLite writer: one connection, taken in turn.
pub(crate) struct SqliteWriter {
    url: String,
    state: Arc<Mutex<WriterState>>,
}

struct WriterState {
    /// `None` until first used, and again after the connection broke.
    conn: Option<AnyConnection>,
    /// A transaction was left open by a dropped [`Tx`]: roll it back before the next.
    needs_rollback: bool,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWriter")
            .field("url", &self.url)
            .finish()
    }
}

impl SqliteWriter {
    /// Open the writer connection to `url`.
    pub(crate) async fn connect(url: &str) -> Result<SqliteWriter, sqlx::Error> {
        let writer = SqliteWriter {
            url: url.to_string(),
            state: Arc::new(Mutex::new(WriterState {
                conn: None,
                needs_rollback: false,
            })),
        };
        writer.lock().await?;
        Ok(writer)
    }

    /// Take the writer connection (waiting for the current holder), outside any transaction.
    pub(crate) async fn lock(&self) -> Result<WriterGuard, sqlx::Error> {
        let mut guard = self.state.clone().lock_owned().await;
        if guard.conn.is_none() {
            let mut conn = AnyConnection::connect(&self.url).await?;
            crate::db::sqlite_pragmas(&mut conn).await?;
            guard.conn = Some(conn);
            guard.needs_rollback = false;
        }
        if guard.needs_rollback {
            let conn = guard.conn.as_mut().expect("connected above");
            if let Err(e) = conn.execute("ROLLBACK").await
                && !no_transaction(&e)
            {
                tracing::warn!(error = %e, "rolling back an abandoned SQLite transaction failed; reconnecting");
                guard.conn = None;
                return Err(e);
            }
            guard.needs_rollback = false;
        }
        Ok(WriterGuard(guard))
    }

    /// Start a write transaction.
    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let WriterGuard(mut guard) = self.lock().await?;
        let conn = guard.conn.as_mut().expect("lock connects");
        if let Err(e) = conn.execute("BEGIN IMMEDIATE").await {
            if broken(&e) {
                guard.conn = None;
            }
            return Err(e);
        }
        Ok(Tx {
            inner: Inner::Sqlite {
                guard,
                open: true,
                batched: None,
            },
        })
    }

    /// Take the writer for a transaction whose `BEGIN` goes with its first query.
    pub(crate) async fn begin_batched(&self) -> Result<Tx, sqlx::Error> {
        let WriterGuard(guard) = self.lock().await?;
        Ok(Tx {
            inner: Inner::Sqlite {
                guard,
                open: false,
                batched: Some(Pending {
                    begun: false,
                    statements: String::new(),
                    values: Vec::new(),
                }),
            },
        })
    }
}

/// The SQLite writer connection, held outside a transaction (migrations, shutdown).
pub(crate) struct WriterGuard(OwnedMutexGuard<WriterState>);

impl WriterGuard {
    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        self.0.conn.as_mut().expect("lock connects")
    }

    /// Close the connection; the next [`SqliteWriter::lock`] opens a new one.
    pub(crate) async fn close(mut self) -> Result<(), sqlx::Error> {
        match self.0.conn.take() {
            Some(conn) => conn.close().await,
            None => Ok(()),
        }
    }
}

/// A write transaction. It dereferences to its connection; [`Tx::commit`] ends it, and
/// dropping it rolls it back.
pub struct Tx {
    inner: Inner,
}

enum Inner {
    /// PostgreSQL: sqlx's transaction on a pooled connection.
    Pooled(sqlx::Transaction<'static, Any>),
    /// SQLite: the writer connection, locked for the transaction's lifetime.
    Sqlite {
        guard: OwnedMutexGuard<WriterState>,
        /// `BEGIN` was sent and neither `COMMIT` nor `ROLLBACK` has been yet.
        open: bool,
        /// For a batched transaction: what waits to be sent with the next query.
        batched: Option<Pending>,
    },
    /// Committed or rolled back (only seen while being consumed).
    Done,
}

/// What a batched SQLite transaction has not sent yet.
struct Pending {
    /// Whether `BEGIN` was sent (or is in `statements`).
    begun: bool,
    /// Deferred statements, each ending in `;`, with `?` placeholders.
    statements: String,
    /// Their arguments, in order.
    values: Vec<SqlValue>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.begun && self.statements.is_empty()
    }

    /// Take what waits, with `BEGIN` first if it was not sent yet.
    fn take(&mut self) -> (String, Vec<SqlValue>) {
        let mut sql = String::new();
        if !self.begun {
            sql.push_str("BEGIN IMMEDIATE; ");
            self.begun = true;
        }
        sql.push_str(&std::mem::take(&mut self.statements));
        (sql, std::mem::take(&mut self.values))
    }
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.inner {
            Inner::Pooled(_) => "Tx(pooled)",
            Inner::Sqlite { .. } => "Tx(sqlite writer)",
            Inner::Done => "Tx(done)",
        })
    }
}

impl Tx {
    /// A transaction sqlx began on a pooled connection.
    pub(crate) fn pooled(tx: sqlx::Transaction<'static, Any>) -> Tx {
        Tx {
            inner: Inner::Pooled(tx),
        }
    }

    /// Make the transaction's changes permanent.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        if let Inner::Sqlite {
            guard,
            open,
            batched,
        } = &mut self.inner
        {
            let conn = guard.conn.as_mut().expect("the writer is connected");
            match batched {
                None => {
                    conn.execute("COMMIT").await?;
                }
                // Nothing was ever sent: there is nothing to commit.
                Some(p) if !p.begun && p.statements.is_empty() => {}
                Some(p) => {
                    let (mut sql, values) = p.take();
                    *open = true;
                    sql.push_str(" COMMIT;");
                    let sql = numbered(&sql);
                    bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &values)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            *open = false;
            return Ok(());
        }
        match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::Pooled(tx) => tx.commit().await,
            _ => Ok(()),
        }
    }

    /// Run `sql` (`?` placeholders) now, or, in a batched SQLite transaction, with the next
    /// query or the commit, whichever comes first. Only for statements whose outcome the
    /// caller does not need: an error still fails the transaction, later.
    pub async fn defer(&mut self, sql: &str, values: Vec<SqlValue>) -> Result<(), sqlx::Error> {
        if let Inner::Sqlite {
            batched: Some(p), ..
        } = &mut self.inner
        {
            p.statements.push_str(sql);
            p.statements.push_str("; ");
            p.values.extend(values);
            return Ok(());
        }
        bind_all(sqlx::query(sqlx::AssertSqlSafe(numbered(sql))), &values)
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    /// Run the query `sql` (`?` placeholders) and return its rows; in a batched SQLite
    /// transaction, whatever waits (`BEGIN`, deferred statements) goes first, in the same
    /// hand-off.
    pub async fn fetch_all(
        &mut self,
        sql: &str,
        values: Vec<SqlValue>,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        let (text, values) = match &mut self.inner {
            Inner::Sqlite {
                batched: Some(p),
                open,
                ..
            } => {
                let (mut text, mut all) = p.take();
                *open = true;
                text.push_str(sql);
                all.extend(values);
                (text, all)
            }
            _ => (sql.to_string(), values),
        };
        let text = numbered(&text);
        // The rows of every statement of the batch (only the last one returns any).
        bind_all(sqlx::query(sqlx::AssertSqlSafe(text)), &values)
            .fetch_all(&mut **self)
            .await
    }

    /// Send whatever waits (`BEGIN`, deferred statements) now; needed before using the
    /// connection directly.
    pub async fn flush(&mut self) -> Result<(), sqlx::Error> {
        let (sql, values) = match &mut self.inner {
            Inner::Sqlite {
                batched: Some(p),
                open,
                ..
            } if !p.is_empty() => {
                *open = true;
                p.take()
            }
            _ => return Ok(()),
        };
        bind_all(sqlx::query(sqlx::AssertSqlSafe(numbered(&sql))), &values)
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    /// The connection, for statements that must run now and in order: the caller must
    /// have [flushed](Tx::flush) first.
    fn conn_checked(&mut self) -> &mut AnyConnection {
        match &mut self.inner {
            Inner::Pooled(tx) => tx,
            Inner::Sqlite { guard, batched, .. } => {
                assert!(
                    batched.as_ref().is_none_or(Pending::is_empty),
                    "a batched transaction was used directly with statements still waiting: \
                     call Tx::flush first"
                );
                guard.conn.as_mut().expect("the writer is connected")
            }
            Inner::Done => unreachable!("a finished transaction is consumed"),
        }
    }

    /// Undo the transaction's changes now (dropping it does the same, later).
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::Pooled(tx) => tx.rollback().await,
            Inner::Sqlite {
                mut guard, open, ..
            } => {
                if open {
                    let conn = guard
                        .conn
                        .as_mut()
                        .expect("open transaction has a connection");
                    if let Err(e) = conn.execute("ROLLBACK").await {
                        guard.needs_rollback = true;
                        return Err(e);
                    }
                }
                Ok(())
            }
            Inner::Done => Ok(()),
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Inner::Sqlite {
            guard, open: true, ..
        } = &mut self.inner
        {
            guard.needs_rollback = true;
        }
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.inner {
            Inner::Pooled(tx) => tx,
            Inner::Sqlite { guard, .. } => guard.conn.as_ref().expect("connection while open"),
            Inner::Done => unreachable!("a finished transaction is consumed"),
        }
    }
}

/// Statements run through the connection directly must not overtake waiting ones: using a
/// batched transaction this way before [`Tx::flush`] is a bug, and panics.
impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn_checked()
    }
}

/// SQLite's answer to `ROLLBACK` when nothing was open (it rolled back by itself).
fn no_transaction(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.message().contains("no transaction is active"))
}

/// Whether the connection itself is gone (as opposed to a statement failing).
fn broken(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::WorkerCrashed | sqlx::Error::Io(_))
}
