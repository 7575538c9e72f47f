//! Write transactions: sqlx's own on PostgreSQL; on SQLite, the one writer connection behind
//! a first-come-first-served lock, with `BEGIN` and `COMMIT` sent as ordinary statements, and
//! group commit.
//!
//! Why SQLite does not use sqlx's pool and `Transaction` for writes: SQLite has one writer,
//! so everything done while holding it is paid by every request queued behind it, and with
//! sqlx each of these is a hand-off to the connection's worker thread and back: the ping when
//! a connection is taken from the pool, `BEGIN` and `COMMIT` (which also wait for the caller
//! to acknowledge the answer), and a spawned task with another ping when it goes back. Here
//! a transaction costs its statements, one `BEGIN IMMEDIATE` and one `COMMIT`.
//!
//! **Group commit.** A SQLite commit writes every page the transaction changed to the
//! write-ahead log, and consecutive ports change mostly the same pages (the free range, the
//! last leaf of each table and index). So when a transaction ends while others wait for the
//! writer, it does not commit: its changes stay in the open SQLite transaction (the
//! *group*), it hands the writer on, and its caller waits until the group is committed.
//! Transactions that find a group open run inside it under a `SAVEPOINT`, so a failure undoes
//! only their own changes. The group is committed by the first transaction that ends with
//! nobody waiting, or by a member that gets the writer back before that (members queue for it
//! again while they wait), so a group never outlives the queue that formed it. Its members'
//! [`Tx::commit`] returns only once the group's `COMMIT` did, with its outcome: nobody is told
//! "done" before the data is durable, and readers never see a member's changes before
//! `COMMIT` (they read committed snapshots). Each transaction still runs alone on the one
//! connection, one after another, so the outcome is the same as committing each in turn.
//!
//! A transaction dropped without [`Tx::commit`] (an error, a cancelled request) is rolled
//! back (to its savepoint, inside a group) before the connection is used again.
//!
//! A transaction begun with [`crate::Store::begin_batched`] goes further, for the hottest
//! write (creating a port): on SQLite its `BEGIN` travels with its first query, and the
//! writes it [defers](Tx::defer) travel with the next query or with its `COMMIT`, so that a
//! port costs two hand-offs to SQLite instead of five. PostgreSQL runs every statement at
//! once, as before.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Connection, Executor};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

use crate::db::numbered;
use crate::query::{SqlValue, bind_all};

/// The savepoint a transaction runs under inside a group.
const SAVEPOINT: &str = "neutrino_tx";

/// The SQLite writer: one connection, taken in turn.
pub(crate) struct SqliteWriter {
    state: Arc<Mutex<WriterState>>,
    /// Transactions waiting for the writer (not counting group members waiting for `COMMIT`).
    waiting: Arc<AtomicUsize>,
}

struct WriterState {
    url: String,
    /// `None` until first used, and again after the connection broke.
    conn: Option<AnyConnection>,
    /// What a dropped [`Tx`] left to undo before the connection is used again.
    undo: Undo,
    /// The open SQLite transaction holding ended transactions' changes, not yet committed.
    group: Option<Arc<Group>>,
}

/// What a transaction dropped half-way left behind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Undo {
    Nothing,
    /// Its own SQLite transaction: `ROLLBACK`.
    Transaction,
    /// Its savepoint inside a group: `ROLLBACK TO`, and the group goes on.
    Savepoint,
}

/// Ended transactions waiting for one `COMMIT`.
#[derive(Default)]
struct Group {
    /// Set once, when the group's `COMMIT` succeeded or the group was lost.
    outcome: OnceLock<Result<(), String>>,
    /// Wakes the members when `outcome` is set.
    done: Notify,
}

impl Group {
    fn finish(&self, outcome: Result<(), String>) {
        let _ = self.outcome.set(outcome);
        self.done.notify_waiters();
    }
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWriter").finish_non_exhaustive()
    }
}

impl WriterState {
    /// Make the connection usable: connect if needed, and undo what a dropped transaction
    /// left.
    async fn ready(&mut self) -> Result<(), sqlx::Error> {
        if self.conn.is_none() {
            let mut conn = AnyConnection::connect(&self.url).await?;
            crate::db::sqlite_pragmas(&mut conn).await?;
            self.conn = Some(conn);
            self.undo = Undo::Nothing;
        }
        let undo = std::mem::replace(&mut self.undo, Undo::Nothing);
        let conn = self.conn.as_mut().expect("connected above");
        match undo {
            Undo::Nothing => Ok(()),
            Undo::Transaction => match conn.execute("ROLLBACK").await {
                Err(e) if !no_transaction(&e) => {
                    tracing::warn!(error = %e, "rolling back an abandoned SQLite transaction failed; reconnecting");
                    self.drop_connection(&e);
                    Err(e)
                }
                _ => Ok(()),
            },
            Undo::Savepoint => {
                let sql = format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}");
                match conn.execute(sqlx::AssertSqlSafe(sql)).await {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        // Whatever happened to the savepoint, the group cannot be trusted.
                        tracing::warn!(error = %e, "rolling back to a savepoint failed; abandoning the group commit");
                        self.abandon_group(&e).await;
                        Ok(())
                    }
                }
            }
        }
    }

    /// Commit the open group, if any, and tell its members.
    async fn end_group(&mut self) -> Result<(), sqlx::Error> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let Some(conn) = self.conn.as_mut() else {
            group.finish(Err("the SQLite writer connection was lost".into()));
            return Err(sqlx::Error::WorkerCrashed);
        };
        match conn.execute("COMMIT").await {
            Ok(_) => {
                group.finish(Ok(()));
                Ok(())
            }
            Err(e) => {
                group.finish(Err(e.to_string()));
                match conn.execute("ROLLBACK").await {
                    Err(r) if !no_transaction(&r) => self.drop_connection(&r),
                    _ if broken(&e) => self.drop_connection(&e),
                    _ => {}
                }
                Err(e)
            }
        }
    }

    /// Roll the open group back and fail its members.
    async fn abandon_group(&mut self, cause: &sqlx::Error) {
        if let Some(group) = self.group.take() {
            group.finish(Err(format!("the group commit was abandoned: {cause}")));
        }
        if let Some(conn) = self.conn.as_mut()
            && let Err(e) = conn.execute("ROLLBACK").await
            && !no_transaction(&e)
        {
            self.drop_connection(&e);
        }
    }

    /// Forget the connection after `e` (the next user reconnects), and fail the open group.
    fn drop_connection(&mut self, e: &sqlx::Error) {
        self.conn = None;
        self.undo = Undo::Nothing;
        if let Some(group) = self.group.take() {
            group.finish(Err(format!("the SQLite writer connection was lost: {e}")));
        }
    }
}

/// Counts a transaction as waiting for the writer until dropped.
struct WaitingFor<'a>(&'a AtomicUsize);

impl<'a> WaitingFor<'a> {
    fn new(count: &'a AtomicUsize) -> WaitingFor<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        WaitingFor(count)
    }
}

impl Drop for WaitingFor<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SqliteWriter {
    /// Open the writer connection to `url`.
    pub(crate) async fn connect(url: &str) -> Result<SqliteWriter, sqlx::Error> {
        let writer = SqliteWriter {
            state: Arc::new(Mutex::new(WriterState {
                url: url.to_string(),
                conn: None,
                undo: Undo::Nothing,
                group: None,
            })),
            waiting: Arc::new(AtomicUsize::new(0)),
        };
        writer.lock().await?;
        Ok(writer)
    }

    /// How many transactions wait for the writer.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Take the writer connection (waiting for the current holder), outside any transaction:
    /// an open group is committed first.
    pub(crate) async fn lock(&self) -> Result<WriterGuard, sqlx::Error> {
        let guard = lock_outside_transactions(&self.state).await?;
        Ok(WriterGuard(guard))
    }

    /// Start a write transaction.
    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let mut tx = self.begin_batched().await?;
        tx.flush().await?;
        Ok(tx)
    }

    /// Take the writer for a transaction whose `BEGIN` goes with its first query.
    pub(crate) async fn begin_batched(&self) -> Result<Tx, sqlx::Error> {
        let mut guard = {
            let _waiting = WaitingFor::new(&self.waiting);
            self.state.clone().lock_owned().await
        };
        guard.ready().await?;
        let nested = guard.group.is_some();
        Ok(Tx {
            inner: Inner::Sqlite(SqliteTx {
                guard,
                waiting: self.waiting.clone(),
                open: false,
                nested,
                pending: Pending::default(),
            }),
        })
    }
}

impl SqliteWriter {
    /// Checkpoint the write-ahead log on the writer connection itself, between transactions
    /// (an open group is committed first), in `mode` (`RESTART` or `TRUNCATE`), waiting at
    /// most `wait` for readers of older snapshots. Returns SQLite's (busy, log frames,
    /// checkpointed frames), or `None` when the connection is closed (at shutdown, or after
    /// an error: the next transaction reopens it, and a later checkpoint does the work).
    /// `journal_size_limit` is what SQLite cuts the log file back to when it restarts it.
    pub(crate) async fn checkpoint(
        &self,
        mode: &str,
        wait: std::time::Duration,
        journal_size_limit: u64,
    ) -> Result<Option<(i64, i64, i64)>, sqlx::Error> {
        let mut guard = {
            let _waiting = WaitingFor::new(&self.waiting);
            self.state.clone().lock_owned().await
        };
        if guard.conn.is_none() {
            return Ok(None);
        }
        guard.ready().await?;
        guard.end_group().await?;
        let conn = guard.conn.as_mut().expect("ready connects");
        conn.execute(sqlx::AssertSqlSafe(format!(
            "PRAGMA journal_size_limit = {journal_size_limit}; PRAGMA busy_timeout = {}",
            wait.as_millis()
        )))
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA wal_checkpoint({mode})"
        )))
        .fetch_one(&mut *conn)
        .await;
        conn.execute("PRAGMA busy_timeout = 10000").await?;
        let row = row?;
        use sqlx::Row;
        Ok(Some((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
    }
}

/// Take the writer, ready, with no group open.
async fn lock_outside_transactions(
    state: &Arc<Mutex<WriterState>>,
) -> Result<OwnedMutexGuard<WriterState>, sqlx::Error> {
    let mut guard = state.clone().lock_owned().await;
    guard.ready().await?;
    guard.end_group().await?;
    Ok(guard)
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
    Sqlite(SqliteTx),
    /// Committed or rolled back (only seen while being consumed).
    Done,
}

/// A transaction on the SQLite writer.
struct SqliteTx {
    guard: OwnedMutexGuard<WriterState>,
    /// The writer's count of waiting transactions: whether to commit or join a group.
    waiting: Arc<AtomicUsize>,
    /// Its `BEGIN` (or `SAVEPOINT`) was sent, and nothing has ended it yet.
    open: bool,
    /// It runs inside a group, under [`SAVEPOINT`].
    nested: bool,
    /// What has not been sent yet (always empty after `flush`).
    pending: Pending,
}

/// What a SQLite transaction has not sent yet.
#[derive(Default)]
struct Pending {
    /// Whether `BEGIN` (or `SAVEPOINT`) was sent, or is in `statements`.
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
}

impl SqliteTx {
    /// Take what waits, with `BEGIN` (or `SAVEPOINT`) first if it was not sent yet; what is
    /// taken is about to be sent, so the transaction counts as open.
    fn take(&mut self) -> (String, Vec<SqlValue>) {
        let mut sql = String::new();
        if !self.pending.begun {
            if self.nested {
                sql.push_str("SAVEPOINT ");
                sql.push_str(SAVEPOINT);
                sql.push_str("; ");
            } else {
                sql.push_str("BEGIN IMMEDIATE; ");
            }
            self.pending.begun = true;
        }
        self.open = true;
        sql.push_str(&std::mem::take(&mut self.pending.statements));
        (sql, std::mem::take(&mut self.pending.values))
    }

    fn conn(&mut self) -> &mut AnyConnection {
        self.guard.conn.as_mut().expect("the writer is connected")
    }

    /// Send `sql` now.
    async fn execute(&mut self, sql: &str, values: &[SqlValue]) -> Result<(), sqlx::Error> {
        let sql = numbered(sql);
        let outcome = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), values)
            .execute(&mut *self.conn())
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(e) => {
                if broken(&e) {
                    self.open = false;
                    self.guard.drop_connection(&e);
                }
                Err(e)
            }
        }
    }

    /// What undoes this transaction if it ends now without committing.
    fn undo(&self) -> Undo {
        match (self.open, self.nested) {
            (false, _) => Undo::Nothing,
            (true, false) => Undo::Transaction,
            (true, true) => Undo::Savepoint,
        }
    }
}

/// A group member's wait for the group's `COMMIT`: if the waiting caller goes away, someone
/// must still commit the group, so a task takes the writer and does.
struct MemberWait {
    group: Arc<Group>,
    state: Arc<Mutex<WriterState>>,
}

impl MemberWait {
    /// Wait for the group's outcome; commit it ourselves if we get the writer back first.
    async fn outcome(&self) -> Result<(), sqlx::Error> {
        loop {
            let done = self.group.done.notified();
            if let Some(outcome) = self.group.outcome.get() {
                return outcome.clone().map_err(|message| {
                    sqlx::Error::Protocol(format!("the group commit failed: {message}"))
                });
            }
            tokio::select! {
                biased;
                _ = done => {}
                // Taking the writer outside transactions commits the open group: ours, as a
                // group is only ever closed by committing or failing it.
                taken = lock_outside_transactions(&self.state) => {
                    if let Err(e) = taken
                        && self.group.outcome.get().is_none()
                    {
                        self.group.finish(Err(e.to_string()));
                    }
                }
            }
        }
    }
}

impl Drop for MemberWait {
    fn drop(&mut self) {
        if self.group.outcome.get().is_none()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let state = self.state.clone();
            runtime.spawn(async move {
                if let Err(e) = lock_outside_transactions(&state).await {
                    tracing::warn!(error = %e, "committing a group left by a cancelled request failed");
                }
            });
        }
    }
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.inner {
            Inner::Pooled(_) => "Tx(pooled)",
            Inner::Sqlite(_) => "Tx(sqlite writer)",
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

    /// Make the transaction's changes permanent. On SQLite this returns once they are
    /// committed, alone or with a group (see the module's documentation).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let Inner::Sqlite(tx) = &mut self.inner else {
            return match std::mem::replace(&mut self.inner, Inner::Done) {
                Inner::Pooled(tx) => tx.commit().await,
                _ => Ok(()),
            };
        };
        // Nothing was ever sent: there is nothing to commit.
        if !tx.pending.begun && tx.pending.statements.is_empty() {
            return Ok(());
        }
        // Others wait for the writer: leave the changes to a group commit.
        let join = tx.waiting.load(Ordering::SeqCst) > 0;
        let (mut sql, values) = tx.take();
        if tx.nested {
            sql.push_str(" RELEASE ");
            sql.push_str(SAVEPOINT);
            sql.push(';');
        } else if !join {
            sql.push_str(" COMMIT;");
        }
        tx.execute(&sql, &values).await?;
        tx.open = false;
        if !tx.nested && !join {
            return Ok(());
        }
        if !join {
            // The last of a group, with nobody behind it.
            return tx.guard.end_group().await;
        }
        let group = tx.guard.group.get_or_insert_with(Default::default).clone();
        let Inner::Sqlite(SqliteTx { guard, .. }) = std::mem::replace(&mut self.inner, Inner::Done)
        else {
            unreachable!("matched above")
        };
        let state = OwnedMutexGuard::mutex(&guard).clone();
        drop(guard);
        MemberWait { group, state }.outcome().await
    }

    /// Run `sql` (`?` placeholders) now, or, in a batched SQLite transaction, with the next
    /// query or the commit, whichever comes first. Only for statements whose outcome the
    /// caller does not need: an error still fails the transaction, later.
    pub async fn defer(&mut self, sql: &str, values: Vec<SqlValue>) -> Result<(), sqlx::Error> {
        if let Inner::Sqlite(tx) = &mut self.inner {
            tx.pending.statements.push_str(sql);
            tx.pending.statements.push_str("; ");
            tx.pending.values.extend(values);
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
            Inner::Sqlite(tx) => {
                let (mut text, mut all) = tx.take();
                text.push_str(sql);
                all.extend(values);
                (text, all)
            }
            _ => (sql.to_string(), values),
        };
        let text = numbered(&text);
        // The rows of every statement of the batch (only the last one returns any).
        let outcome = bind_all(sqlx::query(sqlx::AssertSqlSafe(text)), &values)
            .fetch_all(&mut **self)
            .await;
        if let (Err(e), Inner::Sqlite(tx)) = (&outcome, &mut self.inner)
            && broken(e)
        {
            tx.open = false;
            tx.guard.drop_connection(e);
        }
        outcome
    }

    /// Send whatever waits (`BEGIN`, deferred statements) now; needed before using the
    /// connection directly.
    pub async fn flush(&mut self) -> Result<(), sqlx::Error> {
        match &mut self.inner {
            Inner::Sqlite(tx) if !tx.pending.is_empty() => {
                let (sql, values) = tx.take();
                tx.execute(&sql, &values).await
            }
            _ => Ok(()),
        }
    }

    /// The connection, for statements that must run now and in order: the caller must
    /// have [flushed](Tx::flush) first.
    fn conn_checked(&mut self) -> &mut AnyConnection {
        match &mut self.inner {
            Inner::Pooled(tx) => tx,
            Inner::Sqlite(tx) => {
                assert!(
                    tx.pending.is_empty(),
                    "a batched transaction was used directly with statements still waiting: \
                     call Tx::flush first"
                );
                tx.conn()
            }
            Inner::Done => unreachable!("a finished transaction is consumed"),
        }
    }

    /// Undo the transaction's changes now (dropping it does the same, later).
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::Pooled(tx) => tx.rollback().await,
            Inner::Sqlite(tx) => {
                let undo = tx.undo();
                let mut guard = tx.guard;
                guard.undo = undo;
                guard.ready().await
            }
            Inner::Done => Ok(()),
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Inner::Sqlite(tx) = &mut self.inner {
            let undo = tx.undo();
            if undo != Undo::Nothing {
                tx.guard.undo = undo;
            }
        }
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.inner {
            Inner::Pooled(tx) => tx,
            Inner::Sqlite(tx) => tx.guard.conn.as_ref().expect("connection while open"),
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
