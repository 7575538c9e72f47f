//! Driver HTTP benchmark (not a test): port creations from 32 concurrent clients while the
//! example `hello-driver` sends one `POST /ports` to a local controller in every
//! `create_port_postcommit`, with connections kept alive (the default) and with
//! `http.keep_alive = false` (a connection per request, as before 0.2); beside the same run
//! without a driver, with an empty driver (every hook returns at once) and with the driver but
//! no controller. Reports ports/s, p50/p99 and how
//! many TCP connections the controller accepted.
//!
//! Run with `cargo bench -p neutrino-tests --bench driver_http` (add `--profile dev` for a
//! debug build, labelled as such in BENCHMARKS.md). Settings: `NEUTRINO_BENCH_PORTS`
//! (default 2000), `NEUTRINO_BENCH_CLIENTS` (32), `NEUTRINO_BENCH_MODES`
//! (`none,empty,driver,keepalive,per-request`). SQLite.

use neutrino_tests::bench::{env_usize, percentile};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use neutrino_tests::{Client, TestServer};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal HTTP/1.1 controller answering `201 {}` to everything, keeping connections open;
/// counts connections and requests.
struct Controller {
    url: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

async fn controller() -> Controller {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (c, r) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::Relaxed);
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    // One request: head, then `content-length` bytes of body.
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
                    buf.drain(..head_end + length);
                    r.fetch_add(1, Ordering::Relaxed);
                    let close = head.contains("connection: close");
                    let answer: &[u8] = if close {
                        b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
                    } else {
                        b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"
                    };
                    if socket.write_all(answer).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    Controller {
        url,
        connections,
        requests,
    }
}

struct Figures {
    mode: String,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    connections: usize,
    requests: usize,
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
    let ctrl = controller().await;
    let settings = match mode {
        "none" => None,
        "empty" => Some(json!({"grants": ["log"]})),
        "driver" => Some(json!({"grants": ["log", "config", "state", "http"]})),
        "keepalive" | "per-request" => Some(json!({
            "grants": ["log", "config", "state", "http"],
            "config": {"controller_url": ctrl.url},
            "http": {"allow": [ctrl.url], "keep_alive": mode == "keepalive"},
        })),
        other => panic!("unknown mode {other}"),
    };
    // `empty`: a driver whose every hook returns at once (`tests/drivers/plain-v02`).
    let driver = if mode == "empty" {
        "plain-v02"
    } else {
        "hello-driver"
    };
    if let Some(settings) = settings {
        let r = c.load_driver(driver, driver, settings).await;
        assert!(r.status == 201 || r.status == 200, "{}", r.body);
    }
    let net = c.network("bench").await;
    let id = net["id"].as_str().unwrap().to_string();
    c.subnet(&id, "10.0.0.0/16").await;
    create_ports(&c, &id, 4 * clients, clients).await;
    let (conn0, req0) = (
        ctrl.connections.load(Ordering::Relaxed),
        ctrl.requests.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    let mut latencies = create_ports(&c, &id, ports, clients).await;
    let elapsed = started.elapsed();
    latencies.sort();
    let figures = Figures {
        mode: mode.to_string(),
        per_second: ports as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        connections: ctrl.connections.load(Ordering::Relaxed) - conn0,
        requests: ctrl.requests.load(Ordering::Relaxed) - req0,
    };
    server.stop().await;
    figures
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "driver_http benchmark: run it with `cargo bench -p neutrino-tests --bench driver_http`"
        );
        return;
    }
    let ports = env_usize("NEUTRINO_BENCH_PORTS", 2000);
    let clients = env_usize("NEUTRINO_BENCH_CLIENTS", 32);
    let modes = std::env::var("NEUTRINO_BENCH_MODES")
        .unwrap_or_else(|_| "none,empty,driver,keepalive,per-request".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut all = Vec::new();
    for mode in modes.split(',').map(str::trim) {
        let f = rt.block_on(run(mode, ports, clients));
        println!(
            "{}: {:.0} ports/s, p50 {:.1} ms, p99 {:.1} ms, controller: {} connections for {} requests",
            f.mode,
            f.per_second,
            f.p50.as_secs_f64() * 1000.0,
            f.p99.as_secs_f64() * 1000.0,
            f.connections,
            f.requests
        );
        all.push(f);
    }
    println!();
    println!(
        "| mode | ports | clients | ports/s | p50 | p99 | controller connections | controller requests |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for f in &all {
        println!(
            "| {} | {ports} | {clients} | {:.0} | {:.1} ms | {:.1} ms | {} | {} |",
            f.mode,
            f.per_second,
            f.p50.as_secs_f64() * 1000.0,
            f.p99.as_secs_f64() * 1000.0,
            f.connections,
            f.requests
        );
    }
}
