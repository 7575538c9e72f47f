//! The Cisco Nexus driver in the SDK's harness, against scripted NX-API answers: which
//! calls a binding, an unbinding and a delete make, the sets of ports behind them, the
//! session handling, the replay of a switch that was down, and how ports bind.

use neutrino_driver_test::{
    BindResult, BindingLevel, CallError, ErrorKind, Harness, HarnessBuilder, Hook, PortContext,
    RecordedRequest, Reply, Segment, TransportError, build_driver, driver_crate_dir, fixtures,
};
use serde_json::{Value, json};

const SWITCH: &str = "10.0.0.1";
const BASE: &str = "https://10.0.0.1";

fn url(path: &str) -> String {
    format!("{BASE}/{path}")
}

fn login_ok(builder: HarnessBuilder, token: &str) -> HarnessBuilder {
    builder.http_response_with_headers(
        "POST",
        &url("api/aaaLogin.json"),
        200,
        &[(
            "set-cookie",
            &format!("APIC-cookie={token}; path=/; HttpOnly"),
        )],
        json!({"imdata": [{"aaaLogin": {"attributes": {"token": token}}}]}).to_string(),
    )
}

/// The switch answers 200 to every call the driver makes on VLANs 100 and 200.
fn switch_ok(mut builder: HarnessBuilder) -> HarnessBuilder {
    builder = login_ok(builder, "tok1");
    let ok = json!({"imdata": []});
    for path in [
        "api/mo.json",
        "api/mo/sys/intf/phys-[eth1/1].json",
        "api/mo/sys/intf/phys-[eth1/2].json",
        "api/mo/sys/intf/aggr-[po20].json",
        "api/mo/sys/epId-1/nws/vni-5000.json",
    ] {
        builder = builder.http_json("POST", &url(path), 200, &ok);
    }
    for path in [
        "api/mo/sys/bd/bd-[vlan-100].json",
        "api/mo/sys/bd/bd-[vlan-200].json",
        "api/mo/sys/bd/bd-[vlan-300].json",
        "api/mo/sys/epId-1/nws/vni-5000.json",
    ] {
        builder = builder.http_json("DELETE", &url(path), 200, &ok);
    }
    builder
}

fn nexus_config() -> Value {
    json!({
        "switches": {SWITCH: {
            "username": "admin",
            "password": "secret",
            "host_ports_mapping": {
                "compute-1": ["ethernet1/1", "port-channel20"],
                "compute-2": ["ethernet1/2"],
            },
            "physnet": "physnet1",
        }},
    })
}

fn builder(config: Value) -> HarnessBuilder {
    let crate_dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "drivers/cisco-nexus");
    let mut b = Harness::load(build_driver(crate_dir).expect("cisco_nexus builds")).allow(BASE);
    if let Value::Object(map) = config {
        for (k, v) in map {
            b = b.config(k, v);
        }
    }
    b
}

async fn nexus() -> Harness {
    switch_ok(builder(nexus_config()))
        .build()
        .await
        .expect("cisco_nexus loads")
}

/// A compute port on `host`, bound by Open vSwitch on VLAN `vlan` of physnet1.
fn bound_port(id: &str, host: &str, vlan: u32) -> PortContext {
    let segment = fixtures::vlan("physnet1", vlan);
    let mut port = fixtures::port(id)
        .host(host)
        .segment(segment.clone())
        .build();
    port.vif_type = "ovs".into();
    port.binding_levels = vec![level("openvswitch", segment)];
    port
}

fn level(driver: &str, segment: Segment) -> BindingLevel {
    BindingLevel {
        bound_driver: driver.into(),
        bound_segment: segment,
    }
}

/// Bind: the update hooks with the new binding, as the server calls them.
async fn bind(driver: &Harness, port: &PortContext) -> Result<(), CallError> {
    driver.call_port(Hook::UpdatePrecommit, port).await?;
    driver.call_port(Hook::UpdatePostcommit, port).await
}

async fn delete(driver: &Harness, port: &PortContext) -> Result<(), CallError> {
    driver.call_port(Hook::DeletePrecommit, port).await?;
    driver.call_port(Hook::DeletePostcommit, port).await
}

/// `METHOD path` of each request after the login(s).
fn calls(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                r.url.strip_prefix(BASE).unwrap_or(&r.url)
            )
        })
        .collect()
}

/// The ports the driver's state says need the object under `key`.
fn members(driver: &Harness, key: &str) -> Vec<String> {
    driver.state_json(key).unwrap_or_default()
}

#[tokio::test]
async fn binding_a_vm_port_creates_the_vlan_and_trunks_it_on_every_interface_of_its_host() {
    let driver = nexus().await;

    bind(&driver, &bound_port("p1", "compute-1", 100))
        .await
        .unwrap();

    let requests = driver.http_requests();
    assert_eq!(
        calls(&requests),
        vec![
            "POST /api/aaaLogin.json",
            "POST /api/mo.json",
            "POST /api/mo/sys/intf/phys-[eth1/1].json",
            "POST /api/mo/sys/intf/aggr-[po20].json",
        ]
    );
    assert_eq!(
        requests[0].json(),
        json!({"aaaUser": {"attributes": {"name": "admin", "pwd": "secret"}}})
    );
    assert_eq!(
        requests[1].json(),
        json!({"topSystem": {"children": [{"bdEntity": {"children": [{"l2BD": {"attributes": {
            "fabEncap": "vlan-100", "pcTag": "1", "adminSt": "active"}}}]}}]}})
    );
    assert_eq!(
        requests[2].json(),
        json!({"l1PhysIf": {"attributes": {"trunkVlans": "+100", "mode": "trunk"}}})
    );
    assert_eq!(
        requests[3].json(),
        json!({"pcAggrIf": {"attributes": {"trunkVlans": "+100", "mode": "trunk"}}})
    );
    for r in &requests[1..] {
        let cookie = r.headers.iter().find(|(k, _)| k == "cookie");
        assert_eq!(
            cookie.map(|(_, v)| v.as_str()),
            Some("APIC-cookie=tok1"),
            "{r:?}"
        );
    }
    assert_eq!(members(&driver, "vlan/10.0.0.1/100/0"), vec!["p1"]);
    assert_eq!(
        members(&driver, "trunk/10.0.0.1/100/ethernet1/1"),
        vec!["p1"]
    );
    assert_eq!(
        members(&driver, "trunk/10.0.0.1/100/port-channel20"),
        vec!["p1"]
    );
}

#[tokio::test]
async fn the_vlan_stays_while_a_port_needs_it_and_goes_with_the_last_one() {
    let driver = nexus().await;
    let p1 = bound_port("p1", "compute-1", 100);
    let p2 = bound_port("p2", "compute-2", 100);
    let p3 = bound_port("p3", "compute-1", 100);
    for p in [&p1, &p2, &p3] {
        bind(&driver, p).await.unwrap();
    }
    driver.clear_records();

    delete(&driver, &p1).await.unwrap();
    let after_first = calls(&driver.http_requests());
    delete(&driver, &p2).await.unwrap();
    let after_second = calls(&driver.http_requests());
    driver.clear_records();
    delete(&driver, &p3).await.unwrap();

    assert!(
        after_first.is_empty(),
        "p3 still needs VLAN 100 on compute-1's trunks: {after_first:?}"
    );
    assert_eq!(
        after_second,
        vec!["POST /api/mo/sys/intf/phys-[eth1/2].json"],
        "compute-2 has no port left: only its trunk changes"
    );
    let last = driver.http_requests();
    assert_eq!(
        calls(&last),
        vec![
            "POST /api/mo/sys/intf/phys-[eth1/1].json",
            "POST /api/mo/sys/intf/aggr-[po20].json",
            "DELETE /api/mo/sys/bd/bd-[vlan-100].json",
        ]
    );
    assert_eq!(
        last[0].json(),
        json!({"l1PhysIf": {"attributes": {"trunkVlans": "-100"}}})
    );
    for key in [
        "vlan/10.0.0.1/100/0",
        "trunk/10.0.0.1/100/ethernet1/1",
        "port/p1",
        "port/p3",
    ] {
        assert_eq!(driver.state(key), None, "{key} is gone");
    }
}

#[tokio::test]
async fn a_port_that_is_not_bound_or_not_a_supported_owner_touches_no_switch() {
    let driver = nexus().await;
    let unbound = fixtures::port("p1")
        .host("compute-1")
        .segment(fixtures::vlan("physnet1", 100))
        .build();
    let mut foreign = bound_port("p2", "compute-1", 100);
    foreign.current.device_owner = "network:floatingip".into();
    let elsewhere = bound_port("p3", "compute-9", 100);

    for p in [&unbound, &foreign, &elsewhere] {
        driver.call_port(Hook::CreatePrecommit, p).await.unwrap();
        driver.call_port(Hook::CreatePostcommit, p).await.unwrap();
        bind(&driver, p).await.unwrap();
        delete(&driver, p).await.unwrap();
    }

    assert!(driver.http_requests().is_empty());
    assert!(driver.state_writes().is_empty());
}

#[tokio::test]
async fn moving_a_port_to_another_host_moves_the_vlan_between_trunks() {
    let driver = nexus().await;
    let p1 = bound_port("p1", "compute-1", 100);
    bind(&driver, &p1).await.unwrap();
    driver.clear_records();
    // The host changes: the server first unbinds (update with vif_type unbound) ...
    let mut unbound = p1.clone();
    unbound.original = Some(p1.current.clone());
    unbound.host = "compute-2".into();
    unbound.vif_type = "unbound".into();
    unbound.binding_levels.clear();
    bind(&driver, &unbound).await.unwrap();
    let unbinding = calls(&driver.http_requests());
    driver.clear_records();
    // ... then binds on the new host.
    bind(&driver, &bound_port("p1", "compute-2", 100))
        .await
        .unwrap();

    assert_eq!(
        unbinding,
        vec![
            "POST /api/mo/sys/intf/phys-[eth1/1].json",
            "POST /api/mo/sys/intf/aggr-[po20].json",
            "DELETE /api/mo/sys/bd/bd-[vlan-100].json",
        ]
    );
    assert_eq!(
        calls(&driver.http_requests()),
        vec![
            "POST /api/mo.json",
            "POST /api/mo/sys/intf/phys-[eth1/2].json"
        ]
    );
}

#[tokio::test]
async fn an_expired_session_logs_in_again_once_and_the_call_succeeds() {
    let driver = login_ok(switch_ok(builder(nexus_config())), "tok1")
        .http_sequence(
            "POST",
            &url("api/aaaLogin.json"),
            vec![
                Reply::Response {
                    status: 200,
                    headers: vec![("set-cookie".into(), "APIC-cookie=tok1".into())],
                    body: b"{}".to_vec(),
                },
                Reply::Response {
                    status: 200,
                    headers: vec![("set-cookie".into(), "APIC-cookie=tok2".into())],
                    body: b"{}".to_vec(),
                },
            ],
        )
        .http_sequence(
            "POST",
            &url("api/mo.json"),
            vec![
                Reply::Response {
                    status: 403,
                    headers: vec![],
                    body: br#"{"imdata":[{"error":{"attributes":{"code":"403","text":"Token was invalid"}}}]}"#.to_vec(),
                },
                Reply::Response {
                    status: 200,
                    headers: vec![],
                    body: br#"{"imdata":[]}"#.to_vec(),
                },
            ],
        )
        .build()
        .await
        .unwrap();

    bind(&driver, &bound_port("p1", "compute-2", 100))
        .await
        .unwrap();

    let requests = driver.http_requests();
    assert_eq!(
        calls(&requests),
        vec![
            "POST /api/aaaLogin.json",
            "POST /api/mo.json",
            "POST /api/aaaLogin.json",
            "POST /api/mo.json",
            "POST /api/mo/sys/intf/phys-[eth1/2].json",
        ]
    );
    let cookie = |r: &RecordedRequest| {
        r.headers
            .iter()
            .find(|(k, _)| k == "cookie")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(cookie(&requests[1]).as_deref(), Some("APIC-cookie=tok1"));
    assert_eq!(cookie(&requests[3]).as_deref(), Some("APIC-cookie=tok2"));
    assert_eq!(cookie(&requests[4]).as_deref(), Some("APIC-cookie=tok2"));
}

#[tokio::test]
async fn a_403_after_a_fresh_login_is_an_error_not_a_loop() {
    let driver = login_ok(builder(nexus_config()), "tok1")
        .http_json("POST", &url("api/mo.json"), 403, &json!({"imdata": []}))
        .build()
        .await
        .unwrap();

    let err = bind(&driver, &bound_port("p1", "compute-2", 100))
        .await
        .unwrap_err();

    let CallError::Driver { kind, message, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(kind, ErrorKind::Internal, "a 4xx is permanent");
    assert!(message.contains("answered 403"), "{message}");
    assert_eq!(
        calls(&driver.http_requests()),
        vec![
            "POST /api/aaaLogin.json",
            "POST /api/mo.json",
            "POST /api/aaaLogin.json",
            "POST /api/mo.json",
        ]
    );
}

#[tokio::test]
async fn a_switch_that_is_down_fails_the_call_as_unavailable_and_is_replayed_when_it_answers() {
    let down = builder(nexus_config())
        .http_error(
            "POST",
            &url("api/aaaLogin.json"),
            TransportError::Connect("connection refused".into()),
        )
        .build()
        .await
        .unwrap();
    let p1 = bound_port("p1", "compute-1", 100);

    let err = bind(&down, &p1).await.unwrap_err();

    let CallError::Driver { kind, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*kind, ErrorKind::Unavailable);
    assert_eq!(down.state("switch/10.0.0.1").as_deref(), Some(&b"down"[..]));
    let record: Value = down.state_json("port/p1").unwrap();
    assert_eq!(record["pending"].as_array().unwrap().len(), 3, "{record}");

    // The switch answers again (empty, after a reboot): the next call for it replays what
    // the counts say before its own change.
    let mut kept = std::collections::BTreeMap::new();
    for w in down.state_writes() {
        match w.value {
            Some(v) => kept.insert(w.key, v),
            None => kept.remove(&w.key),
        };
    }
    let back = kept
        .into_iter()
        .fold(switch_ok(builder(nexus_config())), |b, (k, v)| {
            b.state(k, v)
        })
        .build()
        .await
        .unwrap();
    bind(&back, &bound_port("p2", "compute-2", 200))
        .await
        .unwrap();

    let requests = back.http_requests();
    assert_eq!(
        calls(&requests),
        vec![
            "POST /api/aaaLogin.json",
            // The replay: every VLAN in one call, then each interface's trunk.
            "POST /api/mo.json",
            "POST /api/mo/sys/intf/phys-[eth1/1].json",
            "POST /api/mo/sys/intf/phys-[eth1/2].json",
            "POST /api/mo/sys/intf/aggr-[po20].json",
            // p2's own change.
            "POST /api/mo.json",
            "POST /api/mo/sys/intf/phys-[eth1/2].json",
        ]
    );
    let replayed = requests[1].json();
    let vlans: Vec<&str> = replayed["topSystem"]["children"][0]["bdEntity"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["l2BD"]["attributes"]["fabEncap"].as_str().unwrap())
        .collect();
    assert_eq!(vlans, vec!["vlan-100", "vlan-200"]);
    assert_eq!(
        requests[2].json(),
        json!({"l1PhysIf": {"attributes": {"trunkVlans": "+100", "mode": "trunk"}}})
    );
    assert_eq!(back.state("switch/10.0.0.1").as_deref(), Some(&b"up"[..]));
}

#[tokio::test]
async fn a_5xx_is_unavailable_and_a_4xx_is_permanent() {
    let busy = login_ok(builder(nexus_config()), "tok1")
        .http_json("POST", &url("api/mo.json"), 503, &json!({}))
        .build()
        .await
        .unwrap();
    let refused = login_ok(builder(nexus_config()), "tok1")
        .http_json("POST", &url("api/mo.json"), 400, &json!({}))
        .build()
        .await
        .unwrap();

    let e503 = bind(&busy, &bound_port("p1", "compute-2", 100))
        .await
        .unwrap_err();
    let e400 = bind(&refused, &bound_port("p1", "compute-2", 100))
        .await
        .unwrap_err();

    assert!(
        matches!(
            e503,
            CallError::Driver {
                kind: ErrorKind::Unavailable,
                ..
            }
        ),
        "{e503:?}"
    );
    assert!(
        matches!(
            e400,
            CallError::Driver {
                kind: ErrorKind::Internal,
                ..
            }
        ),
        "{e400:?}"
    );
}

#[tokio::test]
async fn a_baremetal_port_binds_with_vif_type_other_and_trunks_its_local_link() {
    let driver = nexus().await;
    let profile = json!({"local_link_information": [
        {"switch_ip": SWITCH, "port_id": "Ethernet1/2", "switch_info": "tor-1"}]});
    let port = fixtures::port("bm1")
        .host("ironic-conductor")
        .vnic_type("baremetal")
        .device_owner("baremetal:none")
        .profile(profile.clone())
        .segment(fixtures::vlan("physnet1", 200))
        .build();

    let result = driver.bind_port(&port).await.unwrap();
    let BindResult::Bound(binding) = result else {
        panic!("{result:?}")
    };
    let mut bound = port.clone();
    bound.vif_type = binding.vif_type.clone();
    bound.binding_levels = vec![level("cisco_nexus", fixtures::vlan("physnet1", 200))];
    bind(&driver, &bound).await.unwrap();

    assert_eq!(binding.vif_type, "other");
    assert_eq!(binding.status.as_deref(), Some("ACTIVE"));
    assert_eq!(binding.segment_id, "vlan-physnet1-200");
    assert_eq!(
        calls(&driver.http_requests()),
        vec![
            "POST /api/aaaLogin.json",
            "POST /api/mo.json",
            "POST /api/mo/sys/intf/phys-[eth1/2].json",
        ]
    );
}

#[tokio::test]
async fn a_baremetal_port_on_an_unknown_switch_is_not_bound() {
    let driver = nexus().await;
    let port = fixtures::port("bm1")
        .vnic_type("baremetal")
        .profile(json!({"local_link_information": [
            {"switch_ip": "10.9.9.9", "port_id": "Ethernet1/2"}]}))
        .segment(fixtures::vlan("physnet1", 200))
        .build();

    assert_eq!(driver.bind_port(&port).await.unwrap(), BindResult::NotBound);
}

#[tokio::test]
async fn a_vxlan_port_continues_on_a_dynamic_vlan_and_the_switch_maps_it_to_the_vni() {
    let driver = nexus().await;
    let port = fixtures::port("p1")
        .host("compute-2")
        .segment(fixtures::vxlan(5000))
        .build();

    let result = driver.bind_port(&port).await.unwrap();
    let BindResult::Continue(next) = result else {
        panic!("{result:?}")
    };
    assert_eq!(next.segment_id, "vxlan-5000");
    assert_eq!(next.next_segments.len(), 1);
    assert_eq!(next.next_segments[0].id, "", "a dynamic segment");
    assert_eq!(next.next_segments[0].network_type, "vlan");
    assert_eq!(
        next.next_segments[0].physical_network.as_deref(),
        Some("physnet1")
    );

    // ML2 allocated VLAN 300 and Open vSwitch bound it below.
    let mut bound = port.clone();
    bound.vif_type = "ovs".into();
    bound.binding_levels = vec![
        level("cisco_nexus", fixtures::vxlan(5000)),
        level("openvswitch", fixtures::vlan("physnet1", 300)),
    ];
    bind(&driver, &bound).await.unwrap();
    let created = driver.http_requests();
    driver.clear_records();
    delete(&driver, &bound).await.unwrap();

    assert_eq!(
        calls(&created),
        vec![
            "POST /api/aaaLogin.json",
            "POST /api/mo.json",
            "POST /api/mo/sys/epId-1/nws/vni-5000.json",
            "POST /api/mo/sys/intf/phys-[eth1/2].json",
        ]
    );
    assert_eq!(
        created[1].json()["topSystem"]["children"][0]["bdEntity"]["children"][0]["l2BD"]["attributes"],
        json!({"fabEncap": "vlan-300", "pcTag": "1", "adminSt": "active", "accEncap": "vxlan-5000"})
    );
    assert_eq!(
        created[2].json()["nvoNw"]["attributes"]["vni"],
        json!("5000")
    );
    assert_eq!(
        calls(&driver.http_requests()),
        vec![
            "POST /api/mo/sys/intf/phys-[eth1/2].json",
            "DELETE /api/mo/sys/epId-1/nws/vni-5000.json",
            "DELETE /api/mo/sys/bd/bd-[vlan-300].json",
        ]
    );
}

#[tokio::test]
async fn a_vxlan_port_on_a_host_without_a_switch_physnet_is_left_to_other_drivers() {
    let mut config = nexus_config();
    config["switches"][SWITCH]
        .as_object_mut()
        .unwrap()
        .remove("physnet");
    let driver = switch_ok(builder(config)).build().await.unwrap();
    let port = fixtures::port("p1")
        .host("compute-1")
        .segment(fixtures::vxlan(5000))
        .build();

    assert_eq!(driver.bind_port(&port).await.unwrap(), BindResult::NotBound);
}

#[tokio::test]
async fn only_the_managed_physical_network_is_configured() {
    let mut config = nexus_config();
    config["managed_physical_network"] = json!("physnet2");
    let driver = switch_ok(builder(config)).build().await.unwrap();

    bind(&driver, &bound_port("p1", "compute-1", 100))
        .await
        .unwrap();

    assert!(driver.http_requests().is_empty());
}

#[tokio::test]
async fn networking_ciscos_text_form_of_host_ports_mapping_is_accepted() {
    let mut config = nexus_config();
    config["switches"][SWITCH]["host_ports_mapping"] =
        json!("compute-1:[ethernet1/1,port-channel20],compute-2:[ethernet:1/2]");
    let driver = switch_ok(builder(config)).build().await.unwrap();

    bind(&driver, &bound_port("p1", "compute-2", 100))
        .await
        .unwrap();

    assert_eq!(
        calls(&driver.http_requests())[2],
        "POST /api/mo/sys/intf/phys-[eth1/2].json"
    );
}

#[tokio::test]
async fn a_bad_interface_name_or_a_wrong_type_refuses_the_load_naming_the_key() {
    let mut bad_iface = nexus_config();
    bad_iface["switches"][SWITCH]["host_ports_mapping"] = json!({"compute-1": ["vlan10"]});
    let mut bad_type = nexus_config();
    bad_type["switch_heartbeat_time"] = json!("often");

    let e1 = builder(bad_iface).build().await.err().expect("refused");
    let e2 = builder(bad_type).build().await.err().expect("refused");

    assert!(
        e1.to_string()
            .contains("switches.10.0.0.1.host_ports_mapping"),
        "{e1}"
    );
    assert!(e2.to_string().contains("switch_heartbeat_time"), "{e2}");
}

#[tokio::test]
async fn the_heartbeat_replays_a_switch_at_its_first_answer_then_keeps_to_its_period() {
    let mut config = nexus_config();
    config["switch_heartbeat_time"] = json!(3600);
    let chassis =
        json!({"imdata": [{"eqptCh": {"attributes": {"descr": "Nexus9000 C9396PX Chassis"}}}]});
    let driver = switch_ok(builder(config))
        .http_json("GET", &url("api/mo/sys/ch.json"), 200, &chassis)
        .state("vlan/10.0.0.1/100/0", br#"["p1"]"#.to_vec())
        .state("trunk/10.0.0.1/100/ethernet1/1", br#"["p1"]"#.to_vec())
        .build()
        .await
        .unwrap();

    driver.call_periodic().await.unwrap();
    let first = calls(&driver.http_requests());
    driver.clear_records();
    driver.call_periodic().await.unwrap();

    assert_eq!(
        first,
        vec![
            "POST /api/aaaLogin.json",
            "GET /api/mo/sys/ch.json",
            "POST /api/mo.json",
            "POST /api/mo/sys/intf/phys-[eth1/1].json",
        ]
    );
    assert!(
        driver.http_requests().is_empty(),
        "the next probe waits for switch_heartbeat_time"
    );
    assert_eq!(driver.state("switch/10.0.0.1").as_deref(), Some(&b"up"[..]));
}

#[tokio::test]
async fn a_switch_the_heartbeat_cannot_reach_is_marked_down_and_zero_turns_the_heartbeat_off() {
    let mut config = nexus_config();
    config["switch_heartbeat_time"] = json!(1);
    let down = builder(config.clone())
        .state("switch/10.0.0.1", b"up".to_vec())
        .http_error(
            "POST",
            &url("api/aaaLogin.json"),
            TransportError::Connect("connection refused".into()),
        )
        .build()
        .await
        .unwrap();
    let off = {
        let mut c = nexus_config();
        c["switch_heartbeat_time"] = json!(0);
        builder(c).build().await.unwrap()
    };

    let err = down.call_periodic().await.unwrap_err();
    off.call_periodic().await.unwrap();

    assert!(
        matches!(
            err,
            CallError::Driver {
                kind: ErrorKind::Unavailable,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(down.state("switch/10.0.0.1").as_deref(), Some(&b"down"[..]));
    assert!(
        off.http_requests().is_empty(),
        "switch_heartbeat_time = 0: no heartbeat"
    );
}

/// A bound baremetal port of `node` on VLAN 200, cabled to `ifaces` of the switch.
fn bound_baremetal(id: &str, ifaces: &[&str]) -> PortContext {
    let links: Vec<Value> = ifaces
        .iter()
        .map(|i| json!({"switch_ip": SWITCH, "port_id": i}))
        .collect();
    let segment = fixtures::vlan("physnet1", 200);
    let mut port = fixtures::port(id)
        .host("ironic-conductor")
        .vnic_type("baremetal")
        .device_owner("baremetal:none")
        .profile(json!({"local_link_information": links}))
        .segment(segment.clone())
        .build();
    port.vif_type = "other".into();
    port.binding_levels = vec![level("cisco_nexus", segment)];
    port
}

#[tokio::test]
async fn a_baremetal_port_with_two_interfaces_gets_a_port_channel_and_an_empty_pool_is_a_conflict()
{
    let mut config = nexus_config();
    config["switches"][SWITCH]["vpc_pool"] = json!("1001");
    let driver = switch_ok(builder(config))
        .http_json(
            "POST",
            &url("api/mo/sys/intf/aggr-[po1001].json"),
            200,
            &json!({"imdata": []}),
        )
        .http_json(
            "GET",
            &url("api/mo/sys/intf.json?query-target=subtree&target-subtree-class=pcRsMbrIfs"),
            200,
            &json!({"totalCount": "0", "imdata": []}),
        )
        .build()
        .await
        .unwrap();
    let first = bound_baremetal("bm1", &["Ethernet1/7", "Ethernet1/8"]);
    let second = bound_baremetal("bm2", &["Ethernet1/9", "Ethernet1/10"]);

    bind(&driver, &first).await.unwrap();
    assert_eq!(
        calls(&driver.http_requests()),
        vec![
            "POST /api/aaaLogin.json",
            "GET /api/mo/sys/intf.json?query-target=subtree&target-subtree-class=pcRsMbrIfs",
            "POST /api/mo.json", // VLAN 200
            "POST /api/mo.json", // port-channel1001, vpc 1001
            "POST /api/mo.json", // ethernet1/7 and 1/8 into it
            "POST /api/mo/sys/intf/aggr-[po1001].json",
        ]
    );
    let body = driver.http_requests()[4].json();
    let pc = &body["topSystem"]["children"][0]["interfaceEntity"]["children"][0]["pcAggrIf"];
    assert_eq!(pc["attributes"]["pcMode"], "active");
    assert_eq!(
        pc["children"][1]["pcRsMbrIfs"]["attributes"]["tDn"],
        "sys/intf/phys-[eth1/7]"
    );
    assert_eq!(
        pc["children"][2]["pcRsMbrIfs"]["attributes"]["tDn"],
        "sys/intf/phys-[eth1/8]"
    );

    // The pool's only id is taken: networking-cisco's NexusVPCAllocFailure.
    driver.clear_records();
    let e = bind(&driver, &second).await.unwrap_err();
    assert!(
        matches!(&e, CallError::Driver { kind: ErrorKind::Conflict, message, .. } if message.contains("vpc_pool")),
        "{e:?}"
    );
    assert_eq!(
        calls(&driver.http_requests()),
        vec!["GET /api/mo/sys/intf.json?query-target=subtree&target-subtree-class=pcRsMbrIfs"],
        "only the question whether the interfaces are in a port channel"
    );

    // The first port goes and frees 1001; the second port's retry takes it.
    delete(&driver, &first).await.unwrap();
    assert_eq!(driver.state("vpc/1001/10.0.0.1"), None);
    bind(&driver, &second).await.unwrap();
    assert_eq!(
        members(&driver, "pcm/10.0.0.1/1001/ethernet1/9"),
        vec!["bm2"]
    );
}

#[tokio::test]
async fn a_bad_vpc_pool_or_mcast_range_refuses_the_load_naming_the_key() {
    let mut bad_pool = nexus_config();
    bad_pool["switches"][SWITCH]["vpc_pool"] = json!("1001-5000");
    let mut bad_mcast = nexus_config();
    bad_mcast["mcast_ranges"] = json!("10.0.0.1:10.0.0.3");

    let e1 = builder(bad_pool).build().await.err().expect("refused");
    let e2 = builder(bad_mcast).build().await.err().expect("refused");

    assert!(
        e1.to_string().contains("switches.10.0.0.1.vpc_pool"),
        "{e1}"
    );
    assert!(e2.to_string().contains("mcast_ranges"), "{e2}");
}
