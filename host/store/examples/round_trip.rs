//! How long one statement takes through sqlx's SQLite driver on this machine: the floor under
//! every write transaction, since each statement is a hand-off to the connection's worker
//! thread and back, compared with a bare thread ping-pong. Run with `cargo run --release -p neutrino-store --example round_trip`.

use std::time::Instant;

use sqlx::{Executor, any::AnyPoolOptions};

const ROUNDS: u32 = 10_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), sqlx::Error> {
    sqlx::any::install_default_drivers();
    let dir = std::env::temp_dir().join(format!("neutrino-round-trip-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite:{}?mode=rwc", dir.join("rt.db").display());
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    let mut conn = pool.acquire().await?;
    for round in 1..=3 {
        let t = Instant::now();
        for _ in 0..ROUNDS {
            conn.execute("SELECT 1").await?;
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
        println!("round {round}: {per:.1} µs per `SELECT 1`");
    }
    let t = Instant::now();
    for _ in 0..ROUNDS {
        sqlx::query("SELECT $1")
            .bind(1i64)
            .fetch_optional(&mut *conn)
            .await?;
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
    println!("with a bound parameter: {per:.1} µs per `SELECT $1`");
    // The same hand-off without SQLite: one message to a thread and one back.
    let (to_worker, worker_rx) = std::sync::mpsc::channel::<u32>();
    let (to_caller, caller_rx) = std::sync::mpsc::channel::<u32>();
    let worker = std::thread::spawn(move || {
        for n in worker_rx {
            if to_caller.send(n).is_err() {
                break;
            }
        }
    });
    let t = Instant::now();
    for n in 0..ROUNDS {
        to_worker.send(n).expect("worker alive");
        caller_rx.recv().expect("worker answers");
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
    println!("thread ping-pong alone: {per:.1} µs per round trip");
    drop(to_worker);
    worker.join().expect("worker thread");
    drop(conn);
    pool.close().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
