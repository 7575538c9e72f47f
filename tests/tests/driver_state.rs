//! Driver state written in precommit hooks under concurrency: a read-modify-write of a key
//! is part of the request's transaction and serializable per key, so 32 concurrent clients
//! never lose an increment, on SQLite, on PostgreSQL, and with two servers on one
//! PostgreSQL database; and a driver's state writes never turn a retryable conflict (a MAC
//! collision) into an error.
//!
//! Two drivers count side by side: `recorder` (contract 0.2) with the host's atomic
//! `state.increment`, in precommit (the request's transaction) and in postcommit (a
//! transaction of its own), and `legacy-v01` (contract 0.1, built from the frozen WIT) with
//! a plain get-then-set in precommit.

use neutrino_tests::{Backend, Client, TestDb, TestServer, s};
use serde_json::json;

/// Ports created in each test, by this many clients at once.
const PORTS: usize = 1000;
const CLIENTS: usize = 32;

/// The recorder driver increments `count/<hook>` in every hook; the 0.1 driver
/// `legacy-v01` counts `count/create_port_precommit` with get and set.
async fn load_recorder(c: &Client) {
    for name in ["recorder", "legacy-v01"] {
        let r = c
            .load_driver(name, name, json!({"grants": ["log", "config", "state"]}))
            .await;
        assert!(r.status == 201 || r.status == 200, "{name}: {:?}", r.body);
    }
}

async fn start(db: TestDb, base_mac: &str) -> TestServer {
    let base_mac = base_mac.to_string();
    TestServer::on_db(db, move |c| {
        c.ml2.mechanism_drivers.clear();
        c.base_mac = base_mac;
    })
    .await
}

async fn unlimited_ports(c: &Client) {
    let r = c
        .put("/v2.0/quotas/admin", json!({"quota": {"port": -1}}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

/// Create `PORTS` ports on `network` from `CLIENTS` concurrent clients spread over
/// `servers`; returns the statuses that were not 201, with their bodies.
async fn create_ports(servers: &[&TestServer], network: &str) -> Vec<String> {
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let c = servers[i % servers.len()].admin();
        let network = network.to_string();
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for _ in (i..PORTS).step_by(CLIENTS) {
                let r = c
                    .post("/v2.0/ports", json!({"port": {"network_id": network}}))
                    .await;
                if r.status != 201 {
                    failures.push(format!("{}: {}", r.status, r.body));
                }
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.unwrap());
    }
    failures
}

async fn counted(server: &TestServer, key: &str) -> i64 {
    counted_by(server, "recorder", key).await
}

async fn counted_by(server: &TestServer, driver: &str, key: &str) -> i64 {
    let mut conn = server.plugin().store().reader().acquire().await.unwrap();
    let raw = neutrino_ml2::store::drivers::state_get(&mut conn, driver, key)
        .await
        .unwrap()
        .expect("the counter exists");
    String::from_utf8(raw).unwrap().parse().unwrap()
}

async fn port_count(c: &Client) -> usize {
    c.get("/v2.0/ports?fields=id").await.items("ports").len()
}

async fn one_server(backend: Backend, base_mac: &str) {
    let server = start(TestDb::new(backend).await, base_mac).await;
    let c = server.admin();
    unlimited_ports(&c).await;
    load_recorder(&c).await;
    let net = c.network("n").await;

    let failures = create_ports(&[&server], s(&net, "id")).await;

    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert_eq!(port_count(&c).await, PORTS);
    assert_eq!(
        counted(&server, "count/create_port_precommit").await,
        PORTS as i64,
        "every precommit increment is kept"
    );
    assert_eq!(
        counted(&server, "count/create_port_postcommit").await,
        PORTS as i64,
        "every postcommit increment is kept"
    );
    assert_eq!(
        counted_by(&server, "legacy-v01", "count/create_port_precommit").await,
        PORTS as i64,
        "the 0.1 driver's get-then-set in precommit is kept too"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_precommit_increments_are_never_lost_on_sqlite() {
    one_server(Backend::Sqlite, "fa:16:3e:00:00:00").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_precommit_increments_are_never_lost_on_postgresql() {
    one_server(Backend::Postgres, "fa:16:3e:00:00:00").await;
}

/// With `base_mac` `fa:16:3e:7e:00:00` only 65,536 MACs exist: 1,000 ports collide about
/// eight times. Each collision is found when the driver's state read sends the port's
/// deferred insert, and must be retried like any other.
#[tokio::test(flavor = "multi_thread")]
async fn a_mac_collision_is_retried_whatever_the_driver_wrote_in_precommit() {
    one_server(Backend::from_env(), "fa:16:3e:7e:00:00").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_on_one_postgresql_never_lose_an_increment() {
    let first = start(TestDb::new(Backend::Postgres).await, "fa:16:3e:00:00:00").await;
    let second = start(TestDb::existing(&first.db.url), "fa:16:3e:00:00:00").await;
    let (a, b) = (first.admin(), second.admin());
    unlimited_ports(&a).await;
    load_recorder(&a).await;
    // The second server picks the driver up from the database (background sync).
    let mut waited = 0;
    while b.get("/v2.0/mechanism-drivers/recorder").await.status != 200
        || b.get("/v2.0/mechanism-drivers/legacy-v01").await.status != 200
    {
        waited += 1;
        assert!(waited < 100, "the second server never loaded the driver");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let net = a.network("n").await;

    let failures = create_ports(&[&first, &second], s(&net, "id")).await;

    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert_eq!(port_count(&a).await, PORTS);
    assert_eq!(
        counted(&first, "count/create_port_precommit").await,
        PORTS as i64
    );
    assert_eq!(
        counted(&first, "count/create_port_postcommit").await,
        PORTS as i64
    );
    assert_eq!(
        counted_by(&first, "legacy-v01", "count/create_port_precommit").await,
        PORTS as i64
    );
    second.stop().await;
    first.stop().await;
}
