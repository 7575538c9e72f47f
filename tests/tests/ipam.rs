//! IPAM: which addresses ports get, pool exhaustion, reuse, IPv6 modes and SLAAC (EUI-64
//! from the MAC, following MAC changes), and the free-range bookkeeping behind it.

use neutrino_tests::{TestServer, ips, s};
use serde_json::{Value, json};

/// The EUI-64 address of `mac` in the /64 `prefix` (e.g. "2001:db8::").
fn eui64(prefix: &str, mac: &str) -> String {
    let m: Vec<u8> = mac
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).unwrap())
        .collect();
    let p: std::net::Ipv6Addr = prefix.parse().unwrap();
    let mut b = p.octets();
    b[8..].copy_from_slice(&[m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]);
    std::net::Ipv6Addr::from(b).to_string()
}

async fn slaac_subnet(c: &neutrino_tests::Client, net: &Value, cidr: &str) -> Value {
    c.subnet_with(
        json!({"network_id": net["id"], "cidr": cidr, "ip_version": 6,
        "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
    )
    .await
}

#[tokio::test]
async fn consecutive_ports_get_distinct_addresses_from_the_pool() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;

    let mut got = Vec::new();
    for _ in 0..10 {
        got.push(ips(&c.port(s(&net, "id"), json!({})).await)[0].clone());
    }

    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10, "{got:?}");
    assert!(got.iter().all(|ip| {
        let last: u32 = ip.rsplit('.').next().unwrap().parse().unwrap();
        ip.starts_with("10.0.0.") && (2..=254).contains(&last)
    }));
    server.stop().await;
}

#[tokio::test]
async fn a_full_pool_answers_ip_address_generation_failure() {
    let server = TestServer::start().await;
    let c = server.admin();
    // A /29 has 8 addresses: network, gateway, broadcast and 5 for ports.
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/29").await;
    for _ in 0..5 {
        c.port(s(&net, "id"), json!({})).await;
    }

    let r = c
        .post("/v2.0/ports", json!({"port": {"network_id": net["id"]}}))
        .await;

    let msg = r.expect_error(409, "IpAddressGenerationFailure");
    assert!(msg.contains(s(&net, "id")), "{msg}");
    assert_eq!(
        c.get_ok("/v2.0/ports").await["ports"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    server.stop().await;
}

#[tokio::test]
async fn an_address_freed_from_a_full_pool_is_handed_out_again() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/29").await;
    let mut ports = Vec::new();
    for _ in 0..5 {
        ports.push(c.port(s(&net, "id"), json!({})).await);
    }
    let freed = ips(&ports[2])[0].clone();

    c.delete(&format!("/v2.0/ports/{}", s(&ports[2], "id")))
        .await;
    let again = c.port(s(&net, "id"), json!({})).await;

    assert_eq!(ips(&again), vec![freed]);
    server.stop().await;
}

#[tokio::test]
async fn releasing_an_address_by_update_returns_it_to_the_pool() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/30").await;
    // A /30 has exactly one address for ports: 10.0.0.2.
    let p = c.port(s(&net, "id"), json!({})).await;
    assert_eq!(ips(&p), vec!["10.0.0.2"]);

    let emptied = c
        .put(
            &format!("/v2.0/ports/{}", s(&p, "id")),
            json!({"port": {"fixed_ips": []}}),
        )
        .await;
    let other = c.port(s(&net, "id"), json!({})).await;

    assert_eq!(emptied.status, 200, "{}", emptied.body);
    assert_eq!(emptied.body["port"]["fixed_ips"], json!([]));
    assert_eq!(ips(&other), vec!["10.0.0.2"]);
    server.stop().await;
}

#[tokio::test]
async fn a_port_gets_one_v4_one_stateful_v6_and_every_slaac_address() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let v4a = c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let v4b = c.subnet(s(&net, "id"), "10.0.1.0/24").await;
    let stateful = c
        .subnet_with(
            json!({"network_id": net["id"], "cidr": "2001:db8:1::/64", "ip_version": 6,
            "ipv6_ra_mode": "dhcpv6-stateful", "ipv6_address_mode": "dhcpv6-stateful"}),
        )
        .await;
    let slaac_a = slaac_subnet(&c, &net, "2001:db8:a::/64").await;
    let slaac_b = slaac_subnet(&c, &net, "2001:db8:b::/64").await;

    let p = c.port(s(&net, "id"), json!({})).await;

    let by_subnet = |sub: &Value| -> Vec<String> {
        p["fixed_ips"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["subnet_id"] == sub["id"])
            .map(|f| s(f, "ip_address").to_string())
            .collect()
    };
    assert_eq!(
        p["fixed_ips"].as_array().unwrap().len(),
        4,
        "{}",
        p["fixed_ips"]
    );
    let v4: Vec<String> = [by_subnet(&v4a), by_subnet(&v4b)].concat();
    assert!(
        v4 == ["10.0.0.2"] || v4 == ["10.0.1.2"],
        "one IPv4 address: {v4:?}"
    );
    assert_eq!(by_subnet(&stateful), vec!["2001:db8:1::1"]);
    let mac = s(&p, "mac_address");
    assert_eq!(by_subnet(&slaac_a), vec![eui64("2001:db8:a::", mac)]);
    assert_eq!(by_subnet(&slaac_b), vec![eui64("2001:db8:b::", mac)]);
    server.stop().await;
}

#[tokio::test]
async fn slaac_addresses_follow_a_mac_change() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    slaac_subnet(&c, &net, "2001:db8::/64").await;
    let p = c.port(s(&net, "id"), json!({})).await;

    let r = c
        .put(
            &format!("/v2.0/ports/{}", s(&p, "id")),
            json!({"port": {"mac_address": "fa:16:3e:12:34:56"}}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let got = ips(&r.body["port"]);
    assert!(
        got.contains(&"2001:db8::f816:3eff:fe12:3456".to_string()),
        "{got:?}"
    );
    let v4 = ips(&p).into_iter().find(|ip| ip.contains('.')).unwrap();
    assert!(got.contains(&v4), "the v4 address stays: {got:?}");
    assert_eq!(got.len(), 2);
    // The old EUI-64 address is gone, so a port with the old MAC could be created again.
    let old = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "mac_address": p["mac_address"]}}),
        )
        .await;
    assert_eq!(old.status, 201, "{}", old.body);
    server.stop().await;
}

#[tokio::test]
async fn a_new_slaac_subnet_gives_existing_ports_their_eui64_address() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let p = c.port(s(&net, "id"), json!({})).await;

    let sub = slaac_subnet(&c, &net, "2001:db8::/64").await;

    let shown = c.get_ok(&format!("/v2.0/ports/{}", s(&p, "id"))).await;
    let fixed = shown["port"]["fixed_ips"].as_array().unwrap().clone();
    assert_eq!(fixed.len(), 2, "{fixed:?}");
    assert_eq!(fixed[1]["subnet_id"], sub["id"]);
    assert_eq!(
        fixed[1]["ip_address"],
        eui64("2001:db8::", s(&p, "mac_address")).as_str()
    );
    assert!(shown["port"]["revision_number"].as_i64() > p["revision_number"].as_i64());
    server.stop().await;
}

#[tokio::test]
async fn a_specific_address_on_a_slaac_subnet_must_be_the_eui64_one() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let sub = slaac_subnet(&c, &net, "2001:db8::/64").await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "mac_address": "fa:16:3e:12:34:56",
                "fixed_ips": [{"subnet_id": sub["id"], "ip_address": "2001:db8::5"}]}}),
        )
        .await;
    let ok = c
        .port(
            s(&net, "id"),
            json!({"mac_address": "fa:16:3e:12:34:56",
                "fixed_ips": [{"subnet_id": sub["id"], "ip_address": "2001:db8::f816:3eff:fe12:3456"}]}),
        )
        .await;

    r.expect_error(400, "AllocationOnAutoAddressSubnet");
    assert_eq!(ips(&ok), vec!["2001:db8::f816:3eff:fe12:3456"]);
    server.stop().await;
}

#[tokio::test]
async fn valid_ipv6_mode_combinations_are_accepted() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    for (i, (ra, addr)) in [
        (json!("slaac"), json!("slaac")),
        (json!("dhcpv6-stateful"), json!("dhcpv6-stateful")),
        (json!("dhcpv6-stateless"), json!("dhcpv6-stateless")),
        (Value::Null, json!("slaac")),
        (json!("slaac"), Value::Null),
        (Value::Null, json!("dhcpv6-stateful")),
    ]
    .into_iter()
    .enumerate()
    {
        let r = c
            .post(
                "/v2.0/subnets",
                json!({"subnet": {"network_id": net["id"], "ip_version": 6,
                    "cidr": format!("2001:db8:{i}::/64"),
                    "ipv6_ra_mode": ra, "ipv6_address_mode": addr}}),
            )
            .await;
        assert_eq!(r.status, 201, "{ra} / {addr}: {}", r.body);
        assert_eq!(r.body["subnet"]["ipv6_ra_mode"], ra);
        assert_eq!(r.body["subnet"]["ipv6_address_mode"], addr);
    }
    server.stop().await;
}

#[tokio::test]
async fn invalid_ipv6_mode_combinations_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    for body in [
        // Modes on an IPv4 subnet.
        json!({"cidr": "10.0.0.0/24", "ip_version": 4, "ipv6_ra_mode": "slaac"}),
        // Both set but different.
        json!({"cidr": "2001:db8::/64", "ip_version": 6,
               "ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"}),
        // SLAAC needs a /64.
        json!({"cidr": "2001:db8::/80", "ip_version": 6,
               "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
        // Modes need DHCP.
        json!({"cidr": "2001:db8::/64", "ip_version": 6, "enable_dhcp": false,
               "ipv6_address_mode": "dhcpv6-stateful"}),
        // Unknown mode.
        json!({"cidr": "2001:db8::/64", "ip_version": 6, "ipv6_ra_mode": "magic"}),
    ] {
        let mut b = body.clone();
        b["network_id"] = net["id"].clone();
        let r = c.post("/v2.0/subnets", json!({ "subnet": b })).await;
        r.expect_error(400, "InvalidInput");
    }
    assert_eq!(c.get_ok("/v2.0/subnets").await["subnets"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn dhcp_cannot_be_disabled_while_ipv6_modes_are_set() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let sub = slaac_subnet(&c, &net, "2001:db8::/64").await;

    let r = c
        .put(
            &format!("/v2.0/subnets/{}", s(&sub, "id")),
            json!({"subnet": {"enable_dhcp": false}}),
        )
        .await;

    r.expect_error(400, "InvalidInput");
    server.stop().await;
}

#[tokio::test]
async fn a_subnet_with_only_slaac_ports_can_be_deleted() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let v4 = c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let sub = slaac_subnet(&c, &net, "2001:db8::/64").await;
    let p = c.port(s(&net, "id"), json!({})).await;

    let r = c.delete(&format!("/v2.0/subnets/{}", s(&sub, "id"))).await;

    assert_eq!(r.status, 204, "{}", r.body);
    let shown = c.get_ok(&format!("/v2.0/ports/{}", s(&p, "id"))).await;
    let v4_address = ips(&p).into_iter().find(|ip| ip.contains('.')).unwrap();
    assert_eq!(
        shown["port"]["fixed_ips"],
        json!([{"subnet_id": v4["id"], "ip_address": v4_address}])
    );
    server.stop().await;
}

#[tokio::test]
async fn allocation_keeps_the_free_ranges_compact() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/22").await;
    let before = neutrino_ml2::subnets::free_ranges(server.plugin(), s(&sub, "id"))
        .await
        .unwrap();
    let bulk: Vec<Value> = (0..300).map(|_| json!({"network_id": net["id"]})).collect();

    let r = c.post("/v2.0/ports", json!({ "ports": bulk })).await;

    assert_eq!(r.status, 201, "{}", r.body);
    let after = neutrino_ml2::subnets::free_ranges(server.plugin(), s(&sub, "id"))
        .await
        .unwrap();
    assert!(
        after.len() <= before.len(),
        "allocating must not fragment the free ranges: {} -> {}",
        before.len(),
        after.len()
    );
    let free: u32 = after
        .iter()
        .map(|(a, b)| {
            let a: std::net::Ipv4Addr = a.parse().unwrap();
            let b: std::net::Ipv4Addr = b.parse().unwrap();
            u32::from(b) - u32::from(a) + 1
        })
        .sum();
    assert_eq!(free, 1021 - 300);
    server.stop().await;
}

#[tokio::test]
async fn released_addresses_merge_back_into_the_free_ranges() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let before = neutrino_ml2::subnets::free_ranges(server.plugin(), s(&sub, "id"))
        .await
        .unwrap();
    let bulk: Vec<Value> = (0..40).map(|_| json!({"network_id": net["id"]})).collect();
    let r = c.post("/v2.0/ports", json!({ "ports": bulk })).await;
    assert_eq!(r.status, 201, "{}", r.body);

    for p in r.items("ports") {
        c.delete(&format!("/v2.0/ports/{}", s(p, "id"))).await;
    }

    let after = neutrino_ml2::subnets::free_ranges(server.plugin(), s(&sub, "id"))
        .await
        .unwrap();
    assert_eq!(after, before);
    server.stop().await;
}

#[tokio::test]
async fn two_fixed_ips_asked_of_one_subnet_are_two_different_addresses() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    c.port(s(&net, "id"), json!({})).await;

    let port = c
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"subnet_id": sub["id"]}, {"subnet_id": sub["id"]}]}),
        )
        .await;

    assert_eq!(ips(&port), vec!["10.0.0.3", "10.0.0.4"], "{port}");
    server.stop().await;
}

#[tokio::test]
async fn the_last_free_address_then_the_next_port_fails_cleanly() {
    // A pool of exactly two addresses: the first port takes one, a port asking for two
    // of the same subnet cannot have them, and nothing it took stays taken.
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let sub = c
        .subnet_with(
            json!({"network_id": net["id"], "cidr": "10.0.0.0/29", "ip_version": 4,
            "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.3"}]}),
        )
        .await;
    c.port(s(&net, "id"), json!({})).await;

    let refused = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"],
                "fixed_ips": [{"subnet_id": sub["id"]}, {"subnet_id": sub["id"]}]}}),
        )
        .await;
    let last = c.port(s(&net, "id"), json!({})).await;

    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(
        refused.body["NeutronError"]["type"],
        "IpAddressGenerationFailure"
    );
    assert_eq!(ips(&last), vec!["10.0.0.3"]);
    server.stop().await;
}
