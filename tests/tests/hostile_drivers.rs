//! Misbehaving drivers loaded into a running server: each fault fails only its own call,
//! with an error naming the driver and the cause, the fault is counted, and the server keeps
//! serving (including while a driver spins).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

async fn server_with(drivers: &[(&str, Value)]) -> TestServer {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    for (name, settings) in drivers {
        let r = server
            .admin()
            .load_driver(name, name, settings.clone())
            .await;
        assert!(
            r.status == 201 || r.status == 200,
            "loading {name}: {:?}",
            r.body
        );
    }
    server
}

async fn stats(c: &Client, name: &str) -> Value {
    c.get(&format!("/v2.0/mechanism-drivers/{name}")).await.body["mechanism_driver"]["stats"]
        .clone()
}

async fn bind_on(c: &Client, host: &str) -> Value {
    let net = c.network("n").await;
    c.port(s(&net, "id"), json!({"binding:host_id": host}))
        .await
}

/// A TCP listener that counts connections and answers `204` to any request.
async fn listener() -> (String, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            });
        }
    });
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn a_panicking_driver_fails_only_its_own_bind_and_the_next_driver_binds() {
    let server = server_with(&[("panic", json!({})), ("recorder", json!({}))]).await;
    let c = server.admin();

    let port = bind_on(&c, "h1").await;

    assert_eq!(port["binding:vif_type"], "ovs");
    assert_eq!(port["binding:levels"][0]["driver"], "recorder");
    assert_eq!(stats(&c, "panic").await["traps"], 1);
    server.stop().await;
}

#[tokio::test]
async fn a_drivers_panic_text_reaches_admins_through_its_stats_never_a_users_error() {
    let server = server_with(&[("panic", json!({}))]).await;
    let member = server.project("p1");

    let r = member
        .post("/v2.0/networks", json!({"network": {"name": "panic-here"}}))
        .await;

    assert_eq!(r.status, 500, "{:?}", r.body);
    assert_eq!(r.error_type(), Some("MechanismDriverError"));
    let message = r.error_message();
    assert!(message.contains("`panic`"), "names the driver: {message}");
    assert!(message.contains("create_network_precommit"), "{message}");
    for leak in ["secret switch table", "10.0.0.9", "lib.rs", "panicked"] {
        assert!(!message.contains(leak), "leaks `{leak}`: {message}");
        assert!(
            !r.body.to_string().contains(leak),
            "leaks `{leak}`: {}",
            r.body
        );
    }
    let fault = stats(&server.admin(), "panic").await["last_fault"].clone();
    assert!(
        fault.as_str().unwrap_or("").contains("secret switch table"),
        "admins see the detail: {fault}"
    );
    assert_eq!(
        member.get("/v2.0/networks").await.items("networks").len(),
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn a_trapping_driver_is_counted_and_the_next_call_works_again() {
    let server = server_with(&[("trap", json!({}))]).await;
    let c = server.admin();

    let first = bind_on(&c, "h1").await;
    let second = bind_on(&c, "h1").await;

    assert_eq!(first["binding:vif_type"], "binding_failed");
    assert_eq!(second["binding:vif_type"], "binding_failed");
    let st = stats(&c, "trap").await;
    assert_eq!(st["traps"], 2, "{st}");
    assert_eq!(
        st["ok"].as_u64().unwrap() + 2,
        st["calls"].as_u64().unwrap(),
        "every other hook call worked: {st}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_endless_loop_is_cut_at_its_budget_while_the_server_keeps_answering() {
    // `spin` also spins in create_port_postcommit: skip its faults there to look at binding.
    let server = server_with(&[(
        "spin",
        json!({"failure_policy": "skip", "limits": {"precommit_cpu_ms": 800, "postcommit_cpu_ms": 100}}),
    )])
    .await;
    let c = server.admin();
    let net = c.network("n").await;
    let net_id = s(&net, "id").to_string();

    let spinning = {
        let c = c.clone();
        tokio::spawn(async move { c.port(&net_id, json!({"binding:host_id": "h1"})).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let meanwhile = c.get("/v2.0/networks").await;
    let meanwhile_took = started.elapsed();
    let port = spinning.await.unwrap();

    assert_eq!(meanwhile.status, 200);
    assert!(
        meanwhile_took < Duration::from_millis(700),
        "other requests waited {meanwhile_took:?}"
    );
    assert_eq!(port["binding:vif_type"], "binding_failed");
    assert_eq!(
        stats(&c, "spin").await["timeouts"],
        2,
        "bind_port and the skipped postcommit"
    );
    server.stop().await;
}

/// 32 clients create ports whose precommit spins to its 200 ms CPU budget while another
/// client renames an unrelated network over and over. The spinning driver is quarantined at
/// its first timeout: its later precommits fail at once with a 503 instead of holding the
/// (SQLite: only) writer, so it runs out of time once plus once per background probe, not
/// once per create. The unrelated writes' latencies are printed (BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread")]
async fn a_driver_whose_precommit_spins_is_quarantined_and_other_writes_keep_flowing() {
    let server = server_with(&[("spin", json!({}))]).await;
    let c = server.admin();
    let spun = c.network("spun").await;
    let other = c.network("other").await;
    let (spun_id, other_id) = (s(&spun, "id").to_string(), s(&other, "id").to_string());

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut creators = Vec::new();
    for _ in 0..32 {
        let (c, net, stop) = (c.clone(), spun_id.clone(), stop.clone());
        creators.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let r = c
                    .post(
                        "/v2.0/ports",
                        json!({"port": {"network_id": net, "name": "spin"}}),
                    )
                    .await;
                statuses.push((r.status, r.error_type().map(str::to_string)));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            statuses
        }));
    }
    let storm = Instant::now();
    let mut latencies = Vec::new();
    for i in 0..200 {
        let started = Instant::now();
        let r = c
            .put(
                &format!("/v2.0/networks/{other_id}"),
                json!({"network": {"name": format!("other-{i}")}}),
            )
            .await;
        latencies.push(started.elapsed());
        assert_eq!(r.status, 200, "{:?}", r.body);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut statuses = Vec::new();
    for t in creators {
        statuses.extend(t.await.unwrap());
    }

    latencies.sort();
    let p = |q: usize| latencies[(latencies.len() * q).div_ceil(100) - 1];
    println!(
        "unrelated network updates while `spin` spins in precommit (32 creators): \
         p50 {:?}, p99 {:?}, max {:?}; {} creates refused",
        p(50),
        p(99),
        latencies.last().unwrap(),
        statuses.len()
    );
    assert!(statuses.iter().all(|(status, kind)| *status >= 500
        && kind.as_deref() == Some("MechanismDriverError")));
    let quarantined = statuses.iter().filter(|(status, _)| *status == 503).count();
    assert!(quarantined > statuses.len() / 2, "{statuses:?}");
    let st = stats(&c, "spin").await;
    let timeouts = st["timeouts"].as_u64().unwrap();
    // SQLite runs one precommit at a time (the writer); on PostgreSQL all 32 first calls may
    // already run when the first one times out.
    let first = match neutrino_tests::Backend::from_env() {
        neutrino_tests::Backend::Sqlite => 1,
        neutrino_tests::Backend::Postgres => 32,
    };
    // Probes come 1 s after the first timeout, then 2 s, 4 s, ... apart.
    let probes = (storm.elapsed().as_secs_f64() + 1.0).log2().ceil() as u64;
    assert!(
        (1..=first + probes).contains(&timeouts),
        "ran out of time {first} time(s) at most, then only in {probes} probes: \
         {timeouts} for {} creates",
        statuses.len()
    );
    let shown =
        c.get("/v2.0/mechanism-drivers/spin").await.body["mechanism_driver"]["quarantined"].clone();
    assert_eq!(
        shown.as_object().map(|q| q.keys().collect::<Vec<_>>()),
        Some(vec![&"create_port_precommit".to_string()]),
        "only the hook that ran out of time: {shown}"
    );
    assert_eq!(c.get("/v2.0/ports").await.items("ports").len(), 0);
    server.stop().await;
}

#[tokio::test]
async fn an_endless_postcommit_undoes_the_create_with_a_500_naming_the_driver() {
    let server = server_with(&[("spin", json!({"limits": {"postcommit_cpu_ms": 300}}))]).await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id")}}),
        )
        .await;

    assert_eq!(r.status, 500, "{:?}", r.body);
    assert_eq!(r.error_type(), Some("MechanismDriverError"));
    assert!(
        r.error_message().contains("`spin`"),
        "{}",
        r.error_message()
    );
    let fault = stats(&c, "spin").await["last_fault"].clone();
    assert!(fault.as_str().unwrap_or("").contains("budget"), "{fault}");
    assert_eq!(
        c.get("/v2.0/ports").await.body["ports"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn with_the_skip_policy_a_faulting_postcommit_is_recorded_and_the_request_succeeds() {
    let server = server_with(&[(
        "spin",
        json!({"failure_policy": "skip", "limits": {"postcommit_cpu_ms": 200}}),
    )])
    .await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id")}}),
        )
        .await;

    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(stats(&c, "spin").await["timeouts"], 1);
    server.stop().await;
}

#[tokio::test]
async fn a_memory_bomb_hits_its_limit() {
    let server = server_with(&[("membomb", json!({"limits": {"memory_mib": 16}}))]).await;
    let c = server.admin();

    let port = bind_on(&c, "h1").await;

    assert_eq!(port["binding:vif_type"], "binding_failed");
    let st = stats(&c, "membomb").await;
    let faults = st["traps"].as_u64().unwrap() + st["resource_limits"].as_u64().unwrap();
    assert_eq!(faults, 1, "{st}");
    assert_eq!(c.get("/v2.0/networks").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn huge_and_malformed_results_are_refused() {
    let server = server_with(&[("bad-result", json!({})), ("recorder", json!({}))]).await;
    let c = server.admin();

    let port = bind_on(&c, "h1").await;

    assert_eq!(port["binding:levels"][0]["driver"], "recorder");
    assert_eq!(stats(&c, "bad-result").await["invalid_results"], 1);
    server.stop().await;

    let server = server_with(&[("huge-result", json!({}))]).await;
    let c = server.admin();
    let net = c.network("n").await;
    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id")}}),
        )
        .await;
    assert_eq!(r.status, 409, "refusal kind is conflict");
    assert!(
        r.error_message().len() < 16 * 1024,
        "the driver's 1 MiB message was truncated"
    );
    assert!(r.error_message().contains("`huge-result`"));
    assert_eq!(
        c.get("/v2.0/ports").await.body["ports"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn a_destination_the_operator_did_not_allow_is_refused_before_any_connection() {
    let (allowed, _) = listener().await;
    let (forbidden, hits) = listener().await;
    let settings = json!({
        "grants": ["log", "config", "http"],
        "config": {"url": format!("{forbidden}/steal")},
        "http": {"allow": [allowed]},
    });
    let server = server_with(&[("http-forbidden", settings)]).await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id")}}),
        )
        .await;

    assert_eq!(r.status, 500, "{:?}", r.body);
    assert!(
        r.error_message().contains("`http-forbidden`"),
        "{}",
        r.error_message()
    );
    assert!(
        r.error_message().contains("denied") || r.error_message().contains("not allowed"),
        "{}",
        r.error_message()
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a forbidden destination was contacted"
    );
    server.stop().await;
}

#[tokio::test]
async fn precommit_gets_no_network_even_to_an_allowed_destination() {
    let (allowed, hits) = listener().await;
    let settings = json!({
        "grants": ["log", "config", "http"],
        "config": {"url": format!("{allowed}/x")},
        "http": {"allow": [allowed]},
    });
    let server = server_with(&[("http-in-precommit", settings)]).await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id")}}),
        )
        .await;

    assert!(r.status >= 400, "{:?}", r.body);
    assert!(
        r.error_message().contains("precommit"),
        "{}",
        r.error_message()
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(
        c.get("/v2.0/ports").await.body["ports"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn an_allowed_destination_is_reached_in_postcommit() {
    let (controller, hits) = listener().await;
    let settings = json!({
        "grants": ["log", "config", "state", "http"],
        "config": {"controller_url": controller},
        "http": {"allow": [controller.clone()]},
    });
    let server = server_with(&[("hello-driver", settings)]).await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id")}}),
        )
        .await;

    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    server.stop().await;
}
