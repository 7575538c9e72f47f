//! Upgrading a driver under load: 32 clients create ports for several seconds while the
//! driver is upgraded v1 → v2 → v1; no request fails and ports created after each swap carry
//! the new version's marker. Also: other servers sharing the database follow a change, and a
//! file dropped into a watched drivers directory is loaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use neutrino_tests::drivers::guests;
use neutrino_tests::{Backend, TestDb, TestServer, s};
use serde_json::json;
use tokio::sync::Mutex;

/// One port creation: when it started and ended, its status, the vif_details marker.
type Outcome = (Instant, Instant, u16, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrading_and_rolling_back_under_load_fails_no_request() {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();
    // Thousands of ports: more than Neutron's default port quota of 500.
    c.put("/v2.0/quotas/admin", json!({"quota": {"port": -1}}))
        .await;
    assert_eq!(c.upload_driver("versioned", "versioned").await.status, 201);
    let net = c
        .post("/v2.0/networks", json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 30}}))
        .await
        .body["network"]
        .clone();
    c.post(
        "/v2.0/subnets",
        json!({"subnet": {"network_id": s(&net, "id"), "cidr": "10.128.0.0/16", "ip_version": 4}}),
    )
    .await;
    let net_id = s(&net, "id").to_string();

    let results: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..32 {
        let (c, net_id, results, stop) = (c.clone(), net_id.clone(), results.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let r = c
                    .post(
                        "/v2.0/ports",
                        json!({"port": {"network_id": net_id, "binding:host_id": "h1"}}),
                    )
                    .await;
                let marker = r.body["port"]["binding:vif_details"]["marker"]
                    .as_str()
                    .unwrap_or("none")
                    .to_string();
                results
                    .lock()
                    .await
                    .push((started, Instant::now(), r.status, marker));
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let upgrading = Instant::now();
    let up = c.upload_driver("versioned", "versioned-v2").await;
    let swapped_up = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rolling_back = Instant::now();
    let back = c
        .put("/v2.0/mechanism-drivers/versioned/rollback", json!({}))
        .await;
    let swapped_back = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.await.unwrap();
    }

    assert_eq!(up.status, 200, "{:?}", up.body);
    assert_eq!(back.status, 200, "{:?}", back.body);
    let results = results.lock().await;
    let failed: Vec<_> = results.iter().filter(|r| r.2 != 201).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        results.len(),
        failed.first().map(|f| f.2)
    );
    assert!(results.len() > 100, "only {} ports created", results.len());
    let in_window = |from: Instant, to: Instant| -> Vec<&str> {
        results
            .iter()
            .filter(|r| r.0 > from && r.1 < to)
            .map(|r| r.3.as_str())
            .collect()
    };
    // Requests running while the rollback call is in flight may see either version.
    let v2 = in_window(swapped_up, rolling_back);
    let v1_again = in_window(swapped_back, Instant::now());
    assert!(
        !v2.is_empty() && v2.iter().all(|m| *m == "version=2"),
        "after the upgrade: {v2:?}"
    );
    assert!(
        !v1_again.is_empty() && v1_again.iter().all(|m| *m == "version=1"),
        "after the rollback: {v1_again:?}"
    );
    let before: Vec<&str> = results
        .iter()
        .filter(|r| r.1 < upgrading)
        .map(|r| r.3.as_str())
        .collect();
    assert!(before.iter().all(|m| *m == "version=1"));
    server.stop().await;
}

#[tokio::test]
async fn a_second_server_on_the_same_database_follows_an_upgrade() {
    // Two servers need a database both can open: PostgreSQL.
    let db = TestDb::new(Backend::Postgres).await;
    let url = db.url.clone();
    let a = TestServer::on_db(db, |c| {
        c.ml2.mechanism_drivers.clear();
        c.drivers.sync_interval_ms = Some(200);
    })
    .await;
    let b_db = TestDb::existing(&url);
    let b = TestServer::on_db(b_db, |c| {
        c.ml2.mechanism_drivers.clear();
        c.drivers.sync_interval_ms = Some(200);
    })
    .await;

    assert_eq!(
        a.admin()
            .upload_driver("versioned", "versioned")
            .await
            .status,
        201
    );
    let followed = wait_for(|| async {
        b.admin()
            .get("/v2.0/mechanism-drivers/versioned")
            .await
            .status
            == 200
    })
    .await;
    assert!(followed, "server b did not load the driver");
    a.admin().upload_driver("versioned", "versioned-v2").await;
    let upgraded = wait_for(|| async {
        b.admin()
            .get("/v2.0/mechanism-drivers/versioned")
            .await
            .body["mechanism_driver"]["version"]
            == "2.0.0"
    })
    .await;
    assert!(upgraded, "server b did not follow the upgrade");
    a.admin().delete("/v2.0/mechanism-drivers/versioned").await;
    let removed = wait_for(|| async {
        b.admin()
            .get("/v2.0/mechanism-drivers/versioned")
            .await
            .status
            == 404
    })
    .await;
    assert!(removed, "server b did not follow the removal");

    b.stop().await;
    a.stop().await;
}

async fn wait_for<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_driver_dropped_into_a_watched_directory_is_loaded_and_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let server = TestServer::with_config(move |c| {
        c.ml2.mechanism_drivers.clear();
        c.drivers.directory = Some(path.display().to_string());
        c.drivers.watch = true;
    })
    .await;
    let c = server.admin();

    std::fs::write(
        dir.path().join("versioned.wasm"),
        guests().wasm("versioned"),
    )
    .unwrap();
    let loaded =
        wait_for(|| async { c.get("/v2.0/mechanism-drivers/versioned").await.status == 200 }).await;
    std::fs::write(
        dir.path().join("versioned.wasm"),
        guests().wasm("versioned-v2"),
    )
    .unwrap();
    let upgraded = wait_for(|| async {
        c.get("/v2.0/mechanism-drivers/versioned").await.body["mechanism_driver"]["version"]
            == "2.0.0"
    })
    .await;

    assert!(loaded, "the dropped file was not loaded");
    assert!(upgraded, "the replaced file was not loaded");
    server.stop().await;
}
