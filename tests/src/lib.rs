//! The harness of the workspace-level integration tests: a real server on a loopback port,
//! backed by a fresh SQLite file or a fresh PostgreSQL database, and a small HTTP client.
//!
//! `NEUTRINO_TEST_BACKEND=postgres` runs every test on PostgreSQL (database server from
//! `NEUTRINO_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/test`); each server
//! gets its own database, dropped when the server is.

pub mod bench;
pub mod drivers;
pub mod fakes;
pub mod keystone;

pub mod rabbit;
pub mod vendors;
use std::time::Duration;

use neutrino_server::{Config, Running};
use serde_json::Value;

/// Which database the tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend selected by `NEUTRINO_TEST_BACKEND`.
    pub fn from_env() -> Backend {
        match std::env::var("NEUTRINO_TEST_BACKEND").as_deref() {
            Ok("postgres") | Ok("postgresql") | Ok("pg") => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }
}

/// The PostgreSQL server used for tests.
pub fn pg_admin_url() -> String {
    std::env::var("NEUTRINO_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database that exists for the duration of a test.
pub struct TestDb {
    /// URL the server should use.
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh database on `backend`.
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite:{}", dir.path().join("neutrino.sqlite").display());
                TestDb {
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!("neutrino_test_{}", uuid::Uuid::new_v4().simple());
                let admin = pg_admin_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .expect("connect to the PostgreSQL test server");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_string())
                    .unwrap_or(admin);
                TestDb {
                    url: format!("{base}/{name}"),
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

impl TestDb {
    /// A handle on a database another [`TestDb`] owns (it is dropped by its owner).
    pub fn existing(url: &str) -> TestDb {
        TestDb {
            url: url.to_string(),
            pg_name: None,
            _dir: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop the database from a thread with its own runtime: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg_admin_url())
                    .await
                    .ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
    }
}

/// A server running in this process on a loopback port.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    running: Option<Running>,
    /// The database (kept alive as long as the server).
    pub db: TestDb,
}

impl TestServer {
    /// A server with the default configuration on the backend chosen by the environment.
    pub async fn start() -> TestServer {
        Self::with_config(|_| {}).await
    }

    /// A server whose configuration `tweak` may change first.
    pub async fn with_config(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let db = TestDb::new(Backend::from_env()).await;
        Self::on_db(db, tweak).await
    }

    /// A server on an existing database (e.g. to test a restart).
    pub async fn on_db(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config {
            bind: "127.0.0.1:0".into(),
            database_url: db.url.clone(),
            ..Config::default()
        };
        // Compiled drivers are cached once for the whole test run (a debug build of
        // Cranelift takes seconds per driver).
        config.drivers.cache_dir = Some(drivers::cache_dir().display().to_string());
        tweak(&mut config);
        let settings = config.settings().expect("test configuration is valid");
        let running = neutrino_server::start(settings, false)
            .await
            .expect("server starts");
        TestServer {
            url: format!("http://{}", running.addr),
            running: Some(running),
            db,
        }
    }

    /// The server's Keystone client (with `auth = "keystone"`).
    pub fn keystone(&self) -> Option<&std::sync::Arc<neutrino_server::KeystoneClient>> {
        self.running.as_ref().expect("running").keystone.as_ref()
    }

    /// The server's message bus (in-process unless `transport_url` names a broker).
    pub fn bus(&self) -> &neutrino_bus::Bus {
        &self.running.as_ref().expect("running").bus
    }

    /// The core plugin behind the server.
    pub fn plugin(&self) -> &neutrino_ml2::Plugin {
        &self.running.as_ref().expect("running").plugin
    }

    /// An admin client (noauth, no identity headers: the default admin project).
    pub fn admin(&self) -> Client {
        Client::new(&self.url, None)
    }

    /// A client acting for `project` with the `member` role.
    pub fn project(&self, project: &str) -> Client {
        Client::new(&self.url, Some((project.to_string(), "member".to_string())))
    }

    /// Stop the server gracefully and give back its database.
    pub async fn stop(mut self) -> TestDb {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("clean shutdown");
        }
        let TestServer { db, .. } = self;
        db
    }
}

/// A response: status, headers and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Parsed body.
    pub body: Value,
}

impl Resp {
    /// `body[key]`.
    pub fn get(&self, key: &str) -> &Value {
        &self.body[key]
    }

    /// The NeutronError type, if the body is an error.
    pub fn error_type(&self) -> Option<&str> {
        self.body["NeutronError"]["type"].as_str()
    }

    /// The NeutronError message, if the body is an error.
    pub fn error_message(&self) -> &str {
        self.body["NeutronError"]["message"].as_str().unwrap_or("")
    }
}

/// A JSON client for one identity.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    identity: Option<(String, String)>,
}

impl Client {
    /// A client for `base` with an optional (project, roles) identity.
    pub fn new(base: &str, identity: Option<(String, String)>) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(64)
                .build()
                .expect("http client"),
            identity,
        }
    }

    /// A client that authenticates with a Keystone token.
    pub fn with_token(base: &str, token: &str) -> Client {
        Client {
            identity: Some((String::new(), token.to_string())),
            ..Client::new(base, None)
        }
    }

    /// Same client with an admin role in `project`.
    pub fn admin_of(&self, project: &str) -> Client {
        Client {
            identity: Some((project.to_string(), "admin".to_string())),
            ..self.clone()
        }
    }

    /// Same client acting in `project` with `roles` (comma-separated, as `X-Roles`).
    pub fn with_roles(&self, project: &str, roles: &str) -> Client {
        Client {
            identity: Some((project.to_string(), roles.to_string())),
            ..self.clone()
        }
    }

    /// Send a request with an optional JSON body and extra headers.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        match &self.identity {
            Some((project, token)) if project.is_empty() => req = req.header("X-Auth-Token", token),
            Some((project, roles)) => {
                req = req.header("X-Project-Id", project).header("X-Roles", roles)
            }
            None => {}
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Send raw bytes (e.g. malformed JSON).
    pub async fn send_raw(&self, method: reqwest::Method, path: &str, body: &[u8]) -> Resp {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .body(body.to_vec());
        if let Some((project, roles)) = &self.identity {
            req = req.header("X-Project-Id", project).header("X-Roles", roles);
        }
        let resp = req
            .header("Content-Type", "application/json")
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None, &[]).await
    }
    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::POST, path, Some(&body), &[])
            .await
    }
    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PUT, path, Some(&body), &[])
            .await
    }
    /// DELETE.
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, None, &[]).await
    }

    /// Create a network named `name` and return its JSON (panics unless 201).
    pub async fn network(&self, name: &str) -> Value {
        let r = self
            .post(
                "/v2.0/networks",
                serde_json::json!({"network": {"name": name}}),
            )
            .await;
        assert_eq!(r.status, 201, "create network: {:?}", r.body);
        r.body["network"].clone()
    }

    /// Create a subnet with `cidr` on `network_id` (panics unless 201).
    pub async fn subnet(&self, network_id: &str, cidr: &str) -> Value {
        let v = if cidr.contains(':') { 6 } else { 4 };
        let r = self
            .post("/v2.0/subnets", serde_json::json!({"subnet": {"network_id": network_id, "cidr": cidr, "ip_version": v}}))
            .await;
        assert_eq!(r.status, 201, "create subnet: {:?}", r.body);
        r.body["subnet"].clone()
    }

    /// Create a port on `network_id` with extra attributes (panics unless 201).
    pub async fn port(&self, network_id: &str, extra: Value) -> Value {
        let mut body = serde_json::json!({"network_id": network_id});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        let r = self
            .post("/v2.0/ports", serde_json::json!({ "port": body }))
            .await;
        assert_eq!(r.status, 201, "create port: {:?}", r.body);
        r.body["port"].clone()
    }
}

/// The string at `v[key]` (panics when absent).
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

impl Resp {
    /// The ids of the items of `collection` in a list response, in order.
    pub fn ids(&self, collection: &str) -> Vec<String> {
        self.body[collection]
            .as_array()
            .unwrap_or_else(|| panic!("{collection} missing in {}", self.body))
            .iter()
            .map(|i| i["id"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The items of `collection` in a list response.
    pub fn items(&self, collection: &str) -> &Vec<Value> {
        self.body[collection]
            .as_array()
            .unwrap_or_else(|| panic!("{collection} missing in {}", self.body))
    }

    /// Assert a Neutron error of `status` and `kind`; returns its message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, kind: &str) -> &str {
        assert_eq!(
            (self.status, self.error_type()),
            (status, Some(kind)),
            "expected {status} {kind}, got {} {}",
            self.status,
            self.body
        );
        self.error_message()
    }
}

impl Client {
    /// PUT with a JSON body and extra headers.
    pub async fn put_with(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Resp {
        self.send(reqwest::Method::PUT, path, Some(&body), headers)
            .await
    }

    /// DELETE with extra headers.
    pub async fn delete_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(reqwest::Method::DELETE, path, None, headers)
            .await
    }

    /// Create a subnet from a full attribute object (panics unless 201).
    pub async fn subnet_with(&self, body: Value) -> Value {
        let r = self
            .post("/v2.0/subnets", serde_json::json!({ "subnet": body }))
            .await;
        assert_eq!(r.status, 201, "create subnet: {:?}", r.body);
        r.body["subnet"].clone()
    }

    /// A network with one IPv4 subnet of `cidr`: (network, subnet).
    pub async fn network_with_subnet(&self, name: &str, cidr: &str) -> (Value, Value) {
        let net = self.network(name).await;
        let subnet = self.subnet(s(&net, "id"), cidr).await;
        (net, subnet)
    }

    /// GET that must answer 200; returns the body.
    pub async fn get_ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.body
    }
}

/// The addresses of a port's `fixed_ips`, in order.
pub fn ips(port: &Value) -> Vec<String> {
    port["fixed_ips"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["ip_address"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}
