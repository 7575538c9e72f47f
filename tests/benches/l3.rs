//! L3 benchmark (not a test): floating IP create-and-associate from 32 concurrent clients,
//! and the latency of adding and removing a router interface, on SQLite and PostgreSQL.
//!
//! Run with `cargo bench -p neutrino-tests --bench l3` (release), or
//! `cargo bench --profile dev -p neutrino-tests --bench l3` for a quicker debug build.
//! Settings (environment): `NEUTRINO_BENCH_FIPS` (floating IPs in the timed run, default
//! 1024), `NEUTRINO_BENCH_CLIENTS` (default 32), `NEUTRINO_BENCH_INTERFACES` (add/remove
//! cycles, default 100), `NEUTRINO_BENCH_BACKENDS` (default `sqlite,postgres`; PostgreSQL
//! from `NEUTRINO_TEST_PG_URL`, skipped when unreachable).

use neutrino_tests::bench::env_usize;
use std::time::{Duration, Instant};

use neutrino_tests::{Backend, Client, TestDb, TestServer, s};
use serde_json::json;

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

async fn run(backend: Backend, name: &str) {
    let fips = env_usize("NEUTRINO_BENCH_FIPS", 1024);
    let clients = env_usize("NEUTRINO_BENCH_CLIENTS", 32);
    let cycles = env_usize("NEUTRINO_BENCH_INTERFACES", 100);
    let db = TestDb::new(backend).await;
    let server = TestServer::on_db(db, |c| {
        c.quotas.quota_floatingip = -1;
        c.quotas.quota_port = -1;
        c.quotas.quota_subnet = -1;
        c.quotas.quota_network = -1;
    })
    .await;
    let admin = server.admin();
    let ext = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "public", "router:external": true}}),
        )
        .await
        .body["network"]
        .clone();
    admin.subnet(s(&ext, "id"), "172.16.0.0/16").await;
    let (net, subnet) = admin.network_with_subnet("private", "10.0.0.0/16").await;
    let router = admin
        .post(
            "/v2.0/routers",
            json!({"router": {"external_gateway_info": {"network_id": ext["id"]}}}),
        )
        .await
        .body["router"]
        .clone();
    let rid = s(&router, "id").to_string();
    admin
        .put(
            &format!("/v2.0/routers/{rid}/add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    // The ports the floating IPs go to, made before the clock starts (bulk, 128 at a time).
    let mut ports: Vec<String> = Vec::with_capacity(fips);
    while ports.len() < fips {
        let n = (fips - ports.len()).min(128);
        let body: Vec<_> = (0..n).map(|_| json!({"network_id": net["id"]})).collect();
        let r = admin.post("/v2.0/ports", json!({ "ports": body })).await;
        assert_eq!(r.status, 201, "{}", r.body);
        ports.extend(r.ids("ports"));
    }

    let started = Instant::now();
    let per_client = fips.div_ceil(clients);
    let tasks: Vec<_> = ports
        .chunks(per_client)
        .map(|chunk| {
            let c: Client = admin.clone();
            let ext = ext["id"].clone();
            let chunk = chunk.to_vec();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(chunk.len());
                for p in chunk {
                    let t = Instant::now();
                    let r = c
                        .post(
                            "/v2.0/floatingips",
                            json!({"floatingip": {"floating_network_id": ext, "port_id": p}}),
                        )
                        .await;
                    assert_eq!(r.status, 201, "{}", r.body);
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("client"));
    }
    let elapsed = started.elapsed();
    lat.sort();
    println!(
        "{name}: {fips} floating IPs created and associated by {clients} clients in {:.2} s: \
         {:.0}/s; latency p50 {}, p99 {}, max {}",
        elapsed.as_secs_f64(),
        fips as f64 / elapsed.as_secs_f64(),
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default()),
    );

    // Interface add/remove, one after another, each on a fresh subnet.
    let mut add = Vec::with_capacity(cycles);
    let mut remove = Vec::with_capacity(cycles);
    for i in 0..cycles {
        let (_, sn) = admin
            .network_with_subnet("if", &format!("10.{}.{}.0/24", 100 + i / 250, i % 250))
            .await;
        let body = json!({"subnet_id": sn["id"]});
        let t = Instant::now();
        let r = admin
            .put(
                &format!("/v2.0/routers/{rid}/add_router_interface"),
                body.clone(),
            )
            .await;
        add.push(t.elapsed());
        assert_eq!(r.status, 200, "{}", r.body);
        let t = Instant::now();
        let r = admin
            .put(
                &format!("/v2.0/routers/{rid}/remove_router_interface"),
                body,
            )
            .await;
        remove.push(t.elapsed());
        assert_eq!(r.status, 200, "{}", r.body);
    }
    add.sort();
    remove.sort();
    println!(
        "{name}: router interface add p50 {}, p99 {}; remove p50 {}, p99 {} ({cycles} cycles)",
        ms(percentile(&add, 50.0)),
        ms(percentile(&add, 99.0)),
        ms(percentile(&remove, 50.0)),
        ms(percentile(&remove, 99.0)),
    );
    server.stop().await;
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (`cargo test --benches`) only builds it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("l3 benchmark: run it with `cargo bench -p neutrino-tests --bench l3`");
        return;
    }
    let backends =
        std::env::var("NEUTRINO_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for b in backends.split(',') {
            match b.trim() {
                "sqlite" => run(Backend::Sqlite, "SQLite").await,
                "postgres" => {
                    let reachable = <sqlx::PgConnection as sqlx::Connection>::connect(
                        &neutrino_tests::pg_admin_url(),
                    )
                    .await
                    .is_ok();
                    if reachable {
                        run(Backend::Postgres, "PostgreSQL").await;
                    } else {
                        println!("PostgreSQL: skipped (unreachable)");
                    }
                }
                other => println!("unknown backend {other}"),
            }
        }
    });
}
