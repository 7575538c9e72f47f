//! RBAC policies on networks: `shared` is the wildcard `access_as_shared` entry, a targeted
//! entry shares with one project, `access_as_external` makes a network external, and an
//! entry a project still depends on cannot be removed.

use neutrino_tests::{TestServer, s};
use serde_json::json;

const ALICE: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BOB: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const CAROL: &str = "cccccccccccccccccccccccccccccccc";

#[tokio::test]
async fn shared_true_is_the_wildcard_entry() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let net = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "pub", "shared": true}}),
        )
        .await
        .body["network"]
        .clone();

    let entries = admin
        .get(&format!("/v2.0/rbac-policies?object_id={}", s(&net, "id")))
        .await;
    let bob_sees = server.project(BOB).get("/v2.0/networks").await;
    admin
        .put(
            &format!("/v2.0/networks/{}", s(&net, "id")),
            json!({"network": {"shared": false}}),
        )
        .await;
    let after = admin
        .get(&format!("/v2.0/rbac-policies?object_id={}", s(&net, "id")))
        .await;
    let bob_after = server.project(BOB).get("/v2.0/networks").await;

    let e = &entries.body["rbac_policies"];
    assert_eq!(e.as_array().map(Vec::len), Some(1), "{e}");
    assert_eq!(e[0]["action"], "access_as_shared");
    assert_eq!(e[0]["target_tenant"], "*");
    assert_eq!(bob_sees.ids("networks"), vec![s(&net, "id").to_string()]);
    assert_eq!(after.body["rbac_policies"], json!([]));
    assert!(bob_after.ids("networks").is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_targeted_share_lets_one_project_see_and_use_the_network() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let carol = server.project(CAROL);
    let net = alice.network("mine").await;
    alice.subnet(s(&net, "id"), "10.0.0.0/24").await;

    let entry = alice
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "network", "object_id": net["id"],
                   "action": "access_as_shared", "target_tenant": BOB}}),
        )
        .await;
    let bob_net = bob.get(&format!("/v2.0/networks/{}", s(&net, "id"))).await;
    let carol_net = carol
        .get(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;
    let owner_view = alice
        .get(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;
    let bob_port = bob
        .post("/v2.0/ports", json!({"port": {"network_id": net["id"]}}))
        .await;
    let bob_subnets = bob.get("/v2.0/subnets").await;

    assert_eq!(entry.status, 201, "{}", entry.body);
    assert_eq!(entry.body["rbac_policy"]["project_id"], ALICE);
    assert_eq!(bob_net.status, 200, "{}", bob_net.body);
    assert_eq!(bob_net.body["network"]["shared"], true);
    assert_eq!(owner_view.body["network"]["shared"], false);
    carol_net.expect_error(404, "NetworkNotFound");
    assert_eq!(bob_port.status, 201, "{}", bob_port.body);
    assert_eq!(bob_subnets.ids("subnets").len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn an_entry_a_project_depends_on_cannot_be_removed() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let net = alice.network("mine").await;
    alice.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let entry = alice
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "network", "object_id": net["id"],
                   "action": "access_as_shared", "target_tenant": BOB}}),
        )
        .await
        .body["rbac_policy"]
        .clone();
    let port = bob.port(s(&net, "id"), json!({})).await;
    let path = format!("/v2.0/rbac-policies/{}", s(&entry, "id"));

    let refused = alice.delete(&path).await;
    let retarget = alice
        .put(&path, json!({"rbac_policy": {"target_tenant": CAROL}}))
        .await;
    bob.delete(&format!("/v2.0/ports/{}", s(&port, "id"))).await;
    let deleted = alice.delete(&path).await;
    let bob_after = bob.get(&format!("/v2.0/networks/{}", s(&net, "id"))).await;

    refused.expect_error(409, "RbacPolicyInUse");
    retarget.expect_error(409, "RbacPolicyInUse");
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    bob_after.expect_error(404, "NetworkNotFound");
    server.stop().await;
}

#[tokio::test]
async fn members_may_not_share_with_everyone_or_share_what_they_do_not_own() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let net = alice.network("mine").await;
    let body = |target: &str| {
        json!({"rbac_policy": {"object_type": "network", "object_id": net["id"],
               "action": "access_as_shared", "target_tenant": target}})
    };

    let wildcard = alice.post("/v2.0/rbac-policies", body("*")).await;
    alice.post("/v2.0/rbac-policies", body(BOB)).await;
    let not_owner = bob.post("/v2.0/rbac-policies", body(CAROL)).await;
    let duplicate = alice.post("/v2.0/rbac-policies", body(BOB)).await;
    let bad_type = alice
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "widget", "object_id": net["id"],
                   "action": "access_as_shared", "target_tenant": BOB}}),
        )
        .await;
    let bad_target = alice.post("/v2.0/rbac-policies", body("nope")).await;

    wildcard.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(
        not_owner.expect_error(400, "InvalidInput"),
        "Invalid input for operation: Only admins can manipulate policies on networks they do \
         not own"
    );
    duplicate.expect_error(409, "DuplicateRbacPolicy");
    bad_type.expect_error(400, "InvalidInput");
    bad_target.expect_error(400, "InvalidInput");
    server.stop().await;
}

#[tokio::test]
async fn access_as_external_makes_the_network_external_and_visible() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let net = admin.network("ext").await;
    admin.subnet(s(&net, "id"), "203.0.113.0/24").await;

    let entry = admin
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "network", "object_id": net["id"],
                   "action": "access_as_external", "target_tenant": "*"}}),
        )
        .await;
    let seen = server
        .project(BOB)
        .get(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;
    let port = server
        .project(BOB)
        .post("/v2.0/ports", json!({"port": {"network_id": net["id"]}}))
        .await;
    let subnets = server
        .project(BOB)
        .get(&format!("/v2.0/subnets?network_id={}", s(&net, "id")))
        .await;
    admin
        .delete(&format!(
            "/v2.0/rbac-policies/{}",
            s(&entry.body["rbac_policy"], "id")
        ))
        .await;
    let after = admin
        .get(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;

    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(seen.body["network"]["router:external"], true);
    assert_eq!(seen.body["network"]["shared"], false);
    port.expect_error(403, "PolicyNotAuthorized");
    // With `subnet-external-network`, the subnets of an external network are shown to
    // those it is external for (Tempest's `test_external_network_visibility`).
    assert_eq!(subnets.ids("subnets").len(), 1, "{}", subnets.body);
    assert_eq!(subnets.items("subnets")[0]["router:external"], true);
    assert_eq!(after.body["network"]["router:external"], false);
    server.stop().await;
}

#[tokio::test]
async fn rbac_entries_count_against_their_quota() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let net = alice.network("mine").await;
    admin
        .put(
            &format!("/v2.0/quotas/{ALICE}"),
            json!({"quota": {"rbac_policy": 1}}),
        )
        .await;
    let body = |target: &str| {
        json!({"rbac_policy": {"object_type": "network", "object_id": net["id"],
               "action": "access_as_shared", "target_tenant": target}})
    };

    let first = alice.post("/v2.0/rbac-policies", body(BOB)).await;
    let second = alice.post("/v2.0/rbac-policies", body(CAROL)).await;

    assert_eq!(first.status, 201, "{}", first.body);
    second.expect_error(409, "OverQuota");
    server.stop().await;
}
