//! Subnets: defaults, CIDR, gateway and allocation-pool rules, DNS and routes, updates and
//! deletes, as Neutron does them.

use neutrino_tests::{TestServer, s};
use serde_json::{Value, json};

fn pools(subnet: &Value) -> Vec<(String, String)> {
    subnet["allocation_pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (s(p, "start").to_string(), s(p, "end").to_string()))
        .collect()
}

fn pool(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[tokio::test]
async fn a_new_ipv4_subnet_has_neutrons_defaults() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let sub = c.subnet(s(&net, "id"), "10.0.0.0/24").await;

    assert_eq!(sub["cidr"], "10.0.0.0/24");
    assert_eq!(sub["ip_version"], 4);
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    assert_eq!(pools(&sub), vec![pool("10.0.0.2", "10.0.0.254")]);
    assert_eq!(sub["enable_dhcp"], true);
    assert_eq!(sub["dns_nameservers"], json!([]));
    assert_eq!(sub["host_routes"], json!([]));
    assert_eq!(sub["ipv6_ra_mode"], Value::Null);
    assert_eq!(sub["ipv6_address_mode"], Value::Null);
    assert_eq!(sub["subnetpool_id"], Value::Null);
    assert_eq!(sub["network_id"], net["id"]);
    assert_eq!(sub["project_id"], "admin");
    assert_eq!(sub["tenant_id"], "admin");
    assert_eq!(sub["name"], "");
    assert_eq!(sub["description"], "");
    assert_eq!(sub["service_types"], json!([]));
    assert_eq!(sub["tags"], json!([]));
    assert!(sub["revision_number"].is_i64());
    server.stop().await;
}

#[tokio::test]
async fn a_new_ipv6_subnet_gateway_is_the_subnet_router_anycast_address() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let sub = c.subnet(s(&net, "id"), "2001:db8::/64").await;

    assert_eq!(sub["ip_version"], 6);
    assert_eq!(sub["gateway_ip"], "2001:db8::");
    assert_eq!(
        pools(&sub),
        vec![pool("2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff")]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_null_gateway_leaves_the_whole_range_to_the_pool() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let sub = c
        .subnet_with(json!({"network_id": net["id"], "cidr": "10.0.0.0/24",
            "ip_version": 4, "gateway_ip": null}))
        .await;

    assert_eq!(sub["gateway_ip"], Value::Null);
    assert_eq!(pools(&sub), vec![pool("10.0.0.1", "10.0.0.254")]);
    server.stop().await;
}

#[tokio::test]
async fn a_gateway_in_the_middle_splits_the_default_pool() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let sub = c
        .subnet_with(json!({"network_id": net["id"], "cidr": "10.0.0.0/24",
            "ip_version": 4, "gateway_ip": "10.0.0.100"}))
        .await;

    assert_eq!(sub["gateway_ip"], "10.0.0.100");
    assert_eq!(
        pools(&sub),
        vec![
            pool("10.0.0.1", "10.0.0.99"),
            pool("10.0.0.101", "10.0.0.254")
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_cidr_with_host_bits_is_stored_as_its_network() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let sub = c.subnet(s(&net, "id"), "10.0.0.77/24").await;

    assert_eq!(sub["cidr"], "10.0.0.0/24");
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    server.stop().await;
}

#[tokio::test]
async fn invalid_cidrs_are_refused_naming_the_attribute() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    for (cidr, version) in [
        ("10.0.0.0/33", 4),
        ("not-a-cidr", 4),
        ("10.0.0.0", 4),
        ("2001:db8::/129", 6),
    ] {
        let r = c
            .post(
                "/v2.0/subnets",
                json!({"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": version}}),
            )
            .await;
        r.expect_error(400, "InvalidInput");
        assert!(r.error_message().contains("cidr"), "{cidr}: {}", r.body);
    }
    assert_eq!(c.get_ok("/v2.0/subnets").await["subnets"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn insane_prefixes_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    for (cidr, version) in [
        ("0.0.0.0/0", 4),
        ("::/0", 6),
        ("10.0.0.0/32", 4),
        ("10.0.0.0/31", 4),
        ("2001:db8::/127", 6),
        ("127.0.0.0/8", 4),
        ("224.0.0.0/24", 4),
        ("10.0.0.0/24", 6),
        ("2001:db8::/64", 4),
    ] {
        let r = c
            .post(
                "/v2.0/subnets",
                json!({"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": version}}),
            )
            .await;
        assert_eq!(r.status, 400, "{cidr} v{version}: {}", r.body);
    }
    assert_eq!(c.get_ok("/v2.0/subnets").await["subnets"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn an_invalid_ip_version_names_the_attribute() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 5}}),
        )
        .await;

    r.expect_error(400, "InvalidInput");
    assert!(r.error_message().contains("ip_version"), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn explicit_allocation_pools_are_kept() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let sub = c
        .subnet_with(
            json!({"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
            "allocation_pools": [{"start": "10.0.0.100", "end": "10.0.0.110"},
                                 {"start": "10.0.0.20", "end": "10.0.0.30"}]}),
        )
        .await;

    let mut got = pools(&sub);
    got.sort();
    assert_eq!(
        got,
        vec![
            pool("10.0.0.100", "10.0.0.110"),
            pool("10.0.0.20", "10.0.0.30")
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_pool_outside_the_cidr_is_out_of_bounds() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    for (start, end) in [
        ("10.0.0.200", "10.0.1.5"),
        ("10.0.0.0", "10.0.0.10"),
        ("10.0.0.250", "10.0.0.255"),
    ] {
        let r = c
            .post(
                "/v2.0/subnets",
                json!({"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
                    "allocation_pools": [{"start": start, "end": end}]}}),
            )
            .await;
        r.expect_error(400, "OutOfBoundsAllocationPool");
    }
    assert_eq!(c.get_ok("/v2.0/subnets").await["subnets"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn a_pool_that_ends_before_it_starts_is_invalid() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
                "allocation_pools": [{"start": "10.0.0.50", "end": "10.0.0.40"}]}}),
        )
        .await;

    r.expect_error(400, "InvalidAllocationPool");
    server.stop().await;
}

#[tokio::test]
async fn overlapping_pools_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
                "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.50"},
                                     {"start": "10.0.0.40", "end": "10.0.0.60"}]}}),
        )
        .await;

    r.expect_error(409, "OverlappingAllocationPools");
    server.stop().await;
}

#[tokio::test]
async fn a_pool_holding_the_gateway_is_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
                "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.50"}]}}),
        )
        .await;

    r.expect_error(409, "GatewayConflictWithAllocationPools");
    server.stop().await;
}

#[tokio::test]
async fn the_network_or_broadcast_address_cannot_be_the_gateway() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    for gw in ["10.0.0.0", "10.0.0.255"] {
        let r = c
            .post(
                "/v2.0/subnets",
                json!({"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24",
                    "ip_version": 4, "gateway_ip": gw}}),
            )
            .await;
        let msg = r.expect_error(400, "InvalidInput");
        assert!(msg.contains("Gateway is not valid on subnet"), "{msg}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_gateway_outside_the_cidr_is_accepted_as_neutron_does() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let sub = c
        .subnet_with(json!({"network_id": net["id"], "cidr": "10.0.0.0/24",
            "ip_version": 4, "gateway_ip": "192.168.0.1"}))
        .await;

    assert_eq!(sub["gateway_ip"], "192.168.0.1");
    assert_eq!(pools(&sub), vec![pool("10.0.0.1", "10.0.0.254")]);
    server.stop().await;
}

#[tokio::test]
async fn overlapping_cidrs_on_one_network_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    c.subnet(s(&net, "id"), "10.0.0.0/16").await;

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.0.5.0/24", "ip_version": 4}}),
        )
        .await;

    let msg = r.expect_error(400, "InvalidInput");
    assert!(msg.contains("overlaps with another subnet"), "{msg}");
    server.stop().await;
}

#[tokio::test]
async fn the_same_cidr_on_two_networks_is_allowed_by_default() {
    let server = TestServer::start().await;
    let c = server.admin();
    let a = c.network("a").await;
    let b = c.network("b").await;
    c.subnet(s(&a, "id"), "10.0.0.0/24").await;

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": b["id"], "cidr": "10.0.0.0/24", "ip_version": 4}}),
        )
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn without_overlapping_ips_no_two_subnets_overlap_anywhere() {
    let server = TestServer::with_config(|c| c.allow_overlapping_ips = false).await;
    let c = server.admin();
    let a = c.network("a").await;
    let b = c.network("b").await;
    c.subnet(s(&a, "id"), "10.0.0.0/24").await;

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": b["id"], "cidr": "10.0.0.128/25", "ip_version": 4}}),
        )
        .await;

    r.expect_error(400, "InvalidInput");
    server.stop().await;
}

#[tokio::test]
async fn bulk_subnets_that_overlap_each_other_create_nothing() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnets": [
                {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4},
                {"network_id": net["id"], "cidr": "10.0.0.0/25", "ip_version": 4}]}),
        )
        .await;

    r.expect_error(400, "InvalidInput");
    assert_eq!(c.get_ok("/v2.0/subnets").await["subnets"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn bulk_subnets_are_created_together() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnets": [
                {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4},
                {"network_id": net["id"], "cidr": "2001:db8::/64", "ip_version": 6}]}),
        )
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.items("subnets").len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_subnet_on_an_unknown_network_is_network_not_found() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": uuid::Uuid::new_v4().to_string(),
                "cidr": "10.0.0.0/24", "ip_version": 4}}),
        )
        .await;

    r.expect_error(404, "NetworkNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_subnet_needs_a_cidr_or_a_pool() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "ip_version": 4}}),
        )
        .await;

    assert_eq!(r.status, 400, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn missing_required_attributes_are_named() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24"}}),
        )
        .await;

    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.error_message().contains("ip_version"), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn dns_nameservers_and_host_routes_are_stored_in_order() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let sub = c
        .subnet_with(
            json!({"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
            "dns_nameservers": ["8.8.8.8", "1.1.1.1"],
            "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}]}),
        )
        .await;

    assert_eq!(sub["dns_nameservers"], json!(["8.8.8.8", "1.1.1.1"]));
    assert_eq!(
        sub["host_routes"],
        json!([{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}])
    );
    server.stop().await;
}

#[tokio::test]
async fn too_many_or_duplicate_nameservers_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let six: Vec<String> = (1..=6).map(|i| format!("10.1.1.{i}")).collect();

    let too_many = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
                "dns_nameservers": six}}),
        )
        .await;
    let duplicate = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
                "dns_nameservers": ["8.8.8.8", "8.8.8.8"]}}),
        )
        .await;

    too_many.expect_error(400, "DNSNameServersExhausted");
    duplicate.expect_error(400, "InvalidInput");
    server.stop().await;
}

#[tokio::test]
async fn update_changes_name_gateway_pools_and_dns() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let sub = c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let path = format!("/v2.0/subnets/{}", s(&sub, "id"));

    let r = c
        .put(
            &path,
            json!({"subnet": {"name": "renamed", "gateway_ip": "10.0.0.254",
                "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}],
                "dns_nameservers": ["9.9.9.9"]}}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let u = &r.body["subnet"];
    assert_eq!(u["name"], "renamed");
    assert_eq!(u["gateway_ip"], "10.0.0.254");
    assert_eq!(pools(u), vec![pool("10.0.0.10", "10.0.0.20")]);
    assert_eq!(u["dns_nameservers"], json!(["9.9.9.9"]));
    assert!(u["revision_number"].as_i64() > sub["revision_number"].as_i64());
    assert_eq!(c.get_ok(&path).await["subnet"], *u);
    server.stop().await;
}

#[tokio::test]
async fn moving_the_gateway_into_the_pool_is_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let sub = c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let path = format!("/v2.0/subnets/{}", s(&sub, "id"));

    let r = c
        .put(&path, json!({"subnet": {"gateway_ip": "10.0.0.50"}}))
        .await;

    r.expect_error(409, "GatewayConflictWithAllocationPools");
    assert_eq!(c.get_ok(&path).await["subnet"], sub);
    server.stop().await;
}

#[tokio::test]
async fn cidr_and_ip_version_cannot_be_updated() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let sub = c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let path = format!("/v2.0/subnets/{}", s(&sub, "id"));

    let cidr = c
        .put(&path, json!({"subnet": {"cidr": "10.1.0.0/24"}}))
        .await;
    let version = c.put(&path, json!({"subnet": {"ip_version": 6}})).await;
    let network = c
        .put(
            &path,
            json!({"subnet": {"network_id": uuid::Uuid::new_v4().to_string()}}),
        )
        .await;

    for r in [cidr, version, network] {
        assert_eq!(r.status, 400, "{}", r.body);
    }
    assert_eq!(c.get_ok(&path).await["subnet"], sub);
    server.stop().await;
}

#[tokio::test]
async fn shrinking_the_pool_keeps_allocated_addresses_and_allocates_from_the_new_pool() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let first = c.port(s(&net, "id"), json!({})).await;
    let path = format!("/v2.0/subnets/{}", s(&sub, "id"));

    let r = c
        .put(
            &path,
            json!({"subnet": {"allocation_pools": [{"start": "10.0.0.100", "end": "10.0.0.101"}]}}),
        )
        .await;
    let a = c.port(s(&net, "id"), json!({})).await;
    let b = c.port(s(&net, "id"), json!({})).await;
    let full = c
        .post("/v2.0/ports", json!({"port": {"network_id": net["id"]}}))
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(neutrino_tests::ips(&first), vec!["10.0.0.2"]);
    let mut got = vec![
        neutrino_tests::ips(&a)[0].clone(),
        neutrino_tests::ips(&b)[0].clone(),
    ];
    got.sort();
    assert_eq!(got, vec!["10.0.0.100", "10.0.0.101"]);
    full.expect_error(409, "IpAddressGenerationFailure");
    server.stop().await;
}

#[tokio::test]
async fn delete_with_an_allocated_address_is_subnet_in_use() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let port = c
        .port(s(&net, "id"), json!({"device_owner": "compute:nova"}))
        .await;
    let path = format!("/v2.0/subnets/{}", s(&sub, "id"));

    let refused = c.delete(&path).await;
    c.delete(&format!("/v2.0/ports/{}", s(&port, "id"))).await;
    let allowed = c.delete(&path).await;

    refused.expect_error(409, "SubnetInUse");
    assert_eq!(allowed.status, 204, "{}", allowed.body);
    c.get(&path).await.expect_error(404, "SubnetNotFound");
    let shown = c.get_ok(&format!("/v2.0/networks/{}", s(&net, "id"))).await;
    assert_eq!(shown["network"]["subnets"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn delete_releases_the_addresses_of_dhcp_ports() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let dhcp = c
        .port(s(&net, "id"), json!({"device_owner": "network:dhcp"}))
        .await;

    let r = c.delete(&format!("/v2.0/subnets/{}", s(&sub, "id"))).await;

    assert_eq!(r.status, 204, "{}", r.body);
    let port = c.get_ok(&format!("/v2.0/ports/{}", s(&dhcp, "id"))).await;
    assert_eq!(port["port"]["fixed_ips"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn delete_of_an_unknown_subnet_is_subnet_not_found() {
    let server = TestServer::start().await;

    let r = server
        .admin()
        .delete(&format!("/v2.0/subnets/{}", uuid::Uuid::new_v4()))
        .await;

    r.expect_error(404, "SubnetNotFound");
    server.stop().await;
}
