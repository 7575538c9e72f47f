//! The `neutrino driver …` commands against a running server.

use std::process::Command;

use neutrino_tests::TestServer;
use neutrino_tests::drivers::guests;
use serde_json::Value;

fn neutrino(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .arg("--url")
        .arg(url)
        .args(args)
        .output()
        .expect("run neutrino");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(url: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (ok, out, err) = neutrino(url, &all);
    assert!(ok, "neutrino {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_driver_commands_manage_drivers_end_to_end() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let v1 = guests().dir().join("versioned.wasm");
    let v2 = guests().dir().join("versioned-v2.wasm");
    let (u, v1s, v2s) = (
        url.clone(),
        v1.display().to_string(),
        v2.display().to_string(),
    );

    let outcome = tokio::task::spawn_blocking(move || {
        let listed = json(&u, &["driver", "list"]);
        let names: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["openvswitch", "linuxbridge"]);

        let (ok, table, _) = neutrino(&u, &["driver", "list"]);
        assert!(
            ok && table.starts_with("NAME") && table.contains("openvswitch"),
            "{table}"
        );
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        assert!(
            header.contains(&"REFUSALS") && header.contains(&"TIMEOUTS"),
            "{table}"
        );

        let loaded = json(&u, &["driver", "load", "versioned", &v1s]);
        assert_eq!(loaded["version"], "1.0.0");
        let upgraded = json(&u, &["driver", "load", "versioned", &v2s]);
        assert_eq!(upgraded["version"], "2.0.0");
        let back = json(&u, &["driver", "rollback", "versioned"]);
        assert_eq!(back["version"], "1.0.0");
        let off = json(&u, &["driver", "disable", "versioned"]);
        assert_eq!(off["state"], "disabled");
        let on = json(&u, &["driver", "enable", "versioned"]);
        assert_eq!(on["state"], "enabled");
        let shown = json(&u, &["driver", "show", "versioned"]);
        assert_eq!(shown["contract"], "neutrino:ml2@0.2.0");
        let history = json(&u, &["driver", "history", "versioned"]);
        let actions: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["load", "upgrade", "rollback", "disable", "enable"]
        );

        let (ok, _, _) = neutrino(&u, &["driver", "remove", "versioned"]);
        assert!(ok);
        let (ok, _, err) = neutrino(&u, &["driver", "show", "versioned"]);
        assert!(!ok && err.contains("404 MechanismDriverNotFound"), "{err}");
        let (ok, _, err) = neutrino(
            &u,
            &["--project", "p1", "--roles", "member", "driver", "list"],
        );
        assert!(!ok && err.contains("403"), "{err}");
    })
    .await;

    server.stop().await;
    outcome.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn driver_load_takes_operator_settings_from_a_toml_file() {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let url = server.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("recorder.toml");
    std::fs::write(
        &settings,
        "failure_policy = \"skip\"\n[config]\nrefuse = \"create_network_precommit\"\n",
    )
    .unwrap();
    let wasm = guests().dir().join("recorder.wasm").display().to_string();
    let (u, s) = (url.clone(), settings.display().to_string());

    let loaded = tokio::task::spawn_blocking(move || {
        json(
            &u,
            &[
                "driver",
                "load",
                "recorder",
                &wasm,
                "--settings",
                &s,
                "--position",
                "5",
            ],
        )
    })
    .await
    .unwrap();
    let refused = server
        .admin()
        .post("/v2.0/networks", serde_json::json!({"network": {}}))
        .await;

    assert_eq!(loaded["failure_policy"], "skip");
    assert_eq!(loaded["position"], 5);
    assert_eq!(
        loaded["settings"]["config"]["refuse"],
        "create_network_precommit"
    );
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn output_into_a_closed_pipe_ends_quietly_instead_of_panicking() {
    let server = TestServer::start().await;
    let url = server.url.clone();

    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_neutrino"))
            .args(["--url", &url, "--json", "driver", "list"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run neutrino");
        // `neutrino driver list | head -0`: the reader is gone before anything is written.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait for neutrino");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap();

    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status:?}: {stderr}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn driver_show_lists_the_configuration_with_secrets_masked() {
    let server = TestServer::start().await;
    let loaded = server
        .admin()
        .load_driver(
            "recorder",
            "recorder",
            serde_json::json!({
                "grants": ["log", "config", "state"],
                "config": {"controller_password": "hunter2", "controller_url": "http://ctrl:8181"},
            }),
        )
        .await;
    assert!(
        loaded.status == 201 || loaded.status == 200,
        "{:?}",
        loaded.body
    );
    let url = server.url.clone();

    let (ok, table, err) =
        tokio::task::spawn_blocking(move || neutrino(&url, &["driver", "show", "recorder"]))
            .await
            .unwrap();

    assert!(ok, "{err}");
    assert!(!table.contains("hunter2"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("config.controller_password") && l.ends_with("****")),
        "{table}"
    );
    assert!(table.contains("http://ctrl:8181"), "{table}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn driver_state_lists_a_drivers_keys_and_deletes_one() {
    let server = TestServer::start().await;
    let c = server.admin();
    let loaded = c
        .load_driver(
            "recorder",
            "recorder",
            serde_json::json!({"grants": ["log", "config", "state"]}),
        )
        .await;
    assert!(
        loaded.status == 201 || loaded.status == 200,
        "{:?}",
        loaded.body
    );
    c.network("n1").await;
    c.network("n2").await;
    let url = server.url.clone();

    let (table, listed, deleted, after) = tokio::task::spawn_blocking(move || {
        let (ok, table, err) = neutrino(
            &url,
            &[
                "driver",
                "state",
                "recorder",
                "--prefix",
                "count/create_network",
            ],
        );
        assert!(ok, "{err}");
        let listed = json(&url, &["driver", "state", "recorder"]);
        let (ok, deleted, err) = neutrino(
            &url,
            &[
                "driver",
                "state",
                "recorder",
                "--delete",
                "count/create_network_precommit",
            ],
        );
        assert!(ok, "{err}");
        let after = json(&url, &["driver", "state", "recorder", "--prefix", "count/"]);
        (table, listed, deleted, after)
    })
    .await
    .unwrap();

    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["KEY", "SIZE", "VALUE"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("count/create_network_precommit") && l.ends_with(" 2")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .skip(1)
            .all(|l| l.starts_with("count/create_network")),
        "{table}"
    );
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "last/create_network_postcommit")
    );
    assert!(
        deleted.contains("deleted state key count/create_network_precommit"),
        "{deleted}"
    );
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["key"] != "count/create_network_precommit"),
        "{after}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn driver_journal_shows_counts_and_entries_and_retries_or_drops_one() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    // A journaled driver whose backend is down: nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let admin = server.admin();
    let r = admin
        .load_driver(
            "journaled",
            "journaled",
            serde_json::json!({
                "grants": ["log", "config", "http"],
                "config": {"url": backend},
                "http": {"allow": [backend]},
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let net = admin.network("journal-cli").await;

    let u = url.clone();
    let net_id = net["id"].as_str().unwrap().to_string();
    tokio::task::spawn_blocking(move || {
        let j = json(&u, &["driver", "journal", "journaled"]);
        assert_eq!(j["pending"], 1);
        assert_eq!(j["delivered"], 0);
        let entry = &j["entries"][0];
        assert_eq!(entry["resource_id"], net_id.as_str());
        assert_eq!(entry["operation"], "create_network_postcommit");
        let id = entry["id"].to_string();

        let (ok, table, err) = neutrino(&u, &["driver", "journal", "journaled"]);
        assert!(ok, "{err}");
        assert!(
            table.starts_with("pending 1  failed 0  delivered 0"),
            "{table}"
        );
        assert!(table.contains("create_network_postcommit"), "{table}");

        let (ok, out, err) = neutrino(&u, &["driver", "journal", "journaled", "--retry", &id]);
        assert!(ok && out.contains("delivered again"), "{out}{err}");
        let (ok, out, err) = neutrino(&u, &["driver", "journal", "journaled", "--drop", &id]);
        assert!(ok && out.contains("dropped"), "{out}{err}");
        let j = json(&u, &["driver", "journal", "journaled"]);
        assert_eq!(j["pending"], 0);
        let (ok, _, err) = neutrino(&u, &["driver", "journal", "journaled", "--drop", &id]);
        assert!(!ok && err.contains("404 JournalEntryNotFound"), "{err}");
        let (ok, _, err) = neutrino(
            &u,
            &["driver", "journal", "journaled", "--state", "delivered"],
        );
        assert!(!ok && err.contains("400"), "{err}");
    })
    .await
    .unwrap();
    server.stop().await;
}
