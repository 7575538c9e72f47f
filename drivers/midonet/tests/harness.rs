//! The MidoNet driver in the SDK's mock host: login and token, discovery, media types, one
//! re-login on 401, error classes, which networks it handles, binding.

use neutrino_driver_test::{
    BindResult, CallError, ErrorKind, Harness, HarnessBuilder, Hook, Reply, TransportError,
    build_driver, driver_crate_dir, fixtures,
};
use serde_json::{Value, json};

const API: &str = "http://mido.example:8181/midonet-api";
const NETWORK_TYPE: &str = "application/vnd.org.midonet.neutron.Network-v1+json";

fn builder() -> HarnessBuilder {
    let crate_dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "drivers/midonet");
    Harness::load(build_driver(crate_dir).expect("midonet builds"))
        .config("midonet_uri", API)
        .config("password", "pw")
        .allow("http://mido.example:8181")
}

fn login(token: &str) -> Reply {
    Reply::Response {
        status: 200,
        headers: vec![(
            "set-cookie".into(),
            format!("sessionId={token}; Expires=Sun, 06 Dec 2026 23:59:59 GMT"),
        )],
        body: b"{}".to_vec(),
    }
}

/// An API that logs in with `tok-1` and serves the discovery documents.
fn api(b: HarnessBuilder) -> HarnessBuilder {
    b.http_sequence("POST", &format!("{API}/login"), vec![login("tok-1")])
        .http_json(
            "GET",
            API,
            200,
            &json!({"neutron": format!("{API}/neutron")}),
        )
        .http_json(
            "GET",
            &format!("{API}/neutron"),
            200,
            &json!({"networks": format!("{API}/neutron/networks"),
                    "network_template": format!("{API}/neutron/networks/{{id}}"),
                    "ports": format!("{API}/neutron/ports"),
                    "port_template": format!("{API}/neutron/ports/{{id}}")}),
        )
}

fn midonet_network() -> neutrino_driver_test::NetworkContext {
    fixtures::network(
        "net-1",
        vec![neutrino_driver_test::Segment {
            id: "seg-1".into(),
            network_type: "midonet".into(),
            ..Default::default()
        }],
    )
}

fn header<'a>(r: &'a neutrino_driver_test::RecordedRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn kind(e: CallError) -> ErrorKind {
    match e {
        CallError::Driver { kind, .. } => kind,
        other => panic!("expected the driver's own error, got {other}"),
    }
}

#[tokio::test]
async fn logs_in_discovers_and_posts_the_network_dict_with_its_media_type() {
    let driver = api(builder())
        .http_response("POST", &format!("{API}/neutron/networks"), 201, "{}")
        .build()
        .await
        .unwrap();
    let net = midonet_network();

    driver
        .call_network(Hook::CreatePostcommit, &net)
        .await
        .unwrap();

    let requests = driver.http_requests();
    let lines: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url))
        .collect();
    assert_eq!(
        lines,
        vec![
            format!("POST {API}/login"),
            format!("GET {API}"),
            format!("GET {API}/neutron"),
            format!("POST {API}/neutron/networks"),
        ]
    );
    // admin:pw, the default user and the configured password.
    assert_eq!(
        header(&requests[0], "authorization"),
        Some("Basic YWRtaW46cHc=")
    );
    assert_eq!(
        header(&requests[0], "x-auth-project"),
        Some("77777777-7777-7777-7777-777777777777")
    );
    assert_eq!(
        header(&requests[1], "accept"),
        Some("application/vnd.org.midonet.Application-v5+json")
    );
    assert_eq!(
        header(&requests[2], "accept"),
        Some("application/vnd.org.midonet.neutron.Neutron-v3+json")
    );
    for r in &requests[1..] {
        assert_eq!(header(r, "x-auth-token"), Some("tok-1"));
    }
    assert_eq!(header(&requests[3], "content-type"), Some(NETWORK_TYPE));
    let sent = requests[3].json();
    let neutron: Value = serde_json::from_str(&net.current.json).unwrap();
    assert_eq!(sent, neutron, "the Neutron dict as it is");
}

#[tokio::test]
async fn the_token_and_uris_are_reused_and_updates_go_to_the_template() {
    let driver = api(builder())
        .http_response("PUT", &format!("{API}/neutron/networks/net-1"), 204, "")
        .http_response("DELETE", &format!("{API}/neutron/networks/net-1"), 204, "")
        .build()
        .await
        .unwrap();
    let net = midonet_network();

    driver
        .call_network(Hook::UpdatePostcommit, &net)
        .await
        .unwrap();
    driver
        .call_network(Hook::DeletePostcommit, &net)
        .await
        .unwrap();

    let lines: Vec<String> = driver
        .http_requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url))
        .collect();
    assert_eq!(
        lines[3..],
        [
            format!("PUT {API}/neutron/networks/net-1"),
            format!("DELETE {API}/neutron/networks/net-1"),
        ]
    );
}

#[tokio::test]
async fn a_401_logs_in_once_more_and_a_second_401_fails_the_call() {
    let driver = api(builder())
        .http_sequence(
            "POST",
            &format!("{API}/login"),
            vec![login("tok-1"), login("tok-2")],
        )
        .http_sequence(
            "POST",
            &format!("{API}/neutron/networks"),
            vec![
                Reply::from(Ok((401, b"expired".to_vec()))),
                Reply::from(Ok((201, b"{}".to_vec()))),
                Reply::from(Ok((401, b"expired".to_vec()))),
            ],
        )
        .build()
        .await
        .unwrap();
    let net = midonet_network();

    driver
        .call_network(Hook::CreatePostcommit, &net)
        .await
        .unwrap();
    let posts: Vec<Option<String>> = driver
        .http_requests()
        .iter()
        .filter(|r| r.url.ends_with("/neutron/networks"))
        .map(|r| header(r, "x-auth-token").map(str::to_string))
        .collect();
    assert_eq!(posts, vec![Some("tok-1".into()), Some("tok-2".into())]);

    let e = driver
        .call_network(Hook::CreatePostcommit, &net)
        .await
        .unwrap_err();
    assert_eq!(kind(e), ErrorKind::Internal, "401 after a fresh login");
    let logins = driver
        .http_requests()
        .iter()
        .filter(|r| r.url.ends_with("/login"))
        .count();
    assert_eq!(logins, 3, "one login per refused call");
}

#[tokio::test]
async fn an_api_that_is_down_or_failing_is_retryable() {
    let net = midonet_network();
    for answer in [
        Reply::Error(TransportError::Connect("refused".into())),
        Reply::from(Ok((503, b"busy".to_vec()))),
    ] {
        let driver = api(builder())
            .http_sequence(
                "POST",
                &format!("{API}/neutron/networks"),
                vec![answer.clone()],
            )
            .build()
            .await
            .unwrap();

        let e = driver
            .call_network(Hook::CreatePostcommit, &net)
            .await
            .unwrap_err();

        assert_eq!(kind(e), ErrorKind::Unavailable, "{answer:?}");
    }
    let down = builder()
        .http_error(
            "POST",
            &format!("{API}/login"),
            TransportError::Connect("refused".into()),
        )
        .build()
        .await
        .unwrap();
    let e = down
        .call_network(Hook::CreatePostcommit, &net)
        .await
        .unwrap_err();
    assert_eq!(kind(e), ErrorKind::Unavailable, "the login too");
}

#[tokio::test]
async fn other_networks_their_subnets_and_ports_send_nothing() {
    let driver = api(builder()).build().await.unwrap();
    let net = fixtures::network("net-1", vec![fixtures::vxlan(5)]);
    let subnet = fixtures::subnet("sub-1", "10.0.0.0/24", net.clone());
    let port = fixtures::port("p1").network(net.clone()).build();

    for hook in Hook::ALL {
        driver.call_network(hook, &net).await.unwrap();
        driver.call_subnet(hook, &subnet).await.unwrap();
        driver.call_port(hook, &port).await.unwrap();
    }

    assert!(driver.http_requests().is_empty());
}

#[tokio::test]
async fn a_router_gateway_port_without_addresses_is_refused() {
    let driver = api(builder()).build().await.unwrap();
    let port = fixtures::port("p1")
        .network(midonet_network())
        .device_owner("network:router_gateway")
        .build();

    let e = driver
        .call_port(Hook::CreatePostcommit, &port)
        .await
        .unwrap_err();

    assert_eq!(kind(e), ErrorKind::InvalidInput);
    assert!(driver.http_requests().is_empty());
}

#[tokio::test]
async fn binds_the_first_midonet_or_uplink_segment_with_vif_type_midonet() {
    let driver = builder().build().await.unwrap();
    let uplink = neutrino_driver_test::Segment {
        id: "seg-up".into(),
        network_type: "uplink".into(),
        ..Default::default()
    };
    let port = fixtures::port("p1")
        .host("compute-1")
        .segment(fixtures::vxlan(5))
        .segment(uplink)
        .build();
    let other = fixtures::port("p2")
        .host("compute-1")
        .segment(fixtures::vxlan(5))
        .build();

    let BindResult::Bound(b) = driver.bind_port(&port).await.unwrap() else {
        panic!("not bound")
    };

    assert_eq!(b.segment_id, "seg-up");
    assert_eq!(b.vif_type, "midonet");
    assert_eq!(
        Value::Object(b.vif_details),
        json!({"port_filter": true, "connectivity": "l2"})
    );
    assert_eq!(b.status.as_deref(), Some("ACTIVE"));
    assert_eq!(
        driver.bind_port(&other).await.unwrap(),
        BindResult::NotBound
    );
}

#[tokio::test]
async fn a_midonet_uri_that_is_not_http_refuses_the_load() {
    let crate_dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "drivers/midonet");
    let r = Harness::load(build_driver(crate_dir).unwrap())
        .config("midonet_uri", "mido.example:8181")
        .build()
        .await;

    let e = r.err().expect("refused").to_string();
    assert!(e.contains("midonet_uri"), "{e}");
}

#[tokio::test]
async fn new_addresses_are_refused_for_ports_midonet_does_not_expect_to_change() {
    let driver = builder().build().await.unwrap();
    let readdressed = |owner: &str| {
        fixtures::port("p1")
            .network(midonet_network())
            .device_owner(owner)
            .fixed_ip("sub-1", "10.0.0.5")
            .updated(|p| p.current.fixed_ips[0].ip_address = "10.0.0.6".into())
            .build()
    };

    let dhcp = driver
        .call_port(Hook::UpdatePrecommit, &readdressed("network:dhcp"))
        .await
        .unwrap_err();

    assert_eq!(kind(dhcp), ErrorKind::Conflict);
    for owner in ["compute:nova", "network:router_interface", ""] {
        driver
            .call_port(Hook::UpdatePrecommit, &readdressed(owner))
            .await
            .unwrap_or_else(|e| panic!("{owner}: {e}"));
    }
    let renamed = fixtures::port("p2")
        .network(midonet_network())
        .device_owner("network:dhcp")
        .updated(|p| p.current.name = "x".into())
        .build();
    driver
        .call_port(Hook::UpdatePrecommit, &renamed)
        .await
        .unwrap();
}
