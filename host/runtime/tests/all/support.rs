//! Shared test support: the built guest drivers, runtimes, fixtures, hosts
//! and a tiny HTTP server.
//!
//! Guest drivers are built lazily, once per test binary, by shelling out to
//! cargo through `neutrino-wasm-build` (a build script would make every
//! `cargo build` of the server build the hostile drivers too).

use neutrino_runtime::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The built drivers: `<name>.wasm` and `<name>.toml` in one directory.
pub struct Guests {
    dir: PathBuf,
}

pub fn guests() -> &'static Guests {
    static GUESTS: OnceLock<Guests> = OnceLock::new();
    GUESTS.get_or_init(|| {
        use neutrino_wasm_build::{
            BuildOptions, build_guest_workspace, guest_target_dir, repo_root,
        };
        let dir = guest_target_dir().join("runtime-tests");
        let root = repo_root();
        let build = |workspace: &str, options: BuildOptions| {
            build_guest_workspace(&root.join(workspace), &dir, &options)
                .unwrap_or_else(|e| panic!("building {workspace}: {e}"));
        };
        build("tests/drivers", BuildOptions::default());
        build(
            "tests/drivers",
            BuildOptions {
                packages: vec!["versioned".into()],
                features: vec!["v2".into()],
                suffix: "-v2".into(),
                ..BuildOptions::default()
            },
        );
        build("drivers", BuildOptions::default());
        Guests { dir }
    })
}

impl Guests {
    pub fn wasm(&self, name: &str) -> Vec<u8> {
        let path = self.dir.join(format!("{name}.wasm"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn manifest(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(format!("{name}.toml"))).ok()
    }
}

/// A runtime with a small instance pool and a compile cache shared by all
/// tests (compiling with a debug build of Cranelift is slow). Tests about
/// the cache use their own directory.
pub fn runtime() -> Runtime {
    let cache = neutrino_wasm_build::guest_target_dir().join("runtime-tests-cache");
    runtime_with(RuntimeConfig {
        cache_dir: Some(cache),
        ..RuntimeConfig::default()
    })
}

pub fn runtime_with(config: RuntimeConfig) -> Runtime {
    Runtime::new(RuntimeConfig {
        max_instances: 64,
        ..config
    })
    .expect("runtime")
}

/// Prepare a built driver with its driver.toml (if it has one).
pub async fn prepare(rt: &Runtime, name: &str, settings: DriverSettings) -> Arc<PreparedDriver> {
    try_prepare(rt, name, settings)
        .await
        .unwrap_or_else(|e| panic!("preparing {name}: {e}"))
}

pub async fn try_prepare(
    rt: &Runtime,
    name: &str,
    settings: DriverSettings,
) -> Result<Arc<PreparedDriver>, LoadError> {
    let g = guests();
    rt.prepare(&g.wasm(name), g.manifest(name).as_deref(), settings)
        .await
}

pub fn settings(config: &[(&str, &str)]) -> DriverSettings {
    DriverSettings::with_config(config.iter().copied())
}

pub fn memory_host() -> Arc<MemoryHost> {
    Arc::new(MemoryHost::new())
}

pub fn host() -> Arc<dyn HostServices> {
    memory_host()
}

pub fn vlan_segment() -> Segment {
    Segment {
        id: "seg-vlan-100".into(),
        network_type: "vlan".into(),
        physical_network: Some("physnet1".into()),
        segmentation_id: Some(100),
        mtu: Some(1500),
    }
}

pub fn network_ctx() -> NetworkContext {
    NetworkContext {
        current: Network {
            id: "net-1".into(),
            name: "net1".into(),
            project_id: "project-1".into(),
            admin_state_up: true,
            status: "ACTIVE".into(),
            mtu: Some(1500),
            json: r#"{"id":"net-1"}"#.into(),
            ..Network::default()
        },
        original: None,
        segments: vec![vlan_segment()],
    }
}

pub fn port_ctx() -> PortContext {
    PortContext {
        current: Port {
            id: "port-1".into(),
            name: "port1".into(),
            project_id: "project-1".into(),
            network_id: "net-1".into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            admin_state_up: true,
            status: "DOWN".into(),
            fixed_ips: vec![FixedIp {
                subnet_id: "subnet-1".into(),
                ip_address: "10.0.0.5".into(),
            }],
            device_id: "vm-1".into(),
            device_owner: "compute:nova".into(),
            revision_number: 1,
            json: r#"{"id":"port-1"}"#.into(),
        },
        original: None,
        network: network_ctx(),
        host: "compute-1".into(),
        original_host: String::new(),
        vnic_type: "normal".into(),
        profile: "{}".into(),
        segments_to_bind: vec![vlan_segment()],
        binding_levels: Vec::new(),
        vif_type: "unbound".into(),
        vif_details: "{}".into(),
    }
}

/// The `marker` in a binding's vif_details.
pub fn marker(result: &BindResult) -> String {
    match result {
        BindResult::Bound(b) => b.vif_details["marker"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        other => panic!("not bound: {other:?}"),
    }
}

/// Host services whose state calls take `delay` (to keep a call in a host
/// call, e.g. across a swap or past a wall-clock budget).
pub struct SlowHost {
    pub inner: MemoryHost,
    pub delay: Duration,
}

#[async_trait]
impl HostServices for SlowHost {
    async fn state_get(&self, driver: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        tokio::time::sleep(self.delay).await;
        self.inner.state_get(driver, key).await
    }
    async fn state_set(&self, driver: &str, key: &str, value: Vec<u8>) -> Result<(), HostError> {
        self.inner.state_set(driver, key, value).await
    }
    async fn state_delete(&self, driver: &str, key: &str) -> Result<(), HostError> {
        self.inner.state_delete(driver, key).await
    }
    async fn state_list_keys(&self, driver: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        self.inner.state_list_keys(driver, prefix).await
    }
    async fn state_modify(
        &self,
        driver: &str,
        key: &str,
        change: neutrino_runtime::StateModifier<'_>,
    ) -> Result<Option<Vec<u8>>, HostError> {
        tokio::time::sleep(self.delay).await;
        self.inner.state_modify(driver, key, change).await
    }
    async fn agents(&self, t: Option<&str>, h: Option<&str>) -> Result<Vec<Agent>, HostError> {
        self.inner.agents(t, h).await
    }
}

/// How the test HTTP server answers.
#[derive(Clone)]
pub enum Answer {
    /// Status and body.
    With(u16, Vec<u8>),
    /// Accept the connection, read the request, never answer.
    Never,
    /// Status and body, keeping the connection open for the next request
    /// (HTTP/1.1 keep-alive).
    KeepAlive(u16, Vec<u8>),
    /// Status and body, then close the connection without announcing it.
    CloseQuietly(u16, Vec<u8>),
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that records connections and
/// request lines.
pub struct TestServer {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    pub async fn start(answer: Answer) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (c, r) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let (r, answer) = (r.clone(), answer.clone());
                tokio::spawn(async move {
                    loop {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let head = String::from_utf8_lossy(&buf).to_string();
                        r.lock()
                            .unwrap()
                            .push(head.lines().next().unwrap_or_default().to_string());
                        match &answer {
                            Answer::KeepAlive(status, body) => {
                                let head = format!(
                                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n",
                                    body.len()
                                );
                                let _ = socket.write_all(head.as_bytes()).await;
                                let _ = socket.write_all(body).await;
                                continue;
                            }
                            Answer::CloseQuietly(status, body) => {
                                let head = format!(
                                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n",
                                    body.len()
                                );
                                let _ = socket.write_all(head.as_bytes()).await;
                                let _ = socket.write_all(body).await;
                            }
                            Answer::Never => tokio::time::sleep(Duration::from_secs(60)).await,
                            Answer::With(status, body) => {
                                let head = format!(
                                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                                    body.len()
                                );
                                let _ = socket.write_all(head.as_bytes()).await;
                                let _ = socket.write_all(body).await;
                            }
                        }
                        return;
                    }
                });
            }
        });
        TestServer {
            addr,
            connections,
            requests,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Settings for a driver that may reach `allow` over HTTP.
pub fn http_settings(config: &[(&str, &str)], allow: &[String]) -> DriverSettings {
    let mut s = settings(config);
    s.grants.insert(Capability::Http);
    s.http.allow = allow.to_vec();
    s
}

/// The config map of `pairs` (for building settings by hand).
#[allow(dead_code)]
pub fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect()
}
