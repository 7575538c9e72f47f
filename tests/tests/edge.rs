//! Hostile input at the HTTP edge: oversized bodies (`max_request_body_size`), oversized
//! header lines (`max_header_line`), path segments that are not UTF-8, and addresses with
//! leading zeros each get Neutron's error body and status, and leave nothing written.
//!
//! The body tests talk raw HTTP/1.1 over a socket and send the whole request before reading,
//! as Python's `http.client` (and so most SDKs) does.

use neutrino_tests::TestServer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw answer: status, headers (lower-case names) and body.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    fn neutron_error(&self, status: u16, kind: &str) -> &str {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["NeutronError"]["type"], kind, "{self:?}");
        assert_eq!(self.body["NeutronError"]["detail"], "", "{self:?}");
        self.body["NeutronError"]["message"].as_str().unwrap()
    }
}

fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

/// Write `head` and then all of `body` (in 64 KiB pieces), and only then read the answer.
async fn send_all_then_read(addr: &str, head: &str, body: &[u8]) -> std::io::Result<Raw> {
    let mut sock = TcpStream::connect(addr).await?;
    sock.write_all(head.as_bytes()).await?;
    for piece in body.chunks(64 << 10) {
        sock.write_all(piece).await?;
    }
    read_answer(&mut sock).await
}

/// Read one answer (skipping nothing: a `100 Continue` would be returned as it is).
async fn read_answer(sock: &mut TcpStream) -> std::io::Result<Raw> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed before an answer",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed in the middle of the body",
            ));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Raw {
        status,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

fn post_head(path: &str, length: usize, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: neutrino\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n{extra}\r\n"
    )
}

async fn network_count(server: &TestServer) -> usize {
    server
        .admin()
        .get("/v2.0/networks")
        .await
        .items("networks")
        .len()
}

#[tokio::test]
async fn a_body_past_the_limit_is_a_413_the_client_reads_after_sending_all_of_it() {
    let server = TestServer::start().await;
    let garbage = vec![b'x'; 5 << 20];

    // Every try, not most: the answer must not be lost to a reset while the client writes.
    for _ in 0..5 {
        let raw = send_all_then_read(
            &addr(&server),
            &post_head("/v2.0/networks", garbage.len(), ""),
            &garbage,
        )
        .await
        .expect("the client reads the answer after sending its whole body");

        let message = raw.neutron_error(413, "HTTPRequestEntityTooLarge");
        assert!(message.contains("114688"), "{message}");
    }
    assert_eq!(network_count(&server).await, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_chunked_body_past_the_limit_is_a_413_too() {
    let server = TestServer::start().await;
    let piece = vec![b'y'; 32 << 10];
    let mut body = Vec::new();
    for _ in 0..8 {
        body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        body.extend_from_slice(&piece);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /v2.0/networks HTTP/1.1\r\nHost: neutrino\r\n\
                Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

    let raw = send_all_then_read(&addr(&server), head, &body)
        .await
        .unwrap();

    raw.neutron_error(413, "HTTPRequestEntityTooLarge");
    assert_eq!(network_count(&server).await, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_asks_to_continue_gets_the_413_before_sending_its_body() {
    let server = TestServer::start().await;
    let mut sock = TcpStream::connect(addr(&server)).await.unwrap();
    sock.write_all(post_head("/v2.0/networks", 5 << 20, "Expect: 100-continue\r\n").as_bytes())
        .await
        .unwrap();

    // The first answer is the refusal, not `100 Continue`.
    let raw = read_answer(&mut sock).await.unwrap();

    raw.neutron_error(413, "HTTPRequestEntityTooLarge");
    assert_eq!(raw.header("connection"), Some("close"));
    server.stop().await;
}

#[tokio::test]
async fn max_request_body_size_is_the_operators_to_set() {
    let server = TestServer::with_config(|c| c.oslo_middleware.max_request_body_size = 400).await;
    let admin = server.admin();
    let small = json!({"network": {"name": "n"}});
    let padded = json!({"network": {"name": "n", "description": "d".repeat(500)}});

    let r = admin.post("/v2.0/networks", small).await;
    assert_eq!(r.status, 201, "{}", r.body);
    admin
        .post("/v2.0/networks", padded)
        .await
        .expect_error(413, "HTTPRequestEntityTooLarge");

    assert_eq!(network_count(&server).await, 1);
    server.stop().await;
}

#[tokio::test]
async fn the_default_limit_takes_a_bulk_of_four_hundred_ports() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let net = admin.network("bulk").await;
    let ports: Vec<Value> = (0..400)
        .map(|_| json!({"network_id": net["id"], "admin_state_up": true}))
        .collect();
    let body = json!({ "ports": ports });
    assert!(serde_json::to_vec(&body).unwrap().len() < 114_688);

    let r = admin.post("/v2.0/ports", body).await;

    assert_eq!(r.status, 201, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn a_header_line_past_max_header_line_is_a_400_with_neutrons_body() {
    let server = TestServer::start().await;
    let admin = server.admin();

    for size in [64 << 10, 256 << 10, 512 << 10, 1 << 20] {
        let value = "v".repeat(size);
        let r = admin
            .send(
                reqwest::Method::GET,
                "/v2.0/networks",
                None,
                &[("X-Hostile", &value)],
            )
            .await;
        let message = r.expect_error(400, "HTTPBadRequest");
        assert!(message.contains("x-hostile"), "{message}");
        assert!(message.contains("16384"), "{message}");
        assert!(message.len() < 200, "the value is not echoed: {message}");
    }
    // A line of exactly 16384 bytes is still accepted.
    let value = "v".repeat(16_384 - "x-fits: ".len());
    let r = admin
        .send(
            reqwest::Method::GET,
            "/v2.0/networks",
            None,
            &[("X-Fits", &value)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn an_overlong_request_line_is_a_400_with_neutrons_body() {
    let server = TestServer::start().await;
    let path = format!("/v2.0/networks?name={}", "n".repeat(20_000));

    let r = server.admin().get(&path).await;

    r.expect_error(400, "HTTPBadRequest");
    server.stop().await;
}

#[tokio::test]
async fn a_path_segment_that_is_not_utf8_gets_neutrons_error_body() {
    let server = TestServer::start().await;
    let admin = server.admin();

    for path in [
        // An overlong encoding of '.', twice.
        "/v2.0/networks/%C0%AE%C0%AE",
        // A lone continuation byte, and a truncated sequence.
        "/v2.0/ports/%80",
        "/v2.0/subnets/%E2%82",
    ] {
        let r = admin.get(path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        let message = r.expect_error(400, "HTTPBadRequest");
        assert!(message.contains("UTF-8"), "{path}: {message}");
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_subnet_cidr_with_leading_zeros_is_refused_and_nothing_is_written() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let net = admin.network("zeros").await;

    for cidr in ["010.081.000.000/24", "10.0.00.0/24", "010.0.0.0/8"] {
        let r = admin
            .post(
                "/v2.0/subnets",
                json!({"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}}),
            )
            .await;
        let message = r.expect_error(400, "InvalidInput");
        assert!(message.contains(cidr), "{message}");
    }
    let subnets = admin.get("/v2.0/subnets").await;
    assert!(subnets.items("subnets").is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_subnet_pool_prefix_with_leading_zeros_is_refused_and_nothing_is_written() {
    let server = TestServer::start().await;
    let admin = server.admin();

    let r = admin
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "p", "prefixes": ["010.0.0.0/8"],
                   "default_prefixlen": 24}}),
        )
        .await;

    let message = r.expect_error(400, "InvalidInput");
    assert!(message.contains("010.0.0.0/8"), "{message}");
    let pools = admin.get("/v2.0/subnetpools").await;
    assert!(pools.items("subnetpools").is_empty());
    server.stop().await;
}
