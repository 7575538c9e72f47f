//! Address scopes (`/v2.0/address-scopes`): Neutron's attributes and rules, subnet pools
//! joining a scope (`address_scope_id`) with Neutron's checks, networks' read-only
//! `ipv4_address_scope`/`ipv6_address_scope`, and a scope in use that cannot be deleted,
//! also while 32 clients add pools to it.

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

const ALICE: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BOB: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

async fn scope(c: &Client, name: &str, version: i64) -> Value {
    let r = c
        .post(
            "/v2.0/address-scopes",
            json!({"address_scope": {"name": name, "ip_version": version}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["address_scope"].clone()
}

async fn pool(c: &Client, prefix: &str, scope: Option<&str>) -> Value {
    let r = c
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": prefix, "prefixes": [prefix],
                   "address_scope_id": scope}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["subnetpool"].clone()
}

#[tokio::test]
async fn a_scope_has_neutrons_attributes_and_no_standard_ones() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let created = scope(&alice, "blue", 4).await;
    let shown = alice
        .get(&format!("/v2.0/address-scopes/{}", s(&created, "id")))
        .await;
    let renamed = alice
        .put(
            &format!("/v2.0/address-scopes/{}", s(&created, "id")),
            json!({"address_scope": {"name": "green"}}),
        )
        .await;
    let version_change = alice
        .put(
            &format!("/v2.0/address-scopes/{}", s(&created, "id")),
            json!({"address_scope": {"ip_version": 6}}),
        )
        .await;
    let listed = alice.get("/v2.0/address-scopes?name=green").await;
    let deleted = alice
        .delete(&format!("/v2.0/address-scopes/{}", s(&created, "id")))
        .await;
    let gone = alice
        .get(&format!("/v2.0/address-scopes/{}", s(&created, "id")))
        .await;

    let mut keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "id",
            "ip_version",
            "name",
            "project_id",
            "shared",
            "tenant_id"
        ]
    );
    assert_eq!(created["project_id"], ALICE);
    assert_eq!(created["shared"], false);
    assert_eq!(created["ip_version"], 4);
    assert_eq!(shown.body["address_scope"], created);
    assert_eq!(renamed.body["address_scope"]["name"], "green");
    version_change.expect_error(400, "HTTPBadRequest");
    assert_eq!(
        listed.ids("address_scopes"),
        vec![s(&created, "id").to_string()]
    );
    assert_eq!(deleted.status, 204);
    assert!(
        gone.expect_error(404, "AddressScopeNotFound")
            .contains("could not be found")
    );
    server.stop().await;
}

#[tokio::test]
async fn ip_version_is_required_and_must_be_4_or_6() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let missing = alice
        .post(
            "/v2.0/address-scopes",
            json!({"address_scope": {"name": "x"}}),
        )
        .await;
    let five = alice
        .post(
            "/v2.0/address-scopes",
            json!({"address_scope": {"name": "x", "ip_version": 5}}),
        )
        .await;
    missing.expect_error(400, "HTTPBadRequest");
    assert!(
        five.expect_error(400, "InvalidInput")
            .contains("'5' is not in [4, 6]")
    );
    server.stop().await;
}

#[tokio::test]
async fn only_admins_share_and_a_shared_scope_cannot_be_unshared() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let by_member = alice
        .post(
            "/v2.0/address-scopes",
            json!({"address_scope": {"name": "x", "ip_version": 4, "shared": true}}),
        )
        .await;
    let private = scope(&alice, "private", 4).await;
    let shared = admin
        .post(
            "/v2.0/address-scopes",
            json!({"address_scope": {"name": "pub", "ip_version": 4, "shared": true,
                   "project_id": ALICE}}),
        )
        .await
        .body["address_scope"]
        .clone();
    let bob_list = bob.get("/v2.0/address-scopes").await;
    let bob_private = bob
        .get(&format!("/v2.0/address-scopes/{}", s(&private, "id")))
        .await;
    let bob_shared_only = bob.get("/v2.0/address-scopes?shared=true").await;
    let bob_unshared_only = bob.get("/v2.0/address-scopes?shared=false").await;
    let unshare = admin
        .put(
            &format!("/v2.0/address-scopes/{}", s(&shared, "id")),
            json!({"address_scope": {"shared": false}}),
        )
        .await;
    let share_later = admin
        .put(
            &format!("/v2.0/address-scopes/{}", s(&private, "id")),
            json!({"address_scope": {"shared": true}}),
        )
        .await;
    let entries = admin
        .get(&format!(
            "/v2.0/rbac-policies?object_type=address_scope&object_id={}",
            s(&private, "id")
        ))
        .await;

    by_member.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(shared["shared"], true);
    assert_eq!(
        bob_list.ids("address_scopes"),
        vec![s(&shared, "id").to_string()]
    );
    assert_eq!(bob_list.items("address_scopes")[0]["shared"], true);
    bob_private.expect_error(404, "AddressScopeNotFound");
    assert_eq!(bob_shared_only.ids("address_scopes").len(), 1);
    assert!(bob_unshared_only.ids("address_scopes").is_empty());
    assert!(
        unshare
            .expect_error(400, "AddressScopeUpdateError")
            .contains("Shared address scope can't be unshared")
    );
    assert_eq!(share_later.body["address_scope"]["shared"], true);
    let e = entries.items("rbac_policies");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["target_tenant"], "*");
    assert_eq!(e[0]["action"], "access_as_shared");
    server.stop().await;
}

#[tokio::test]
async fn a_pool_joins_a_scope_of_its_family_that_the_caller_may_use() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let v4 = scope(&alice, "v4", 4).await;
    let v6 = scope(&alice, "v6", 6).await;
    let joined = pool(&alice, "10.0.0.0/16", Some(s(&v4, "id"))).await;
    let wrong_family = alice
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "p", "prefixes": ["10.1.0.0/16"],
                   "address_scope_id": v6["id"]}}),
        )
        .await;
    let overlapping = alice
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "p", "prefixes": ["10.0.128.0/17"],
                   "address_scope_id": v4["id"]}}),
        )
        .await;
    let disjoint = pool(&alice, "10.1.0.0/16", Some(s(&v4, "id"))).await;
    let bobs_try = bob
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "p", "prefixes": ["10.2.0.0/16"],
                   "address_scope_id": v4["id"]}}),
        )
        .await;
    let unknown = alice
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "p", "prefixes": ["10.3.0.0/16"],
                   "address_scope_id": "00000000-0000-0000-0000-000000000000"}}),
        )
        .await;
    let by_filter = alice
        .get(&format!(
            "/v2.0/subnetpools?address_scope_id={}",
            s(&v4, "id")
        ))
        .await;

    assert_eq!(joined["address_scope_id"], v4["id"]);
    assert!(
        wrong_family
            .expect_error(400, "IllegalSubnetPoolIpVersionAssociationToAddressScope")
            .contains("because subnetpool ip_version is not 6")
    );
    overlapping.expect_error(409, "AddressScopePrefixConflict");
    assert_eq!(disjoint["address_scope_id"], v4["id"]);
    bobs_try.expect_error(404, "AddressScopeNotFound");
    unknown.expect_error(404, "AddressScopeNotFound");
    let mut ids = by_filter.ids("subnetpools");
    ids.sort();
    let mut want = vec![s(&joined, "id").to_string(), s(&disjoint, "id").to_string()];
    want.sort();
    assert_eq!(ids, want);
    server.stop().await;
}

#[tokio::test]
async fn a_scope_in_use_cannot_be_deleted_until_its_pools_leave() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let a = scope(&alice, "a", 4).await;
    let p = pool(&alice, "10.0.0.0/16", Some(s(&a, "id"))).await;
    let refused = alice
        .delete(&format!("/v2.0/address-scopes/{}", s(&a, "id")))
        .await;
    let left = alice
        .put(
            &format!("/v2.0/subnetpools/{}", s(&p, "id")),
            json!({"subnetpool": {"address_scope_id": null}}),
        )
        .await;
    let deleted = alice
        .delete(&format!("/v2.0/address-scopes/{}", s(&a, "id")))
        .await;

    assert!(
        refused
            .expect_error(409, "AddressScopeInUse")
            .contains("There are one or more subnet pools in use on the address scope")
    );
    assert_eq!(left.status, 200, "{}", left.body);
    assert_eq!(left.body["subnetpool"]["address_scope_id"], Value::Null);
    assert_eq!(deleted.status, 204);
    server.stop().await;
}

#[tokio::test]
async fn a_networks_address_scopes_are_its_subnets_pools_scopes() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let a = scope(&alice, "a", 4).await;
    let b = scope(&alice, "b", 4).await;
    let pa = pool(&alice, "10.0.0.0/16", Some(s(&a, "id"))).await;
    let pb = pool(&alice, "10.1.0.0/16", Some(s(&b, "id"))).await;
    let net = alice.network("n").await;
    let before = alice
        .get(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;
    let sub = alice
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "ip_version": 4,
                   "subnetpool_id": pa["id"], "prefixlen": 24}}),
        )
        .await;
    let after = alice
        .get(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;
    let listed = alice.get("/v2.0/networks").await;
    let other_scope = alice
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "ip_version": 4,
                   "subnetpool_id": pb["id"], "prefixlen": 24}}),
        )
        .await;
    let set_by_client = alice
        .put(
            &format!("/v2.0/networks/{}", s(&net, "id")),
            json!({"network": {"ipv4_address_scope": b["id"]}}),
        )
        .await;
    // Moving the pool to another scope would leave no network split: it is the only pool.
    let rescoped = alice
        .put(
            &format!("/v2.0/subnetpools/{}", s(&pa, "id")),
            json!({"subnetpool": {"address_scope_id": null}}),
        )
        .await;
    let after_rescope = alice
        .get(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;

    assert_eq!(before.body["network"]["ipv4_address_scope"], Value::Null);
    assert_eq!(before.body["network"]["ipv6_address_scope"], Value::Null);
    assert_eq!(sub.status, 201, "{}", sub.body);
    assert_eq!(after.body["network"]["ipv4_address_scope"], a["id"]);
    assert_eq!(after.body["network"]["ipv6_address_scope"], Value::Null);
    assert_eq!(listed.items("networks")[0]["ipv4_address_scope"], a["id"]);
    other_scope.expect_error(400, "NetworkAddressScopeAffinityError");
    set_by_client.expect_error(400, "HTTPBadRequest");
    assert_eq!(rescoped.status, 200, "{}", rescoped.body);
    assert_eq!(
        after_rescope.body["network"]["ipv4_address_scope"],
        Value::Null
    );
    server.stop().await;
}

#[tokio::test]
async fn rescoping_a_pool_may_not_split_a_network_between_scopes() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let a = scope(&alice, "a", 4).await;
    let b = scope(&alice, "b", 4).await;
    let pa = pool(&alice, "10.0.0.0/16", Some(s(&a, "id"))).await;
    let pa2 = pool(&alice, "10.1.0.0/16", Some(s(&a, "id"))).await;
    let net = alice.network("n").await;
    for p in [&pa, &pa2] {
        let r = alice
            .post(
                "/v2.0/subnets",
                json!({"subnet": {"network_id": net["id"], "ip_version": 4,
                       "subnetpool_id": p["id"], "prefixlen": 24}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let split = alice
        .put(
            &format!("/v2.0/subnetpools/{}", s(&pa2, "id")),
            json!({"subnetpool": {"address_scope_id": b["id"]}}),
        )
        .await;
    // Leaving every scope is not checked (Neutron validates only a scope being joined).
    let left = alice
        .put(
            &format!("/v2.0/subnetpools/{}", s(&pa2, "id")),
            json!({"subnetpool": {"address_scope_id": null}}),
        )
        .await;
    split.expect_error(400, "NetworkAddressScopeAffinityError");
    assert_eq!(left.status, 200, "{}", left.body);
    server.stop().await;
}

#[tokio::test]
async fn a_pool_in_another_projects_shared_scope_cannot_be_updated_by_its_owner() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let bob = server.project(BOB);
    let shared = admin
        .post(
            "/v2.0/address-scopes",
            json!({"address_scope": {"name": "pub", "ip_version": 4, "shared": true}}),
        )
        .await
        .body["address_scope"]
        .clone();
    let p = pool(&bob, "10.0.0.0/16", Some(s(&shared, "id"))).await;
    let update = bob
        .put(
            &format!("/v2.0/subnetpools/{}", s(&p, "id")),
            json!({"subnetpool": {"name": "renamed"}}),
        )
        .await;
    let in_use = admin
        .delete(&format!("/v2.0/address-scopes/{}", s(&shared, "id")))
        .await;

    assert_eq!(p["address_scope_id"], shared["id"]);
    assert!(
        update
            .expect_error(400, "IllegalSubnetPoolUpdate")
            .contains("cannot be updated when associated with shared address scope")
    );
    in_use.expect_error(409, "AddressScopeInUse");
    server.stop().await;
}

/// 32 clients add pools to a scope while it is being deleted: either the delete wins and no
/// pool joined, or it is refused and every pool that joined is in the scope; never a pool
/// in a scope that no longer exists.
#[tokio::test]
async fn deleting_a_scope_races_32_pools_joining_it() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    for round in 0..3 {
        let a = scope(&alice, &format!("race{round}"), 4).await;
        let id = s(&a, "id").to_string();
        let mut tasks = Vec::new();
        for i in 0..32 {
            let c = alice.clone();
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                c.post(
                    "/v2.0/subnetpools",
                    json!({"subnetpool": {"name": "p", "prefixes": [format!("10.{i}.0.0/16")],
                           "address_scope_id": id}}),
                )
                .await
            }));
        }
        let deleted = alice.delete(&format!("/v2.0/address-scopes/{id}")).await;
        let mut joined = 0;
        for t in tasks {
            let r = t.await.unwrap();
            match r.status {
                201 => joined += 1,
                404 => assert_eq!(r.error_type(), Some("AddressScopeNotFound")),
                other => panic!("unexpected {other}: {}", r.body),
            }
        }
        let members = alice
            .get(&format!("/v2.0/subnetpools?address_scope_id={id}"))
            .await
            .ids("subnetpools")
            .len();
        match deleted.status {
            204 => assert_eq!(members, 0, "round {round}: pools in a deleted scope"),
            409 => assert_eq!(members, joined, "round {round}"),
            other => panic!("unexpected delete {other}: {}", deleted.body),
        }
        assert_eq!(members, joined, "round {round}");
        for p in alice.get("/v2.0/subnetpools").await.ids("subnetpools") {
            alice.delete(&format!("/v2.0/subnetpools/{p}")).await;
        }
    }
    server.stop().await;
}
