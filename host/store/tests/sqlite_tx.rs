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
