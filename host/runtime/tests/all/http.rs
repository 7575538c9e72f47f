//! Outbound HTTP: only from postcommit, only to allowed destinations,
//! checked before any I/O, within time and size limits.

use crate::support::*;
use neutrino_runtime::*;
use std::time::Duration;

#[tokio::test]
async fn postcommit_reaches_an_allowed_destination() {
    let server = TestServer::start(Answer::With(200, b"{}".to_vec())).await;
    let rt = runtime();
    let driver = prepare(
        &rt,
        "http-in-precommit",
        http_settings(&[("url", &server.url("/api/ok"))], &[server.url("/api")]),
    )
    .await;

    driver
        .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
        .await
        .expect("allowed in postcommit");

    assert_eq!(server.requests(), ["GET /api/ok HTTP/1.1"]);
}

#[tokio::test]
async fn precommit_gets_no_network_even_for_an_allowed_destination() {
    let server = TestServer::start(Answer::With(200, Vec::new())).await;
    let rt = runtime();
    let driver = prepare(
        &rt,
        "http-in-precommit",
        http_settings(&[("url", &server.url("/api/ok"))], &[server.url("/api")]),
    )
    .await;

    let err = driver
        .call_port(Hook::CreatePrecommit, &port_ctx(), &host())
        .await
        .unwrap_err();

    assert!(matches!(err, CallError::Driver { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "driver `http-in-precommit` refused create_port_precommit: http: denied: no network in precommit"
    );
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn a_forbidden_destination_is_refused_before_any_connection() {
    let listener = TestServer::start(Answer::With(200, Vec::new())).await;
    let allowed = TestServer::start(Answer::With(200, Vec::new())).await;
    let rt = runtime();
    let driver = prepare(
        &rt,
        "http-forbidden",
        http_settings(&[("url", &listener.url("/secret"))], &[allowed.url("/")]),
    )
    .await;

    let err = driver
        .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
        .await
        .unwrap_err();

    let expected = format!(
        "http: denied: http://{}/secret is not an allowed destination of driver `http-forbidden`",
        listener.addr
    );
    assert!(
        matches!(err, CallError::Driver { ref message, .. } if *message == expected),
        "{err:?}"
    );
    assert_eq!(listener.connections(), 0, "nothing may connect");
    assert_eq!(allowed.connections(), 0);
}

#[tokio::test]
async fn the_metadata_service_is_not_reachable_by_default() {
    let rt = runtime();
    let driver = prepare(&rt, "http-forbidden", http_settings(&[], &[])).await;

    let err = driver
        .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
        .await
        .unwrap_err();

    assert!(
        err.to_string().contains(
            "denied: http://169.254.169.254:80/latest/meta-data/ is not an allowed destination"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_by_address() {
    // Any name but `localhost` that this machine resolves to 127.0.0.0/8.
    let mut candidates: Vec<String> = ["vm", "runsc", "ip6-localhost"].map(String::from).to_vec();
    if let Ok(hostname) = std::fs::read_to_string("/etc/hostname") {
        candidates.insert(0, hostname.trim().to_string());
    }
    let mut loopback_name = None;
    for name in candidates
        .into_iter()
        .filter(|n| !n.is_empty() && n != "localhost")
    {
        let resolves_to_loopback = match tokio::net::lookup_host((name.as_str(), 80)).await {
            Ok(mut addrs) => addrs.all(|a| a.ip().is_loopback()),
            Err(_) => false,
        };
        if resolves_to_loopback {
            loopback_name = Some(name);
            break;
        }
    }
    let Some(name) = loopback_name else {
        eprintln!("skipped: no name other than localhost resolves to loopback here");
        return;
    };
    let server = TestServer::start(Answer::With(200, Vec::new())).await;
    let url = format!("http://{name}:{}/", server.addr.port());
    let rt = runtime();
    let driver = prepare(
        &rt,
        "http-forbidden",
        http_settings(&[("url", &url)], std::slice::from_ref(&url)),
    )
    .await;

    let err = driver
        .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
        .await
        .unwrap_err();

    assert!(
        err.to_string()
            .contains(&format!("denied: {name} resolves to 127.")),
        "{err}"
    );
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn a_response_larger_than_the_limit_is_refused() {
    let server = TestServer::start(Answer::With(200, vec![b'x'; 64 * 1024])).await;
    let rt = runtime();
    let mut s = http_settings(&[("url", &server.url("/big"))], &[server.url("/")]);
    s.http.max_response_bytes = 1024;
    let driver = prepare(&rt, "http-in-precommit", s).await;

    let err = driver
        .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
        .await
        .unwrap_err();

    assert!(
        err.to_string().ends_with("http: response too large"),
        "{err}"
    );
}

#[tokio::test]
async fn a_destination_that_never_answers_times_out_within_the_driver_timeout() {
    let server = TestServer::start(Answer::Never).await;
    let rt = runtime();
    let mut s = http_settings(&[("url", &server.url("/slow"))], &[server.url("/")]);
    s.http.timeout = Duration::from_millis(200);
    let driver = prepare(&rt, "http-in-precommit", s).await;

    let started = std::time::Instant::now();
    let err = driver
        .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
        .await
        .unwrap_err();

    assert!(err.to_string().ends_with("http: timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests(), ["GET /slow HTTP/1.1"]);
}

#[tokio::test]
async fn http_needs_the_operators_grant() {
    let rt = runtime();

    let err = try_prepare(&rt, "http-forbidden", settings(&[]))
        .await
        .unwrap_err();

    assert_eq!(
        err.to_string(),
        "driver `http-forbidden` imports `neutrino:ml2/http@0.2.0` but the operator did not grant `http`"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_are_kept_alive_and_reused_per_destination() {
    let server = TestServer::start(Answer::KeepAlive(200, b"{}".to_vec())).await;
    let rt = runtime();
    let driver = prepare(
        &rt,
        "http-in-precommit",
        http_settings(&[("url", &server.url("/api/ok"))], &[server.url("/api")]),
    )
    .await;

    for _ in 0..10 {
        driver
            .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
            .await
            .unwrap();
    }
    assert_eq!(server.requests().len(), 10);
    assert_eq!(server.connections(), 1, "one connection for ten calls");

    // 32 calls at once need at most 32 connections, and the next ones reuse them.
    let calls: Vec<_> = (0..32)
        .map(|_| {
            let driver = driver.clone();
            tokio::spawn(async move {
                driver
                    .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
                    .await
                    .unwrap()
            })
        })
        .collect();
    for c in calls {
        c.await.unwrap();
    }
    let after_burst = server.connections();
    assert!(after_burst <= 33, "{after_burst}");
    for _ in 0..10 {
        driver
            .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
            .await
            .unwrap();
    }
    assert_eq!(server.connections(), after_burst, "reused after the burst");
    assert_eq!(server.requests().len(), 52);
}

#[tokio::test]
async fn keep_alive_false_opens_a_connection_per_request() {
    let server = TestServer::start(Answer::KeepAlive(200, b"{}".to_vec())).await;
    let rt = runtime();
    let mut settings = http_settings(&[("url", &server.url("/api/ok"))], &[server.url("/api")]);
    settings.http.keep_alive = false;
    let driver = prepare(&rt, "http-in-precommit", settings).await;

    for _ in 0..5 {
        driver
            .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
            .await
            .unwrap();
    }

    assert_eq!(server.connections(), 5);
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced_without_failing_the_call() {
    // The server answers and closes each connection after the response, without saying so
    // in a header: the pooled connection is dead when the next call takes it.
    let server = TestServer::start(Answer::CloseQuietly(200, b"{}".to_vec())).await;
    let rt = runtime();
    let driver = prepare(
        &rt,
        "http-in-precommit",
        http_settings(&[("url", &server.url("/api/ok"))], &[server.url("/api")]),
    )
    .await;

    for _ in 0..5 {
        driver
            .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
            .await
            .expect("a closed idle connection is never a failed call");
    }

    assert_eq!(server.requests().len(), 5);
    assert_eq!(server.connections(), 5);
}
