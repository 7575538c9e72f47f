//! The bus survives a RabbitMQ restart (`rabbitmqctl stop_app` / `start_app`): casts sent
//! while the broker is down wait for it and all arrive; listeners and the reply queue come
//! back. A test binary of its own, so no other test shares the broker while it restarts.

mod common;

use std::time::Duration;

use common::*;
use neutrino_bus::Bus;
use tokio::sync::mpsc;

/// Starts RabbitMQ's application again when dropped, so a failing test leaves it running.
struct BrokerRestart;

impl BrokerRestart {
    fn stop() -> BrokerRestart {
        let ok = std::process::Command::new("rabbitmqctl")
            .arg("stop_app")
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "rabbitmqctl stop_app failed");
        BrokerRestart
    }
}

impl Drop for BrokerRestart {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .arg("start_app")
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_reconnects_after_a_broker_restart_and_loses_no_cast() {
    if !rabbit_reachable()
        || std::process::Command::new("rabbitmqctl")
            .arg("-q")
            .arg("ping")
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
    {
        assert!(
            std::env::var_os("NEUTRINO_TEST_REQUIRE_RABBITMQ").is_none(),
            "RabbitMQ (with rabbitmqctl) is required but not available"
        );
        println!("SKIPPED: broker restart: no RabbitMQ controllable with rabbitmqctl here");
        return;
    }
    logs();
    let a = Bus::connect(&rabbit_url()).await.unwrap();
    let b = Bus::connect(&rabbit_url()).await.unwrap();
    let t = topic("restart");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let l = b.serve(&t, "h", dispatcher("h", tx)).await.unwrap();
    a.client(&t).call::<Echo>(&args(0, "a")).await.unwrap();
    assert!(rx.recv().await.is_some());

    let restart = BrokerRestart::stop();
    // Casts sent while the broker is down wait for it; none may be lost.
    let sender = {
        let client = a.client(&t);
        tokio::spawn(async move {
            for n in 1..=20u64 {
                client.cast::<Note>(&args(n, "a")).await.unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(restart);

    sender.await.unwrap();
    let mut got = Vec::new();
    while got.len() < 20 {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some((_, m, n))) if m == "note" => got.push(n),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    got.sort();
    got.dedup();
    assert_eq!(
        got,
        (1..=20).collect::<Vec<_>>(),
        "every cast arrives after the restart"
    );
    // Calls work again both ways (the reply queue and the listener were re-created).
    let r = a
        .client(&t)
        .with_timeout(Duration::from_secs(20))
        .call::<Echo>(&args(99, "a"))
        .await
        .unwrap();
    assert_eq!(r.n, 99);
    l.stop().await;
    a.close().await;
    b.close().await;
}
