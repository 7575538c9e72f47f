//! Core API benchmark (not a test): port creations from 32 concurrent clients on a /16, and
//! the latency of listing 2000 ports, against a release server on SQLite and on PostgreSQL.
//!
//! Run with `cargo bench -p neutrino-tests --bench api`. Settings (environment):
//! `NEUTRINO_BENCH_PORTS` (ports created in the timed run, default 6400),
//! `NEUTRINO_BENCH_CLIENTS` (default 32), `NEUTRINO_BENCH_BACKENDS` (default `sqlite,postgres`;
//! PostgreSQL from `NEUTRINO_TEST_PG_URL`, skipped when unreachable),
//! `NEUTRINO_BENCH_DRIVERS` (default `none,default`: without mechanism drivers, which is the
//! core API alone, and with the default configuration's in-tree drivers),
//! `NEUTRINO_BENCH_LIST_ROUNDS` (lists timed, default 21), `NEUTRINO_BENCH_MALLOC_DEFAULTS`
//! (set: keep glibc's allocator defaults instead of `neutrino_server::malloc::tune`),
//! `NEUTRINO_BENCH_QUOTA` (default `enforced`; any of `enforced,unlimited,off`, see [`Quota`]),
//! so that one run measures what quota enforcement costs port creation.
//! On SQLite it also reports the write-ahead log file's size during and after the run.

use neutrino_tests::bench::env_usize;
use std::time::{Duration, Instant};

/// The allocator the server binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use neutrino_tests::{Backend, Client, TestDb, TestServer};
use serde_json::{Value, json};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// How the benchmark's project is held to its port quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quota {
    /// A finite limit (1,000,000 ports): every creation reads the project's usage and limit
    /// and checks them (on PostgreSQL it locks the usage row for that), and the database's
    /// trigger counts the new port, as in production.
    Enforced,
    /// A limit of -1 (unlimited), as an operator sets it: nothing is checked (on PostgreSQL
    /// the quota statement reads the limit but neither writes nor locks the usage row), and
    /// the trigger still counts the port.
    Unlimited,
    /// No counting: a limit of -1, and the port-counting triggers dropped from the
    /// benchmark's own test database with plain SQL (bench only; no server has such a
    /// switch, as Neutron has none). What remains of enforcement is reading the limit
    /// (SQLite: two subqueries in the statement that reads the network anyway; PostgreSQL:
    /// the quota statement, which with -1 neither writes nor locks).
    Off,
}

impl Quota {
    fn parse(s: &str) -> Quota {
        match s {
            "enforced" => Quota::Enforced,
            "unlimited" => Quota::Unlimited,
            "off" => Quota::Off,
            other => {
                panic!("NEUTRINO_BENCH_QUOTA: unknown mode {other} (enforced, unlimited, off)")
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Quota::Enforced => "enforced",
            Quota::Unlimited => "unlimited",
            Quota::Off => "off",
        }
    }
}

/// Bench only: drop the triggers that count ports in `quota_usages` from the benchmark's own
/// test database (see [`Quota::Off`]).
async fn drop_port_counting(url: &str, backend: Backend) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .expect("connect to the benchmark's database");
    let statements: &[&str] = match backend {
        Backend::Sqlite => &[
            "DROP TRIGGER quota_ports_insert",
            "DROP TRIGGER quota_ports_delete",
        ],
        Backend::Postgres => &["DROP TRIGGER quota_count ON ports"],
    };
    for sql in statements {
        sqlx::query(*sql)
            .execute(&mut conn)
            .await
            .expect("drop a port-counting trigger");
    }
    conn.close().await.ok();
}

struct Figures {
    auth: String,
    quota: Quota,
    backend: &'static str,
    drivers: String,
    ports: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    list_median: Duration,
    list_min: Duration,
    /// SQLite: the write-ahead log file's largest size during the timed run, its size at
    /// the end of it, and 1 s later (bytes).
    wal: Option<(u64, u64, u64)>,
}

/// The write-ahead log of a `sqlite:FILE[?…]` URL.
fn wal_file(url: &str) -> Option<std::path::PathBuf> {
    let file = url.strip_prefix("sqlite:")?.split('?').next()?;
    Some(format!("{file}-wal").into())
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

async fn network_with_subnet(c: &Client, cidr: &str) -> String {
    let net = c.network("bench").await;
    let id = net["id"].as_str().unwrap().to_string();
    c.subnet(&id, cidr).await;
    id
}

async fn run(
    backend: Backend,
    name: &'static str,
    drivers: &str,
    ports: usize,
    clients: usize,
    auth: &str,
    quota: Quota,
) -> Figures {
    let db = TestDb::new(backend).await;
    let mut loaded = Vec::new();
    let keystone = if auth == "keystone" {
        Some(
            neutrino_tests::keystone::keystone()
                .await
                .expect("a Keystone virtualenv for NEUTRINO_BENCH_AUTH=keystone"),
        )
    } else {
        None
    };
    let server = TestServer::on_db(db, |c| {
        if drivers == "none" {
            c.ml2.mechanism_drivers.clear();
        }
        if let Some(k) = keystone {
            neutrino_tests::keystone::configure(c, &k.url);
        }
        loaded = c.ml2.mechanism_drivers.clone();
    })
    .await;
    // With Keystone every client sends the admin's token (validated once, then cached).
    let (token, project) = match keystone {
        Some(k) => {
            let t = k.admin_token().await;
            let who = Client::with_token(&server.url, &t)
                .get_ok("/v2.0/quotas/project")
                .await;
            (
                Some(t),
                who["project"]["project_id"].as_str().unwrap().to_string(),
            )
        }
        None => (None, "admin".to_string()),
    };
    let client = |url: &str| match &token {
        Some(t) => Client::with_token(url, t),
        None => Client::new(url, None),
    };
    let admin = client(&server.url);
    // Neutron's default of 500 ports would stop the run: a finite limit for `enforced`, so
    // every creation counts against it as in production; -1 otherwise.
    let port_limit: i64 = if quota == Quota::Enforced {
        1_000_000
    } else {
        -1
    };
    let q = admin
        .put(
            &format!("/v2.0/quotas/{project}"),
            json!({"quota": {"port": port_limit, "network": 1000, "subnet": 1000}}),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.body);
    if quota == Quota::Off {
        drop_port_counting(&server.db.url, backend).await;
    }
    let net = network_with_subnet(&admin, "10.0.0.0/16").await;

    // Warm up connections, caches and the default security group.
    let warm: Vec<_> = (0..clients)
        .map(|_| {
            let c = client(&server.url);
            let net = net.clone();
            tokio::spawn(async move {
                for _ in 0..4 {
                    let r = c
                        .post("/v2.0/ports", json!({"port": {"network_id": net}}))
                        .await;
                    assert_eq!(r.status, 201, "{}", r.body);
                }
            })
        })
        .collect();
    for w in warm {
        w.await.unwrap();
    }

    // The write-ahead log's size is sampled while the timed run goes on.
    let wal = wal_file(&server.db.url);
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = wal.clone().map(|path| {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut largest = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                largest = largest.max(file_len(&path));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            largest
        })
    });

    // Timed: `clients` workers, each creating its share of ports one after another.
    let per_client = ports / clients;
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let c = client(&server.url);
            let net = net.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let t = Instant::now();
                    let r = c
                        .post("/v2.0/ports", json!({"port": {"network_id": net}}))
                        .await;
                    latencies.push(t.elapsed());
                    assert_eq!(r.status, 201, "{}", r.body);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(per_client * clients);
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let wal_figures = match (&wal, sampler) {
        (Some(path), Some(sampler)) => {
            let at_end = file_len(path);
            let largest = sampler.await.unwrap().max(at_end);
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((largest, at_end, file_len(path)))
        }
        _ => None,
    };

    // Listing: a network with exactly 2000 ports, listed by network_id.
    let list_net = network_with_subnet(&admin, "10.1.0.0/20").await;
    // The counting works (or, for `off`, is gone) as the row says.
    let details = admin
        .get_ok(&format!("/v2.0/quotas/{project}/details"))
        .await;
    let used = details["quota"]["port"]["used"].as_u64().unwrap() as usize;
    if quota == Quota::Off {
        assert_eq!(used, 0, "ports counted with the counting triggers dropped");
    } else {
        assert_eq!(used, 4 * clients + per_client * clients);
    }
    for _ in 0..20 {
        let bulk: Vec<Value> = (0..100).map(|_| json!({"network_id": list_net})).collect();
        let r = admin.post("/v2.0/ports", json!({ "ports": bulk })).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    // Let the server settle after the write burst (SQLite copies its write-ahead log back
    // when writes pause, which takes a few seconds after 8000 ports and slows reads while it
    // runs), then time each list until its whole body has arrived; parsing it is the client's
    // business.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let url = format!("{}/v2.0/ports?network_id={list_net}", server.url);
    let http = reqwest::Client::new();
    let mut lists = Vec::new();
    let rounds = env_usize("NEUTRINO_BENCH_LIST_ROUNDS", 21);
    for _ in 0..rounds {
        let t = Instant::now();
        let mut req = http.get(&url);
        if let Some(t) = &token {
            req = req.header("X-Auth-Token", t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        lists.push(t.elapsed());
        assert_eq!(status, 200);
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["ports"].as_array().unwrap().len(), 2000);
    }
    lists.sort();
    server.stop().await;

    Figures {
        backend: name,
        auth: auth.to_string(),
        quota,
        drivers: if loaded.is_empty() {
            "none".into()
        } else {
            loaded.join(", ")
        },
        ports: latencies.len(),
        per_second: latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        max: latencies.last().copied().unwrap_or_default(),
        list_median: percentile(&lists, 50.0),
        list_min: lists[0],
        wal: wal_figures,
    }
}

async fn postgres_reachable() -> bool {
    <sqlx::PgConnection as sqlx::Connection>::connect(&neutrino_tests::pg_admin_url())
        .await
        .is_ok()
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) only checks
    // that the benchmark builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("api benchmark: run it with `cargo bench -p neutrino-tests --bench api`");
        return;
    }
    // The server runs in this process: tune the C allocator as `neutrino-server` does.
    if std::env::var_os("NEUTRINO_BENCH_MALLOC_DEFAULTS").is_none() {
        neutrino_server::malloc::tune();
    }
    let ports = env_usize("NEUTRINO_BENCH_PORTS", 6400);
    let clients = env_usize("NEUTRINO_BENCH_CLIENTS", 32);
    let backends =
        std::env::var("NEUTRINO_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let modes = std::env::var("NEUTRINO_BENCH_DRIVERS").unwrap_or_else(|_| "none,default".into());
    let auths = std::env::var("NEUTRINO_BENCH_AUTH").unwrap_or_else(|_| "noauth".into());
    let quotas: Vec<Quota> = std::env::var("NEUTRINO_BENCH_QUOTA")
        .unwrap_or_else(|_| "enforced".into())
        .split(',')
        .map(|q| Quota::parse(q.trim()))
        .collect();
    let mut all = Vec::new();
    for auth in auths.split(',').map(str::trim) {
        for b in backends.split(',').map(str::trim) {
            for mode in modes.split(',').map(str::trim) {
                for &quota in &quotas {
                    let figures = rt.block_on(async {
                        match b {
                            "sqlite" => Some(
                                run(Backend::Sqlite, "SQLite", mode, ports, clients, auth, quota)
                                    .await,
                            ),
                            "postgres" if postgres_reachable().await => Some(
                                run(
                                    Backend::Postgres,
                                    "PostgreSQL",
                                    mode,
                                    ports,
                                    clients,
                                    auth,
                                    quota,
                                )
                                .await,
                            ),
                            "postgres" => {
                                println!("PostgreSQL unreachable: skipped");
                                None
                            }
                            other => panic!("unknown backend {other}"),
                        }
                    });
                    all.extend(figures);
                }
            }
        }
    }
    println!();
    println!(
        "| auth | quota | backend | mechanism drivers | ports | clients | ports/s | p50 | p99 | max | list 2000 ports (median / best) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for f in &all {
        println!(
            "| {} | {} | {} | {} | {} | {clients} | {:.0} | {} | {} | {} | {} / {} |",
            f.auth,
            f.quota.name(),
            f.backend,
            f.drivers,
            f.ports,
            f.per_second,
            ms(f.p50),
            ms(f.p99),
            ms(f.max),
            ms(f.list_median),
            ms(f.list_min)
        );
    }
    if all.iter().any(|f| f.wal.is_some()) {
        println!();
        println!(
            "| SQLite write-ahead log: auth | quota | mechanism drivers | largest during the run | at its end | 1 s later |"
        );
        println!("|---|---|---|---|---|---|");
        for f in &all {
            if let Some((largest, at_end, later)) = f.wal {
                println!(
                    "| {} | {} | {} | {} | {} | {} |",
                    f.auth,
                    f.quota.name(),
                    f.drivers,
                    mib(largest),
                    mib(at_end),
                    mib(later)
                );
            }
        }
    }
}
