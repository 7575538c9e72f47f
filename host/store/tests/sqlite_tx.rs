//! Write transactions on SQLite's one writer connection: commit, rollback on drop, and the
//! batched kind whose `BEGIN` and deferred writes travel with later statements.

use neutrino_store::{Store, tags};

/// A store on a fresh SQLite file, removed afterwards.
struct TempStore {
    store: Store,
    path: std::path::PathBuf,
}

impl TempStore {
    async fn new() -> TempStore {
        let path =
            std::env::temp_dir().join(format!("neutrino-tx-{}.sqlite", uuid::Uuid::new_v4()));
        let store = Store::connect(&format!("sqlite:{}", path.display()))
            .await
            .expect("store opens");
        TempStore { store, path }
    }

    async fn tags(&self) -> Vec<String> {
        let mut conn = self.store.reader().acquire().await.unwrap();
        tags::get(&mut conn, "ports", "p1").await.unwrap()
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

const ADD_TAG: &str = "INSERT INTO tags (resource, resource_id, tag) VALUES ('ports', 'p1', ?)";

#[tokio::test]
async fn a_committed_transaction_is_seen_by_readers() {
    let t = TempStore::new().await;
    let mut tx = t.store.begin().await.unwrap();
    tags::add(&mut tx, "ports", "p1", "a").await.unwrap();

    tx.commit().await.unwrap();

    assert_eq!(t.tags().await, vec!["a"]);
}

#[tokio::test]
async fn a_dropped_transaction_is_rolled_back_before_the_next_one_runs() {
    let t = TempStore::new().await;
    let mut tx = t.store.begin().await.unwrap();
    tags::add(&mut tx, "ports", "p1", "lost").await.unwrap();
    drop(tx);

    let mut next = t.store.begin().await.unwrap();
    tags::add(&mut next, "ports", "p1", "kept").await.unwrap();
    next.commit().await.unwrap();

    assert_eq!(t.tags().await, vec!["kept"]);
}

#[tokio::test]
async fn deferred_writes_of_a_batched_transaction_land_with_its_commit() {
    let t = TempStore::new().await;
    let mut tx = t.store.begin_batched().await.unwrap();
    tx.defer(ADD_TAG, vec!["a".into()]).await.unwrap();
    tx.defer(ADD_TAG, vec!["b".into()]).await.unwrap();
    assert!(
        t.tags().await.is_empty(),
        "nothing is sent before the commit"
    );

    tx.commit().await.unwrap();

    assert_eq!(t.tags().await, vec!["a", "b"]);
}

#[tokio::test]
async fn a_query_in_a_batched_transaction_sees_the_writes_deferred_before_it() {
    let t = TempStore::new().await;
    let mut tx = t.store.begin_batched().await.unwrap();
    tx.defer(ADD_TAG, vec!["a".into()]).await.unwrap();

    let rows = tx
        .fetch_all(
            "SELECT count(*) FROM tags WHERE resource_id = ?",
            vec!["p1".into()],
        )
        .await
        .unwrap();

    assert_eq!(neutrino_store::row::int(&rows[0], 0).unwrap(), 1);
    drop(tx);
    assert!(
        t.tags().await.is_empty(),
        "a dropped batched transaction leaves nothing"
    );
}

#[tokio::test]
async fn a_failing_deferred_write_fails_the_commit_and_leaves_nothing() {
    let t = TempStore::new().await;
    let mut tx = t.store.begin_batched().await.unwrap();
    tx.defer(ADD_TAG, vec!["a".into()]).await.unwrap();
    tx.defer(ADD_TAG, vec!["a".into()]).await.unwrap();

    let outcome = tx.commit().await;

    assert!(outcome.is_err(), "the second insert breaks the primary key");
    let mut next = t.store.begin().await.unwrap();
    tags::add(&mut next, "ports", "p1", "b").await.unwrap();
    next.commit().await.unwrap();
    assert_eq!(
        t.tags().await,
        vec!["b"],
        "the first insert was rolled back"
    );
}

#[tokio::test]
async fn a_batched_transaction_that_sent_nothing_commits_as_a_no_op() {
    let t = TempStore::new().await;
    let tx = t.store.begin_batched().await.unwrap();

    tx.commit().await.unwrap();

    let mut next = t.store.begin().await.unwrap();
    tags::add(&mut next, "ports", "p1", "a").await.unwrap();
    next.commit().await.unwrap();
    assert_eq!(t.tags().await, vec!["a"]);
}

#[tokio::test]
#[should_panic(expected = "call Tx::flush first")]
async fn using_a_batched_transaction_directly_with_writes_waiting_is_refused() {
    let t = TempStore::new().await;
    let mut tx = t.store.begin_batched().await.unwrap();
    tx.defer(ADD_TAG, vec!["a".into()]).await.unwrap();

    // Running this now would overtake the deferred insert.
    let _ = tags::add(&mut tx, "ports", "p1", "b").await;
}

#[tokio::test]
async fn flushing_sends_the_deferred_writes_so_the_connection_can_be_used() {
    let t = TempStore::new().await;
    let mut tx = t.store.begin_batched().await.unwrap();
    tx.defer(ADD_TAG, vec!["a".into()]).await.unwrap();

    tx.flush().await.unwrap();
    tags::add(&mut tx, "ports", "p1", "b").await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(t.tags().await, vec!["a", "b"]);
}

/// Wait until `n` write transactions queue for the writer.
async fn until_writers_wait(store: &Store, n: usize) {
    while store.writers_waiting() < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_ending_while_another_waits_commits_with_it() {
    let t = TempStore::new().await;
    let mut first = t.store.begin().await.unwrap();
    tags::add(&mut first, "ports", "p1", "a").await.unwrap();
    let store = t.store.clone();
    let (holding, held) = tokio::sync::oneshot::channel();
    let (go, release) = tokio::sync::oneshot::channel::<()>();
    let second = tokio::spawn(async move {
        let mut tx = store.begin().await.unwrap();
        let seen = tags::get(&mut tx, "ports", "p1").await.unwrap();
        holding.send(seen).unwrap();
        release.await.unwrap();
        tags::add(&mut tx, "ports", "p1", "b").await.unwrap();
        tx.commit().await
    });
    until_writers_wait(&t.store, 1).await;

    let first_commit = tokio::spawn(first.commit());

    let seen_by_second = held.await.unwrap();
    assert_eq!(
        seen_by_second,
        vec!["a"],
        "the next transaction sees the group's writes"
    );
    assert!(
        t.tags().await.is_empty(),
        "nothing is committed while the group is open"
    );
    assert!(
        !first_commit.is_finished(),
        "the first commit waits for the group"
    );
    go.send(()).unwrap();
    second.await.unwrap().unwrap();
    first_commit.await.unwrap().unwrap();
    assert_eq!(t.tags().await, vec!["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_transaction_in_a_group_undoes_only_its_own_writes() {
    let t = TempStore::new().await;
    let mut first = t.store.begin().await.unwrap();
    tags::add(&mut first, "ports", "p1", "a").await.unwrap();
    let store = t.store.clone();
    let second = tokio::spawn(async move {
        let mut tx = store.begin().await.unwrap();
        tags::add(&mut tx, "ports", "p1", "b").await.unwrap();
        // The same tag again breaks the primary key; the transaction is dropped.
        tx.defer(ADD_TAG, vec!["a".into()]).await.unwrap();
        tx.commit().await
    });
    until_writers_wait(&t.store, 1).await;

    let first_commit = first.commit().await;

    assert!(
        second.await.unwrap().is_err(),
        "the duplicate tag fails its own commit"
    );
    first_commit.unwrap();
    assert_eq!(
        t.tags().await,
        vec!["a"],
        "'b' was undone with its transaction"
    );
    let mut next = t.store.begin().await.unwrap();
    tags::add(&mut next, "ports", "p1", "c").await.unwrap();
    next.commit().await.unwrap();
    assert_eq!(t.tags().await, vec!["a", "c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_waiting_caller_went_away_is_still_committed() {
    let t = TempStore::new().await;
    let mut first = t.store.begin().await.unwrap();
    tags::add(&mut first, "ports", "p1", "a").await.unwrap();
    let store = t.store.clone();
    let (go, release) = tokio::sync::oneshot::channel::<()>();
    let second = tokio::spawn(async move {
        let tx = store.begin().await.unwrap();
        release.await.unwrap();
        // Ends without writing anything.
        drop(tx);
    });
    until_writers_wait(&t.store, 1).await;
    let first_commit = tokio::spawn(first.commit());
    while t.store.writers_waiting() > 0 {
        tokio::task::yield_now().await;
    }

    first_commit.abort();

    go.send(()).unwrap();
    second.await.unwrap();
    let mut waited = 0;
    while t.tags().await.is_empty() && waited < 500 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    }
    assert_eq!(t.tags().await, vec!["a"]);
}
