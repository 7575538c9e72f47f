//! Controller drivers benchmark (not a test), against the fake OpenDaylight and MidoNet of
//! `neutrino_tests::fakes`:
//!
//! 1. port-create throughput (32 clients, `NEUTRINO_BENCH_PORTS` ports, default 300) with no
//!    mechanism driver, with `opendaylight`, with `midonet`, and with both (journaled), same
//!    run;
//! 2. how long a 100-entry backlog takes to drain once ODL is back: ODL refuses connections
//!    while 100 ports are created, then listens again; the time from then until ODL has all
//!    100 ports and until the journal is empty.
//!
//! Run with `cargo bench -p neutrino-tests --bench controller_drivers` (add `--profile dev`
//! for a debug build, labelled as such in BENCHMARKS.md). SQLite.

use neutrino_tests::bench::env_usize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use neutrino_runtime::DriverSettings;
use neutrino_tests::fakes::midonet::{Midonet, ROOT};
use neutrino_tests::fakes::odl::{NORTHBOUND, Odl};
use neutrino_tests::fakes::{FakeServer, journal_settled};
use neutrino_tests::{Client, TestServer, s};
use serde_json::json;

const PROJECT: &str = "77777777-7777-7777-7777-777777777777";

fn settings(value: serde_json::Value) -> DriverSettings {
    serde_json::from_value(value).expect("driver settings")
}

/// A server with `drivers` (a subset of `opendaylight`, `midonet`) for these fakes.
async fn server(
    drivers: &[&str],
    odl: &FakeServer<Odl>,
    midonet: &FakeServer<Midonet>,
) -> TestServer {
    let odl_settings = settings(json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": {"url": format!("{}{NORTHBOUND}", odl.url()), "username": "admin", "password": "admin"},
        "http": {"allow": [odl.url()]},
    }));
    let midonet_settings = settings(json!({
        "grants": ["log", "config", "http", "session"],
        "config": {"midonet_uri": format!("{}{ROOT}", midonet.url()), "username": "admin",
                   "password": "admin", "project_id": PROJECT},
        "http": {"allow": [midonet.url()]},
    }));
    let drivers: Vec<String> = drivers.iter().map(|d| d.to_string()).collect();
    TestServer::with_config(move |c| {
        c.ml2.type_drivers = vec!["midonet".into(), "uplink".into(), "vxlan".into()];
        c.ml2.tenant_network_types = vec!["midonet".into()];
        c.ml2.mechanism_drivers = drivers;
        c.drivers
            .settings
            .insert("opendaylight".into(), odl_settings);
        c.drivers
            .settings
            .insert("midonet".into(), midonet_settings);
    })
    .await
}

/// Create `n` ports on `net_id` from 32 clients; the elapsed time.
async fn create_ports(c: &Client, net_id: &str, n: usize) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (c, net_id, next) = (c.clone(), net_id.to_string(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::SeqCst) < n {
                    c.port(&net_id, json!({})).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let ports = env_usize("NEUTRINO_BENCH_PORTS", 300);
    let odl = FakeServer::start(Odl::synced("admin", "admin")).await;
    let midonet = FakeServer::start(Midonet::new("admin", "admin", PROJECT)).await;

    println!("| drivers | ports | seconds | ports/s |");
    println!("|---|---|---|---|");
    for drivers in [
        &[][..],
        &["opendaylight"][..],
        &["midonet"][..],
        &["opendaylight", "midonet"][..],
    ] {
        let server = server(drivers, &odl, &midonet).await;
        let c = server.admin();
        let (net, _) = c.network_with_subnet("bench", "10.0.0.0/16").await;
        let elapsed = create_ports(&c, s(&net, "id"), ports).await;
        for d in drivers {
            journal_settled(&c, d, Duration::from_secs(600)).await;
        }
        println!(
            "| {} | {ports} | {:.2} | {:.0} |",
            if drivers.is_empty() {
                "none".to_string()
            } else {
                drivers.join(" + ")
            },
            elapsed.as_secs_f64(),
            ports as f64 / elapsed.as_secs_f64()
        );
        server.stop().await;
    }

    println!();
    println!("| run | ports | outage (s) | back → ODL has all (s) | back → journal empty (s) |");
    println!("|---|---|---|---|---|");
    for run in 1..=3 {
        let odl = FakeServer::start(Odl::synced("admin", "admin")).await;
        let server = server(&["opendaylight"], &odl, &midonet).await;
        let c = server.admin();
        let (net, _) = c.network_with_subnet("bench", "10.0.0.0/24").await;
        journal_settled(&c, "opendaylight", Duration::from_secs(60)).await;
        odl.refuse_connections();
        let outage = Instant::now();
        create_ports(&c, s(&net, "id"), 100).await;
        let outage = outage.elapsed();
        odl.accept_connections().await;
        let back = Instant::now();
        while odl.backend().stored("ports").len() < 100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let all = back.elapsed();
        journal_settled(&c, "opendaylight", Duration::from_secs(120)).await;
        let empty = back.elapsed();
        println!(
            "| {run} | 100 | {:.2} | {:.2} | {:.2} |",
            outage.as_secs_f64(),
            all.as_secs_f64(),
            empty.as_secs_f64()
        );
        server.stop().await;
    }
}
