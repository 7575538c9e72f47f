//! Running the real `neutrino-server` binary: a child process in its own temporary working
//! directory, its log lines captured, killed and reaped when the guard is dropped (also when
//! a test fails), and throwaway PostgreSQL databases dropped the same way.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The server binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_neutrino-server")
}

/// A command for the server binary with a clean environment (only what we pass), run in
/// `dir`, logging without colours.
pub fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("NEUTRINO_LOG", "info,sqlx=warn")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Run the binary to completion (for start-up failures); returns (status, stdout+stderr).
pub fn run_to_exit(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (ExitStatus, String) {
    let mut cmd = command(dir, env);
    cmd.args(args);
    let mut child = ChildGuard(Some(cmd.spawn().expect("spawn neutrino-server")));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = child.0.as_mut().unwrap();
        if let Some(status) = c.try_wait().expect("wait") {
            let c = child.0.take().unwrap();
            let out = c.wait_with_output().expect("output");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (status, text);
        }
        assert!(
            Instant::now() < deadline,
            "neutrino-server did not exit with a bad configuration"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills and reaps a child on drop.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A running server process.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Every log line so far (stdout and stderr).
    pub lines: Arc<Mutex<Vec<String>>>,
    /// The working directory (kept alive by the caller's `TempDir`).
    pub dir: PathBuf,
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Server {
    /// Start the server in `dir` with `env` (NEUTRINO_BIND defaults to a free loopback port)
    /// and wait until it listens.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_with_args(dir, env, &[])
    }

    /// Like [`Server::start`], with command-line arguments.
    pub fn start_with_args(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut env: Vec<(&str, &str)> = env.to_vec();
        if !env.iter().any(|(k, _)| *k == "NEUTRINO_BIND") {
            env.push(("NEUTRINO_BIND", "127.0.0.1:0"));
        }
        let mut child = command(dir, &env)
            .args(args)
            .spawn()
            .expect("spawn neutrino-server");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let line = strip_ansi(&line);
                    lines.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        let mut server = Server {
            child: Some(child),
            url: String::new(),
            lines,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) if line.contains("listening") => {
                    let addr = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("addr="))
                        .unwrap_or_else(|| panic!("no addr= in {line}"));
                    server.url = format!("http://{addr}");
                    return server;
                }
                Ok(_) => {}
                Err(_) => {
                    if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                        panic!(
                            "neutrino-server exited ({status}) before listening:\n{}",
                            server.log()
                        );
                    }
                    assert!(
                        Instant::now() < deadline,
                        "neutrino-server did not start:\n{}",
                        server.log()
                    );
                }
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// All log lines so far, joined.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Send SIGTERM.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Send a signal by name (`TERM`, `INT`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Wait for the process to exit (panics after `timeout`).
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.as_mut().expect("running").try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "neutrino-server did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM and wait; asserts a clean exit.
    pub fn stop(self) {
        self.stop_with("TERM");
    }

    /// Send `signal` and wait; asserts a clean exit.
    pub fn stop_with(mut self, signal: &str) {
        self.signal(signal);
        let status = self.wait(Duration::from_secs(60));
        assert!(status.success(), "exit status {status}:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The PostgreSQL server used for tests.
pub fn pg_admin_url() -> String {
    std::env::var("NEUTRINO_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh PostgreSQL database, dropped (with its connections) when this is dropped.
pub struct PgDb {
    /// Its URL.
    pub url: String,
    name: String,
}

impl PgDb {
    /// Create one, or `None` when no PostgreSQL server answers (a failure instead when
    /// `NEUTRINO_TEST_REQUIRE_PG` is set, as `.ci/run` does).
    pub async fn create() -> Option<PgDb> {
        let admin = pg_admin_url();
        let mut conn = match <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
            Ok(c) => c,
            Err(e) => {
                if std::env::var_os("NEUTRINO_TEST_REQUIRE_PG").is_some() {
                    panic!("PostgreSQL at {admin} is required: {e}");
                }
                eprintln!("SKIPPED: no PostgreSQL at {admin} ({e})");
                return None;
            }
        };
        let name = format!("neutrino_proc_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        Some(PgDb {
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
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

/// A small JSON client.
#[derive(Clone)]
pub struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    /// A client for `base`.
    pub fn new(base: &str) -> Http {
        Http {
            base: base.to_string(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    /// Send a request; `Err` when no response came back.
    pub async fn try_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }

    /// GET (panics when the server does not answer).
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.try_send(reqwest::Method::GET, path, None)
            .await
            .unwrap()
    }

    /// POST.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.try_send(reqwest::Method::POST, path, Some(body))
            .await
            .unwrap()
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.try_send(reqwest::Method::DELETE, path, None)
            .await
            .unwrap()
    }
}
