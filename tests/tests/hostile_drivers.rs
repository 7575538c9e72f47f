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
        r.error_message().contains("`spin`") && r.error_message().contains("budget"),
        "{}",
        r.error_message()
    );
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
