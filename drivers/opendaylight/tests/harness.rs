//! The OpenDaylight driver in the SDK's mock host: what it sends for each hook, how ODL's
//! answers map to retryable or permanent errors, the copies it keeps for a resync, and
//! binding from kept host configurations.

use neutrino_driver_test::{
    BindResult, CallError, ErrorKind, Harness, HarnessBuilder, Hook, Reply, TransportError,
    build_driver, driver_crate_dir, fixtures,
};
use serde_json::{Value, json};

const ODL: &str = "http://odl.example:8080";
const NB: &str = "http://odl.example:8080/controller/nb/v2/neutron";
const CANARY: &str = "bd8db3a8-2b30-4083-a8b3-b3fd46401142";

fn builder() -> HarnessBuilder {
    let crate_dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "drivers/opendaylight");
    Harness::load(build_driver(crate_dir).expect("opendaylight builds"))
        .config("url", NB)
        .config("username", "admin")
        .config("password", "admin")
        .allow(ODL)
}

/// An ODL that has its canary and publishes no host configurations.
fn synced_odl(b: HarnessBuilder) -> HarnessBuilder {
    b.http_json(
        "GET",
        &format!("{NB}/networks"),
        200,
        &json!({"networks": []}),
    )
    .http_json(
        "GET",
        &format!("{NB}/networks/{CANARY}"),
        200,
        &json!({"network": {"id": CANARY}}),
    )
    .http_response(
        "GET",
        &format!("{ODL}/restconf/operational/neutron:neutron/hostconfigs"),
        404,
        "",
    )
}

fn writes(driver: &Harness) -> Vec<(String, String, Value)> {
    driver
        .http_requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method.clone(), r.url.clone(), r.json()))
        .collect()
}

fn kind(e: CallError) -> ErrorKind {
    match e {
        CallError::Driver { kind, .. } => kind,
        other => panic!("expected the driver's own error, got {other}"),
    }
}

#[tokio::test]
async fn a_configuration_without_url_or_with_a_typo_refuses_the_load() {
    let crate_dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "drivers/opendaylight");
    let wasm = build_driver(crate_dir).unwrap();

    let missing = Harness::load(&wasm)
        .config("username", "admin")
        .build()
        .await;
    let typo = builder().config("time_out", 5).build().await;

    let missing = missing.err().expect("refused").to_string();
    assert!(missing.contains("url"), "{missing}");
    let typo = typo.err().expect("refused").to_string();
    assert!(typo.contains("time_out"), "{typo}");
}

#[tokio::test]
async fn a_created_network_is_posted_with_basic_auth_and_without_status_or_subnets() {
    let driver = synced_odl(builder())
        .http_json("POST", &format!("{NB}/networks"), 201, &json!({}))
        .build()
        .await
        .unwrap();
    let net = fixtures::network("net-1", vec![fixtures::vxlan(100)]);

    driver
        .call_network(Hook::CreatePostcommit, &net)
        .await
        .unwrap();

    let writes = writes(&driver);
    assert_eq!(writes.len(), 1, "{writes:?}");
    let (method, url, body) = &writes[0];
    assert_eq!(
        (method.as_str(), url.as_str()),
        ("POST", &*format!("{NB}/networks"))
    );
    let sent = &body["network"];
    assert_eq!(sent["id"], "net-1");
    assert_eq!(sent["tenant_id"], "project-1");
    assert_eq!(sent["provider:network_type"], "vxlan");
    assert!(
        sent.get("status").is_none() && sent.get("subnets").is_none(),
        "{sent}"
    );
    let post = driver
        .http_requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    let auth = post
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    assert_eq!(auth.unwrap().1, "Basic YWRtaW46YWRtaW4=");
}

#[tokio::test]
async fn a_port_update_is_put_without_ids_with_groups_as_objects_and_the_profile_as_text() {
    let driver = synced_odl(builder())
        .http_json("PUT", &format!("{NB}/ports/p1"), 200, &json!({}))
        .build()
        .await
        .unwrap();
    let port = fixtures::port("p1")
        .host("compute-1")
        .profile(json!({"local_link_information": []}))
        .updated(|p| p.current.name = "renamed".into())
        .build();
    let mut port = port;
    let mut dict: serde_json::Map<String, Value> =
        serde_json::from_str(&port.current.json).unwrap();
    dict.insert("security_groups".into(), json!(["sg-1", "sg-2"]));
    dict.insert("dns_name".into(), Value::Null);
    port.current.json = Value::Object(dict).to_string();

    driver
        .call_port(Hook::UpdatePostcommit, &port)
        .await
        .unwrap();

    let writes = writes(&driver);
    let (_, url, body) = &writes[0];
    assert_eq!(url, &format!("{NB}/ports/p1"));
    let sent = &body["port"];
    for gone in [
        "id",
        "network_id",
        "status",
        "tenant_id",
        "project_id",
        "dns_name",
    ] {
        assert!(sent.get(gone).is_none(), "{gone} in {sent}");
    }
    assert_eq!(
        sent["security_groups"],
        json!([{"id": "sg-1"}, {"id": "sg-2"}])
    );
    assert_eq!(
        sent["binding:profile"],
        json!("{\"local_link_information\":[]}")
    );
    assert_eq!(sent["binding:host_id"], "compute-1");
}

#[tokio::test]
async fn refused_connections_timeouts_and_5xx_are_retryable_other_refusals_are_not() {
    let net = fixtures::network("net-1", vec![fixtures::vxlan(100)]);
    let answers = [
        (
            Reply::Error(TransportError::Connect("refused".into())),
            ErrorKind::Unavailable,
        ),
        (
            Reply::Error(TransportError::Timeout),
            ErrorKind::Unavailable,
        ),
        (
            Reply::from(Ok((503, b"busy".to_vec()))),
            ErrorKind::Unavailable,
        ),
        (
            Reply::from(Ok((500, b"oops".to_vec()))),
            ErrorKind::Unavailable,
        ),
        (
            Reply::from(Ok((400, b"bad".to_vec()))),
            ErrorKind::InvalidInput,
        ),
        (Reply::from(Ok((401, b"who".to_vec()))), ErrorKind::Internal),
    ];
    for (answer, expected) in answers {
        let driver = synced_odl(builder())
            .http_sequence("POST", &format!("{NB}/networks"), vec![answer.clone()])
            .build()
            .await
            .unwrap();

        let e = driver
            .call_network(Hook::CreatePostcommit, &net)
            .await
            .unwrap_err();

        assert_eq!(kind(e), expected, "{answer:?}");
    }
}

#[tokio::test]
async fn a_create_odl_already_has_and_a_delete_of_what_it_lacks_count_as_done() {
    let driver = synced_odl(builder())
        .http_response("POST", &format!("{NB}/networks"), 409, "exists")
        .http_response("DELETE", &format!("{NB}/networks/net-1"), 404, "")
        .build()
        .await
        .unwrap();
    let net = fixtures::network("net-1", vec![fixtures::vxlan(100)]);

    driver
        .call_network(Hook::CreatePostcommit, &net)
        .await
        .unwrap();
    driver
        .call_network(Hook::DeletePostcommit, &net)
        .await
        .unwrap();
}

#[tokio::test]
async fn precommit_hooks_keep_a_copy_of_each_resource_and_deletes_drop_it() {
    let driver = builder().build().await.unwrap();
    let net = fixtures::network("net-1", vec![fixtures::vxlan(100)]);
    let subnet = fixtures::subnet("sub-1", "10.0.0.0/24", net.clone());

    driver
        .call_network(Hook::CreatePrecommit, &net)
        .await
        .unwrap();
    driver
        .call_subnet(Hook::CreatePrecommit, &subnet)
        .await
        .unwrap();
    let kept: Value = driver
        .state_json("copy/2-networks/net-1")
        .expect("network kept");
    assert_eq!(kept["id"], "net-1");
    assert!(driver.state("copy/3-subnets/sub-1").is_some());

    driver
        .call_subnet(Hook::DeletePrecommit, &subnet)
        .await
        .unwrap();

    assert!(driver.state("copy/3-subnets/sub-1").is_none());
    assert!(
        driver.http_requests().is_empty(),
        "precommit hooks have no network"
    );
}

#[tokio::test]
async fn a_missing_canary_resends_every_kept_resource_in_order_then_the_canary() {
    let net = fixtures::network("net-1", vec![fixtures::vxlan(100)]);
    let port = fixtures::port("p1").network(net.clone()).build();
    let driver = builder()
        .state_json(
            "copy/4-ports/p1",
            &serde_json::from_str::<Value>(&port.current.json).unwrap(),
        )
        .state_json(
            "copy/2-networks/net-1",
            &serde_json::from_str::<Value>(&net.current.json).unwrap(),
        )
        .state_json(
            "copy/0-security-groups/sg-1",
            &json!({"id": "sg-1", "name": "web"}),
        )
        .http_json(
            "GET",
            &format!("{NB}/networks"),
            200,
            &json!({"networks": []}),
        )
        .http_response("GET", &format!("{NB}/networks/{CANARY}"), 404, "")
        .http_response(
            "GET",
            &format!("{ODL}/restconf/operational/neutron:neutron/hostconfigs"),
            404,
            "",
        )
        .http_json("POST", &format!("{NB}/security-groups"), 201, &json!({}))
        .http_json("POST", &format!("{NB}/networks"), 201, &json!({}))
        .http_json("POST", &format!("{NB}/ports"), 201, &json!({}))
        .http_json("PUT", &format!("{NB}/networks/net-1"), 200, &json!({}))
        .build()
        .await
        .unwrap();

    driver
        .call_network(Hook::UpdatePostcommit, &net)
        .await
        .unwrap();

    let sent: Vec<(String, String)> = writes(&driver)
        .into_iter()
        .map(|(m, u, b)| {
            let id = b
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|r| r.get("id").cloned());
            (
                format!("{m} {}", u.trim_start_matches(NB)),
                id.map(|i| i.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            ("POST /security-groups".to_string(), "\"sg-1\"".to_string()),
            ("POST /networks".into(), "\"net-1\"".into()),
            ("POST /ports".into(), "\"p1\"".into()),
            ("POST /networks".into(), format!("\"{CANARY}\"")),
            ("PUT /networks/net-1".into(), String::new()),
        ]
    );
}

fn with_hostconfig(b: HarnessBuilder, host: &str, config: Value) -> HarnessBuilder {
    b.state_json(format!("hostconfig/{host}/ODL L2"), &config)
}

#[tokio::test]
async fn binds_from_the_kept_host_configuration_of_the_ports_host() {
    let driver = with_hostconfig(
        builder(),
        "compute-1",
        json!({"supported_vnic_types": [{"vnic_type": "normal", "vif_type": "ovs", "vif_details": {"port_filter": true}}],
               "allowed_network_types": ["vlan", "vxlan"]}),
    )
    .build()
    .await
    .unwrap();
    let port = fixtures::port("p1")
        .host("compute-1")
        .segment(fixtures::flat("physnet1"))
        .segment(fixtures::vxlan(7))
        .build();

    let BindResult::Bound(b) = driver.bind_port(&port).await.unwrap() else {
        panic!("not bound")
    };

    assert_eq!(b.segment_id, "vxlan-7", "the first allowed segment");
    assert_eq!(b.vif_type, "ovs");
    assert_eq!(Value::Object(b.vif_details), json!({"port_filter": true}));
    assert_eq!(b.status.as_deref(), Some("ACTIVE"));
}

#[tokio::test]
async fn vhostuser_details_get_the_port_id_cut_to_the_interface_name_length() {
    let driver = with_hostconfig(
        builder(),
        "dpdk-1",
        json!({"supported_vnic_types": [{"vnic_type": "normal", "vif_type": "vhostuser",
               "vif_details": {"port_prefix": "vhu", "vhostuser_socket": "/run/ovs/vhu$PORT_ID"}}],
               "allowed_network_types": ["vxlan"]}),
    )
    .build()
    .await
    .unwrap();
    let port = fixtures::port("0123456789abcdef")
        .host("dpdk-1")
        .segment(fixtures::vxlan(7))
        .build();

    let BindResult::Bound(b) = driver.bind_port(&port).await.unwrap() else {
        panic!("not bound")
    };

    assert_eq!(b.vif_type, "vhostuser");
    assert_eq!(b.vif_details["vhostuser_socket"], "/run/ovs/vhu0123456789a");
}

#[tokio::test]
async fn does_not_bind_without_a_configuration_an_allowed_segment_or_the_vnic_type() {
    let driver = with_hostconfig(
        builder(),
        "compute-1",
        json!({"supported_vnic_types": [{"vnic_type": "normal", "vif_type": "ovs"}],
               "allowed_network_types": ["vlan"]}),
    )
    .build()
    .await
    .unwrap();
    let other_host = fixtures::port("p1")
        .host("compute-2")
        .segment(fixtures::vlan("physnet1", 5))
        .build();
    let vxlan = fixtures::port("p2")
        .host("compute-1")
        .segment(fixtures::vxlan(7))
        .build();
    let direct = fixtures::port("p3")
        .host("compute-1")
        .vnic_type("direct")
        .segment(fixtures::vlan("physnet1", 5))
        .build();
    let fine = fixtures::port("p4")
        .host("compute-1")
        .segment(fixtures::vlan("physnet1", 5))
        .build();

    for port in [&other_host, &vxlan, &direct] {
        assert_eq!(
            driver.bind_port(port).await.unwrap(),
            BindResult::NotBound,
            "{}",
            port.current.id
        );
    }
    assert!(matches!(
        driver.bind_port(&fine).await.unwrap(),
        BindResult::Bound(_)
    ));
}

#[tokio::test]
async fn host_configurations_read_in_postcommit_are_kept_for_binding() {
    let config = json!({"supported_vnic_types": [{"vnic_type": "normal", "vif_type": "ovs"}],
                        "allowed_network_types": ["vxlan"]});
    let driver = builder()
        .http_json(
            "GET",
            &format!("{NB}/networks"),
            200,
            &json!({"networks": []}),
        )
        .http_json(
            "GET",
            &format!("{NB}/networks/{CANARY}"),
            200,
            &json!({"network": {"id": CANARY}}),
        )
        .http_json(
            "GET",
            &format!("{ODL}/restconf/operational/neutron:neutron/hostconfigs"),
            200,
            &json!({"hostconfigs": {"hostconfig": [
                {"host-id": "compute-1", "host-type": "ODL L2", "config": config.to_string()}]}}),
        )
        .http_json("POST", &format!("{NB}/networks"), 201, &json!({}))
        .state_json("hostconfig/gone-1/ODL L2", &config)
        .build()
        .await
        .unwrap();
    let net = fixtures::network("net-1", vec![fixtures::vxlan(100)]);
    let port = fixtures::port("p1")
        .host("compute-1")
        .segment(fixtures::vxlan(7))
        .build();
    assert_eq!(driver.bind_port(&port).await.unwrap(), BindResult::NotBound);

    driver
        .call_network(Hook::CreatePostcommit, &net)
        .await
        .unwrap();

    assert!(matches!(
        driver.bind_port(&port).await.unwrap(),
        BindResult::Bound(_)
    ));
    assert!(
        driver.state("hostconfig/gone-1/ODL L2").is_none(),
        "a host ODL no longer lists"
    );
}

#[tokio::test]
async fn periodic_reads_host_configurations_and_checks_the_canary() {
    let config = json!({"supported_vnic_types": [{"vnic_type": "normal", "vif_type": "ovs"}],
                        "allowed_network_types": ["vxlan"]});
    let driver = builder()
        .state_json(
            "copy/2-networks/net-1",
            &json!({"id": "net-1", "tenant_id": "p"}),
        )
        .http_json(
            "GET",
            &format!("{NB}/networks"),
            200,
            &json!({"networks": []}),
        )
        .http_response("GET", &format!("{NB}/networks/{CANARY}"), 404, "")
        .http_json(
            "GET",
            &format!("{ODL}/restconf/operational/neutron:neutron/hostconfigs"),
            200,
            &json!({"hostconfigs": {"hostconfig": [
                {"host-id": "compute-1", "host-type": "ODL L2", "config": config.to_string()}]}}),
        )
        .http_json("POST", &format!("{NB}/networks"), 201, &json!({}))
        .build()
        .await
        .unwrap();
    assert!(driver.has_periodic());

    driver.call_periodic().await.unwrap();
    driver.call_periodic().await.unwrap();

    let lines: Vec<String> = driver
        .http_requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.trim_start_matches(ODL)))
        .collect();
    assert_eq!(
        lines,
        vec![
            "GET /restconf/operational/neutron:neutron/hostconfigs".to_string(),
            "GET /controller/nb/v2/neutron/networks".into(),
            format!("GET /controller/nb/v2/neutron/networks/{CANARY}"),
            "POST /controller/nb/v2/neutron/networks".into(),
            "POST /controller/nb/v2/neutron/networks".into(),
        ],
        "the second call is within both intervals: nothing"
    );
    assert!(driver.state("hostconfig/compute-1/ODL L2").is_some());
}

#[tokio::test]
async fn a_large_resync_goes_on_over_several_calls_and_changes_wait_for_it() {
    let mut b = builder()
        .http_json(
            "GET",
            &format!("{NB}/networks"),
            200,
            &json!({"networks": []}),
        )
        .http_response("GET", &format!("{NB}/networks/{CANARY}"), 404, "")
        .http_response(
            "GET",
            &format!("{ODL}/restconf/operational/neutron:neutron/hostconfigs"),
            404,
            "",
        )
        .http_json("POST", &format!("{NB}/networks"), 201, &json!({}))
        .http_json("PUT", &format!("{NB}/networks/net-1"), 200, &json!({}));
    for i in 0..150 {
        b = b.state_json(
            format!("copy/2-networks/n{i:03}"),
            &json!({"id": format!("n{i:03}"), "tenant_id": "p"}),
        );
    }
    let driver = b.build().await.unwrap();
    let net = fixtures::network("net-1", vec![fixtures::vxlan(100)]);
    let posts = |d: &Harness| {
        d.http_requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count()
    };

    let first = driver
        .call_network(Hook::UpdatePostcommit, &net)
        .await
        .unwrap_err();
    assert_eq!(kind(first), ErrorKind::Unavailable, "the change waits");
    assert_eq!(posts(&driver), 100, "one chunk");
    driver
        .call_network(Hook::UpdatePostcommit, &net)
        .await
        .unwrap();

    assert_eq!(posts(&driver), 151, "the other 50 and the canary");
    let last = driver.http_requests().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.url.as_str()),
        ("PUT", &*format!("{NB}/networks/net-1"))
    );
    let canary_post = driver
        .http_requests()
        .into_iter()
        .rfind(|r| r.method == "POST")
        .unwrap();
    assert_eq!(canary_post.json()["network"]["id"], CANARY);
}
