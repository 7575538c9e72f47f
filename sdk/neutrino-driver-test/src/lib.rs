//! Test a Neutrino mechanism driver's `.wasm` from `cargo test`.
//!
//! The harness loads the built component into the real driver runtime
//! (same limits, same checks as the server) with a mock host: you set the
//! driver's configuration, seed agents and state, script HTTP answers per
//! URL, call hooks with [`fixtures`], and assert what the driver did
//! through the recorded host calls (logs, HTTP requests, state writes).
//!
//! ```ignore
//! use neutrino_driver_test::{Harness, build_driver, fixtures};
//!
//! #[tokio::test]
//! async fn binds_vlan_ports() {
//!     let wasm = build_driver(env!("CARGO_MANIFEST_DIR")).unwrap();
//!     let driver = Harness::load(&wasm)
//!         .config("vif_marker", "hello")
//!         .build()
//!         .await
//!         .unwrap();
//!     let port = fixtures::port("p1").host("compute-1").segment(fixtures::vlan("physnet1", 100)).build();
//!     let result = driver.bind_port(&port).await.unwrap();
//!     assert!(matches!(result, neutrino_driver_test::BindResult::Bound(_)));
//!     assert!(driver.logs().iter().any(|l| l.message.contains("p1")));
//! }
//! ```

pub mod fixtures;
mod host;
mod http;
pub mod journal;

pub use host::{LogLine, StateWrite};
pub use http::{RecordedRequest, Reply, ScriptedHttp};
pub use journal::{Delivery, JournalOp};
pub use neutrino_runtime::{
    Agent, BindResult, Binding, BindingLevel, CallError, Capability, Continuation, DriverMeta,
    DriverSettings, ErrorKind, FixedIp, Hook, Limits, LoadError, LogLevel, Network, NetworkContext,
    Port, PortContext, SecurityGroup, SecurityGroupContext, SecurityGroupRule,
    SecurityGroupRuleContext, Segment, Subnet, SubnetContext, TransportError,
};

use neutrino_runtime::{HostServices, PreparedDriver, Runtime, RuntimeConfig, manifest};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The directory of the driver crate a test belongs to: `manifest_dir`
/// (pass `env!("CARGO_MANIFEST_DIR")`) when it is a driver crate (it has a
/// `driver.toml`), else `in_tree`, a path inside the Neutrino repository.
/// The second case is for Neutrino itself, which runs the tests that live
/// beside its drivers as tests of this crate; in your own driver crate,
/// `env!("CARGO_MANIFEST_DIR")` alone is enough.
pub fn driver_crate_dir(manifest_dir: &str, in_tree: &str) -> PathBuf {
    let dir = Path::new(manifest_dir);
    if dir.join("driver.toml").is_file() {
        dir.to_path_buf()
    } else {
        neutrino_wasm_build::repo_root().join(in_tree)
    }
}

/// Build the driver crate at `crate_dir` for `wasm32-wasip2` (release) and
/// return the path of its `.wasm` (with its `driver.toml` copied beside it
/// as `<name>.toml`). Built once per test process.
pub fn build_driver(crate_dir: impl AsRef<Path>) -> Result<PathBuf, String> {
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, Result<PathBuf, String>>>> = OnceLock::new();
    let crate_dir = crate_dir.as_ref().to_path_buf();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    built
        .entry(crate_dir.clone())
        .or_insert_with(|| build_uncached(&crate_dir))
        .clone()
}

fn build_uncached(crate_dir: &Path) -> Result<PathBuf, String> {
    #[derive(serde::Deserialize)]
    struct CargoToml {
        package: Package,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
    }
    let manifest_path = crate_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let name = toml::from_str::<CargoToml>(&text)
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?
        .package
        .name;
    let out = neutrino_wasm_build::guest_target_dir().join("driver-test");
    let options = neutrino_wasm_build::BuildOptions {
        packages: vec![name.clone()],
        ..Default::default()
    };
    let built = neutrino_wasm_build::build_guest_workspace(crate_dir, &out, &options)
        .map_err(|e| e.to_string())?;
    built
        .into_iter()
        .find(|a| a.name == name)
        .map(|a| a.wasm)
        .ok_or_else(|| format!("{name} built no .wasm"))
}

/// A driver loaded in a mock host.
pub struct Harness {
    driver: Arc<PreparedDriver>,
    host: Arc<host::MockHost>,
    // Precommit hooks run one at a time, as transactions that touch the same state keys do
    // on the server.
    precommit: tokio::sync::Mutex<()>,
    services: Arc<dyn HostServices>,
    http: Arc<ScriptedHttp>,
    // Postcommit operations queued for `deliver_journal`.
    journal: Mutex<Vec<JournalOp>>,
    // Keeps the engine (and its epoch ticker) alive.
    _runtime: Runtime,
}

/// Configures a [`Harness`]; finish with [`build`](HarnessBuilder::build).
pub struct HarnessBuilder {
    wasm: Result<Vec<u8>, String>,
    manifest: Option<String>,
    settings: DriverSettings,
    agents: Vec<Agent>,
    state: Vec<(String, Vec<u8>)>,
    http: ScriptedHttp,
}

impl Harness {
    /// Load the `.wasm` at `path`, with its manifest from `<stem>.toml` or
    /// `driver.toml` beside it if present (else the embedded one).
    pub fn load(path: impl AsRef<Path>) -> HarnessBuilder {
        let path = path.as_ref();
        let wasm = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
        let manifest = [
            path.with_extension("toml"),
            path.with_file_name("driver.toml"),
        ]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok());
        HarnessBuilder::new(wasm, manifest)
    }

    /// Load a driver from bytes, with an optional `driver.toml`.
    pub fn from_bytes(wasm: Vec<u8>, manifest: Option<&str>) -> HarnessBuilder {
        HarnessBuilder::new(Ok(wasm), manifest.map(str::to_string))
    }

    /// What the runtime knows about the driver.
    pub fn meta(&self) -> &DriverMeta {
        self.driver.meta()
    }

    /// Run `call` as the server runs `hook`: a precommit's state writes are held back and
    /// kept only if it succeeds (one precommit at a time); other hooks write at once.
    async fn run<F, Fut>(&self, hook: Hook, call: F) -> Result<(), CallError>
    where
        F: FnOnce(Arc<dyn HostServices>) -> Fut,
        Fut: std::future::Future<Output = Result<(), CallError>>,
    {
        if !hook.is_precommit() {
            return call(self.services.clone()).await;
        }
        let _turn = self.precommit.lock().await;
        let staged = Arc::new(host::StagedMock::new(self.host.clone()));
        let result = call(staged.clone()).await;
        if result.is_ok() {
            staged.commit().await;
        }
        result
    }

    /// Call a network hook (a failed precommit leaves no state behind).
    pub async fn call_network(&self, hook: Hook, ctx: &NetworkContext) -> Result<(), CallError> {
        self.run(hook, |s| async move {
            self.driver.call_network(hook, ctx, &s).await
        })
        .await
    }

    /// Call a subnet hook (a failed precommit leaves no state behind).
    pub async fn call_subnet(&self, hook: Hook, ctx: &SubnetContext) -> Result<(), CallError> {
        self.run(hook, |s| async move {
            self.driver.call_subnet(hook, ctx, &s).await
        })
        .await
    }

    /// Call a port hook (a failed precommit leaves no state behind).
    pub async fn call_port(&self, hook: Hook, ctx: &PortContext) -> Result<(), CallError> {
        self.run(hook, |s| async move {
            self.driver.call_port(hook, ctx, &s).await
        })
        .await
    }

    /// Call a security group hook (contract 0.2; 0.1 drivers have none and
    /// the call is an `Ok` no-op, as on the server).
    pub async fn call_security_group(
        &self,
        hook: Hook,
        ctx: &SecurityGroupContext,
    ) -> Result<(), CallError> {
        self.run(hook, |s| async move {
            self.driver.call_security_group(hook, ctx, &s).await
        })
        .await
    }

    /// Call a security group rule hook (create and delete; contract 0.2).
    pub async fn call_security_group_rule(
        &self,
        hook: Hook,
        ctx: &SecurityGroupRuleContext,
    ) -> Result<(), CallError> {
        self.run(hook, |s| async move {
            self.driver.call_security_group_rule(hook, ctx, &s).await
        })
        .await
    }

    /// Call `bind_port` (the result is validated as the server does).
    pub async fn bind_port(&self, ctx: &PortContext) -> Result<BindResult, CallError> {
        self.driver.bind_port(ctx, &self.services).await
    }

    /// Every line the driver logged, in order.
    pub fn logs(&self) -> Vec<LogLine> {
        self.host.logs()
    }

    /// Every HTTP request the driver sent that passed the allow-list, in
    /// order (answered or not).
    pub fn http_requests(&self) -> Vec<RecordedRequest> {
        self.http.requests()
    }

    /// Every state write (set or delete) the driver made, in order.
    pub fn state_writes(&self) -> Vec<StateWrite> {
        self.host.writes()
    }

    /// The driver's current state under `key`.
    pub fn state(&self, key: &str) -> Option<Vec<u8>> {
        self.host.memory.state(&self.driver.meta().name, key)
    }

    /// The driver's current state under `key`, decoded from JSON.
    pub fn state_json<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.state(key)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
    }

    /// Add an agent after loading.
    pub fn add_agent(&self, agent: Agent) {
        self.host.memory.add_agent(agent);
    }

    /// Forget recorded logs, requests and state writes (state stays).
    pub fn clear_records(&self) {
        self.host.clear();
        self.http.clear();
    }
}

impl HarnessBuilder {
    fn new(wasm: Result<Vec<u8>, String>, manifest: Option<String>) -> Self {
        HarnessBuilder {
            wasm,
            manifest,
            // Everything granted: the harness tests the driver's logic;
            // HTTP still reaches only destinations added with `allow`.
            settings: DriverSettings {
                grants: neutrino_runtime::CapabilitySet::all(),
                ..DriverSettings::default()
            },
            agents: Vec::new(),
            state: Vec::new(),
            http: ScriptedHttp::new(),
        }
    }

    /// Set a configuration key of the driver: a string, or any JSON value
    /// (`json!(3)`, `json!([{"name": "tor-1"}])`) for structured settings.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.settings.config.insert(key.into(), value.into());
        self
    }

    /// Set the whole configuration from the TOML the operator would write
    /// under `[drivers.<name>.config]`; a TOML error is a load error.
    pub fn config_toml(mut self, toml_text: &str) -> Self {
        match toml::from_str::<std::collections::BTreeMap<String, serde_json::Value>>(toml_text) {
            Ok(config) => self.settings.config = config,
            Err(e) => self.wasm = Err(format!("config TOML: {e}")),
        }
        self
    }

    /// Grant exactly these capabilities (default: all of them; HTTP still
    /// needs destinations, see [`allow`](Self::allow)).
    pub fn grants(mut self, capabilities: impl IntoIterator<Item = Capability>) -> Self {
        self.settings.grants = capabilities.into_iter().collect();
        self
    }

    /// Allow HTTP to `destination` (`scheme://host[:port][/prefix]`); also
    /// grants `http`.
    pub fn allow(mut self, destination: impl Into<String>) -> Self {
        self.settings.grants.insert(Capability::Http);
        self.settings.http.allow.push(destination.into());
        self
    }

    /// Replace the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.settings.limits = limits;
        self
    }

    /// Replace all settings.
    pub fn settings(mut self, settings: DriverSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Seed an agent.
    pub fn agent(mut self, agent: Agent) -> Self {
        self.agents.push(agent);
        self
    }

    /// Seed the driver's state.
    pub fn state(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.state.push((key.into(), value.into()));
        self
    }

    /// Seed the driver's state with JSON.
    pub fn state_json(self, key: impl Into<String>, value: &impl Serialize) -> Self {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        self.state(key, bytes)
    }

    /// Answer `method url` with `status` and `body`.
    pub fn http_response(
        self,
        method: &str,
        url: &str,
        status: u16,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        self.http.answer(method, url, Ok((status, body.into())));
        self
    }

    /// Answer `method url` with `status` and `body` as JSON.
    pub fn http_json(self, method: &str, url: &str, status: u16, body: &serde_json::Value) -> Self {
        self.http_response(method, url, status, body.to_string())
    }

    /// Answer `method url` with `status`, `headers` (a login's `set-cookie`)
    /// and `body`.
    pub fn http_response_with_headers(
        self,
        method: &str,
        url: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> Self {
        self.http.answer_sequence(
            method,
            url,
            vec![Reply::Response {
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                body: body.into(),
            }],
        );
        self
    }

    /// Answer `method url` with `replies` in order, the last one repeating:
    /// "the controller is down twice, then answers".
    pub fn http_sequence(self, method: &str, url: &str, replies: Vec<Reply>) -> Self {
        self.http.answer_sequence(method, url, replies);
        self
    }

    /// Fail `method url` with `error` (e.g. the controller is down:
    /// `TransportError::Connect`).
    pub fn http_error(self, method: &str, url: &str, error: TransportError) -> Self {
        self.http.answer(method, url, Err(error));
        self
    }

    /// Load the driver: the same checks and `initialize` as the server.
    pub async fn build(self) -> Result<Harness, LoadError> {
        let wasm = self.wasm.map_err(|message| LoadError::Manifest {
            driver: None,
            message,
        })?;
        let name = match &self.manifest {
            Some(text) => manifest::Manifest::parse(text)?.name,
            None => manifest::embedded(&wasm, None)?
                .map(|m| m.name)
                .unwrap_or_default(),
        };
        let host = Arc::new(host::MockHost::default());
        for agent in self.agents {
            host.memory.add_agent(agent);
        }
        for (key, value) in self.state {
            host.memory.set_state(&name, &key, value);
        }
        let http = Arc::new(self.http);
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(neutrino_wasm_build::guest_target_dir().join("driver-test-cache")),
            max_instances: 16,
            http: Some(http.clone()),
            ..RuntimeConfig::default()
        })
        .map_err(|e| LoadError::Compile {
            driver: name.clone(),
            message: e.to_string(),
        })?;
        let services: Arc<dyn HostServices> = host.clone();
        let driver = runtime
            .prepare_with_host(&wasm, self.manifest.as_deref(), self.settings, &services)
            .await?;
        Ok(Harness {
            driver,
            host,
            precommit: tokio::sync::Mutex::new(()),
            services,
            http,
            journal: Mutex::default(),
            _runtime: runtime,
        })
    }
}
