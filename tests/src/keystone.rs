//! A real Keystone for the tests: `tools/keystone/keystone.py` started once per test binary
//! on a free loopback port (SQLite database in a temporary directory, tokens living
//! [`TOKEN_LIFE`] seconds), stopped when the test process ends. It needs the Keystone
//! virtualenv the Tempest runner installs (`NEUTRINO_KEYSTONE_VENV`, default
//! `.tempest/keystone-venv`); without it the tests say SKIPPED, unless
//! `NEUTRINO_TEST_REQUIRE_KEYSTONE` is set (CI), when they fail.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// Seconds a token of the test Keystone lives.
pub const TOKEN_LIFE: u64 = 40;

/// The running test Keystone.
pub struct Keystone {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    admin: Mutex<Option<(String, std::time::Instant)>>,
    _child: Mutex<Child>,
    _dir: tempfile::TempDir,
}

static KEYSTONE: OnceCell<Option<Keystone>> = OnceCell::const_new();

fn venv() -> PathBuf {
    match std::env::var("NEUTRINO_KEYSTONE_VENV") {
        Ok(v) => PathBuf::from(v),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tempest/keystone-venv"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The test Keystone, started on first use; `None` (after printing SKIPPED) when its
/// virtualenv is missing outside CI.
pub async fn keystone() -> Option<&'static Keystone> {
    KEYSTONE
        .get_or_init(|| async {
            if crate::Backend::from_env() == crate::Backend::Postgres {
                // Keystone does not care which database Neutrino uses: once is enough.
                eprintln!("SKIPPED: the Keystone tests run with the SQLite suite");
                return None;
            }
            let venv = venv();
            if !venv.join("bin/keystone-manage").exists() {
                if std::env::var_os("NEUTRINO_TEST_REQUIRE_KEYSTONE").is_some() {
                    panic!(
                        "NEUTRINO_TEST_REQUIRE_KEYSTONE is set but there is no Keystone in {}",
                        venv.display()
                    );
                }
                eprintln!(
                    "SKIPPED: no Keystone virtualenv at {} (run tools/tempest/run --install-only)",
                    venv.display()
                );
                return None;
            }
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let script =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/keystone/keystone.py");
            let mut child = Command::new("python3")
                .arg(script)
                .arg("--venv")
                .arg(&venv)
                .arg("--state")
                .arg(dir.path())
                .arg("--port")
                .arg(port.to_string())
                .arg("--expiration")
                .arg(TOKEN_LIFE.to_string())
                .arg("--parent-pid")
                .arg(std::process::id().to_string())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start keystone.py");
            let stdout = child.stdout.take().expect("stdout");
            let url = tokio::task::spawn_blocking(move || {
                for line in BufReader::new(stdout).lines() {
                    let line = line.ok()?;
                    if let Some(url) = line.strip_prefix("KEYSTONE_READY ") {
                        return Some(url.to_string());
                    }
                }
                None
            })
            .await
            .expect("reader")
            .unwrap_or_else(|| {
                panic!(
                    "Keystone did not start; see {}/setup.log",
                    dir.path().display()
                )
            });
            Some(Keystone {
                url,
                admin: Mutex::new(None),
                _child: Mutex::new(child),
                _dir: dir,
            })
        })
        .await
        .as_ref()
}

impl Keystone {
    /// A token for `user` (password = user name) scoped to `project`.
    pub async fn token(&self, user: &str, project: &str) -> String {
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": user}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
        let r = reqwest::Client::new()
            .post(format!("{}/v3/auth/tokens", self.url))
            .json(&body)
            .send()
            .await
            .expect("keystone answers");
        assert!(r.status().is_success(), "token for {user}: {}", r.status());
        r.headers()["x-subject-token"]
            .to_str()
            .expect("token")
            .to_string()
    }

    /// An admin token (`admin` in project `admin`), reused while it has half its life left.
    pub async fn admin_token(&self) -> String {
        {
            let cached = self.admin.lock().expect("lock");
            if let Some((t, at)) = cached.as_ref()
                && at.elapsed() < std::time::Duration::from_secs(TOKEN_LIFE / 2)
            {
                return t.clone();
            }
        }
        let t = self.fresh_admin_token().await;
        *self.admin.lock().expect("lock") = Some((t.clone(), std::time::Instant::now()));
        t
    }

    async fn fresh_admin_token(&self) -> String {
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": "admin"}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
        let r = reqwest::Client::new()
            .post(format!("{}/v3/auth/tokens", self.url))
            .json(&body)
            .send()
            .await
            .expect("keystone answers");
        r.headers()["x-subject-token"]
            .to_str()
            .expect("token")
            .to_string()
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let admin = self.admin_token().await;
        let mut req = reqwest::Client::new()
            .request(method, format!("{}/v3/{path}", self.url))
            .header("X-Auth-Token", admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("keystone answers");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    async fn id_of(&self, collection: &str, name: &str) -> Option<String> {
        let found = self
            .call(
                reqwest::Method::GET,
                &format!("{collection}?name={name}"),
                None,
            )
            .await;
        found[collection][0]["id"].as_str().map(String::from)
    }

    /// A project with a user of the same name holding `role` in it (names made unique by
    /// the caller); returns the project id.
    pub async fn project_user(&self, name: &str, role: &str) -> String {
        let project = match self.id_of("projects", name).await {
            Some(p) => p,
            None => self
                .call(
                    reqwest::Method::POST,
                    "projects",
                    Some(json!({"project": {"name": name, "domain_id": "default"}})),
                )
                .await["project"]["id"]
                .as_str()
                .expect("id")
                .to_string(),
        };
        let user = match self.id_of("users", name).await {
            Some(u) => u,
            None => self
                .call(
                    reqwest::Method::POST,
                    "users",
                    Some(json!({"user": {"name": name, "domain_id": "default", "password": name}})),
                )
                .await["user"]["id"]
                .as_str()
                .expect("id")
                .to_string(),
        };
        let role_id = self.id_of("roles", role).await.expect("role exists");
        self.call(
            reqwest::Method::PUT,
            &format!("projects/{project}/users/{user}/roles/{role_id}"),
            None,
        )
        .await;
        project
    }

    /// Revoke a token.
    pub async fn revoke(&self, token: &str) {
        let admin = self.admin_token().await;
        let r = reqwest::Client::new()
            .delete(format!("{}/v3/auth/tokens", self.url))
            .header("X-Auth-Token", admin)
            .header("X-Subject-Token", token)
            .send()
            .await
            .expect("keystone answers");
        assert!(r.status().is_success(), "revoke: {}", r.status());
    }
}

/// Point a server configuration at Keystone (`url`: Keystone, or a proxy in front of it).
pub fn configure(config: &mut neutrino_server::Config, url: &str) {
    config.auth = "keystone".into();
    let k = &mut config.keystone_authtoken;
    k.auth_url = url.to_string();
    k.username = "neutron".into();
    k.password = "neutron".into();
    k.project_name = "service".into();
}
