//! The journal of postcommit work (manifest `journal = true`) with the `journaled` test
//! driver, which posts every postcommit to a backend this test runs (`Backend`): a real HTTP
//! listener that can be down (connection refused), refuse a hook permanently (409), and
//! records what arrived, in arrival order.
//!
//! What is shown: API calls succeed while the backend is down, and once it is back every
//! change arrives once, in order per resource and network before subnet before port; the
//! same across a killed server process and with two servers on one PostgreSQL; a permanent
//! refusal fails the entry, visible through the API, and an operator retries or drops it; a
//! hot swap or rollback with pending entries delivers them on the version serving then;
//! a project's implicit default security group reaches the backend once, like an explicit one;
//! `periodic` is called every `periodic_interval` seconds (once for two servers on one
//! PostgreSQL), and drivers without the export
//! (0.1, and 0.2 built without it) load unchanged.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use neutrino_tests::{Backend as DbBackend, Client, TestDb, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

// ---- the backend -----------------------------------------------------------------------

#[derive(Default)]
struct Received {
    /// `/hooks` bodies, in arrival order.
    hooks: Vec<Value>,
    /// `/periodic` calls.
    periodic: usize,
    /// A hook answered 409.
    refuse: Option<String>,
}

/// A controller stand-in on a fixed loopback port that can go down and come back.
struct Backend {
    addr: SocketAddr,
    received: Arc<Mutex<Received>>,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl Backend {
    /// A backend that is down (nothing listens on its port yet).
    async fn down() -> Backend {
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        Backend {
            addr,
            received: Arc::default(),
            server: Mutex::new(None),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn received(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap()
    }

    fn hooks(&self) -> Vec<Value> {
        self.received().hooks.clone()
    }

    fn refuse(&self, hook: Option<&str>) {
        self.received().refuse = hook.map(String::from);
    }

    /// Start listening (idempotent).
    fn up(&self) {
        let mut server = self.server.lock().unwrap();
        if server.is_some() {
            return;
        }
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(256).unwrap();
        let received = self.received.clone();
        *server = Some(tokio::spawn(async move {
            // Connections live in this set: aborting the task closes them all.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                connections.spawn(serve(socket, received.clone()));
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    /// Stop listening and close every open connection: connections are refused.
    fn go_down(&self) {
        if let Some(task) = self.server.lock().unwrap().take() {
            task.abort();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.go_down();
    }
}

/// Serve HTTP/1.1 requests on one connection: `POST /hooks` and `POST /periodic`.
async fn serve(mut socket: tokio::net::TcpStream, received: Arc<Mutex<Received>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let length: usize = head
            .to_ascii_lowercase()
            .lines()
            .find_map(|l| l.strip_prefix("content-length:").map(str::to_string))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Value =
            serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or_default();
        buf.drain(..head_end + length);
        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
        let status = {
            let mut r = received.lock().unwrap();
            match path.as_str() {
                "/hooks" if r.refuse.as_deref() == body["hook"].as_str() => 409,
                "/hooks" => {
                    r.hooks.push(body);
                    200
                }
                "/periodic" => {
                    r.periodic += 1;
                    200
                }
                _ => 404,
            }
        };
        let answer = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}",
            if status == 200 { "OK" } else { "Error" }
        );
        if socket.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

// ---- helpers ---------------------------------------------------------------------------

/// Settings of the `journaled` driver posting to `backend`, with a short postcommit budget
/// (the claim of an entry whose server died lasts this budget plus 10 s).
fn settings(backend: &Backend, tag: &str) -> Value {
    json!({
        "grants": ["log", "config", "http"],
        "config": {"url": backend.url(), "tag": tag},
        "http": {"allow": [backend.url()]},
        "limits": {"postcommit_wall_ms": 3000},
    })
}

async fn load(c: &Client, backend: &Backend, tag: &str) {
    let r = c
        .load_driver("journaled", "journaled", settings(backend, tag))
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
    assert_eq!(r.body["mechanism_driver"]["journal"], true, "{}", r.body);
}

async fn journal(c: &Client) -> Value {
    let r = c.get("/v2.0/mechanism-drivers/journaled/journal").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["journal"].clone()
}

/// Wait until the journal has nothing pending and `delivered` entries delivered.
async fn wait_delivered(c: &Client, delivered: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let j = journal(c).await;
        if j["pending"] == 0 && j["delivered"].as_i64() == Some(delivered) {
            return j;
        }
        assert!(
            Instant::now() < deadline,
            "the journal did not drain: {}",
            json!({"pending": j["pending"], "failed": j["failed"], "delivered": j["delivered"], "entries": j["entries"].as_array().map(|e| e.iter().take(3).cloned().collect::<Vec<_>>())})
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Wait until no entry is claimed: every attempt that started before now has ended and
/// been recorded (attempts start with a claim), so later ones run on the version serving now.
async fn wait_unclaimed(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = journal(c).await;
        let claimed = j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| !e["claimed_by"].is_null());
        if !claimed {
            return;
        }
        assert!(Instant::now() < deadline, "an attempt never ended: {j}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Create `n` ports on `network` from 32 concurrent clients spread over `clients`; every
/// create must answer 201. Returns the port ids.
async fn create_ports(clients: &[Client], network: &str, n: usize) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..32 {
        let c = clients[i % clients.len()].clone();
        let next = next.clone();
        let network = network.to_string();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            while next.fetch_add(1, Ordering::SeqCst) < n {
                let r = c
                    .post(
                        "/v2.0/ports",
                        json!({"port": {"network_id": network, "name": format!("p{i}")}}),
                    )
                    .await;
                assert_eq!(r.status, 201, "{}", r.body);
                ids.push(r.body["port"]["id"].as_str().unwrap().to_string());
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    assert_eq!(ids.len(), n);
    ids
}

/// Where each (hook, id) first arrived at the backend; panics if one change (hook, id,
/// revision) arrived twice.
fn positions(hooks: &[Value]) -> BTreeMap<(String, String), usize> {
    let mut at = BTreeMap::new();
    let mut seen = BTreeMap::new();
    for (i, h) in hooks.iter().enumerate() {
        let key = (
            h["hook"].as_str().unwrap().to_string(),
            h["id"].as_str().unwrap().to_string(),
        );
        let change = (key.clone(), h["revision"].as_u64().unwrap());
        if let Some(first) = seen.insert(change.clone(), i) {
            panic!("{change:?} delivered twice (at {first} and {i})");
        }
        at.entry(key).or_insert(i);
    }
    at
}

/// The default security group a port got (its project's).
async fn ports_default_group(c: &Client, port: &str) -> String {
    let r = c.get(&format!("/v2.0/ports/{port}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["port"]["security_groups"][0]
        .as_str()
        .expect("a default group")
        .to_string()
}

/// The network was created first, then its subnet, then each port, each once.
fn assert_in_order(hooks: &[Value], network: &str, subnet: &str, ports: &[String]) {
    let at = positions(hooks);
    let net = at[&("create_network".into(), network.to_string())];
    let sub = at[&("create_subnet".into(), subnet.to_string())];
    assert!(net < sub, "subnet before its network");
    for p in ports {
        let port = at
            .get(&("create_port".into(), p.clone()))
            .unwrap_or_else(|| panic!("port {p} never delivered"));
        assert!(sub < *port, "port {p} before its subnet");
    }
}

// ---- a server in another process, to kill -------------------------------------------

/// A server run by this test binary in a child process (see `journal_child_server`).
struct ChildServer {
    child: Child,
    url: String,
}

impl ChildServer {
    fn start(db_url: &str) -> ChildServer {
        use std::io::BufRead;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "journal_child_server",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("NEUTRINO_JOURNAL_CHILD_DB", db_url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the child server");
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("LISTENING ") {
                        break url.to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    panic!("the child server exited before listening");
                }
            }
        };
        ChildServer { child, url }
    }

    /// SIGKILL: no shutdown, claims and in-flight work left as they are.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Not a test of its own: the server process `the_journal_survives_a_killed_server` starts
/// and kills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the_journal_survives_a_killed_server in a child process"]
async fn journal_child_server() {
    let Ok(url) = std::env::var("NEUTRINO_JOURNAL_CHILD_DB") else {
        return;
    };
    let server = TestServer::on_db(TestDb::existing(&url), |_| {}).await;
    println!("LISTENING {}", server.url);
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

// ---- tests -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backend_down_for_thirty_seconds_gets_all_100_ports_in_order_once_it_is_back() {
    let server = TestServer::start().await;
    let c = server.admin();
    let backend = Backend::down().await;
    let outage_started = Instant::now();
    load(&c, &backend, "v1").await;
    let net = c.network("journaled").await;
    let net_id = net["id"].as_str().unwrap().to_string();
    let subnet = c.subnet(&net_id, "10.9.0.0/24").await;
    let subnet_id = subnet["id"].as_str().unwrap().to_string();
    let ports = create_ports(std::slice::from_ref(&c), &net_id, 100).await;
    // Two updates of ten ports, while the backend is still down.
    for p in &ports[..10] {
        for name in ["first", "second"] {
            let r = c
                .put(&format!("/v2.0/ports/{p}"), json!({"port": {"name": name}}))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }
    let j = journal(&c).await;
    // The network, its subnet, the project's default security group (created with the first
    // port), 100 ports and 20 updates.
    assert_eq!(j["pending"], 123, "{}", j["pending"]);
    assert_eq!(j["delivered"], 0);
    assert!(j["oldest_pending_age"].as_f64().unwrap() >= 0.0);
    let first = &j["entries"][0];
    assert_eq!(first["operation"], "create_network_postcommit");
    assert_eq!(first["resource_id"], net_id.as_str());
    assert!(first["attempts"].as_i64().unwrap() >= 1, "{first}");
    assert!(
        first["last_error"].as_str().unwrap().contains("connection"),
        "{first}"
    );
    assert!(backend.hooks().is_empty());
    let outage = Duration::from_secs(30).saturating_sub(outage_started.elapsed());
    tokio::time::sleep(outage).await;
    backend.up();
    let j = wait_delivered(&c, 123).await;
    assert_eq!(j["failed"], 0);
    assert_eq!(j["entries"], json!([]));
    let hooks = backend.hooks();
    assert_in_order(&hooks, &net_id, &subnet_id, &ports);
    let at = positions(&hooks);
    for p in &ports[..10] {
        let create = at[&("create_port".into(), p.clone())];
        let updates: Vec<&Value> = hooks
            .iter()
            .filter(|h| h["hook"] == "update_port" && h["id"] == p.as_str())
            .collect();
        assert_eq!(updates.len(), 2, "two updates of {p}");
        assert!(updates[0]["revision"].as_u64() < updates[1]["revision"].as_u64());
        let first_update = hooks
            .iter()
            .position(|h| std::ptr::eq(h, updates[0]))
            .unwrap();
        assert!(create < first_update, "update of {p} before its create");
    }
    assert_eq!(hooks.len(), 123);
    let group = at[&(
        "create_security_group".into(),
        ports_default_group(&c, &ports[0]).await,
    )];
    assert!(
        group < at[&("create_port".into(), ports[0].clone())],
        "the default security group before the port that made it"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_journal_survives_a_killed_server() {
    let db = TestDb::new(DbBackend::from_env()).await;
    let backend = Backend::down().await;
    let first = ChildServer::start(&db.url);
    let c = Client::new(&first.url, None);
    load(&c, &backend, "v1").await;
    let net = c.network("journaled").await;
    let net_id = net["id"].as_str().unwrap().to_string();
    let subnet = c.subnet(&net_id, "10.9.0.0/24").await;
    let subnet_id = subnet["id"].as_str().unwrap().to_string();
    let mut ports = create_ports(std::slice::from_ref(&c), &net_id, 50).await;
    // The network, its subnet, the default security group and 50 ports.
    assert_eq!(journal(&c).await["pending"], 53);
    first.kill();

    let second = TestServer::on_db(TestDb::existing(&db.url), |_| {}).await;
    let c = second.admin();
    assert_eq!(
        journal(&c).await["pending"],
        53,
        "entries lost with the server"
    );
    ports.extend(create_ports(std::slice::from_ref(&c), &net_id, 50).await);
    backend.up();
    wait_delivered(&c, 103).await;
    let hooks = backend.hooks();
    assert_eq!(hooks.len(), 103);
    assert_in_order(&hooks, &net_id, &subnet_id, &ports);
    second.stop().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgresql_deliver_each_entry_once() {
    let backend = Backend::down().await;
    let first = TestServer::on_db(TestDb::new(DbBackend::Postgres).await, |_| {}).await;
    let a = first.admin();
    load(&a, &backend, "v1").await;
    // Started after the load: it serves the driver from the database.
    let second = TestServer::on_db(TestDb::existing(&first.db.url), |_| {}).await;
    let b = second.admin();
    let net = a.network("journaled").await;
    let net_id = net["id"].as_str().unwrap().to_string();
    let subnet = b.subnet(&net_id, "10.9.0.0/24").await;
    let subnet_id = subnet["id"].as_str().unwrap().to_string();
    let ports = create_ports(&[a.clone(), b.clone()], &net_id, 100).await;
    backend.up();
    // With the project's default security group.
    wait_delivered(&a, 103).await;
    let hooks = backend.hooks();
    assert_eq!(hooks.len(), 103);
    assert_in_order(&hooks, &net_id, &subnet_id, &ports);
    // More while both deliver (no outage): still once each.
    let more = create_ports(&[a.clone(), b.clone()], &net_id, 100).await;
    wait_delivered(&b, 203).await;
    let hooks = backend.hooks();
    assert_eq!(hooks.len(), 203);
    assert_in_order(&hooks, &net_id, &subnet_id, &more);
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_fails_the_entry_until_an_operator_retries_or_drops_it() {
    let server = TestServer::start().await;
    let c = server.admin();
    let backend = Backend::down().await;
    backend.up();
    load(&c, &backend, "v1").await;
    let net = c.network("journaled").await;
    let net_id = net["id"].as_str().unwrap().to_string();
    wait_delivered(&c, 1).await;

    backend.refuse(Some("create_port"));
    let p1 = c.port(&net_id, json!({})).await;
    let p1 = p1["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let failed = loop {
        let r = c
            .get("/v2.0/mechanism-drivers/journaled/journal?state=failed")
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body["journal"]["failed"] == 1 {
            break r.body["journal"]["entries"][0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the entry never failed: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["resource_type"], "port");
    assert_eq!(failed["resource_id"], p1.as_str());
    assert_eq!(failed["operation"], "create_port_postcommit");
    assert_eq!(failed["attempts"], 1, "a permanent refusal is not retried");
    assert!(
        failed["last_error"].as_str().unwrap().contains("409"),
        "{failed}"
    );
    assert_eq!(failed["context"]["current"]["id"], p1.as_str());
    let id = failed["id"].as_i64().unwrap();

    // Only admins see or touch the journal.
    let member = server.project("p-member");
    let r = member
        .get("/v2.0/mechanism-drivers/journaled/journal")
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = member
        .post(
            &format!("/v2.0/mechanism-drivers/journaled/journal/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Retry once the backend accepts it.
    backend.refuse(None);
    let r = c
        .post(
            &format!("/v2.0/mechanism-drivers/journaled/journal/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // The network, the default security group p1 created, p1.
    let j = wait_delivered(&c, 3).await;
    assert_eq!(j["failed"], 0);
    assert!(backend.hooks().iter().any(|h| h["id"] == p1.as_str()));

    // Drop one.
    backend.refuse(Some("create_port"));
    let p2 = c.port(&net_id, json!({})).await;
    let p2 = p2["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let j = journal(&c).await;
        if j["failed"] == 1 {
            break j["entries"][0]["id"].as_i64().unwrap();
        }
        assert!(Instant::now() < deadline, "the entry never failed: {j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let r = c
        .delete(&format!("/v2.0/mechanism-drivers/journaled/journal/{id}"))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let j = journal(&c).await;
    assert_eq!(
        (j["pending"].clone(), j["failed"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(j["delivered"], 3);
    assert!(!backend.hooks().iter().any(|h| h["id"] == p2.as_str()));

    // Neutron-format errors.
    let r = c
        .delete(&format!("/v2.0/mechanism-drivers/journaled/journal/{id}"))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), Some("JournalEntryNotFound"));
    let r = c
        .post(
            "/v2.0/mechanism-drivers/journaled/journal/abc/retry",
            json!({}),
        )
        .await;
    assert_eq!(r.error_type(), Some("JournalEntryNotFound"));
    let r = c.get("/v2.0/mechanism-drivers/nobody/journal").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), Some("MechanismDriverNotFound"));
    let r = c
        .get("/v2.0/mechanism-drivers/journaled/journal?state=delivered")
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error_type(), Some("HTTPBadRequest"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_pending_across_a_hot_swap_and_a_rollback_go_out_on_the_version_serving_then() {
    let server = TestServer::start().await;
    let c = server.admin();
    let backend = Backend::down().await;
    load(&c, &backend, "v1").await;
    let net = c.network("journaled").await;
    let net_id = net["id"].as_str().unwrap().to_string();
    c.subnet(&net_id, "10.9.0.0/24").await;
    let ports = create_ports(std::slice::from_ref(&c), &net_id, 20).await;
    // Hot swap to a version that tags its posts v2 (attempts already running end on v1,
    // and fail: the backend is down).
    load(&c, &backend, "v2").await;
    wait_unclaimed(&c).await;
    backend.up();
    // The network, its subnet, the default security group and 20 ports.
    wait_delivered(&c, 23).await;
    let hooks = backend.hooks();
    assert_eq!(hooks.len(), 23);
    assert!(hooks.iter().all(|h| h["tag"] == "v2"), "{hooks:?}");
    positions(&hooks);

    backend.go_down();
    let more = create_ports(std::slice::from_ref(&c), &net_id, 10).await;
    let r = c
        .put("/v2.0/mechanism-drivers/journaled/rollback", json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_unclaimed(&c).await;
    backend.up();
    wait_delivered(&c, 33).await;
    let hooks = backend.hooks();
    assert_eq!(hooks.len(), 33);
    positions(&hooks);
    for p in more.iter() {
        let h = hooks.iter().find(|h| h["id"] == p.as_str()).unwrap();
        assert_eq!(h["tag"], "v1", "{h}");
    }
    assert_eq!(ports.len(), 20);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_journal_postcommit_stays_synchronous() {
    // The `recorder` driver has no `journal` in its manifest: its postcommit ran before the
    // API answered, and the journal is empty.
    let server = TestServer::start().await;
    let c = server.admin();
    let r = c.upload_driver("recorder", "recorder").await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["mechanism_driver"]["journal"], false);
    let net = c.network("sync").await;
    let r = c.get("/v2.0/mechanism-drivers/recorder").await;
    let stats = &r.body["mechanism_driver"]["stats"];
    assert_eq!(
        stats["calls"], 2,
        "precommit and postcommit both ran before the answer: {stats}"
    );
    let r = c.get("/v2.0/mechanism-drivers/recorder/journal").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["journal"]["pending"], 0);
    assert_eq!(r.body["journal"]["delivered"], 0);
    assert!(net["id"].is_string());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_runs_every_interval_and_drivers_without_it_load_unchanged() {
    let server = TestServer::start().await;
    let c = server.admin();
    let backend = Backend::down().await;
    backend.up();
    load(&c, &backend, "v1").await;
    let r = c.get("/v2.0/mechanism-drivers/journaled").await;
    assert_eq!(r.body["mechanism_driver"]["periodic_interval"], 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    while backend.received().periodic < 3 {
        assert!(
            Instant::now() < deadline,
            "periodic was not called three times"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A 0.2 driver built without the export (its manifest asks for an interval all the
    // same) and a 0.1 driver load and serve; no periodic call is made to them.
    for name in ["plain-v02", "legacy-v01"] {
        let r = c.upload_driver(name, name).await;
        assert_eq!(r.status, 201, "{name}: {}", r.body);
        assert_eq!(r.body["mechanism_driver"]["periodic_interval"], Value::Null);
    }
    let net = c.network("after").await;
    let port = c.port(net["id"].as_str().unwrap(), json!({})).await;
    assert!(port["id"].is_string());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for name in ["plain-v02", "legacy-v01"] {
        let r = c.get(&format!("/v2.0/mechanism-drivers/{name}")).await;
        let by_version = &r.body["mechanism_driver"]["stats"];
        assert_eq!(by_version["errors"], 0, "{name}: {by_version}");
        assert_eq!(by_version["traps"], 0, "{name}: {by_version}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgresql_make_each_periodic_call_once() {
    // Every second, once for the deployment: two servers each calling it would make about
    // ten calls in five seconds.
    let backend = Backend::down().await;
    backend.up();
    let first = TestServer::on_db(TestDb::new(DbBackend::Postgres).await, |_| {}).await;
    load(&first.admin(), &backend, "v1").await;
    let second = TestServer::on_db(TestDb::existing(&first.db.url), |_| {}).await;
    let r = second
        .admin()
        .get("/v2.0/mechanism-drivers/journaled")
        .await;
    assert_eq!(
        r.body["mechanism_driver"]["periodic_interval"], 1,
        "{}",
        r.body
    );
    // Both servers serve the driver and had time to see it due.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = backend.received().periodic;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let calls = backend.received().periodic - before;
    // At most one call per interval (plus one at the window's edge); at least one (a loaded
    // machine may stretch the interval, never double it).
    assert!(
        (1..=6).contains(&calls),
        "{calls} periodic calls in 5 s with a 1 s interval on two servers"
    );
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_left_out_of_the_manifest_are_never_called_nor_journaled() {
    // The `journaled` driver's manifest lists (`hooks`) only the postcommits it implements.
    let server = TestServer::start().await;
    let c = server.admin();
    let backend = Backend::down().await;
    backend.up();

    // Synchronous build: every call it gets is a listed postcommit, which posts one hook;
    // no precommit is called (without `hooks`, each change would cost a second call).
    let wasm = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        neutrino_tests::drivers::guests().wasm("journaled-sync"),
    );
    let r = c
        .put(
            "/v2.0/mechanism-drivers/journaled",
            json!({"mechanism_driver": {"wasm": wasm, "settings": settings(&backend, "sync")}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["mechanism_driver"]["journal"], false);
    let hooks = r.body["mechanism_driver"]["hooks"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(hooks.len(), 10, "{hooks:?}");
    assert!(hooks.contains(&json!("create_port_postcommit")));
    let net = c.network("listed").await;
    let net_id = net["id"].as_str().unwrap().to_string();
    let subnet = c.subnet(&net_id, "10.7.0.0/24").await;
    for _ in 0..3 {
        c.port(&net_id, json!({})).await;
    }
    let r = c
        .put(
            &format!("/v2.0/subnets/{}", subnet["id"].as_str().unwrap()),
            json!({"subnet": {"name": "renamed"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let received = backend.hooks();
    assert!(
        received.iter().all(|h| h["hook"] != "update_subnet"),
        "update_subnet_postcommit is not listed"
    );
    let r = c.get("/v2.0/mechanism-drivers/journaled").await;
    let stats = &r.body["mechanism_driver"]["stats"];
    assert_eq!(
        stats["calls"].as_u64(),
        Some(received.len() as u64),
        "one call per hook received, none for precommits: {stats}"
    );
    assert!(
        received.len() >= 5,
        "network, subnet, three ports: {received:?}"
    );

    // Journaled build: a change whose postcommit is not listed records no entry.
    load(&c, &backend, "v1").await;
    let before = wait_delivered(&c, 0).await;
    assert_eq!(before["pending"], 0);
    let r = c
        .put(
            &format!("/v2.0/subnets/{}", subnet["id"].as_str().unwrap()),
            json!({"subnet": {"name": "again"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = journal(&c).await;
    assert_eq!(j["pending"], 0, "{j}");
    assert_eq!(j["delivered"], 0, "{j}");
    let port = c.port(&net_id, json!({})).await;
    let j = wait_delivered(&c, 1).await;
    assert_eq!(j["delivered"], 1, "only the port's create: {j}");
    assert!(port["id"].is_string());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_group_reaches_the_backend_before_its_rules() {
    let server = TestServer::start().await;
    let c = server.admin();
    let backend = Backend::down().await;
    load(&c, &backend, "v1").await;
    let r = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "web"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sg = r.body["security_group"]["id"].as_str().unwrap().to_string();
    let mut rules = Vec::new();
    for port in [22, 80, 443] {
        let r = c
            .post(
                "/v2.0/security-group-rules",
                json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress",
                    "protocol": "tcp", "port_range_min": port, "port_range_max": port}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        rules.push(
            r.body["security_group_rule"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let pending = journal(&c).await["pending"].as_i64().unwrap();
    assert!(
        pending >= 4,
        "the group and its three rules wait: {pending}"
    );
    backend.up();
    wait_delivered(&c, pending).await;
    let hooks = backend.hooks();
    let at = positions(&hooks);
    let group = at[&("create_security_group".into(), sg.clone())];
    for rule in &rules {
        let r = at[&("create_security_group_rule".into(), rule.clone())];
        assert!(group < r, "rule {rule} before its group");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_projects_implicit_default_security_group_reaches_the_backend_once() {
    let server = TestServer::start().await;
    let c = server.admin();
    let backend = Backend::down().await;
    backend.up();
    load(&c, &backend, "v1").await;

    // 32 clients of a new project list their groups at once: one default group is made, and
    // the drivers hear of it once.
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let client = server.project("project-a");
            tokio::spawn(async move {
                let r = client.get("/v2.0/security-groups").await;
                assert_eq!(r.status, 200, "{}", r.body);
                r.body["security_groups"][0]["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "one default group: {ids:?}");
    let default_a = ids.into_iter().next().unwrap();
    wait_delivered(&c, 1).await;
    let hooks = backend.hooks();
    assert_eq!(hooks[0]["hook"], "create_security_group");
    assert_eq!(hooks[0]["id"], default_a.as_str());

    // A port of another project makes that project's default group, delivered before it.
    let net = c.network("shared").await;
    let net_id = net["id"].as_str().unwrap().to_string();
    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net_id, "project_id": "project-b"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let port = r.body["port"]["id"].as_str().unwrap().to_string();
    let default_b = ports_default_group(&c, &port).await;
    assert_ne!(default_b, default_a);
    // The network, project-b's group, the port.
    wait_delivered(&c, 4).await;
    let at = positions(&backend.hooks());
    assert!(
        at[&("create_security_group".into(), default_b.clone())]
            < at[&("create_port".into(), port.clone())]
    );
    // Listing again makes nothing new.
    let r = server
        .project("project-b")
        .get("/v2.0/security-groups")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(journal(&c).await["pending"], 0);
    assert_eq!(backend.hooks().len(), 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_a_removed_driver_wait_for_it_and_stay_visible() {
    let server = TestServer::start().await;
    let c = server.admin();
    let backend = Backend::down().await;
    load(&c, &backend, "v1").await;
    let net = c.network("kept").await;
    let r = c.delete("/v2.0/mechanism-drivers/journaled").await;
    assert_eq!(r.status, 204, "{}", r.body);
    // An attempt that started before the removal finishes on the removed version (and
    // fails: the backend is down); let it end before the backend comes back.
    wait_unclaimed(&c).await;
    backend.up();
    // Removed: nothing is delivered, the entry stays visible.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        backend.hooks().is_empty(),
        "{:?} {}",
        backend.hooks(),
        c.get("/v2.0/mechanism-drivers").await.body
    );
    let j = journal(&c).await;
    assert_eq!(j["pending"], 1);
    assert_eq!(j["entries"][0]["resource_id"], net["id"]);
    // Loaded again, it gets the change it missed.
    load(&c, &backend, "v1").await;
    wait_delivered(&c, 1).await;
    assert_eq!(backend.hooks()[0]["id"], net["id"]);
    server.stop().await;
}
