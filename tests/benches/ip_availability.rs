//! Network IP availability benchmark (not a test): `GET /v2.0/network-ip-availabilities`
//! on a release server holding 100,000 ports (each with an IPv4 address from a /15 and an
//! IPv6 address from a /64, on one network, beside 99 small networks), on SQLite and on
//! PostgreSQL.
//!
//! Run with `cargo bench -p neutrino-tests --bench ip_availability`. Settings (environment):
//! `NEUTRINO_BENCH_PORTS` (default 100000), `NEUTRINO_BENCH_BACKENDS` (default
//! `sqlite,postgres`; PostgreSQL from `NEUTRINO_TEST_PG_URL`, skipped when unreachable),
//! `NEUTRINO_BENCH_ROUNDS` (requests timed per figure, default 21).

use neutrino_tests::bench::env_usize;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use neutrino_tests::{Backend, Client, TestDb, TestServer};
use serde_json::{Value, json};

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Figures {
    backend: &'static str,
    ports: usize,
    fill: Duration,
    show: (Duration, Duration),
    list: (Duration, Duration),
    list_v6: (Duration, Duration),
}

/// Median and worst of `rounds` GETs of `path` (each must answer 200).
async fn time(c: &Client, path: &str, rounds: usize) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let r = c.get(path).await;
        samples.push(t.elapsed());
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

async fn run(backend: Backend, name: &'static str, ports: usize, rounds: usize) -> Figures {
    let db = TestDb::new(backend).await;
    let server = TestServer::on_db(db, |c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();
    let net = c.network("big").await;
    let net_id = net["id"].as_str().unwrap().to_string();
    c.subnet(&net_id, "10.0.0.0/15").await;
    c.subnet(&net_id, "2001:db8::/64").await;
    for i in 0..99 {
        let (n, _) = c
            .network_with_subnet(&format!("small{i}"), &format!("172.16.{i}.0/24"))
            .await;
        c.port(n["id"].as_str().unwrap(), json!({})).await;
    }

    // Fill in bulk requests of 100 ports from 8 clients.
    let start = Instant::now();
    let batches = ports.div_ceil(100);
    let per_client = batches.div_ceil(8);
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let (c, net_id) = (c.clone(), net_id.clone());
            tokio::spawn(async move {
                for b in 0..per_client {
                    let index = w * per_client + b;
                    if index >= batches {
                        break;
                    }
                    let n = (ports - index * 100).min(100);
                    let body: Vec<Value> = (0..n).map(|_| json!({"network_id": net_id})).collect();
                    let r = c.post("/v2.0/ports", json!({ "ports": body })).await;
                    assert_eq!(r.status, 201, "{}", r.body);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let fill = start.elapsed();
    // Let the SQLite checkpoint run before timing.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let show_path = format!("/v2.0/network-ip-availabilities/{net_id}");
    let shown = c.get(&show_path).await;
    let used = &shown.body["network_ip_availability"]["used_ips"];
    assert_eq!(used.as_u64(), Some(2 * ports as u64), "{}", shown.body);
    let show = time(&c, &show_path, rounds).await;
    let list = time(&c, "/v2.0/network-ip-availabilities", rounds).await;
    let list_v6 = time(&c, "/v2.0/network-ip-availabilities?ip_version=6", rounds).await;
    server.stop().await;
    Figures {
        backend: name,
        ports,
        fill,
        show,
        list,
        list_v6,
    }
}

async fn postgres_reachable() -> bool {
    <sqlx::PgConnection as sqlx::Connection>::connect(&neutrino_tests::pg_admin_url())
        .await
        .is_ok()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "ip_availability benchmark: run it with `cargo bench -p neutrino-tests --bench ip_availability`"
        );
        return;
    }
    neutrino_server::malloc::tune();
    let ports = env_usize("NEUTRINO_BENCH_PORTS", 100_000);
    let rounds = env_usize("NEUTRINO_BENCH_ROUNDS", 21);
    let backends =
        std::env::var("NEUTRINO_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut all = Vec::new();
    for b in backends.split(',').map(str::trim) {
        let figures = rt.block_on(async {
            match b {
                "sqlite" => Some(run(Backend::Sqlite, "SQLite", ports, rounds).await),
                "postgres" if postgres_reachable().await => {
                    Some(run(Backend::Postgres, "PostgreSQL", ports, rounds).await)
                }
                "postgres" => {
                    println!("PostgreSQL unreachable: skipped");
                    None
                }
                other => panic!("unknown backend {other}"),
            }
        });
        all.extend(figures);
    }
    println!();
    println!(
        "| backend | ports (addresses) | filled in | show one network (median / worst) | list 100 networks | list, ip_version=6 |"
    );
    println!("|---|---|---|---|---|---|");
    for f in &all {
        println!(
            "| {} | {} ({}) | {:.1} s | {} / {} | {} / {} | {} / {} |",
            f.backend,
            f.ports,
            2 * f.ports + 99,
            f.fill.as_secs_f64(),
            ms(f.show.0),
            ms(f.show.1),
            ms(f.list.0),
            ms(f.list.1),
            ms(f.list_v6.0),
            ms(f.list_v6.1)
        );
    }
}
