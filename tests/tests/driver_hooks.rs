//! How ML2 calls mechanism drivers in the request path (Neutron's semantics): precommit
//! refusals roll everything back, create postcommit failures undo the create with a 500,
//! update and delete postcommit failures are logged, and driver state written in precommit is
//! part of the request's transaction.

use neutrino_tests::{TestServer, s};
use serde_json::{Value, json};

async fn server_with(drivers: &[(&str, Value)]) -> TestServer {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    for (name, settings) in drivers {
        let r = server
            .admin()
            .load_driver(name, name, settings.clone())
            .await;
        assert!(
            r.status == 201 || r.status == 200,
            "loading {name}: {:?}",
            r.body
        );
    }
    server
}

async fn state(server: &TestServer, driver: &str, key: &str) -> Option<String> {
    let mut conn = server.plugin().store().reader().acquire().await.unwrap();
    neutrino_ml2::store::drivers::state_get(&mut conn, driver, key)
        .await
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap())
}

/// hello-driver imports `http`, which must be granted (it reaches no one without a
/// `controller_url`).
fn hello() -> Value {
    json!({"grants": ["log", "config", "state", "http"]})
}

fn refuse(hook: &str) -> Value {
    json!({"config": {"refuse": hook}})
}

#[tokio::test]
async fn a_precommit_refusal_rolls_back_the_create_and_names_the_driver() {
    let server = server_with(&[("recorder", refuse("create_network_precommit"))]).await;
    let c = server.admin();

    let r = c
        .post("/v2.0/networks", json!({"network": {"name": "n"}}))
        .await;

    assert_eq!(
        (r.status, r.error_type()),
        (409, Some("MechanismDriverError"))
    );
    assert!(
        r.error_message().contains("`recorder`"),
        "{}",
        r.error_message()
    );
    assert!(r.error_message().contains("create_network_precommit"));
    assert!(
        c.get("/v2.0/networks").await.body["networks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_refused_port_precommit_leaves_no_address_taken() {
    let server = server_with(&[("recorder", refuse("create_port_precommit"))]).await;
    let c = server.admin();
    let net = c.post("/v2.0/networks", json!({"network": {}})).await.body["network"].clone();
    let subnet = c.subnet(s(&net, "id"), "10.9.0.0/30").await;

    let refused = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id")}}),
        )
        .await;
    let r = c
        .put(
            "/v2.0/mechanism-drivers/recorder",
            json!({"mechanism_driver": {"settings": {}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let port = c.port(s(&net, "id"), json!({})).await;

    assert_eq!(refused.status, 409);
    assert_eq!(
        port["fixed_ips"][0]["ip_address"], "10.9.0.2",
        "the refused create took no address"
    );
    assert_eq!(port["fixed_ips"][0]["subnet_id"], subnet["id"]);
    server.stop().await;
}

#[tokio::test]
async fn a_failing_create_postcommit_deletes_the_resource_and_answers_500() {
    let server = server_with(&[("recorder", refuse("create_network_postcommit"))]).await;
    let c = server.admin();

    let r = c
        .post("/v2.0/networks", json!({"network": {"name": "n"}}))
        .await;

    assert_eq!(
        (r.status, r.error_type()),
        (500, Some("MechanismDriverError"))
    );
    assert!(
        c.get("/v2.0/networks").await.body["networks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        state(&server, "recorder", "count/delete_network_precommit")
            .await
            .as_deref(),
        Some("1")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_failing_update_postcommit_keeps_the_update() {
    let server = server_with(&[("recorder", refuse("update_network_postcommit"))]).await;
    let c = server.admin();
    let net = c.network("before").await;

    let r = c
        .put(
            &format!("/v2.0/networks/{}", s(&net, "id")),
            json!({"network": {"name": "after"}}),
        )
        .await;

    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        c.get(&format!("/v2.0/networks/{}", s(&net, "id")))
            .await
            .body["network"]["name"],
        "after"
    );
    let st =
        c.get("/v2.0/mechanism-drivers/recorder").await.body["mechanism_driver"]["stats"].clone();
    assert_eq!(st["refusals"], 1);
    server.stop().await;
}

#[tokio::test]
async fn a_failing_delete_postcommit_still_deletes() {
    let server = server_with(&[("recorder", refuse("delete_port_postcommit"))]).await;
    let c = server.admin();
    let net = c.network("n").await;
    let port = c.port(s(&net, "id"), json!({})).await;

    let r = c.delete(&format!("/v2.0/ports/{}", s(&port, "id"))).await;

    assert_eq!(r.status, 204);
    assert_eq!(
        c.get(&format!("/v2.0/ports/{}", s(&port, "id")))
            .await
            .status,
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn every_hook_sees_the_resource_it_concerns() {
    let server = server_with(&[("recorder", json!({}))]).await;
    let c = server.admin();
    let net = c.network("n").await;
    let subnet = c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let port = c.port(s(&net, "id"), json!({})).await;
    c.put(
        &format!("/v2.0/ports/{}", s(&port, "id")),
        json!({"port": {"name": "x"}}),
    )
    .await;

    c.delete(&format!("/v2.0/ports/{}", s(&port, "id"))).await;

    for (hook, id) in [
        ("create_network_precommit", s(&net, "id")),
        ("create_network_postcommit", s(&net, "id")),
        ("create_subnet_postcommit", s(&subnet, "id")),
        ("create_port_postcommit", s(&port, "id")),
        ("update_port_precommit", s(&port, "id")),
        ("update_port_postcommit", s(&port, "id")),
        ("delete_port_precommit", s(&port, "id")),
        ("delete_port_postcommit", s(&port, "id")),
    ] {
        assert_eq!(
            state(&server, "recorder", &format!("last/{hook}"))
                .await
                .as_deref(),
            Some(id),
            "{hook}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn driver_state_written_in_a_rolled_back_precommit_is_discarded() {
    // hello-driver counts ports in create_port_precommit; recorder, called after it, refuses.
    let server = server_with(&[
        ("hello-driver", hello()),
        ("recorder", refuse("create_port_precommit")),
    ])
    .await;
    let c = server.admin();
    let net = c.network("n").await;

    let refused = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id")}}),
        )
        .await;
    c.put(
        "/v2.0/mechanism-drivers/recorder",
        json!({"mechanism_driver": {"settings": {}}}),
    )
    .await;
    c.port(s(&net, "id"), json!({})).await;

    assert_eq!(refused.status, 409);
    assert_eq!(
        state(&server, "hello-driver", "ports_created")
            .await
            .as_deref(),
        Some("1")
    );
    server.stop().await;
}

#[tokio::test]
async fn driver_state_survives_upgrades_and_restarts() {
    let server = server_with(&[("hello-driver", hello())]).await;
    let c = server.admin();
    let net = c.network("n").await;
    c.port(s(&net, "id"), json!({})).await;
    let mut v2 = hello();
    v2["config"] = json!({"vif_marker": "v2"});
    assert_eq!(
        c.load_driver("hello-driver", "hello-driver", v2)
            .await
            .status,
        200
    );
    c.port(s(&net, "id"), json!({})).await;
    let db = server.stop().await;

    let server = TestServer::on_db(db, |c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();
    let net = c.network("m").await;
    c.port(s(&net, "id"), json!({})).await;

    assert_eq!(
        state(&server, "hello-driver", "ports_created")
            .await
            .as_deref(),
        Some("3")
    );
    server.stop().await;
}

#[tokio::test]
async fn drivers_are_called_in_position_order_and_delete_hooks_in_reverse() {
    // recorder (position 10) refuses port precommits; versioned (position 20) accepts everything.
    let server = server_with(&[
        (
            "recorder",
            json!({"config": {"refuse": "delete_port_precommit"}}),
        ),
        ("versioned", json!({})),
    ])
    .await;
    let c = server.admin();
    let calls = |c: neutrino_tests::Client| async move {
        c.get("/v2.0/mechanism-drivers/versioned").await.body["mechanism_driver"]["stats"]["calls"]
            .as_u64()
            .unwrap()
    };
    let net = c.network("n").await;
    let port = c.port(s(&net, "id"), json!({})).await;
    let before_delete = calls(c.clone()).await;

    let refused = c.delete(&format!("/v2.0/ports/{}", s(&port, "id"))).await;

    assert_eq!(refused.status, 409);
    assert_eq!(
        calls(c.clone()).await,
        before_delete + 1,
        "versioned (last in order) ran before recorder refused: delete hooks run in reverse"
    );
    let positions: Vec<i64> = c.get("/v2.0/mechanism-drivers").await.body["mechanism_drivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_create_refused_by_the_first_driver_never_reaches_the_second() {
    let server = server_with(&[
        (
            "recorder",
            json!({"config": {"refuse": "create_network_precommit"}}),
        ),
        ("versioned", json!({})),
    ])
    .await;
    let c = server.admin();

    let refused = c.post("/v2.0/networks", json!({"network": {}})).await;

    assert_eq!(refused.status, 409);
    let st =
        c.get("/v2.0/mechanism-drivers/versioned").await.body["mechanism_driver"]["stats"].clone();
    assert_eq!(st["calls"], 0, "{st}");
    server.stop().await;
}
