//! Port attributes Neutron's ML2 plugin and its extension drivers add, as neutron-lib defines
//! them: `device_profile` (`port-device-profile`: set on create only),
//! `numa_affinity_policy` (`port-numa-affinity-policy`, `…-socket`: not while bound),
//! `extra_dhcp_opts` (`extra_dhcp_opt`: merged on update, removed by a `null` value),
//! `port-mac-override` (a direct-physical port takes the MAC its binding profile names), and
//! `[ml2] extension_drivers`, which leaves the attributes and aliases of unlisted drivers out.

use neutrino_tests::{TestServer, s};
use serde_json::{Value, json};

fn port_path(port: &Value) -> String {
    format!("/v2.0/ports/{}", s(port, "id"))
}

fn opt(name: &str, value: &str, version: i64) -> Value {
    json!({"opt_name": name, "opt_value": value, "ip_version": version})
}

#[tokio::test]
async fn a_device_profile_is_set_on_create_shown_and_never_updated() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let plain = c.port(s(&net, "id"), json!({})).await;
    let empty = c.port(s(&net, "id"), json!({"device_profile": ""})).await;
    let port = c
        .port(s(&net, "id"), json!({"device_profile": "gpu-profile"}))
        .await;

    assert_eq!(plain["device_profile"], Value::Null, "{plain}");
    assert_eq!(
        empty["device_profile"],
        Value::Null,
        "an empty profile is none"
    );
    assert_eq!(port["device_profile"], "gpu-profile");
    let shown = c.get_ok(&port_path(&port)).await;
    assert_eq!(shown["port"]["device_profile"], "gpu-profile");
    let listed = c
        .get_ok(&format!("/v2.0/ports?id={}", s(&port, "id")))
        .await;
    assert_eq!(listed["ports"][0]["device_profile"], "gpu-profile");
    let only = c
        .get_ok(&format!("{}?fields=device_profile", port_path(&port)))
        .await;
    assert_eq!(only["port"], json!({"device_profile": "gpu-profile"}));

    let r = c
        .put(
            &port_path(&port),
            json!({"port": {"device_profile": "other"}}),
        )
        .await;
    assert_eq!(
        r.expect_error(400, "HTTPBadRequest"),
        "Cannot update read-only attribute device_profile"
    );
    // Not filterable in neutron-lib's definition.
    let r = c.get("/v2.0/ports?device_profile=gpu-profile").await;
    assert_eq!(r.status, 400, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn a_device_profile_is_a_string_of_at_most_255_characters() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let create = |v: Value| {
        let c = &c;
        let net_id = s(&net, "id").to_string();
        async move {
            c.post(
                "/v2.0/ports",
                json!({"port": {"network_id": net_id, "device_profile": v}}),
            )
            .await
        }
    };

    let r = create(json!(5)).await;
    assert_eq!(
        r.expect_error(400, "HTTPBadRequest"),
        "Invalid input for device_profile. Reason: '5' is not a valid string."
    );
    let long = "p".repeat(256);
    let r = create(json!(long)).await;
    assert_eq!(
        r.expect_error(400, "HTTPBadRequest"),
        format!(
            "Invalid input for device_profile. Reason: '{long}' exceeds maximum length of 255."
        )
    );
    let r = create(json!("p".repeat(255))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn numa_affinity_policies_are_neutrons_four_including_socket() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let plain = c.port(s(&net, "id"), json!({})).await;
    assert_eq!(plain["numa_affinity_policy"], Value::Null, "{plain}");
    for policy in ["required", "preferred", "legacy", "socket"] {
        let p = c
            .port(s(&net, "id"), json!({"numa_affinity_policy": policy}))
            .await;
        assert_eq!(p["numa_affinity_policy"], policy);
        let shown = c.get_ok(&port_path(&p)).await;
        assert_eq!(shown["port"]["numa_affinity_policy"], policy);
    }

    for bad in [json!("strict"), json!(1), json!("")] {
        let r = c
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": s(&net, "id"), "numa_affinity_policy": bad}}),
            )
            .await;
        let shown = bad.as_str().map(String::from).unwrap_or(bad.to_string());
        assert_eq!(
            r.expect_error(400, "HTTPBadRequest"),
            format!(
                "Invalid input for numa_affinity_policy. Reason: {shown} is not in valid_values."
            )
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_numa_affinity_policy_changes_and_clears_while_the_port_is_unbound() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let port = c
        .port(s(&net, "id"), json!({"numa_affinity_policy": "legacy"}))
        .await;

    let r = c
        .put(
            &port_path(&port),
            json!({"port": {"numa_affinity_policy": "socket"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["port"]["numa_affinity_policy"], "socket");
    assert_eq!(
        r.body["port"]["revision_number"],
        port["revision_number"].as_i64().unwrap() + 1
    );

    let r = c
        .put(
            &port_path(&port),
            json!({"port": {"numa_affinity_policy": null}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["port"]["numa_affinity_policy"], Value::Null);
    let shown = c.get_ok(&port_path(&port)).await;
    assert_eq!(shown["port"]["numa_affinity_policy"], Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn a_bound_ports_numa_affinity_policy_cannot_change() {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();
    let r = c
        .load_driver(
            "recorder",
            "recorder",
            json!({"grants": ["log", "config", "state"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let net = c.network("n").await;
    let port = c
        .port(
            s(&net, "id"),
            json!({"binding:host_id": "h1", "numa_affinity_policy": "required"}),
        )
        .await;
    assert_eq!(port["binding:vif_type"], "ovs", "{port}");

    let r = c
        .put(
            &port_path(&port),
            json!({"port": {"numa_affinity_policy": "preferred"}}),
        )
        .await;

    assert_eq!(
        r.expect_error(409, "PortBoundNUMAAffinityPolicy"),
        format!(
            "Unable to complete operation on port {}, port is already bound to host h1, \
             numa_affinity_policy value given preferred.",
            s(&port, "id")
        )
    );
    let shown = c.get_ok(&port_path(&port)).await;
    assert_eq!(shown["port"]["numa_affinity_policy"], "required");
    server.stop().await;
}

#[tokio::test]
async fn extra_dhcp_opts_are_stored_as_given_and_options_without_a_value_are_left_out() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let plain = c.port(s(&net, "id"), json!({})).await;
    assert_eq!(plain["extra_dhcp_opts"], json!([]), "{plain}");

    let port = c
        .port(
            s(&net, "id"),
            json!({"extra_dhcp_opts": [
                {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
                {"opt_name": "tftp-server", "opt_value": "192.0.2.9", "ip_version": "4"},
                {"opt_name": "dns-server", "opt_value": "[2001:db8::1]", "ip_version": 6},
                {"opt_name": "router", "opt_value": ""},
                {"opt_name": "server-ip-address", "opt_value": null},
            ]}),
        )
        .await;

    let expected = json!([
        opt("bootfile-name", "pxelinux.0", 4),
        opt("tftp-server", "192.0.2.9", 4),
        opt("dns-server", "[2001:db8::1]", 6),
        opt("router", "", 4),
    ]);
    assert_eq!(port["extra_dhcp_opts"], expected);
    let shown = c.get_ok(&port_path(&port)).await;
    assert_eq!(shown["port"]["extra_dhcp_opts"], expected);
    let listed = c
        .get_ok(&format!("/v2.0/ports?id={}", s(&port, "id")))
        .await;
    assert_eq!(listed["ports"][0]["extra_dhcp_opts"], expected);
    server.stop().await;
}

#[tokio::test]
async fn an_update_merges_options_by_name_and_ip_version_and_a_null_value_removes_one() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let port = c
        .port(
            s(&net, "id"),
            json!({"extra_dhcp_opts": [
                opt("bootfile-name", "pxelinux.0", 4),
                opt("tftp-server", "192.0.2.9", 4),
                opt("tftp-server", "2001:db8::9", 6),
            ]}),
        )
        .await;

    let r = c
        .put(
            &port_path(&port),
            json!({"port": {"extra_dhcp_opts": [
                {"opt_name": "bootfile-name", "opt_value": "ipxe.efi"},
                {"opt_name": "tftp-server", "opt_value": null, "ip_version": 6},
                {"opt_name": "server-ip-address", "opt_value": "192.0.2.1"},
                {"opt_name": "domain-search", "opt_value": null},
            ]}}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let expected = json!([
        opt("bootfile-name", "ipxe.efi", 4),
        opt("tftp-server", "192.0.2.9", 4),
        opt("server-ip-address", "192.0.2.1", 4),
    ]);
    assert_eq!(r.body["port"]["extra_dhcp_opts"], expected);
    assert_eq!(
        c.get_ok(&port_path(&port)).await["port"]["extra_dhcp_opts"],
        expected
    );

    // An empty list or null changes nothing.
    for nothing in [json!([]), Value::Null] {
        let r = c
            .put(
                &port_path(&port),
                json!({"port": {"extra_dhcp_opts": nothing}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["port"]["extra_dhcp_opts"], expected);
    }
    server.stop().await;
}

#[tokio::test]
async fn extra_dhcp_opts_are_validated_with_neutrons_key_specs_and_messages() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let port = c.port(s(&net, "id"), json!({})).await;
    let long_name = "n".repeat(65);
    let cases = [
        (
            json!("bootfile-name"),
            "'bootfile-name' is not a list.".to_string(),
        ),
        (
            json!([{"opt_name": "bootfile-name"}]),
            "No valid key specs matched for: {'opt_name': 'bootfile-name'}.".to_string(),
        ),
        (
            json!([{"opt_name": "bootfile-name", "opt_value": ""}]),
            "No valid key specs matched for: {'opt_name': 'bootfile-name', 'opt_value': ''}."
                .to_string(),
        ),
        (
            json!([{"opt_name": "bootfile-name", "opt_value": "a\nb"}]),
            "No valid key specs matched for: {'opt_name': 'bootfile-name', 'opt_value': 'a\\nb'}."
                .to_string(),
        ),
        (
            json!([{"opt_name": "x", "opt_value": "1", "ip_version": 5}]),
            "No valid key specs matched for: {'ip_version': 5, 'opt_name': 'x', 'opt_value': '1'}."
                .to_string(),
        ),
        (
            json!([{"opt_name": "x", "opt_value": "1", "ip_version": "four"}]),
            "'four' is not an integer.".to_string(),
        ),
        (
            json!([{"opt_name": "x", "opt_value": "1", "tag": "t"}]),
            "No valid key specs matched for: {'opt_name': 'x', 'opt_value': '1', 'tag': 't'}."
                .to_string(),
        ),
        (
            json!([{"opt_name": long_name, "opt_value": "1"}]),
            format!(
                "No valid key specs matched for: {{'opt_name': '{long_name}', 'opt_value': '1'}}."
            ),
        ),
        (
            json!([opt("x", "1", 4), opt("x", "1", 4)]),
            "Duplicate items in the list: '{'ip_version': 4, 'opt_name': 'x', 'opt_value': '1'}'."
                .to_string(),
        ),
    ];

    for (value, message) in cases {
        let create = c
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": s(&net, "id"), "extra_dhcp_opts": value}}),
            )
            .await;
        let update = c
            .put(
                &port_path(&port),
                json!({"port": {"extra_dhcp_opts": value}}),
            )
            .await;
        let expected = format!("Invalid input for operation: {message}");
        assert_eq!(
            create.expect_error(400, "InvalidInput"),
            expected,
            "{value}"
        );
        assert_eq!(
            update.expect_error(400, "InvalidInput"),
            expected,
            "{value}"
        );
    }
    let shown = c.get_ok(&port_path(&port)).await;
    assert_eq!(shown["port"]["extra_dhcp_opts"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_clients_changing_one_ports_options_lose_nothing() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let initial: Vec<Value> = (0..16).map(|i| opt(&format!("old-{i}"), "v", 4)).collect();
    let port = c
        .port(s(&net, "id"), json!({"extra_dhcp_opts": initial}))
        .await;

    // Half the clients remove one old option each, the other half add one new option each.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let c = server.admin();
        let path = port_path(&port);
        tasks.spawn(async move {
            let change = if i < 16 {
                json!({"opt_name": format!("old-{i}"), "opt_value": null})
            } else {
                opt(&format!("new-{i}"), &format!("value-{i}"), 4)
            };
            let r = c
                .put(&path, json!({"port": {"extra_dhcp_opts": [change]}}))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    let shown = c.get_ok(&port_path(&port)).await["port"].clone();
    let mut names: Vec<String> = shown["extra_dhcp_opts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let name = s(o, "opt_name");
            let i = &name[4..];
            assert_eq!(o["opt_value"], format!("value-{i}"), "{o}");
            name.to_string()
        })
        .collect();
    names.sort();
    let mut expected: Vec<String> = (16..32).map(|i| format!("new-{i}")).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(
        shown["revision_number"],
        port["revision_number"].as_i64().unwrap() + 32
    );
    let listed = c
        .get_ok(&format!("/v2.0/ports?id={}", s(&port, "id")))
        .await;
    assert_eq!(
        listed["ports"][0]["extra_dhcp_opts"],
        shown["extra_dhcp_opts"]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_direct_physical_port_takes_the_mac_its_binding_profile_names() {
    let server = TestServer::start().await;
    // Nova sets `binding:profile` (the `service` role, Neutron's default policy).
    let c = server.admin().with_roles("admin", "admin,service");
    let net = c.network("n").await;
    let normal = c
        .port(
            s(&net, "id"),
            json!({
                "binding:host_id": "h1",
                "binding:profile": {"device_mac_address": "b4:96:91:34:f4:01"},
            }),
        )
        .await;
    assert_ne!(
        normal["mac_address"], "b4:96:91:34:f4:01",
        "only direct-physical ports take the profile's MAC"
    );

    let pf = c
        .port(
            s(&net, "id"),
            json!({
                "binding:host_id": "h1",
                "binding:vnic_type": "direct-physical",
                "binding:profile": {"device_mac_address": "B4:96:91:34:F4:AA"},
            }),
        )
        .await;
    assert_eq!(pf["mac_address"], "b4:96:91:34:f4:aa", "{pf}");
    assert_eq!(
        c.get_ok(&port_path(&pf)).await["port"]["mac_address"],
        "b4:96:91:34:f4:aa"
    );

    // Bound elsewhere (a new profile), the port takes that device's MAC…
    let r = c
        .put(
            &port_path(&pf),
            json!({"port": {
                "binding:host_id": "h2",
                "binding:profile": {"device_mac_address": "b4:96:91:34:f4:bb"},
            }}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["port"]["mac_address"], "b4:96:91:34:f4:bb");
    // …and without one in the profile it gets a new MAC, not the last device's.
    let r = c
        .put(&port_path(&pf), json!({"port": {"binding:profile": {}}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mac = s(&r.body["port"], "mac_address");
    assert_ne!(mac, "b4:96:91:34:f4:bb");
    assert!(mac.starts_with("fa:16:3e:"), "{mac}");
    server.stop().await;
}

fn aliases(v: &Value) -> Vec<String> {
    v["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(e, "alias").to_string())
        .collect()
}

#[tokio::test]
async fn every_served_extension_driver_is_on_by_default() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let port = c
        .port(
            s(&net, "id"),
            json!({"tags": ["t"], "numa_affinity_policy": "socket"}),
        )
        .await;

    for key in [
        "device_profile",
        "numa_affinity_policy",
        "extra_dhcp_opts",
        "port_security_enabled",
    ] {
        assert!(port.get(key).is_some(), "{key}: {port}");
    }
    assert!(net.get("port_security_enabled").is_some(), "{net}");
    let all = aliases(&c.get_ok("/v2.0/extensions").await);
    for alias in [
        "port-device-profile",
        "port-numa-affinity-policy",
        "port-numa-affinity-policy-socket",
        "port-security",
        "tag-ports-during-bulk-creation",
        "extra_dhcp_opt",
        "port-mac-override",
    ] {
        assert!(all.iter().any(|a| a == alias), "{alias} in {all:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn extension_drivers_leave_out_the_attributes_and_aliases_of_unlisted_drivers() {
    let server = TestServer::with_config(|c| {
        c.ml2.extension_drivers = Some(vec!["port_security".into()]);
    })
    .await;
    let c = server.admin();
    let net = c.network("n").await;

    let port = c.port(s(&net, "id"), json!({})).await;

    assert!(port.get("device_profile").is_none(), "{port}");
    assert!(port.get("numa_affinity_policy").is_none(), "{port}");
    assert_eq!(port["port_security_enabled"], true);
    assert_eq!(
        port["extra_dhcp_opts"],
        json!([]),
        "extra_dhcp_opt is ML2's own"
    );
    let shown = c.get_ok(&port_path(&port)).await;
    assert!(shown["port"].get("numa_affinity_policy").is_none());
    let listed = c.get_ok("/v2.0/ports").await;
    assert!(listed["ports"][0].get("device_profile").is_none());
    for (key, value) in [
        ("device_profile", json!("p")),
        ("numa_affinity_policy", json!("socket")),
    ] {
        let r = c
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": s(&net, "id"), key: value}}),
            )
            .await;
        assert_eq!(
            r.expect_error(400, "HTTPBadRequest"),
            format!("Unrecognized attribute(s) '{key}'")
        );
    }
    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id"), "tags": ["t"]}}),
        )
        .await;
    assert_eq!(
        r.expect_error(400, "HTTPBadRequest"),
        "Attribute 'tags' not allowed in POST"
    );
    let all = aliases(&c.get_ok("/v2.0/extensions").await);
    for gone in [
        "port-device-profile",
        "port-numa-affinity-policy",
        "port-numa-affinity-policy-socket",
        "tag-ports-during-bulk-creation",
    ] {
        assert!(!all.iter().any(|a| a == gone), "{gone} in {all:?}");
        let r = c.get(&format!("/v2.0/extensions/{gone}")).await;
        assert_eq!(r.status, 404, "{gone}");
    }
    assert!(all.iter().any(|a| a == "port-security"));
    assert!(all.iter().any(|a| a == "extra_dhcp_opt"));
    server.stop().await;
}

#[tokio::test]
async fn without_port_security_networks_and_ports_carry_no_port_security_enabled() {
    let server = TestServer::with_config(|c| {
        c.ml2.extension_drivers = Some(vec!["port_numa_affinity_policy".into()]);
    })
    .await;
    let c = server.admin();

    let net = c.network("n").await;
    let port = c
        .port(s(&net, "id"), json!({"numa_affinity_policy": "required"}))
        .await;

    assert!(net.get("port_security_enabled").is_none(), "{net}");
    assert!(port.get("port_security_enabled").is_none(), "{port}");
    assert_eq!(port["numa_affinity_policy"], "required");
    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"port_security_enabled": false}}),
        )
        .await;
    assert_eq!(
        r.expect_error(400, "HTTPBadRequest"),
        "Unrecognized attribute(s) 'port_security_enabled'"
    );
    let all = aliases(&c.get_ok("/v2.0/extensions").await);
    assert!(!all.iter().any(|a| a == "port-security"), "{all:?}");
    assert!(all.iter().any(|a| a == "port-numa-affinity-policy-socket"));
    server.stop().await;
}
