//! The vendor drivers reach the controllers and switches their own configuration names (the
//! manifest's `destinations`: ODL's `url`, NSX's `nsx_api_managers`, MidoNet's `midonet_uri`,
//! a Nexus switch's `url` or address), without the operator repeating them in `http.allow`;
//! a configured URL that is not one refuses the load, naming the key.

use std::time::Duration;

use neutrino_runtime::DriverSettings;
use neutrino_tests::fakes::midonet::{Midonet, ROOT};
use neutrino_tests::fakes::odl::{NORTHBOUND, Odl};
use neutrino_tests::fakes::{FakeServer, journal_settled};
use neutrino_tests::vendors::http::FakeHttp;
use neutrino_tests::vendors::nsx::FakeNsx;
use neutrino_tests::{TestServer, s};
use serde_json::{Value, json};

const SETTLE: Duration = Duration::from_secs(60);

fn settings(config: Value) -> DriverSettings {
    serde_json::from_value(json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": config,
    }))
    .expect("driver settings")
}

async fn only(driver: &str, config: Value) -> TestServer {
    let (driver, settings) = (driver.to_string(), settings(config));
    TestServer::with_config(move |c| {
        c.ml2.type_drivers = vec![
            "midonet".into(),
            "uplink".into(),
            "vxlan".into(),
            "vlan".into(),
        ];
        c.ml2.mechanism_drivers = vec![driver.clone()];
        c.drivers.settings.insert(driver, settings);
    })
    .await
}

#[tokio::test]
async fn opendaylight_reaches_its_url_without_an_http_allow_list() {
    let odl = FakeServer::start(Odl::synced("odl", "odl-pw")).await;
    let server = only(
        "opendaylight",
        json!({"url": format!("{}{NORTHBOUND}", odl.url()), "username": "odl", "password": "odl-pw"}),
    )
    .await;
    let c = server.admin();

    let net = c.network("n").await;
    let journal = journal_settled(&c, "opendaylight", SETTLE).await;

    assert_eq!(journal["failed"], 0, "{journal}");
    assert!(odl.backend().stored("networks").contains_key(s(&net, "id")));
    server.stop().await;
}

#[tokio::test]
async fn nsx_reaches_every_manager_it_lists() {
    let first = FakeHttp::start(FakeNsx::new("admin", "nsx-pw")).await;
    let server = only(
        "nsx",
        json!({
            "nsx_api_managers": [first.url()],
            "nsx_api_user": "admin", "nsx_api_password": "nsx-pw",
            "default_overlay_tz": "1b3a2f36-bfd1-443e-a0f6-4de01abc963e",
            "default_vlan_tz": "7a5b2a7e-8f0e-4bd6-9bd4-2c7d8e1f0a11",
            "realization_wait_sec": 0.05, "realization_max_attempts": 5,
        }),
    )
    .await;
    let c = server.admin();

    let net = c.network("n").await;
    let journal = journal_settled(&c, "nsx", SETTLE).await;

    assert_eq!(journal["failed"], 0, "{journal}");
    assert!(first.backend().segments().contains_key(s(&net, "id")));
    server.stop().await;
}

#[tokio::test]
async fn midonet_reaches_its_midonet_uri() {
    let api = FakeServer::start(Midonet::new("mido", "mido-pw", "mido-project")).await;
    let server = only(
        "midonet",
        json!({"midonet_uri": format!("{}{ROOT}", api.url()), "username": "mido",
               "password": "mido-pw", "project_id": "mido-project"}),
    )
    .await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "m", "provider:network_type": "midonet"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let journal = journal_settled(&c, "midonet", SETTLE).await;

    assert_eq!(journal["failed"], 0, "{journal}");
    assert!(
        api.backend()
            .stored("networks")
            .contains_key(s(&r.body["network"], "id"))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_configured_url_that_is_not_one_refuses_the_load_naming_its_key() {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();

    let r = c
        .load_driver(
            "opendaylight",
            "opendaylight",
            json!({"grants": ["log", "config", "state", "http", "session"],
                   "config": {"url": "ftp://odl:8080/controller/nb/v2/neutron", "username": "u", "password": "p"}}),
        )
        .await;

    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error_type(), Some("DriverLoadError"));
    assert!(r.error_message().contains("config `url`"), "{}", r.body);
    server.stop().await;
}
