//! Journal benchmark (not a test): port creations from 32 concurrent clients while a driver
//! makes one HTTP call to a local controller in every postcommit, synchronously (the
//! `journaled` test driver built with feature `sync`, no `journal` in its manifest) and
//! journaled (the same code with `journal = true`); beside the same run without a driver.
//! Reports the API's ports/s and latency, and for the journaled run how long the controller
//! took to receive every port (creation start to last delivery) and whether each arrived once.
//!
//! Run with `cargo bench -p neutrino-tests --bench driver_journal` (add `--profile dev` for a
//! debug build, labelled as such in BENCHMARKS.md). Settings: `NEUTRINO_BENCH_PORTS`
//! (default 2000), `NEUTRINO_BENCH_CLIENTS` (32), `NEUTRINO_BENCH_MODES`
//! (`none,sync,journaled`; `sync@20` makes the controller answer after 20 ms). SQLite.

use neutrino_tests::bench::{env_usize, percentile};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use neutrino_tests::{Client, TestServer, drivers::guests};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal HTTP/1.1 controller answering `200 {}`, keeping connections open; records when
/// each `create_port` arrived and how often each port id did.
#[derive(Default)]
struct Seen {
    ports: HashMap<String, usize>,
    last: Option<Instant>,
}

async fn controller(delay: Duration) -> (String, Arc<Mutex<Seen>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let head_end = loop {
                        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Value = serde_json::from_slice(&buf[head_end..head_end + length])
                        .unwrap_or_default();
                    buf.drain(..head_end + length);
                    if body["hook"] == "create_port" {
                        let mut seen = s.lock().unwrap();
                        *seen
                            .ports
                            .entry(body["id"].as_str().unwrap_or("").to_string())
                            .or_default() += 1;
                        seen.last = Some(Instant::now());
                    }
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let answer: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                    if socket.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

struct Figures {
    mode: String,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    /// Journaled: from the first create to the controller's last `create_port`.
    delivered_in: Option<Duration>,
    /// Ports the controller saw (each once?).
    seen: usize,
    twice: usize,
}

async fn create_ports(c: &Client, network: &str, ports: usize, clients: usize) -> Vec<Duration> {
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let c = c.clone();
            let network = network.to_string();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for _ in (i..ports).step_by(clients) {
                    let started = Instant::now();
                    let r = c
                        .post("/v2.0/ports", json!({"port": {"network_id": network}}))
                        .await;
                    assert_eq!(r.status, 201, "{}", r.body);
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

async fn run(mode: &str, ports: usize, clients: usize) -> Figures {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();
    let r = c
        .put("/v2.0/quotas/admin", json!({"quota": {"port": -1}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // `sync@20`: the controller takes 20 ms to answer.
    let (mode, delay) = match mode.split_once('@') {
        Some((m, ms)) => (
            m,
            Duration::from_millis(ms.parse().expect("MODE@MILLISECONDS")),
        ),
        None => (mode, Duration::ZERO),
    };
    let label = format!(
        "{mode}{}",
        if delay.is_zero() {
            String::new()
        } else {
            format!(", controller answers in {} ms", delay.as_millis())
        }
    );
    let (url, seen) = controller(delay).await;
    let settings = json!({
        "grants": ["log", "config", "http"],
        "config": {"url": url},
        "http": {"allow": [url]},
    });
    let file = match mode {
        "none" => None,
        "sync" => Some("journaled-sync"),
        "journaled" => Some("journaled"),
        other => panic!("unknown mode {other}"),
    };
    if let Some(file) = file {
        // The component alone: its embedded manifest says whether it is journaled.
        let wasm = base64::engine::general_purpose::STANDARD.encode(guests().wasm(file));
        let r = c
            .put(
                "/v2.0/mechanism-drivers/journaled",
                json!({"mechanism_driver": {"wasm": wasm, "settings": settings}}),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{}", r.body);
        assert_eq!(r.body["mechanism_driver"]["journal"], mode == "journaled");
    }
    let net = c.network("bench").await;
    let id = net["id"].as_str().unwrap().to_string();
    c.subnet(&id, "10.0.0.0/16").await;
    create_ports(&c, &id, 4 * clients, clients).await;
    let wait_for = |n: usize| {
        let seen = seen.clone();
        async move {
            while file.is_some() && seen.lock().unwrap().ports.len() < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    wait_for(4 * clients).await;
    let started = Instant::now();
    let mut latencies = create_ports(&c, &id, ports, clients).await;
    let elapsed = started.elapsed();
    wait_for(4 * clients + ports).await;
    let delivered_in = (mode == "journaled").then(|| {
        seen.lock()
            .unwrap()
            .last
            .map(|t| t - started)
            .unwrap_or_default()
    });
    latencies.sort();
    let (count, twice) = {
        let s = seen.lock().unwrap();
        (s.ports.len(), s.ports.values().filter(|n| **n > 1).count())
    };
    server.stop().await;
    Figures {
        mode: label,
        per_second: ports as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        delivered_in,
        seen: count,
        twice,
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "driver_journal benchmark: run it with `cargo bench -p neutrino-tests --bench driver_journal`"
        );
        return;
    }
    let ports = env_usize("NEUTRINO_BENCH_PORTS", 2000);
    let clients = env_usize("NEUTRINO_BENCH_CLIENTS", 32);
    let modes =
        std::env::var("NEUTRINO_BENCH_MODES").unwrap_or_else(|_| "none,sync,journaled".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut all = Vec::new();
    for mode in modes.split(',').map(str::trim) {
        let f = rt.block_on(run(mode, ports, clients));
        println!(
            "{}: {:.0} ports/s, p50 {:.1} ms, p99 {:.1} ms, all delivered after {}, controller saw {} ports ({} more than once)",
            f.mode,
            f.per_second,
            f.p50.as_secs_f64() * 1000.0,
            f.p99.as_secs_f64() * 1000.0,
            f.delivered_in
                .map(|d| format!("{:.2} s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
            f.seen,
            f.twice,
        );
        all.push(f);
    }
    println!();
    println!(
        "| mode | ports | clients | API ports/s | p50 | p99 | all delivered after | delivered more than once |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for f in &all {
        println!(
            "| {} | {ports} | {clients} | {:.0} | {:.1} ms | {:.1} ms | {} | {} |",
            f.mode,
            f.per_second,
            f.p50.as_secs_f64() * 1000.0,
            f.p99.as_secs_f64() * 1000.0,
            f.delivered_in
                .map(|d| format!("{:.2} s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
            f.twice,
        );
    }
}
