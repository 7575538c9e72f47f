//! Managing mechanism drivers while the server runs: load, upgrade, roll back, disable,
//! remove, history, refusals, and what survives a restart.

use neutrino_tests::drivers::guests;
use neutrino_tests::{TestServer, s};
use serde_json::json;

async fn bare_server() -> TestServer {
    TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await
}

async fn bound_marker(c: &neutrino_tests::Client, host: &str) -> String {
    let net = c.network("n").await;
    let port = c
        .port(s(&net, "id"), json!({"binding:host_id": host}))
        .await;
    port["binding:vif_details"]["marker"]
        .as_str()
        .unwrap_or("none")
        .to_string()
}

#[tokio::test]
async fn the_configured_in_tree_drivers_are_loaded_at_start_up() {
    let server = TestServer::start().await;

    let r = server.admin().get("/v2.0/mechanism-drivers").await;

    assert_eq!(r.status, 200);
    let names: Vec<&str> = r.body["mechanism_drivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| s(d, "name"))
        .collect();
    assert_eq!(names, vec!["openvswitch", "linuxbridge"]);
    let ovs = &r.body["mechanism_drivers"][0];
    assert_eq!(ovs["contract"], "neutrino:ml2@0.2.0");
    assert_eq!(ovs["state"], "enabled");
    assert_eq!(ovs["sha256"].as_str().unwrap().len(), 64);
    server.stop().await;
}

#[tokio::test]
async fn uploading_a_wasm_loads_a_new_driver_that_then_binds_ports() {
    let server = bare_server().await;
    let c = server.admin();

    let r = c.upload_driver("versioned", "versioned").await;

    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["mechanism_driver"]["version"], "1.0.0");
    assert_eq!(bound_marker(&c, "h1").await, "version=1");
    server.stop().await;
}

#[tokio::test]
async fn an_upgrade_replaces_the_version_and_a_rollback_restores_it() {
    let server = bare_server().await;
    let c = server.admin();
    c.upload_driver("versioned", "versioned").await;

    let up = c.upload_driver("versioned", "versioned-v2").await;
    let after_up = bound_marker(&c, "h1").await;
    let back = c
        .put("/v2.0/mechanism-drivers/versioned/rollback", json!({}))
        .await;
    let after_back = bound_marker(&c, "h1").await;

    assert_eq!(up.status, 200, "{:?}", up.body);
    assert_eq!(up.body["mechanism_driver"]["version"], "2.0.0");
    assert_eq!(after_up, "version=2");
    assert_eq!(back.status, 200, "{:?}", back.body);
    assert_eq!(back.body["mechanism_driver"]["version"], "1.0.0");
    assert_eq!(after_back, "version=1");
    server.stop().await;
}

#[tokio::test]
async fn a_failed_upgrade_leaves_the_old_version_serving_and_says_why() {
    let server = bare_server().await;
    let c = server.admin();
    c.upload_driver("versioned", "versioned").await;

    let bad = c
        .load_driver(
            "versioned",
            "versioned-v2",
            json!({"config": {"fail_initialize": "true"}}),
        )
        .await;

    assert_eq!(bad.status, 400, "{:?}", bad.body);
    assert_eq!(bad.error_type(), Some("DriverLoadError"));
    assert!(
        bad.error_message().contains("failed to initialize"),
        "{}",
        bad.error_message()
    );
    let shown = c.get("/v2.0/mechanism-drivers/versioned").await;
    assert_eq!(shown.body["mechanism_driver"]["version"], "1.0.0");
    assert_eq!(bound_marker(&c, "h1").await, "version=1");
    let history = c.get("/v2.0/mechanism-drivers/versioned/history").await;
    let actions: Vec<&str> = history.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| s(h, "action"))
        .collect();
    assert_eq!(actions, vec!["load", "failed"]);
    server.stop().await;
}

#[tokio::test]
async fn a_driver_built_for_another_contract_is_refused_with_both_versions_named() {
    let server = bare_server().await;

    let r = server
        .admin()
        .upload_driver("wrong-contract", "wrong-contract")
        .await;

    assert_eq!(r.status, 400, "{:?}", r.body);
    let m = r.error_message();
    assert!(m.contains("9.0.0") && m.contains("0.1"), "{m}");
    assert!(
        server
            .admin()
            .get("/v2.0/mechanism-drivers/wrong-contract")
            .await
            .status
            == 404
    );
    server.stop().await;
}

#[tokio::test]
async fn a_driver_asking_for_an_ungranted_capability_is_refused_with_the_capability_named() {
    let server = bare_server().await;

    // http-forbidden imports `http`, which the default grants leave out.
    let r = server
        .admin()
        .upload_driver("http-forbidden", "http-forbidden")
        .await;

    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(
        r.error_message().contains("`http`"),
        "{}",
        r.error_message()
    );
    server.stop().await;
}

#[tokio::test]
async fn uploading_under_another_name_than_the_manifest_is_refused() {
    let server = bare_server().await;

    let r = server
        .admin()
        .upload_driver("someone-else", "recorder")
        .await;

    assert_eq!(r.status, 400);
    assert!(
        r.error_message().contains("`recorder`"),
        "{}",
        r.error_message()
    );
    server.stop().await;
}

#[tokio::test]
async fn garbage_instead_of_a_component_is_refused() {
    let server = bare_server().await;

    let r = server
        .admin()
        .send_bytes(
            reqwest::Method::PUT,
            "/v2.0/mechanism-drivers/junk",
            b"not wasm at all".to_vec(),
            &[("Content-Type", "application/wasm")],
        )
        .await;

    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.error_type(), Some("DriverLoadError"));
    server.stop().await;
}

#[tokio::test]
async fn disable_enable_and_remove_change_what_ml2_calls() {
    let server = bare_server().await;
    let c = server.admin();
    c.upload_driver("versioned", "versioned").await;

    let off = c
        .put(
            "/v2.0/mechanism-drivers/versioned",
            json!({"mechanism_driver": {"enabled": false}}),
        )
        .await;
    let while_off = bound_marker(&c, "h1").await;
    let on = c
        .put(
            "/v2.0/mechanism-drivers/versioned",
            json!({"mechanism_driver": {"enabled": true}}),
        )
        .await;
    let while_on = bound_marker(&c, "h1").await;
    let removed = c.delete("/v2.0/mechanism-drivers/versioned").await;
    let after_remove = bound_marker(&c, "h1").await;

    assert_eq!(off.body["mechanism_driver"]["state"], "disabled");
    assert_eq!(while_off, "none");
    assert_eq!(on.body["mechanism_driver"]["state"], "enabled");
    assert_eq!(while_on, "version=1");
    assert_eq!(removed.status, 204);
    assert_eq!(after_remove, "none");
    assert_eq!(c.get("/v2.0/mechanism-drivers/versioned").await.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn the_history_lists_every_version_and_action() {
    let server = bare_server().await;
    let c = server.admin();
    c.upload_driver("versioned", "versioned").await;
    c.upload_driver("versioned", "versioned-v2").await;
    c.put("/v2.0/mechanism-drivers/versioned/rollback", json!({}))
        .await;
    c.put(
        "/v2.0/mechanism-drivers/versioned",
        json!({"mechanism_driver": {"enabled": false}}),
    )
    .await;

    let h = c.get("/v2.0/mechanism-drivers/versioned/history").await;

    let items = h.body["history"].as_array().unwrap();
    let actions: Vec<&str> = items.iter().map(|i| s(i, "action")).collect();
    assert_eq!(actions, vec!["load", "upgrade", "rollback", "disable"]);
    assert!(items[1]["version"].as_str().unwrap().starts_with("2.0.0 ("));
    assert!(items[2]["version"].as_str().unwrap().starts_with("1.0.0 ("));
    assert_eq!(items[0]["by"], "admin");
    server.stop().await;
}

#[tokio::test]
async fn a_rollback_without_a_previous_version_is_a_conflict() {
    let server = bare_server().await;
    let c = server.admin();
    c.upload_driver("versioned", "versioned").await;

    let r = c
        .put("/v2.0/mechanism-drivers/versioned/rollback", json!({}))
        .await;

    assert_eq!(
        (r.status, r.error_type()),
        (409, Some("DriverRollbackUnavailable"))
    );
    server.stop().await;
}

#[tokio::test]
async fn only_admins_manage_drivers() {
    let server = TestServer::start().await;
    let user = server.project("p1");

    let list = user.get("/v2.0/mechanism-drivers").await;
    let load = user.upload_driver("versioned", "versioned").await;
    let remove = user.delete("/v2.0/mechanism-drivers/openvswitch").await;

    for r in [&list, &load, &remove] {
        assert_eq!(
            (r.status, r.error_type()),
            (403, Some("PolicyNotAuthorized")),
            "{:?}",
            r.body
        );
    }
    assert_eq!(
        server.admin().get("/v2.0/mechanism-drivers").await.body["mechanism_drivers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn drivers_and_their_versions_survive_a_restart() {
    let server = bare_server().await;
    let c = server.admin();
    c.upload_driver("versioned", "versioned").await;
    c.upload_driver("versioned", "versioned-v2").await;
    let db = server.stop().await;

    let server = TestServer::on_db(db, |c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();
    let shown = c.get("/v2.0/mechanism-drivers/versioned").await;
    let marker = bound_marker(&c, "h1").await;
    let back = c
        .put("/v2.0/mechanism-drivers/versioned/rollback", json!({}))
        .await;

    assert_eq!(shown.body["mechanism_driver"]["version"], "2.0.0");
    assert_eq!(shown.body["mechanism_driver"]["compiled_from_cache"], true);
    assert_eq!(marker, "version=2");
    assert_eq!(back.body["mechanism_driver"]["version"], "1.0.0");
    server.stop().await;
}

#[tokio::test]
async fn settings_and_version_change_in_one_swap() {
    let server = bare_server().await;
    let c = server.admin();
    c.load_driver(
        "recorder",
        "recorder",
        json!({"config": {"refuse": "create_network_precommit"}}),
    )
    .await;
    assert_eq!(
        c.post("/v2.0/networks", json!({"network": {}}))
            .await
            .status,
        409
    );

    let r = c
        .load_driver("recorder", "recorder", json!({"config": {}}))
        .await;

    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        c.post("/v2.0/networks", json!({"network": {}}))
            .await
            .status,
        201
    );
    let h = c.get("/v2.0/mechanism-drivers/recorder/history").await;
    assert_eq!(h.body["history"][1]["action"], "upgrade");
    server.stop().await;
}

#[tokio::test]
async fn a_driver_can_be_loaded_from_the_servers_drivers_directory_by_file_name() {
    let dir = guests().dir().to_path_buf();
    let server = TestServer::with_config(move |c| {
        c.ml2.mechanism_drivers.clear();
        c.drivers.directory = Some(dir.display().to_string());
    })
    .await;
    let c = server.admin();

    let ok = c
        .put(
            "/v2.0/mechanism-drivers/versioned",
            json!({"mechanism_driver": {"path": "versioned.wasm"}}),
        )
        .await;
    let escape = c
        .put(
            "/v2.0/mechanism-drivers/x",
            json!({"mechanism_driver": {"path": "../../etc/passwd"}}),
        )
        .await;

    assert_eq!(ok.status, 201, "{:?}", ok.body);
    assert_eq!(escape.status, 400);
    server.stop().await;
}

#[tokio::test]
async fn the_extension_is_listed() {
    let server = TestServer::start().await;

    let r = server
        .admin()
        .get("/v2.0/extensions/mechanism-drivers")
        .await;

    assert_eq!(r.status, 200);
    assert_eq!(r.body["extension"]["alias"], "mechanism-drivers");
    server.stop().await;
}

#[tokio::test]
async fn secret_configuration_values_are_never_shown() {
    let server = TestServer::start().await;
    let c = server.admin();
    let config = json!({
        "password": "hunter2",
        "controller_password": "s3cr3t-pw",
        "token": "tok-123",
        "api_secret": "abc-secret",
        "controller_url": "http://ctrl.example:8181",
    });
    let loaded = c
        .load_driver(
            "recorder",
            "recorder",
            json!({"grants": ["log", "config", "state"], "config": config}),
        )
        .await;
    assert!(
        loaded.status == 201 || loaded.status == 200,
        "{:?}",
        loaded.body
    );

    let shown = c.get("/v2.0/mechanism-drivers/recorder").await;
    let listed = c.get("/v2.0/mechanism-drivers").await;
    for body in [&loaded.body, &shown.body, &listed.body] {
        let text = body.to_string();
        for secret in ["hunter2", "s3cr3t-pw", "tok-123", "abc-secret"] {
            assert!(!text.contains(secret), "`{secret}` shown: {text}");
        }
    }
    let settings = &shown.body["mechanism_driver"]["settings"]["config"];
    assert_eq!(settings["password"], "****");
    assert_eq!(settings["controller_password"], "****");
    assert_eq!(settings["token"], "****");
    assert_eq!(settings["controller_url"], "http://ctrl.example:8181");
    server.stop().await;
}
