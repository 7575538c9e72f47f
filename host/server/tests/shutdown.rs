//! Stopping cleanly under load: after SIGTERM every request a client had sent gets its whole
//! answer, later clients are refused (or answered), nobody's request is reset half-way, and
//! exactly the acknowledged ports exist afterwards. Also: an oversized header is never
//! logged whole.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Http, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What happened to one request.
#[derive(Debug)]
struct Outcome {
    /// When its last byte was written (since the round started).
    sent: Duration,
    /// Its status and whether the server said it closes the connection, or the error.
    answer: Result<(u16, bool), String>,
}

/// Read one answer; `Err` if the connection ends or is reset before all of it arrived.
async fn read_answer(sock: &mut TcpStream) -> Result<(u16, bool), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut chunk).await {
            Ok(0) => return Err("closed before an answer".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("{:?}", e.kind())),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or("no content-length")?;
    let close = head.lines().any(|l| l.trim() == "connection: close");
    while buf.len() - head_end < length {
        match sock.read(&mut chunk).await {
            Ok(0) => return Err("closed in the middle of the body".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("{:?} in the middle of the body", e.kind())),
        }
    }
    Ok((status, close))
}

/// One client: creates ports until told to stop or the server stops answering. With
/// `keep_alive`, it reuses its connection as long as the server lets it; without, it opens a
/// new one for every request (as many scripts do).
async fn creator(
    addr: String,
    net_id: String,
    keep_alive: bool,
    started: Instant,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
) -> Vec<Outcome> {
    let body = json!({"port": {"network_id": net_id}}).to_string();
    let request = format!(
        "POST /v2.0/ports HTTP/1.1\r\nHost: neutrino\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{}\r\n{body}",
        body.len(),
        if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        }
    );
    let mut outcomes = Vec::new();
    let mut conn: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut sock = match conn.take() {
            Some(s) => s,
            // Refused: the server has stopped listening.
            None => match TcpStream::connect(&addr).await {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        if sock.write_all(request.as_bytes()).await.is_err() {
            // Not sent: nothing to ask of the server.
            break;
        }
        let sent = started.elapsed();
        let answer = read_answer(&mut sock).await;
        let go_on = matches!(answer, Ok((_, false))) && keep_alive;
        let failed = answer.is_err();
        if !failed {
            answered.fetch_add(1, Ordering::Relaxed);
        }
        outcomes.push(Outcome { sent, answer });
        if failed {
            break;
        }
        if go_on {
            conn = Some(sock);
        }
    }
    outcomes
}

fn unlimited_ports(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("neutrino.toml");
    std::fs::write(&file, "[quotas]\nquota_port = -1\n").unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_sigterm_every_request_sent_gets_its_whole_answer() {
    // Two rounds, each a fresh server under 32 creators (half keeping their connection,
    // half connecting for every request).
    for round in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite:{}", dir.path().join("neutrino.sqlite").display());
        let config = unlimited_ports(dir.path());
        let env = [("NEUTRINO_DATABASE_URL", db.as_str())];
        let args = ["--config", config.to_str().unwrap()];
        let mut server = Server::start_with_args(dir.path(), &env, &args);
        let http = Http::new(&server.url);
        let (_, net) = http
            .post("/v2.0/networks", json!({"network": {"name": "busy"}}))
            .await;
        let net_id = net["network"]["id"].as_str().unwrap().to_string();
        let (s, _) = http
            .post(
                "/v2.0/subnets",
                json!({"subnet": {"network_id": net_id, "cidr": "10.0.0.0/12", "ip_version": 4}}),
            )
            .await;
        assert_eq!(s, 201);

        let addr = server.url.trim_start_matches("http://").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let clients: Vec<_> = (0..32)
            .map(|i| {
                tokio::spawn(creator(
                    addr.clone(),
                    net_id.clone(),
                    i % 2 == 0,
                    started,
                    stop.clone(),
                    answered.clone(),
                ))
            })
            .collect();
        // Under way: every client has been answered a few times.
        let deadline = Instant::now() + Duration::from_secs(120);
        while answered.load(Ordering::Relaxed) < 128 * (round + 1) {
            assert!(Instant::now() < deadline, "round {round}: no load");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The server stalls (as a busy runtime or a long commit makes it), requests pile up
        // in its sockets and its accept queue, and SIGTERM arrives during the stall.
        server.signal("STOP");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let signalled = started.elapsed();
        server.terminate();
        tokio::time::sleep(Duration::from_millis(20)).await;
        server.signal("CONT");
        let (exit, server) = tokio::task::spawn_blocking(move || {
            let exit = server.wait(Duration::from_secs(90));
            (exit, server)
        })
        .await
        .unwrap();
        stop.store(true, Ordering::Relaxed);
        assert!(exit.success(), "graceful exit: {exit}\n{}", server.log());

        let mut outcomes = Vec::new();
        for c in clients {
            outcomes.extend(c.await.unwrap());
        }
        let before: Vec<&Outcome> = outcomes.iter().filter(|o| o.sent < signalled).collect();
        assert!(before.len() > 32, "round {round}: load before the signal");
        for o in &before {
            match &o.answer {
                Ok((status, _)) => {
                    assert!(*status == 201 || *status == 503, "round {round}: {o:?}")
                }
                Err(e) => panic!(
                    "round {round}: a request sent {:?} before SIGTERM got no whole answer: {e}\n{}",
                    signalled - o.sent,
                    server.log()
                ),
            }
        }
        // A request written after the signal may find its connection closed (the server
        // lets no connection carry another request once stopping); that is no loss, since
        // nothing of it was handled, as the count below shows.
        let created = outcomes
            .iter()
            .filter(|o| matches!(o.answer, Ok((201, _))))
            .count();
        drop(server);

        // Exactly the acknowledged ports exist.
        let server = Server::start_with_args(dir.path(), &env, &args);
        let http = Http::new(&server.url);
        let (_, ports) = http.get("/v2.0/ports").await;
        assert_eq!(
            ports["ports"].as_array().unwrap().len(),
            created,
            "round {round}: ports written = ports acknowledged"
        );
        server.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_header_is_refused_and_never_logged_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("neutrino.sqlite").display());
    let server = Server::start(dir.path(), &[("NEUTRINO_DATABASE_URL", &db)]);
    let marker = "hostile".repeat(10_000);

    let r = reqwest::Client::new()
        .get(format!("{}/v2.0/networks", server.url))
        .header("X-Hostile", &marker)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    assert_eq!(status, 400);
    assert_eq!(body["NeutronError"]["type"], "HTTPBadRequest");
    let log = server.log();
    assert!(log.contains("max_header_line"), "{log}");
    assert!(!log.contains("hostilehostile"), "the value was logged");
    server.stop();
}
