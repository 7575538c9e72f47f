//! Subnet pools: prefixes and prefix-length bounds, subnets carved from a pool (next free
//! prefix, default prefix length, specific CIDRs), default pools, sharing and deletes.

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

async fn pool(c: &Client, body: Value) -> Value {
    let r = c
        .post("/v2.0/subnetpools", json!({ "subnetpool": body }))
        .await;
    assert_eq!(r.status, 201, "create pool: {}", r.body);
    r.body["subnetpool"].clone()
}

async fn from_pool(c: &Client, net: &Value, extra: Value) -> neutrino_tests::Resp {
    let mut body = json!({"network_id": net["id"], "ip_version": 4});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    c.post("/v2.0/subnets", json!({ "subnet": body })).await
}

#[tokio::test]
async fn a_new_pool_has_neutrons_defaults() {
    let server = TestServer::start().await;
    let c = server.admin();

    let p = pool(&c, json!({"name": "p", "prefixes": ["10.10.0.0/16"]})).await;

    assert_eq!(p["name"], "p");
    assert_eq!(p["prefixes"], json!(["10.10.0.0/16"]));
    assert_eq!(p["ip_version"], 4);
    // Neutron 29 answers the prefix lengths as JSON strings.
    assert_eq!(p["min_prefixlen"], "8");
    assert_eq!(p["max_prefixlen"], "32");
    assert_eq!(p["default_prefixlen"], "8");
    assert_eq!(p["is_default"], false);
    assert_eq!(p["shared"], false);
    assert_eq!(p["default_quota"], Value::Null);
    assert_eq!(p["address_scope_id"], Value::Null);
    assert_eq!(p["project_id"], "admin");
    assert_eq!(p["tags"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn an_ipv6_pool_has_ipv6_bounds() {
    let server = TestServer::start().await;
    let c = server.admin();

    let p = pool(&c, json!({"prefixes": ["2001:db8::/48"]})).await;

    assert_eq!(p["ip_version"], 6);
    assert_eq!(p["min_prefixlen"], "64");
    assert_eq!(p["max_prefixlen"], "128");
    assert_eq!(p["default_prefixlen"], "64");
    server.stop().await;
}

#[tokio::test]
async fn subnets_with_a_prefixlen_get_the_next_free_prefix() {
    let server = TestServer::start().await;
    let c = server.admin();
    let p = pool(
        &c,
        json!({"prefixes": ["10.10.0.0/16"], "default_prefixlen": 24}),
    )
    .await;
    let net = c.network("n").await;
    let other = c.network("m").await;

    let a = from_pool(&c, &net, json!({"subnetpool_id": p["id"], "prefixlen": 24})).await;
    let b = from_pool(
        &c,
        &other,
        json!({"subnetpool_id": p["id"], "prefixlen": 24}),
    )
    .await;
    let d = from_pool(&c, &other, json!({"subnetpool_id": p["id"]})).await;

    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["subnet"]["cidr"], "10.10.0.0/24");
    assert_eq!(a.body["subnet"]["subnetpool_id"], p["id"]);
    assert_eq!(a.body["subnet"]["gateway_ip"], "10.10.0.1");
    assert_eq!(b.body["subnet"]["cidr"], "10.10.1.0/24", "{}", b.body);
    assert_eq!(d.status, 201, "{}", d.body);
    assert_eq!(
        d.body["subnet"]["cidr"], "10.10.2.0/24",
        "default_prefixlen"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_specific_cidr_inside_the_pool_is_taken_and_cannot_be_taken_twice() {
    let server = TestServer::start().await;
    let c = server.admin();
    let p = pool(
        &c,
        json!({"prefixes": ["10.10.0.0/16"], "default_prefixlen": 24}),
    )
    .await;
    let net = c.network("n").await;
    let other = c.network("m").await;

    let a = from_pool(
        &c,
        &net,
        json!({"subnetpool_id": p["id"], "cidr": "10.10.7.0/24"}),
    )
    .await;
    let again = from_pool(
        &c,
        &other,
        json!({"subnetpool_id": p["id"], "cidr": "10.10.7.128/25"}),
    )
    .await;
    let outside = from_pool(
        &c,
        &other,
        json!({"subnetpool_id": p["id"], "cidr": "10.99.0.0/24"}),
    )
    .await;
    let next = from_pool(
        &c,
        &other,
        json!({"subnetpool_id": p["id"], "prefixlen": 24}),
    )
    .await;

    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["subnet"]["cidr"], "10.10.7.0/24");
    again.expect_error(409, "SubnetAllocationError");
    outside.expect_error(409, "SubnetAllocationError");
    // Best fit, as Neutron: the smallest free block that holds a /24 is next to 10.10.7.0/24.
    assert_eq!(next.body["subnet"]["cidr"], "10.10.6.0/24", "{}", next.body);
    server.stop().await;
}

#[tokio::test]
async fn a_prefixlen_outside_the_bounds_is_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let p = pool(
        &c,
        json!({"prefixes": ["10.10.0.0/16"], "min_prefixlen": 20, "max_prefixlen": 28,
               "default_prefixlen": 24}),
    )
    .await;
    let net = c.network("n").await;

    let small = from_pool(&c, &net, json!({"subnetpool_id": p["id"], "prefixlen": 29})).await;
    let big = from_pool(&c, &net, json!({"subnetpool_id": p["id"], "prefixlen": 16})).await;

    small.expect_error(400, "MaxPrefixSubnetAllocationError");
    big.expect_error(400, "MinPrefixSubnetAllocationError");
    assert_eq!(c.get_ok("/v2.0/subnets").await["subnets"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn a_full_pool_cannot_give_another_prefix() {
    let server = TestServer::start().await;
    let c = server.admin();
    let p = pool(
        &c,
        json!({"prefixes": ["10.10.0.0/23"], "default_prefixlen": 24}),
    )
    .await;
    let net = c.network("n").await;
    let other = c.network("m").await;
    let third = c.network("o").await;
    assert_eq!(
        from_pool(&c, &net, json!({"subnetpool_id": p["id"]}))
            .await
            .status,
        201
    );
    assert_eq!(
        from_pool(&c, &other, json!({"subnetpool_id": p["id"]}))
            .await
            .status,
        201
    );

    let r = from_pool(&c, &third, json!({"subnetpool_id": p["id"]})).await;

    r.expect_error(409, "SubnetAllocationError");
    server.stop().await;
}

#[tokio::test]
async fn overlapping_prefixes_in_one_pool_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"prefixes": ["10.10.0.0/16", "10.10.5.0/24"]}}),
        )
        .await;

    r.expect_error(400, "InvalidInput");
    assert_eq!(
        c.get_ok("/v2.0/subnetpools").await["subnetpools"],
        json!([])
    );
    server.stop().await;
}

#[tokio::test]
async fn mixed_ip_versions_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"prefixes": ["10.10.0.0/16", "2001:db8::/48"]}}),
        )
        .await;

    r.expect_error(400, "PrefixVersionMismatch");
    server.stop().await;
}

#[tokio::test]
async fn illegal_prefix_bounds_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"prefixes": ["10.10.0.0/16"], "min_prefixlen": 24,
                   "default_prefixlen": 20}}),
        )
        .await;

    r.expect_error(400, "IllegalSubnetPoolPrefixBounds");
    server.stop().await;
}

#[tokio::test]
async fn a_pool_without_prefixes_names_the_attribute() {
    let server = TestServer::start().await;

    let r = server
        .admin()
        .post("/v2.0/subnetpools", json!({"subnetpool": {"name": "p"}}))
        .await;

    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.error_message().contains("prefixes"), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn the_default_pool_serves_use_default_subnetpool() {
    let server = TestServer::start().await;
    let c = server.admin();
    let p = pool(
        &c,
        json!({"prefixes": ["10.20.0.0/16"], "default_prefixlen": 26, "is_default": true}),
    )
    .await;
    let net = c.network("n").await;

    let r = from_pool(&c, &net, json!({"use_default_subnetpool": true})).await;

    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["subnet"]["cidr"], "10.20.0.0/26");
    assert_eq!(r.body["subnet"]["subnetpool_id"], p["id"]);
    server.stop().await;
}

#[tokio::test]
async fn without_a_default_pool_use_default_subnetpool_is_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = from_pool(&c, &net, json!({"use_default_subnetpool": true})).await;

    assert_eq!(r.status, 400, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn only_one_default_pool_per_ip_version() {
    let server = TestServer::start().await;
    let c = server.admin();
    pool(
        &c,
        json!({"prefixes": ["10.20.0.0/16"], "is_default": true}),
    )
    .await;
    pool(
        &c,
        json!({"prefixes": ["2001:db8::/48"], "is_default": true}),
    )
    .await;

    let r = c
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"prefixes": ["10.30.0.0/16"], "is_default": true}}),
        )
        .await;

    r.expect_error(400, "InvalidInput");
    server.stop().await;
}

#[tokio::test]
async fn prefixes_can_grow_but_not_shrink() {
    let server = TestServer::start().await;
    let c = server.admin();
    let p = pool(&c, json!({"prefixes": ["10.10.0.0/24"]})).await;
    let path = format!("/v2.0/subnetpools/{}", s(&p, "id"));

    let grown = c
        .put(
            &path,
            json!({"subnetpool": {"prefixes": ["10.10.0.0/24", "10.10.1.0/24", "192.168.0.0/24"]}}),
        )
        .await;
    let shrunk = c
        .put(
            &path,
            json!({"subnetpool": {"prefixes": ["192.168.0.0/24"]}}),
        )
        .await;

    assert_eq!(grown.status, 200, "{}", grown.body);
    assert_eq!(
        grown.body["subnetpool"]["prefixes"],
        json!(["10.10.0.0/23", "192.168.0.0/24"])
    );
    shrunk.expect_error(400, "IllegalSubnetPoolPrefixUpdate");
    assert_eq!(
        c.get_ok(&path).await["subnetpool"],
        grown.body["subnetpool"]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_pool_in_use_cannot_be_deleted() {
    let server = TestServer::start().await;
    let c = server.admin();
    let p = pool(
        &c,
        json!({"prefixes": ["10.10.0.0/16"], "default_prefixlen": 24}),
    )
    .await;
    let net = c.network("n").await;
    let sub = from_pool(&c, &net, json!({"subnetpool_id": p["id"]})).await;
    let path = format!("/v2.0/subnetpools/{}", s(&p, "id"));

    let refused = c.delete(&path).await;
    c.delete(&format!("/v2.0/subnets/{}", s(&sub.body["subnet"], "id")))
        .await;
    let allowed = c.delete(&path).await;

    refused.expect_error(409, "SubnetPoolInUse");
    assert_eq!(allowed.status, 204, "{}", allowed.body);
    c.get(&path).await.expect_error(404, "SubnetPoolNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_deleted_subnets_prefix_returns_to_the_pool() {
    let server = TestServer::start().await;
    let c = server.admin();
    let p = pool(
        &c,
        json!({"prefixes": ["10.10.0.0/24"], "default_prefixlen": 24}),
    )
    .await;
    let net = c.network("n").await;
    let first = from_pool(&c, &net, json!({"subnetpool_id": p["id"]})).await;
    assert_eq!(first.status, 201, "{}", first.body);

    c.delete(&format!("/v2.0/subnets/{}", s(&first.body["subnet"], "id")))
        .await;
    let again = from_pool(&c, &net, json!({"subnetpool_id": p["id"]})).await;

    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["subnet"]["cidr"], "10.10.0.0/24");
    server.stop().await;
}

#[tokio::test]
async fn a_shared_pool_is_usable_by_other_projects_and_a_private_one_is_not() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let shared = pool(
        &admin,
        json!({"prefixes": ["10.10.0.0/16"], "default_prefixlen": 24,
        "shared": true}),
    )
    .await;
    let private = pool(
        &admin,
        json!({"prefixes": ["10.20.0.0/16"], "default_prefixlen": 24}),
    )
    .await;
    let alice = server.project("alice");
    let net = alice.network("mine").await;

    let ok = from_pool(&alice, &net, json!({"subnetpool_id": shared["id"]})).await;
    let hidden = from_pool(&alice, &net, json!({"subnetpool_id": private["id"]})).await;
    let listed = alice.get_ok("/v2.0/subnetpools").await;

    assert_eq!(ok.status, 201, "{}", ok.body);
    hidden.expect_error(404, "SubnetPoolNotFound");
    assert_eq!(
        listed["subnetpools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].clone())
            .collect::<Vec<_>>(),
        vec![shared["id"].clone()]
    );
    server.stop().await;
}

#[tokio::test]
async fn shared_and_is_default_are_admin_only() {
    let server = TestServer::start().await;
    let alice = server.project("alice");

    let shared = alice
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"prefixes": ["10.10.0.0/16"], "shared": true}}),
        )
        .await;
    let default = alice
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"prefixes": ["10.10.0.0/16"], "is_default": true}}),
        )
        .await;

    shared.expect_error(403, "PolicyNotAuthorized");
    default.expect_error(403, "PolicyNotAuthorized");
    server.stop().await;
}

#[tokio::test]
async fn concurrent_subnets_from_one_pool_get_distinct_prefixes() {
    let server = TestServer::start().await;
    let c = server.admin();
    let p = pool(
        &c,
        json!({"prefixes": ["10.10.0.0/20"], "default_prefixlen": 24}),
    )
    .await;
    let mut nets = Vec::new();
    for i in 0..12 {
        nets.push(c.network(&format!("n{i}")).await);
    }

    let results = futures::future::join_all(
        nets.iter()
            .map(|n| from_pool(&c, n, json!({"subnetpool_id": p["id"]}))),
    )
    .await;

    let mut cidrs: Vec<String> = results
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.body);
            s(&r.body["subnet"], "cidr").to_string()
        })
        .collect();
    cidrs.sort();
    cidrs.dedup();
    assert_eq!(cidrs.len(), 12);
    server.stop().await;
}
