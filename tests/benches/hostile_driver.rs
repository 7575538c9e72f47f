//! Hostile driver benchmark (not a test): how long an unrelated write (a network update)
//! takes while one mechanism driver's `create_port_precommit` spins to its CPU budget on
//! every port creation that reaches it, from 32 concurrent clients (each pausing
//! `NEUTRINO_BENCH_PACE_MS` between requests); beside, in the same run and before the
//! driver is loaded, the same writes with no other load, and with 32 clients at the same pace
//! creating ports (the control: what 32 busy clients cost anyway). Reports p50/p99/max of the
//! unrelated writes and what the hostile creations got (timeouts, then 503 from the
//! quarantine).
//!
//! Run with `cargo bench -p neutrino-tests --bench hostile_driver` (add `--profile dev` for a
//! debug build, labelled as such in BENCHMARKS.md). Settings: `NEUTRINO_BENCH_WRITES`
//! (unrelated writes per phase, default 500), `NEUTRINO_BENCH_CLIENTS` (hostile clients, 32),
//! `NEUTRINO_BENCH_PACE_MS` (each client's pause between requests, default 50).
//! SQLite (one writer: the case where a stalled transaction would stall every write).

use neutrino_tests::bench::{env_usize, percentile};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use neutrino_tests::{Client, TestServer};
use serde_json::json;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `writes` updates of network `id`, one after another; their latencies, sorted.
async fn unrelated_writes(c: &Client, id: &str, writes: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(writes);
    for i in 0..writes {
        let started = Instant::now();
        let r = c
            .put(
                &format!("/v2.0/networks/{id}"),
                json!({"network": {"name": format!("other-{i}")}}),
            )
            .await;
        latencies.push(started.elapsed());
        assert_eq!(r.status, 200, "{}", r.body);
    }
    latencies.sort();
    latencies
}

fn report(phase: &str, latencies: &[Duration]) {
    println!(
        "| {phase} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
        latencies.len(),
        ms(percentile(latencies, 50.0)),
        ms(percentile(latencies, 99.0)),
        ms(*latencies.last().unwrap()),
    );
}

/// `clients` tasks creating ports named `name` on `net`, pausing `pace` between requests,
/// until `stop`; the outcomes by status and error type.
fn storm(
    c: &Client,
    net: &str,
    name: &'static str,
    clients: usize,
    pace: Duration,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<BTreeMap<String, usize>>> {
    (0..clients)
        .map(|_| {
            let (c, net, stop) = (c.clone(), net.to_string(), stop.clone());
            tokio::spawn(async move {
                let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
                while !stop.load(Ordering::SeqCst) {
                    let r = c
                        .post(
                            "/v2.0/ports",
                            json!({"port": {"network_id": net, "name": name}}),
                        )
                        .await;
                    let key = format!("{} {}", r.status, r.error_type().unwrap_or(""));
                    *outcomes.entry(key).or_default() += 1;
                    tokio::time::sleep(pace).await;
                }
                outcomes
            })
        })
        .collect()
}

async fn finish(
    stop: &AtomicBool,
    tasks: Vec<tokio::task::JoinHandle<BTreeMap<String, usize>>>,
) -> BTreeMap<String, usize> {
    stop.store(true, Ordering::SeqCst);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        for (k, n) in t.await.unwrap() {
            *outcomes.entry(k).or_default() += n;
        }
    }
    outcomes
}

async fn run(writes: usize, clients: usize, pace: Duration) {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();
    let r = c
        .put("/v2.0/quotas/admin", json!({"quota": {"port": -1}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let spun = c.network("spun").await["id"].as_str().unwrap().to_string();
    let other = c.network("other").await["id"].as_str().unwrap().to_string();

    let quiet = unrelated_writes(&c, &other, writes).await;

    let stop = Arc::new(AtomicBool::new(false));
    let tasks = storm(&c, &spun, "ok", clients, pace, &stop);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let busy = unrelated_writes(&c, &other, writes).await;
    let control = finish(&stop, tasks).await;

    let r = c.load_driver("spin", "spin", json!({})).await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);

    let stop = Arc::new(AtomicBool::new(false));
    let tasks = storm(&c, &spun, "spin", clients, pace, &stop);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stormy = unrelated_writes(&c, &other, writes).await;
    let outcomes = finish(&stop, tasks).await;
    let stats = c.get("/v2.0/mechanism-drivers/spin").await;
    server.stop().await;

    println!("| phase | unrelated writes | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    report("no other load", &quiet);
    report(
        &format!("{clients} clients creating ports, no driver (control)"),
        &busy,
    );
    report(
        &format!("{clients} clients creating ports the driver spins on"),
        &stormy,
    );
    println!();
    println!("control creations: {control:?}");
    println!("hostile creations: {outcomes:?}");
    println!(
        "driver stats: timeouts {}, calls {}",
        stats.body["mechanism_driver"]["stats"]["timeouts"],
        stats.body["mechanism_driver"]["stats"]["calls"]
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "hostile_driver benchmark: run it with `cargo bench -p neutrino-tests --bench hostile_driver`"
        );
        return;
    }
    let writes = env_usize("NEUTRINO_BENCH_WRITES", 500);
    let clients = env_usize("NEUTRINO_BENCH_CLIENTS", 32);
    let pace = Duration::from_millis(env_usize("NEUTRINO_BENCH_PACE_MS", 50) as u64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(writes, clients, pace));
}
