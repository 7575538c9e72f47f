//! What OpenStack's own API suites (Tempest's `tempest.api.network`, the
//! neutron-tempest-plugin) expect of the core API, as plain requests: each test pins
//! Neutron's status, error type and, where the suites match text, its message.

use neutrino_tests::{Client, Resp, TestServer, s};
use serde_json::{Value, json};

async fn group(c: &Client, body: Value) -> Value {
    let r = c
        .post("/v2.0/security-groups", json!({ "security_group": body }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["security_group"].clone()
}

async fn rule(c: &Client, body: Value) -> Resp {
    c.post(
        "/v2.0/security-group-rules",
        json!({ "security_group_rule": body }),
    )
    .await
}

async fn shared_network(admin: &Client, name: &str, cidr: &str) -> (Value, Value) {
    let r = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": name, "shared": true}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let net = r.body["network"].clone();
    let sub = admin.subnet(s(&net, "id"), cidr).await;
    (net, sub)
}

fn ids(r: &Resp, collection: &str) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v = r.ids(collection);
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// ---------------------------------------------------------------- queries and revisions

#[tokio::test]
async fn subnets_filter_on_their_networks_shared_as_the_caller_sees_it() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice_id = uuid::Uuid::new_v4().simple().to_string();
    let alice = server.project(&alice_id);
    let (_, public) = shared_network(&admin, "public", "10.1.0.0/24").await;
    let (own_net, own) = alice.network_with_subnet("own", "10.2.0.0/24").await;
    // Shared with alice alone, through an RBAC entry.
    let (for_alice, _) = admin.network_with_subnet("for-alice", "10.3.0.0/24").await;
    let grant = admin
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "network", "object_id": for_alice["id"],
                   "action": "access_as_shared", "target_tenant": alice_id}}),
        )
        .await;
    assert_eq!(grant.status, 201, "{}", grant.body);
    let rbac_sub = admin
        .get_ok(&format!("/v2.0/subnets?network_id={}", s(&for_alice, "id")))
        .await["subnets"][0]
        .clone();

    let shared = alice.get("/v2.0/subnets?shared=True").await;
    let unshared = alice.get("/v2.0/subnets?shared=False").await;
    let either = alice.get("/v2.0/subnets?shared=True&shared=False").await;
    let bad = alice.get("/v2.0/subnets?shared=maybe").await;

    assert_eq!(
        ids(&shared, "subnets"),
        sorted(vec![
            s(&public, "id").to_string(),
            s(&rbac_sub, "id").to_string()
        ])
    );
    assert_eq!(ids(&unshared, "subnets"), vec![s(&own, "id").to_string()]);
    assert_eq!(ids(&either, "subnets").len(), 3);
    bad.expect_error(400, "InvalidInput");
    // `shared` is filterable but not shown.
    assert!(shared.items("subnets")[0].get("shared").is_none());
    // Alice's own network is not shared, whoever asks.
    let admin_view = admin
        .get(&format!(
            "/v2.0/subnets?shared=False&network_id={}",
            s(&own_net, "id")
        ))
        .await;
    assert_eq!(ids(&admin_view, "subnets"), vec![s(&own, "id").to_string()]);
    server.stop().await;
}

#[tokio::test]
async fn creating_updating_and_deleting_a_subnet_revises_its_network() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let path = format!("/v2.0/networks/{}", s(&net, "id"));
    let rev = |v: &Value| v["network"]["revision_number"].as_i64().unwrap();
    let start = rev(&c.get_ok(&path).await);

    let sub = c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let after_create = rev(&c.get_ok(&path).await);
    let u = c
        .put(
            &format!("/v2.0/subnets/{}", s(&sub, "id")),
            json!({"subnet": {"name": "renamed"}}),
        )
        .await;
    assert_eq!(u.status, 200, "{}", u.body);
    let after_update = rev(&c.get_ok(&path).await);
    let d = c.delete(&format!("/v2.0/subnets/{}", s(&sub, "id"))).await;
    assert_eq!(d.status, 204, "{}", d.body);
    let after_delete = rev(&c.get_ok(&path).await);

    assert!(after_create > start, "{start} -> {after_create}");
    assert!(
        after_update > after_create,
        "{after_create} -> {after_update}"
    );
    assert!(
        after_delete > after_update,
        "{after_update} -> {after_delete}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_ports_revision_follows_its_addresses_and_groups() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let port = c.port(s(&net, "id"), json!({})).await;
    let path = format!("/v2.0/ports/{}", s(&port, "id"));
    let g = group(&c, json!({"name": "web"})).await;
    let rev = |v: &Value| v["port"]["revision_number"].as_i64().unwrap();
    let start = rev(&c.get_ok(&path).await);

    let ips = c
        .put(
            &path,
            json!({"port": {"fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.0.0.50"}]}}),
        )
        .await;
    let after_ips = rev(&ips.body);
    let groups = c
        .put(&path, json!({"port": {"security_groups": [g["id"]]}}))
        .await;
    let after_groups = rev(&groups.body);

    assert!(after_ips > start, "{start} -> {after_ips}");
    assert!(after_groups > after_ips, "{after_ips} -> {after_groups}");
    assert_eq!(rev(&c.get_ok(&path).await), after_groups);
    server.stop().await;
}

#[tokio::test]
async fn an_empty_last_page_links_back_to_the_end() {
    let server = TestServer::start().await;
    let c = server.admin();
    let mut made = Vec::new();
    for n in ["a", "b"] {
        made.push(s(&c.network(n).await, "id").to_string());
    }
    made.sort();

    // Walk forward with limit=1 until there is no "next".
    let mut uri = "/v2.0/networks?limit=1&sort_key=id&sort_dir=asc".to_string();
    let mut seen = Vec::new();
    let last_links = loop {
        let page = c.get_ok(&uri).await;
        for n in page["networks"].as_array().unwrap() {
            seen.push(s(n, "id").to_string());
        }
        let links = page["networks_links"].as_array().unwrap().clone();
        match links.iter().find(|l| l["rel"] == "next") {
            Some(next) => {
                let href = next["href"].as_str().unwrap();
                uri = href[href.find("/v2.0").unwrap()..].to_string();
            }
            None => break (page, links),
        }
    };
    let (page, links) = last_links;

    assert_eq!(seen, made);
    assert_eq!(
        page["networks"],
        json!([]),
        "the walk ends on an empty page"
    );
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0]["rel"], "previous");
    let back = links[0]["href"].as_str().unwrap();
    assert!(back.contains("page_reverse=True"), "{back}");
    assert!(!back.contains("marker="), "{back}");
    let back = c.get_ok(&back[back.find("/v2.0").unwrap()..]).await;
    assert_eq!(back["networks"][0]["id"], made[1].as_str());
    server.stop().await;
}

#[tokio::test]
async fn pagination_links_name_the_proxy_the_client_reached() {
    let server = TestServer::with_config(|c| {
        c.oslo_middleware.enable_proxy_headers_parsing = true;
    })
    .await;
    let c = server.admin();
    c.network("a").await;
    c.network("b").await;
    let next = |r: &Resp| {
        r.body["networks_links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| l["href"].as_str().unwrap().to_string())
            .unwrap()
    };

    let legacy = c
        .send(
            reqwest::Method::GET,
            "/v2.0/networks?limit=1",
            None,
            &[
                ("X-Forwarded-Host", "lb.example.org:8443"),
                ("X-Forwarded-Proto", "https"),
            ],
        )
        .await;
    let rfc7239 = c
        .send(
            reqwest::Method::GET,
            "/v2.0/networks?limit=1",
            None,
            &[(
                "Forwarded",
                "for=192.0.2.60;proto=https;host=\"api.example.org\", for=10.0.0.1",
            )],
        )
        .await;
    let prefixed = c
        .send(
            reqwest::Method::GET,
            "/v2.0/networks?limit=1",
            None,
            &[
                ("X-Forwarded-Host", "cloud.example.org"),
                ("X-Forwarded-Prefix", "/network"),
            ],
        )
        .await;

    assert!(
        next(&legacy).starts_with("https://lb.example.org:8443/v2.0/networks?"),
        "{}",
        next(&legacy)
    );
    assert!(
        next(&rfc7239).starts_with("https://api.example.org/v2.0/networks?"),
        "{}",
        next(&rfc7239)
    );
    assert!(
        next(&prefixed).starts_with("http://cloud.example.org/network/v2.0/networks?"),
        "{}",
        next(&prefixed)
    );
    server.stop().await;
}

#[tokio::test]
async fn without_proxy_header_parsing_only_the_forwarded_scheme_is_followed() {
    let server = TestServer::start().await;
    let c = server.admin();
    c.network("a").await;
    c.network("b").await;

    let r = c
        .send(
            reqwest::Method::GET,
            "/v2.0/networks?limit=1",
            None,
            &[
                ("X-Forwarded-Host", "evil.example.org"),
                ("X-Forwarded-Proto", "https"),
                ("Forwarded", "host=evil.example.org"),
            ],
        )
        .await;

    let href = r.body["networks_links"][0]["href"].as_str().unwrap();
    // Neutron's `get_path_url` always takes X-Forwarded-Proto; the host is the request's.
    assert!(href.starts_with("https://127.0.0.1:"), "{href}");
    assert!(!href.contains("evil"), "{href}");
    server.stop().await;
}

// ---------------------------------------------------------------- networks and subnets

#[tokio::test]
async fn a_networks_mtu_must_carry_its_subnets() {
    let server = TestServer::start().await;
    let c = server.admin();
    let create = |mtu: i64| {
        let c = c.clone();
        async move {
            let r = c
                .post(
                    "/v2.0/networks",
                    json!({"network": {"name": "m", "mtu": mtu}}),
                )
                .await;
            assert_eq!(
                r.status, 201,
                "a small MTU alone is not refused: {}",
                r.body
            );
            r.body["network"].clone()
        }
    };
    let subnet = |net: &Value, cidr: &str, v: i64| {
        let body = json!({"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": v}});
        let c = c.clone();
        async move { c.post("/v2.0/subnets", body).await }
    };

    let tiny = create(67).await;
    let v4_on_tiny = subnet(&tiny, "10.0.0.0/24", 4).await;
    let small = create(1279).await;
    let v6_on_small = subnet(&small, "2001:db8::/64", 6).await;
    let v4_on_small = subnet(&small, "10.1.0.0/24", 4).await;

    assert_eq!(
        v4_on_tiny.expect_error(409, "NetworkMTUSubnetConflict"),
        format!(
            "MTU of {} is not valid, subnet requires a minimum of 68",
            s(&tiny, "id")
        )
    );
    assert_eq!(
        v6_on_small.expect_error(409, "NetworkMTUSubnetConflict"),
        format!(
            "MTU of {} is not valid, subnet requires a minimum of 1280",
            s(&small, "id")
        )
    );
    assert_eq!(v4_on_small.status, 201, "{}", v4_on_small.body);

    // Lowering the MTU below what a subnet needs.
    let (net6, _) = c.network_with_subnet("six", "2001:db8:1::/64").await;
    let path6 = format!("/v2.0/networks/{}", s(&net6, "id"));
    let lower6 = c.put(&path6, json!({"network": {"mtu": 1279}})).await;
    let path4 = format!("/v2.0/networks/{}", s(&small, "id"));
    let lower4 = c.put(&path4, json!({"network": {"mtu": 67}})).await;
    let fine4 = c.put(&path4, json!({"network": {"mtu": 576}})).await;

    lower6.expect_error(409, "NetworkMTUSubnetConflict");
    assert!(lower6.error_message().ends_with("minimum of 1280"));
    lower4.expect_error(409, "NetworkMTUSubnetConflict");
    assert!(lower4.error_message().ends_with("minimum of 68"));
    assert_eq!(c.get_ok(&path6).await["network"]["mtu"], 1450);
    assert_eq!(fine4.status, 200, "{}", fine4.body);
    assert_eq!(fine4.body["network"]["mtu"], 576);
    server.stop().await;
}

#[tokio::test]
async fn subnet_service_types_steer_which_subnet_a_port_takes_addresses_from() {
    let server = TestServer::start().await;
    // A member sets service types on its own subnets (Neutron does not enforce
    // `create_subnet:service_types`).
    let c = server.project("alice");
    let net = c.network("n").await;
    let typed = |cidr: &str, types: Value| json!({"network_id": net["id"], "cidr": cidr, "ip_version": 4, "service_types": types});
    let one = c
        .subnet_with(typed("10.1.0.0/24", json!(["test:type_1"])))
        .await;
    let two = c
        .subnet_with(typed("10.2.0.0/24", json!(["test:type_2"])))
        .await;
    let any = c.subnet_with(typed("10.3.0.0/24", json!([]))).await;
    let subnet_of = |p: &Value| p["fixed_ips"][0]["subnet_id"].as_str().unwrap().to_string();

    let p1 = c
        .port(s(&net, "id"), json!({"device_owner": "test:type_1"}))
        .await;
    let p2 = c
        .port(s(&net, "id"), json!({"device_owner": "test:type_2"}))
        .await;
    let plain = c
        .port(s(&net, "id"), json!({"device_owner": "compute:nova"}))
        .await;
    let wrong = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "device_owner": "test:type_2",
                   "fixed_ips": [{"subnet_id": one["id"]}]}}),
        )
        .await;

    assert_eq!(p1["fixed_ips"].as_array().unwrap().len(), 1);
    assert_eq!(subnet_of(&p1), s(&one, "id"));
    assert_eq!(subnet_of(&p2), s(&two, "id"));
    assert_eq!(subnet_of(&plain), s(&any, "id"));
    wrong.expect_error(400, "InvalidInput");

    // Without a subnet that takes every owner, an owner no subnet names gets nothing.
    let net2 = c.network("only-typed").await;
    c.subnet_with(
        json!({"network_id": net2["id"], "cidr": "10.4.0.0/24", "ip_version": 4,
                         "service_types": ["test:type_1"]}),
    )
    .await;
    let none = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net2["id"], "device_owner": "compute:nova"}}),
        )
        .await;
    assert_eq!(
        none.expect_error(409, "IpAddressGenerationFailureNoMatchingSubnet"),
        format!(
            "No valid service subnet for the given device owner, network {}, service type \
             compute:nova.",
            s(&net2, "id")
        )
    );
    // Changing the owner follows the same rule.
    let typed_port = c
        .port(s(&net2, "id"), json!({"device_owner": "test:type_1"}))
        .await;
    let moved = c
        .put(
            &format!("/v2.0/ports/{}", s(&typed_port, "id")),
            json!({"port": {"device_owner": "compute:nova"}}),
        )
        .await;
    moved.expect_error(409, "IpAddressGenerationFailureNoMatchingSubnet");
    server.stop().await;
}

// ---------------------------------------------------------------- bulk requests

#[tokio::test]
async fn bulk_items_may_be_wrapped_in_the_member_key() {
    let server = TestServer::start().await;
    let c = server.admin();
    let nets = c
        .post(
            "/v2.0/networks",
            json!({"networks": [{"network": {"name": "a"}}, {"name": "b"}]}),
        )
        .await;
    assert_eq!(nets.status, 201, "{}", nets.body);
    let net = nets.items("networks")[0].clone();
    c.subnet(s(&net, "id"), "10.0.0.0/24").await;

    let ports = c
        .post(
            "/v2.0/ports",
            json!({"ports": [{"port": {"network_id": net["id"], "name": "p1"}},
                             {"port": {"network_id": net["id"], "name": "p2"}}]}),
        )
        .await;

    assert_eq!(ports.status, 201, "{}", ports.body);
    let names: Vec<&str> = ports.items("ports").iter().map(|p| s(p, "name")).collect();
    assert_eq!(names, vec!["p1", "p2"]);
    assert_eq!(
        nets.items("networks")
            .iter()
            .map(|n| s(n, "name"))
            .collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    server.stop().await;
}

#[tokio::test]
async fn security_groups_and_rules_are_created_in_bulk_all_or_nothing() {
    let server = TestServer::start().await;
    let c = server.project("alice");

    let groups = c
        .post(
            "/v2.0/security-groups",
            json!({"security_groups": [{"name": "a"}, {"security_group": {"name": "b"}}]}),
        )
        .await;
    assert_eq!(groups.status, 201, "{}", groups.body);
    let g = groups.items("security_groups")[0].clone();
    let rules = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rules": [
                {"security_group_id": g["id"], "direction": "ingress", "protocol": "tcp",
                 "port_range_min": 22, "port_range_max": 22},
                {"security_group_id": g["id"], "direction": "ingress", "protocol": "tcp",
                 "port_range_min": 80, "port_range_max": 80}]}),
        )
        .await;
    let half_bad = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rules": [
                {"security_group_id": g["id"], "direction": "ingress", "protocol": "udp",
                 "port_range_min": 53, "port_range_max": 53},
                {"security_group_id": g["id"], "direction": "ingress", "protocol": "tcp",
                 "port_range_min": 90, "port_range_max": 80}]}),
        )
        .await;
    let twice = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rules": [
                {"security_group_id": g["id"], "direction": "egress", "protocol": "udp"},
                {"security_group_id": g["id"], "direction": "egress", "protocol": "udp"}]}),
        )
        .await;

    assert_eq!(
        groups
            .items("security_groups")
            .iter()
            .map(|g| s(g, "name"))
            .collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    assert_eq!(rules.status, 201, "{}", rules.body);
    assert_eq!(rules.items("security_group_rules").len(), 2);
    half_bad.expect_error(400, "SecurityGroupInvalidPortRange");
    assert_eq!(
        twice.expect_error(409, "DuplicateSecurityGroupRuleInPost"),
        "Duplicate Security Group Rule in POST."
    );
    let kept = c
        .get_ok(&format!(
            "/v2.0/security-group-rules?security_group_id={}",
            s(&g, "id")
        ))
        .await;
    // Two egress rules of a new group, and the two created together; nothing of the
    // refused requests.
    assert_eq!(kept["security_group_rules"].as_array().unwrap().len(), 4);
    server.stop().await;
}

// ---------------------------------------------------------------- ports and security groups

#[tokio::test]
async fn stateful_and_stateless_groups_cannot_share_a_port() {
    let server = TestServer::start().await;
    let c = server.project("alice");
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let stateful = group(&c, json!({"name": "full"})).await;
    let stateless = group(&c, json!({"name": "less", "stateful": false})).await;

    let create = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"],
                   "security_groups": [stateful["id"], stateless["id"]]}}),
        )
        .await;
    let port = c
        .port(s(&net, "id"), json!({"security_groups": [stateful["id"]]}))
        .await;
    let update = c
        .put(
            &format!("/v2.0/ports/{}", s(&port, "id")),
            json!({"port": {"security_groups": [stateful["id"], stateless["id"]]}}),
        )
        .await;

    let msg = "Error Cannot apply both stateful and stateless security groups on the same port \
               at the same time while attempting the operation.";
    assert_eq!(create.expect_error(409, "SecurityGroupConflict"), msg);
    assert_eq!(update.expect_error(409, "SecurityGroupConflict"), msg);
    assert_eq!(
        c.get_ok(&format!("/v2.0/ports/{}", s(&port, "id"))).await["port"]["security_groups"],
        json!([stateful["id"]])
    );
    assert_eq!(
        c.get_ok("/v2.0/ports").await["ports"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn a_group_listed_twice_is_refused() {
    let server = TestServer::start().await;
    let c = server.project("alice");
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let g = group(&c, json!({"name": "g"})).await;
    let twice = json!([g["id"], g["id"]]);

    let create = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "security_groups": twice}}),
        )
        .await;
    let port = c.port(s(&net, "id"), json!({})).await;
    let update = c
        .put(
            &format!("/v2.0/ports/{}", s(&port, "id")),
            json!({"port": {"security_groups": twice}}),
        )
        .await;

    let msg = format!(
        "Invalid input for security_groups. Reason: Duplicate items in the list: '{}'.",
        s(&g, "id")
    );
    assert_eq!(create.expect_error(400, "HTTPBadRequest"), msg);
    assert_eq!(update.expect_error(400, "HTTPBadRequest"), msg);
    server.stop().await;
}

#[tokio::test]
async fn a_protocol_number_may_be_a_json_integer() {
    let server = TestServer::start().await;
    let c = server.project("alice");
    let g = group(&c, json!({"name": "g"})).await;

    let udp = rule(
        &c,
        json!({"security_group_id": g["id"], "direction": "ingress", "protocol": 17}),
    )
    .await;
    let zero = rule(
        &c,
        json!({"security_group_id": g["id"], "direction": "ingress", "protocol": 0}),
    )
    .await;
    let too_big = rule(
        &c,
        json!({"security_group_id": g["id"], "direction": "ingress", "protocol": 256}),
    )
    .await;

    assert_eq!(udp.status, 201, "{}", udp.body);
    assert_eq!(udp.body["security_group_rule"]["protocol"], "17");
    assert_eq!(zero.body["security_group_rule"]["protocol"], "0");
    too_big.expect_error(400, "SecurityGroupRuleInvalidProtocol");
    server.stop().await;
}

#[tokio::test]
async fn an_ipv6_only_protocol_in_an_ipv4_rule_is_refused_by_name_or_number() {
    let server = TestServer::start().await;
    let c = server.project("alice");
    let g = group(&c, json!({"name": "g"})).await;

    for protocol in [
        json!(41),
        json!(43),
        json!(44),
        json!(58),
        json!(59),
        json!(60),
        json!("58"),
        json!("ipv6-icmp"),
        json!("icmpv6"),
    ] {
        let r = rule(
            &c,
            json!({"security_group_id": g["id"], "direction": "ingress", "protocol": protocol, "ethertype": "IPv4"}),
        )
        .await;
        let shown = protocol
            .as_str()
            .map(str::to_string)
            .unwrap_or(protocol.to_string());
        assert_eq!(
            r.expect_error(400, "SecurityGroupEthertypeConflictWithProtocol"),
            format!("Invalid ethertype IPv4 for protocol {shown}."),
        );
    }
    let v6 = rule(
        &c,
        json!({"security_group_id": g["id"], "direction": "ingress", "protocol": 58, "ethertype": "IPv6"}),
    )
    .await;
    assert_eq!(v6.status, 201, "{}", v6.body);
    assert_eq!(v6.body["security_group_rule"]["protocol"], "58");
    server.stop().await;
}

#[tokio::test]
async fn port_ranges_and_icmp_values_are_checked_with_neutrons_messages() {
    let server = TestServer::start().await;
    let c = server.project("alice");
    let g = group(&c, json!({"name": "g"})).await;
    let try_rule = |protocol: &str, min: Value, max: Value| {
        let mut body =
            json!({"security_group_id": g["id"], "direction": "ingress", "protocol": protocol});
        if !min.is_null() {
            body["port_range_min"] = min;
        }
        if !max.is_null() {
            body["port_range_max"] = max;
        }
        let c = c.clone();
        async move { rule(&c, body).await }
    };
    let cases: Vec<(&str, Value, Value, &str, &str)> = vec![
        (
            "tcp",
            json!(-16),
            Value::Null,
            "SecurityGroupInvalidPortValue",
            "Invalid value for port -16",
        ),
        (
            "tcp",
            Value::Null,
            json!(65536),
            "SecurityGroupInvalidPortValue",
            "Invalid value for port 65536",
        ),
        (
            "udp",
            json!("x"),
            json!(80),
            "SecurityGroupInvalidPortValue",
            "Invalid value for port x",
        ),
        (
            "tcp",
            Value::Null,
            json!(80),
            "SecurityGroupInvalidPortRange",
            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
        ),
        (
            "udp",
            json!(81),
            json!(80),
            "SecurityGroupInvalidPortRange",
            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
        ),
        (
            "tcp",
            json!(0),
            json!(80),
            "SecurityGroupInvalidPortValue",
            "Invalid value for port 0",
        ),
        (
            "icmp",
            Value::Null,
            json!(3),
            "SecurityGroupMissingIcmpType",
            "ICMP code (port-range-max) 3 is provided but ICMP type (port-range-min) is missing.",
        ),
        (
            "icmp",
            json!(256),
            Value::Null,
            "SecurityGroupInvalidIcmpValue",
            "Invalid value for ICMP type (port_range_min) 256. It must be 0 to 255.",
        ),
        (
            "icmp",
            json!(8),
            json!(300),
            "SecurityGroupInvalidIcmpValue",
            "Invalid value for ICMP code (port_range_max) 300. It must be 0 to 255.",
        ),
        (
            "gre",
            json!(1),
            json!(2),
            "SecurityGroupInvalidProtocolForPort",
            "Ports cannot be specified for protocol 47. Ports are only supported for DCCP, SCTP, \
          TCP, UDP, UDPLITE.",
        ),
    ];

    for (protocol, min, max, kind, message) in cases {
        let r = try_rule(protocol, min.clone(), max.clone()).await;
        assert_eq!(r.expect_error(400, kind), message, "{protocol} {min} {max}");
    }
    let echo = try_rule("icmp", json!(8), json!(0)).await;
    let whole = try_rule("tcp", json!(1), json!(65535)).await;
    assert_eq!(echo.status, 201, "{}", echo.body);
    assert_eq!(whole.status, 201, "{}", whole.body);
    // The whole range is no range (Neutron's `_make_canonical_port_range`).
    assert_eq!(
        whole.body["security_group_rule"]["port_range_min"],
        Value::Null
    );
    assert_eq!(
        whole.body["security_group_rule"]["port_range_max"],
        Value::Null
    );
    server.stop().await;
}

#[tokio::test]
async fn a_remote_group_that_is_not_a_uuid_is_not_found() {
    let server = TestServer::start().await;
    let c = server.project("alice");
    let g = group(&c, json!({"name": "g"})).await;

    let r = rule(
        &c,
        json!({"security_group_id": g["id"], "direction": "ingress",
               "remote_group_id": "not-a-uuid"}),
    )
    .await;
    let bad_group = rule(
        &c,
        json!({"security_group_id": "not-a-uuid", "direction": "ingress"}),
    )
    .await;

    assert!(
        r.expect_error(404, "SecurityGroupNotFound")
            .contains("not-a-uuid")
    );
    bad_group.expect_error(404, "SecurityGroupNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_remote_prefix_is_kept_as_sent_and_normalized_beside_it() {
    let server = TestServer::start().await;
    let c = server.project("alice");
    let g = group(&c, json!({"name": "g"})).await;

    let r = rule(
        &c,
        json!({"security_group_id": g["id"], "direction": "ingress",
               "remote_ip_prefix": "10.0.0.34/24"}),
    )
    .await;
    let host = rule(
        &c,
        json!({"security_group_id": g["id"], "direction": "egress",
               "remote_ip_prefix": "192.0.2.7"}),
    )
    .await;
    let bad = rule(
        &c,
        json!({"security_group_id": g["id"], "direction": "egress",
               "remote_ip_prefix": "10.0.0.0/33"}),
    )
    .await;

    assert_eq!(r.status, 201, "{}", r.body);
    let created = &r.body["security_group_rule"];
    assert_eq!(created["remote_ip_prefix"], "10.0.0.34/24");
    assert_eq!(created["normalized_cidr"], "10.0.0.0/24");
    let shown = c
        .get_ok(&format!("/v2.0/security-group-rules/{}", s(created, "id")))
        .await;
    assert_eq!(
        shown["security_group_rule"]["remote_ip_prefix"],
        "10.0.0.34/24"
    );
    assert_eq!(
        host.body["security_group_rule"]["remote_ip_prefix"],
        "192.0.2.7/32"
    );
    assert_eq!(
        bad.expect_error(400, "InvalidCIDR"),
        "Invalid CIDR 10.0.0.0/33 given as IP prefix."
    );
    server.stop().await;
}

// ---------------------------------------------------------------- Neutron's default policy

#[tokio::test]
async fn external_networks_are_visible_to_every_project() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let bob = server.project("bob");
    let r = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "public", "router:external": true}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ext = r.body["network"].clone();
    let ext_sub = admin.subnet(s(&ext, "id"), "192.0.2.0/24").await;

    let listed = bob.get("/v2.0/networks").await;
    let filtered = bob.get("/v2.0/networks?router:external=True").await;
    let shown = bob.get(&format!("/v2.0/networks/{}", s(&ext, "id"))).await;
    let port = bob
        .post("/v2.0/ports", json!({"port": {"network_id": ext["id"]}}))
        .await;
    let subnets = bob
        .get(&format!("/v2.0/subnets?network_id={}", s(&ext, "id")))
        .await;
    let subnet = bob
        .get(&format!("/v2.0/subnets/{}", s(&ext_sub, "id")))
        .await;
    let subnet_update = bob
        .put(
            &format!("/v2.0/subnets/{}", s(&ext_sub, "id")),
            json!({"subnet": {"name": "mine"}}),
        )
        .await;

    assert_eq!(ids(&listed, "networks"), vec![s(&ext, "id").to_string()]);
    assert_eq!(ids(&filtered, "networks"), vec![s(&ext, "id").to_string()]);
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["network"]["router:external"], true);
    assert_eq!(shown.body["network"]["shared"], false);
    // Visible is not usable: ports need the network shared too.
    port.expect_error(403, "PolicyNotAuthorized");
    // Its subnets are visible too (subnet-external-network), and still not the caller's.
    assert_eq!(
        ids(&subnets, "subnets"),
        vec![s(&ext_sub, "id").to_string()]
    );
    assert_eq!(subnet.status, 200, "{}", subnet.body);
    assert_eq!(subnet.body["subnet"]["router:external"], true);
    subnet_update.expect_error(403, "PolicyNotAuthorized");
    server.stop().await;
}

#[tokio::test]
async fn port_attributes_on_another_projects_shared_network_are_the_owners() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    let (net, sub) = shared_network(&admin, "shared", "10.0.0.0/24").await;
    let refused = |body: Value| {
        let alice = alice.clone();
        let mut port = json!({"network_id": net["id"]});
        for (k, v) in body.as_object().unwrap() {
            port[k] = v.clone();
        }
        async move { alice.post("/v2.0/ports", json!({ "port": port })).await }
    };

    let no_security = refused(json!({"port_security_enabled": false})).await;
    let pairs = refused(json!({"allowed_address_pairs": [{"ip_address": "10.0.0.99"}]})).await;
    let mac = refused(json!({"mac_address": "fa:16:3e:00:00:99"})).await;
    let address = refused(json!({"fixed_ips": [{"ip_address": "10.0.0.77"}]})).await;
    let router = refused(json!({"device_owner": "network:router_interface"})).await;
    let host = refused(json!({"binding:host_id": "compute-1"})).await;
    // What a member of another project may do there.
    let own = alice
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"subnet_id": sub["id"]}]}),
        )
        .await;
    let update = alice
        .put(
            &format!("/v2.0/ports/{}", s(&own, "id")),
            json!({"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.98"}]}}),
        )
        .await;

    for (what, r) in [
        ("port_security_enabled", &no_security),
        ("allowed_address_pairs", &pairs),
        ("mac_address", &mac),
        ("fixed_ips", &address),
        ("device_owner", &router),
        ("binding:host_id", &host),
    ] {
        let msg = r.expect_error(403, "PolicyNotAuthorized");
        assert!(msg.contains(&format!("rule:create_port:{what}")), "{msg}");
    }
    let msg = update.expect_error(403, "PolicyNotAuthorized");
    assert!(
        msg.contains("rule:update_port:allowed_address_pairs"),
        "{msg}"
    );
    // The network's owner may.
    let p = admin
        .port(s(&net, "id"), json!({"port_security_enabled": false}))
        .await;
    assert_eq!(p["port_security_enabled"], false);
    assert_eq!(
        admin.get_ok("/v2.0/ports").await["ports"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn rules_in_a_members_group_are_visible_to_it_whoever_created_them() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    let bob = server.project("bob");
    let g = group(&alice, json!({"name": "g"})).await;

    let r = rule(
        &admin,
        json!({"security_group_id": g["id"], "direction": "ingress", "protocol": "tcp",
               "port_range_min": 443, "port_range_max": 443}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.body["security_group_rule"].clone();
    assert_eq!(created["project_id"], "admin");
    let path = format!("/v2.0/security-group-rules/{}", s(&created, "id"));

    let listed = alice.get_ok("/v2.0/security-group-rules").await;
    let shown = alice.get(&path).await;
    let stranger = bob.get(&path).await;
    let strangers_list = bob.get_ok("/v2.0/security-group-rules").await;

    assert!(
        listed["security_group_rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == created["id"]),
        "{listed}"
    );
    assert_eq!(shown.status, 200, "{}", shown.body);
    stranger.expect_error(404, "SecurityGroupRuleNotFound");
    assert!(
        !strangers_list["security_group_rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == created["id"])
    );
    // The group's owner may delete it too.
    assert_eq!(alice.delete(&path).await.status, 204);
    server.stop().await;
}
