//! The operator's view of a driver beyond load and swap: its state (read and reset one key),
//! downgrades on record, old versions pruned, and one upload limit whether the component
//! comes raw or in base64 inside JSON.

use base64::Engine as _;
use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

async fn bare_server() -> TestServer {
    TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await
}

async fn load_recorder(c: &Client) {
    let r = c
        .load_driver(
            "recorder",
            "recorder",
            json!({"grants": ["log", "config", "state"]}),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
}

fn keys(list: &Value) -> Vec<&str> {
    list["state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(e, "key"))
        .collect()
}

fn value_of<'a>(list: &'a Value, key: &str) -> &'a Value {
    list["state"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == key)
        .unwrap_or_else(|| panic!("no key {key} in {list}"))
}

#[tokio::test]
async fn an_admin_reads_a_drivers_state_by_prefix() {
    let server = bare_server().await;
    let c = server.admin();
    load_recorder(&c).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(s(&c.network(&format!("n{i}")).await, "id").to_string());
    }

    let all = c.get("/v2.0/mechanism-drivers/recorder/state").await;
    let counts = c
        .get("/v2.0/mechanism-drivers/recorder/state?prefix=count/")
        .await;

    assert_eq!(all.status, 200, "{:?}", all.body);
    let count = value_of(&all.body, "count/create_network_precommit");
    assert_eq!(count["value"], "3");
    assert_eq!(count["encoding"], "utf-8");
    assert_eq!(count["size"], 1);
    assert_eq!(
        value_of(&all.body, "last/create_network_postcommit")["value"],
        ids[2].as_str()
    );
    assert!(keys(&counts.body).iter().all(|k| k.starts_with("count/")));
    assert!(keys(&counts.body).contains(&"count/create_network_postcommit"));
    let mut sorted = keys(&all.body);
    sorted.sort();
    assert_eq!(keys(&all.body), sorted);
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_state_key_resets_it_and_is_on_the_drivers_history() {
    let server = bare_server().await;
    let c = server.admin();
    load_recorder(&c).await;
    c.network("n1").await;

    let gone = c
        .delete("/v2.0/mechanism-drivers/recorder/state/count/create_network_precommit")
        .await;
    let again = c
        .delete("/v2.0/mechanism-drivers/recorder/state/count/create_network_precommit")
        .await;
    c.network("n2").await;
    let after = c
        .get("/v2.0/mechanism-drivers/recorder/state?prefix=count/create_network_pre")
        .await;
    let history = c.get("/v2.0/mechanism-drivers/recorder/history").await;

    assert_eq!(gone.status, 204, "{:?}", gone.body);
    assert_eq!(again.status, 404);
    assert_eq!(again.error_type(), Some("DriverStateKeyNotFound"));
    // Counting starts again from nothing.
    assert_eq!(
        value_of(&after.body, "count/create_network_precommit")["value"],
        "1"
    );
    let last = history.body["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "state-reset");
    assert!(
        s(&last, "detail").contains("count/create_network_precommit"),
        "{last}"
    );
    server.stop().await;
}

#[tokio::test]
async fn state_of_an_unknown_driver_is_a_404_and_only_admins_see_or_reset_state() {
    let server = bare_server().await;
    let c = server.admin();
    load_recorder(&c).await;
    c.network("n1").await;
    let member = server.project("p1");

    let unknown = c.get("/v2.0/mechanism-drivers/nosuch/state").await;
    let read = member.get("/v2.0/mechanism-drivers/recorder/state").await;
    let reset = member
        .delete("/v2.0/mechanism-drivers/recorder/state/count/create_network_precommit")
        .await;

    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_type(), Some("MechanismDriverNotFound"));
    assert_eq!(read.status, 403);
    assert_eq!(read.error_type(), Some("PolicyNotAuthorized"));
    assert_eq!(reset.status, 403);
    let still = c
        .get("/v2.0/mechanism-drivers/recorder/state?prefix=count/create_network_pre")
        .await;
    assert_eq!(
        value_of(&still.body, "count/create_network_precommit")["value"],
        "1"
    );
    server.stop().await;
}

#[tokio::test]
async fn loading_an_older_version_is_recorded_as_a_downgrade() {
    let server = bare_server().await;
    let c = server.admin();
    c.upload_driver("versioned", "versioned-v2").await;

    let down = c.upload_driver("versioned", "versioned").await;
    let up = c.upload_driver("versioned", "versioned-v2").await;
    let history = c.get("/v2.0/mechanism-drivers/versioned/history").await;

    assert_eq!(down.status, 200, "{:?}", down.body);
    assert_eq!(up.status, 200, "{:?}", up.body);
    let items = history.body["history"].as_array().unwrap();
    let actions: Vec<&str> = items.iter().map(|i| s(i, "action")).collect();
    assert_eq!(actions, ["load", "downgrade", "upgrade"]);
    assert!(
        s(&items[1], "detail").contains("replaces the newer 2.0.0"),
        "{}",
        items[1]
    );
    server.stop().await;
}

#[tokio::test]
async fn stored_versions_are_pruned_to_the_serving_one_its_rollback_target_and_keep_versions_more()
{
    let server = TestServer::with_config(|c| {
        c.ml2.mechanism_drivers.clear();
        c.drivers.keep_versions = Some(1);
    })
    .await;
    let c = server.admin();
    for file in [
        "versioned",
        "versioned-v2",
        "versioned",
        "versioned-v2",
        "versioned",
    ] {
        let r = c.upload_driver("versioned", file).await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
    }

    let history = c.get("/v2.0/mechanism-drivers/versioned/history").await;
    let back = c
        .put("/v2.0/mechanism-drivers/versioned/rollback", json!({}))
        .await;

    let items = history.body["history"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{items:?}");
    // Oldest first: the first two versions are gone (their lines stay, by id only); the
    // newest three are kept: one more, the rollback target, the serving one.
    let kept: Vec<bool> = items.iter().map(|i| i["version"].is_string()).collect();
    assert_eq!(kept, [false, false, true, true, true]);
    assert!(items.iter().all(|i| i["version_id"].is_string()));
    assert_eq!(back.status, 200, "{:?}", back.body);
    assert_eq!(back.body["mechanism_driver"]["version"], "2.0.0");
    server.stop().await;
}

#[tokio::test]
async fn a_component_past_64_mib_is_a_413_raw_or_in_json_and_64_mib_is_not() {
    let server = bare_server().await;
    let c = server.admin();
    let limit = 64 << 20;
    let over = vec![0u8; limit + 1];
    let at = vec![0u8; limit];
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);

    let raw = c
        .send_bytes(
            reqwest::Method::PUT,
            "/v2.0/mechanism-drivers/big",
            over.clone(),
            &[("Content-Type", "application/wasm")],
        )
        .await;
    let in_json = c
        .put(
            "/v2.0/mechanism-drivers/big",
            json!({"mechanism_driver": {"wasm": b64(&over)}}),
        )
        .await;
    let at_limit = c
        .put(
            "/v2.0/mechanism-drivers/big",
            json!({"mechanism_driver": {"wasm": b64(&at)}}),
        )
        .await;

    for r in [&raw, &in_json] {
        assert_eq!(r.status, 413, "{:?}", r.body);
        assert_eq!(r.error_type(), Some("HTTPRequestEntityTooLarge"));
        assert!(
            r.body["NeutronError"]["message"]
                .as_str()
                .unwrap()
                .contains("67108864")
        );
    }
    // Within the limit: read and judged as a component (it is not one).
    assert_eq!(at_limit.status, 400, "{:?}", at_limit.body);
    assert_eq!(at_limit.error_type(), Some("DriverLoadError"));
    server.stop().await;
}

async fn failed_binding_reason(c: &Client) -> String {
    let net = c.network("n").await;
    let port = c
        .port(s(&net, "id"), json!({"binding:host_id": "h1"}))
        .await;
    assert_eq!(port["binding:vif_type"], "binding_failed", "{port}");
    s(&port["binding:vif_details"], "reason").to_string()
}

#[tokio::test]
async fn binding_failed_names_the_driver_whose_bind_result_was_invalid_and_why() {
    for mode in ["unknown-segment", "bad-json", "reserved-vif-type"] {
        let server = bare_server().await;
        let c = server.admin();
        let r = c
            .load_driver(
                "bad-result",
                "bad-result",
                json!({"config": {"mode": mode}}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);

        let reason = failed_binding_reason(&c).await;

        assert!(
            reason.contains("driver `bad-result` returned an invalid result from bind_port"),
            "{mode}: {reason}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn binding_failed_names_a_crashed_driver_without_its_panic_text() {
    let server = bare_server().await;
    let c = server.admin();
    let r = c.load_driver("panic", "panic", json!({})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    let reason = failed_binding_reason(&c).await;

    assert!(
        reason.contains("driver `panic` crashed in bind_port"),
        "{reason}"
    );
    assert!(!reason.contains("segment table corrupted"), "{reason}");
    server.stop().await;
}
