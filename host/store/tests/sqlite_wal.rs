//! SQLite's write-ahead log stays bounded under continuous writes from 32 writers, and is
//! emptied once writes pause.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use neutrino_store::{Store, StoreOptions, tags};

const LIMIT: u64 = 1 << 20;

fn wal_len(db: &std::path::Path) -> u64 {
    std::fs::metadata(format!("{}-wal", db.display()))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Removes the database files, also when the test fails.
struct Files(std::path::PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_log_stays_bounded_under_32_writers_and_is_emptied_when_writes_pause() {
    let path = std::env::temp_dir().join(format!("neutrino-wal-{}.sqlite", uuid::Uuid::new_v4()));
    let _files = Files(path.clone());
    let store = Store::connect_with(
        &format!("sqlite:{}", path.display()),
        StoreOptions {
            wal_size_limit: LIMIT,
        },
    )
    .await
    .unwrap();

    // 32 writers add 1 KB tags, 20 to a transaction, until 32 MiB of rows are written (some
    // hundreds of MiB of log, with the index pages): a log that is only ever checkpointed
    // passively would grow to all of that.
    let written = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let target = 32u64 << 20;
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let store = store.clone();
            let written = written.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while written.load(Ordering::Relaxed) < target {
                    let mut tx = store.begin().await.unwrap();
                    for _ in 0..20 {
                        n += 1;
                        let tag = format!("{w}-{n}-{}", "x".repeat(1000));
                        tags::add(&mut tx, "ports", &format!("p{w}"), &tag)
                            .await
                            .unwrap();
                    }
                    tx.commit().await.unwrap();
                    written.fetch_add(20 * 1000, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let watcher = {
        let done = done.clone();
        let path = path.clone();
        tokio::spawn(async move {
            let mut largest = 0;
            while !done.load(Ordering::Relaxed) {
                largest = largest.max(wal_len(&path));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            largest
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let largest = watcher.await.unwrap();

    assert!(
        largest < 32 * LIMIT,
        "the log reached {largest} bytes with a limit of {LIMIT} after {} bytes written",
        written.load(Ordering::Relaxed)
    );

    // Once writes pause, the log is emptied.
    let mut len = wal_len(&path);
    for _ in 0..100 {
        if len == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        len = wal_len(&path);
    }
    assert_eq!(len, 0, "the log after writes paused");

    store.close().await;
}
