//! What contract 0.2 gives drivers, through the server: security group hooks called by the
//! plugin on 0.2 drivers (a 0.1 driver loaded beside them is left alone), a precommit
//! refusal that rolls the group back, structured configuration over the API, and a settings
//! update that sends back the masked `****` keeping the stored secret.

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

async fn load(c: &Client, name: &str, settings: Value) {
    let r = c.load_driver(name, name, settings).await;
    assert!(r.status == 201 || r.status == 200, "{name}: {:?}", r.body);
}

fn platform_settings(config: Value) -> Value {
    json!({"grants": ["log", "config", "state", "session"], "config": config})
}

async fn start() -> TestServer {
    TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await
}

async fn state(server: &TestServer, driver: &str) -> std::collections::BTreeMap<String, String> {
    let mut conn = server.plugin().store().reader().acquire().await.unwrap();
    let keys = neutrino_ml2::store::drivers::state_keys(&mut conn, driver, "")
        .await
        .unwrap();
    let mut out = std::collections::BTreeMap::new();
    for k in keys {
        let v = neutrino_ml2::store::drivers::state_get(&mut conn, driver, &k)
            .await
            .unwrap()
            .unwrap();
        out.insert(k, String::from_utf8(v).unwrap());
    }
    out
}

#[tokio::test]
async fn security_group_and_rule_hooks_reach_0_2_drivers_through_the_api() {
    let server = start().await;
    let c = server.admin();
    load(&c, "platform", platform_settings(json!({}))).await;
    load(
        &c,
        "legacy-v01",
        json!({"grants": ["log", "config", "state"]}),
    )
    .await;

    let g = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "web"}}),
        )
        .await;
    assert_eq!(g.status, 201, "{:?}", g.body);
    let gid = g.body["security_group"]["id"].as_str().unwrap().to_string();
    let u = c
        .put(
            &format!("/v2.0/security-groups/{gid}"),
            json!({"security_group": {"description": "front"}}),
        )
        .await;
    assert_eq!(u.status, 200, "{:?}", u.body);
    let r = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": gid, "direction": "ingress",
                   "protocol": "tcp", "port_range_min": 443, "port_range_max": 443}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let rid = s(&r.body["security_group_rule"], "id").to_string();
    assert_eq!(
        c.delete(&format!("/v2.0/security-group-rules/{rid}"))
            .await
            .status,
        204
    );
    assert_eq!(
        c.delete(&format!("/v2.0/security-groups/{gid}"))
            .await
            .status,
        204
    );

    let counted = state(&server, "platform").await;
    // Creating `web` made the project's default group first: its create hooks ran too.
    for hook in [
        "create_security_group_precommit",
        "create_security_group_postcommit",
    ] {
        assert_eq!(
            counted.get(&format!("sg/{hook}")).map(String::as_str),
            Some("2"),
            "{hook}: {counted:?}"
        );
    }
    for hook in [
        "update_security_group_precommit",
        "update_security_group_postcommit",
        "create_security_group_rule_precommit",
        "create_security_group_rule_postcommit",
        "delete_security_group_rule_precommit",
        "delete_security_group_rule_postcommit",
        "delete_security_group_precommit",
        "delete_security_group_postcommit",
    ] {
        assert_eq!(
            counted.get(&format!("sg/{hook}")).map(String::as_str),
            Some("1"),
            "{hook}: {counted:?}"
        );
    }
    assert!(
        state(&server, "legacy-v01").await.is_empty(),
        "a 0.1 driver has no security group hooks"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_refused_security_group_precommit_creates_nothing() {
    let server = start().await;
    let c = server.admin();
    load(
        &c,
        "platform",
        platform_settings(json!({"refuse": "create_security_group_precommit"})),
    )
    .await;

    let g = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "web"}}),
        )
        .await;

    let message = g.expect_error(409, "MechanismDriverError");
    assert!(
        message.contains("platform refuses create_security_group_precommit"),
        "{message}"
    );
    // Listing creates the project's default group first, which the driver refuses as well
    // (as a Neutron driver failing the default group's precommit fails the listing).
    let refused = c.get("/v2.0/security-groups").await;
    refused.expect_error(409, "MechanismDriverError");
    load(&c, "platform", platform_settings(json!({}))).await;
    let groups = c.get("/v2.0/security-groups").await;
    let names: Vec<&str> = groups
        .items("security_groups")
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["default"], "{:?}", groups.body);
    server.stop().await;
}

#[tokio::test]
async fn structured_settings_reach_the_driver_and_a_masked_secret_sent_back_is_kept() {
    let server = start().await;
    let c = server.admin();
    let config = json!({
        "retries": 3,
        "verify_tls": true,
        "password": "hunter2",
        "switches": [{"name": "tor-1", "host_interfaces": {"compute-1": ["eth1", "eth2"]}}],
    });
    load(&c, "platform", platform_settings(config)).await;
    let net = c.network("n").await;
    c.subnet(s(&net, "id"), "10.1.0.0/24").await;
    let bound = |port: &Value| port["binding:vif_details"].clone();

    let port = c
        .port(s(&net, "id"), json!({"binding:host_id": "compute-1"}))
        .await;
    assert_eq!(port["binding:vif_type"], "platform", "{port}");
    assert_eq!(
        bound(&port),
        json!({"retries": 3, "verify_tls": true, "switches": ["tor-1"], "interfaces": 2,
               "password_chars": 7})
    );

    // What GET shows, sent back with one change: the password stays `hunter2`.
    let shown = c.get("/v2.0/mechanism-drivers/platform").await;
    let mut settings = shown.body["mechanism_driver"]["settings"].clone();
    assert_eq!(settings["config"]["password"], "****");
    settings["config"]["retries"] = json!(5);
    let r = c
        .put(
            "/v2.0/mechanism-drivers/platform",
            json!({"mechanism_driver": {"settings": settings}}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(!r.body.to_string().contains("hunter2"));

    let port = c
        .port(s(&net, "id"), json!({"binding:host_id": "compute-1"}))
        .await;
    assert_eq!(bound(&port)["retries"], 5);
    assert_eq!(
        bound(&port)["password_chars"],
        7,
        "the secret was kept, not `****`"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_configuration_value_of_the_wrong_type_refuses_the_load_naming_the_key() {
    let server = start().await;
    let c = server.admin();

    let r = c
        .load_driver(
            "platform",
            "platform",
            platform_settings(json!({"retries": "three"})),
        )
        .await;

    assert!(r.status >= 400, "{:?}", r.body);
    let text = r.body.to_string();
    assert!(
        text.contains("config `retries`: invalid type: string \\\"three\\\", expected u32"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn secrets_are_stored_once_not_with_each_version_and_survive_restart_and_rollback() {
    let server = start().await;
    let c = server.admin();
    let config = json!({"password": "hunter2", "switches": [{"name": "t", "password": "p2-xyz"}]});
    load(&c, "platform", platform_settings(config)).await;
    let mut settings =
        c.get("/v2.0/mechanism-drivers/platform").await.body["mechanism_driver"]["settings"]
            .clone();
    settings["config"]["retries"] = json!(5);
    let r = c
        .put(
            "/v2.0/mechanism-drivers/platform",
            json!({"mechanism_driver": {"settings": settings}}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    {
        let mut conn = server.plugin().store().reader().acquire().await.unwrap();
        let versions = neutrino_ml2::store::drivers::versions_of(&mut conn, "platform")
            .await
            .unwrap();
        assert_eq!(versions.len(), 2);
        for v in &versions {
            assert!(!v.settings.contains("hunter2"), "{}", v.settings);
            assert!(!v.settings.contains("p2-xyz"), "{}", v.settings);
            assert!(v.settings.contains("****"), "{}", v.settings);
        }
        let secrets = neutrino_ml2::store::drivers::secrets_get(&mut conn, "platform")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&secrets).unwrap(),
            json!({"password": "hunter2", "switches": [{"password": "p2-xyz"}]})
        );
    }

    let db = server.stop().await;
    let server = TestServer::on_db(db, |c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();
    let net = c.network("n").await;
    c.subnet(s(&net, "id"), "10.1.0.0/24").await;
    let port = c
        .port(s(&net, "id"), json!({"binding:host_id": "compute-1"}))
        .await;
    assert_eq!(port["binding:vif_details"]["retries"], 5);
    assert_eq!(
        port["binding:vif_details"]["password_chars"], 7,
        "after a restart"
    );

    let r = c
        .put("/v2.0/mechanism-drivers/platform/rollback", json!({}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let port = c
        .port(s(&net, "id"), json!({"binding:host_id": "compute-1"}))
        .await;
    assert_eq!(
        port["binding:vif_details"]["retries"], 0,
        "the first version's settings"
    );
    assert_eq!(
        port["binding:vif_details"]["password_chars"], 7,
        "after a rollback"
    );
    server.stop().await;
}
