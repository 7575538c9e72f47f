//! Guest drivers for the integration tests: the in-tree drivers, the test drivers of
//! `tests/drivers` (hostile ones, `recorder`, `versioned` v1 and v2) and the example
//! `hello-driver`, built once per test binary, plus helpers to load them over the API.

use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{Client, Resp};

/// Where the built `.wasm` files are.
pub struct Guests {
    dir: PathBuf,
}

/// The compile cache shared by all test servers.
pub fn cache_dir() -> PathBuf {
    neutrino_wasm_build::guest_target_dir().join("server-tests-cache")
}

/// Build every guest driver (once per test binary).
pub fn guests() -> &'static Guests {
    static GUESTS: OnceLock<Guests> = OnceLock::new();
    GUESTS.get_or_init(|| {
        use neutrino_wasm_build::{
            BuildOptions, build_guest_workspace, guest_target_dir, repo_root,
        };
        let dir = guest_target_dir().join("integration-tests");
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
        build(
            "tests/drivers",
            BuildOptions {
                packages: vec!["journaled".into()],
                features: vec!["sync".into()],
                suffix: "-sync".into(),
                ..BuildOptions::default()
            },
        );
        build("drivers", BuildOptions::default());
        build("examples/hello-driver", BuildOptions::default());
        Guests { dir }
    })
}

impl Guests {
    /// Directory holding `<name>.wasm` and `<name>.toml`.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The component of a built driver.
    pub fn wasm(&self, name: &str) -> Vec<u8> {
        let path = self.dir.join(format!("{name}.wasm"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Its `driver.toml`, if it has one.
    pub fn manifest(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(format!("{name}.toml"))).ok()
    }
}

impl Client {
    /// Upload a built driver as `application/wasm` under `name`.
    pub async fn upload_driver(&self, name: &str, file: &str) -> Resp {
        let g = guests();
        let wasm = g.wasm(file);
        let mut headers: Vec<(String, String)> =
            vec![("Content-Type".into(), "application/wasm".into())];
        if let Some(m) = g.manifest(file) {
            headers.push((
                "X-Neutrino-Manifest".into(),
                base64::engine::general_purpose::STANDARD.encode(m),
            ));
        }
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.send_bytes(
            reqwest::Method::PUT,
            &format!("/v2.0/mechanism-drivers/{name}"),
            wasm,
            &h,
        )
        .await
    }

    /// Load a built driver with operator settings (JSON form).
    pub async fn load_driver(&self, name: &str, file: &str, settings: Value) -> Resp {
        let g = guests();
        let mut body = json!({
            "wasm": base64::engine::general_purpose::STANDARD.encode(g.wasm(file)),
            "settings": settings,
        });
        if let Some(m) = g.manifest(file) {
            body["manifest"] = json!(m);
        }
        self.put(
            &format!("/v2.0/mechanism-drivers/{name}"),
            json!({ "mechanism_driver": body }),
        )
        .await
    }
}

impl Client {
    /// Send raw bytes with the given headers.
    pub async fn send_bytes(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .body(body);
        if let Some((project, roles)) = &self.identity {
            req = req.header("X-Project-Id", project).header("X-Roles", roles);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request reaches the server");
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
}
