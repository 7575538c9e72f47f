//! RBAC policies on security groups (`rbac-security-groups`), subnet pools
//! (`rbac-subnetpool`), address scopes (`rbac-address-scope`) and address groups
//! (`rbac-address-group`): an `access_as_shared` entry lets its target see the object and
//! use it (a port in the group, a subnet from the pool, a pool in the scope, a rule naming
//! the address group), `shared` reads true for the target, and an entry the target still
//! depends on cannot be removed, also while 32 clients race the removal.

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

const ALICE: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BOB: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const CAROL: &str = "cccccccccccccccccccccccccccccccc";

async fn share(c: &Client, object_type: &str, id: &str, target: &str) -> Value {
    let r = c
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": object_type, "object_id": id,
                   "action": "access_as_shared", "target_tenant": target}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["rbac_policy"].clone()
}

async fn group(c: &Client, name: &str) -> Value {
    let r = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": name}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["security_group"].clone()
}

#[tokio::test]
async fn a_shared_security_group_is_seen_and_used_by_its_target_only() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let carol = server.project(CAROL);
    let sg = group(&alice, "web").await;
    let sg_id = s(&sg, "id").to_string();
    let entry = share(&alice, "security_group", &sg_id, BOB).await;
    let bob_net = bob.network("b").await;
    bob.subnet(s(&bob_net, "id"), "10.0.0.0/24").await;
    let carol_net = carol.network("c").await;
    carol.subnet(s(&carol_net, "id"), "10.0.0.0/24").await;

    let bob_show = bob.get(&format!("/v2.0/security-groups/{sg_id}")).await;
    let bob_shared = bob.get("/v2.0/security-groups?shared=true").await;
    let bob_unshared = bob.get("/v2.0/security-groups?shared=false").await;
    let alice_show = alice.get(&format!("/v2.0/security-groups/{sg_id}")).await;
    let carol_show = carol.get(&format!("/v2.0/security-groups/{sg_id}")).await;
    let bob_port = bob
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": bob_net["id"], "security_groups": [sg_id]}}),
        )
        .await;
    let carol_port = carol
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": carol_net["id"], "security_groups": [sg_id]}}),
        )
        .await;
    let bob_update = bob
        .put(
            &format!("/v2.0/security-groups/{sg_id}"),
            json!({"security_group": {"name": "mine"}}),
        )
        .await;
    let refused = alice
        .delete(&format!("/v2.0/rbac-policies/{}", s(&entry, "id")))
        .await;
    bob.delete(&format!("/v2.0/ports/{}", s(&bob_port.body["port"], "id")))
        .await;
    let removed = alice
        .delete(&format!("/v2.0/rbac-policies/{}", s(&entry, "id")))
        .await;
    let bob_after = bob.get(&format!("/v2.0/security-groups/{sg_id}")).await;

    assert_eq!(bob_show.status, 200, "{}", bob_show.body);
    assert_eq!(bob_show.body["security_group"]["shared"], true);
    assert_eq!(bob_shared.ids("security_groups"), vec![sg_id.clone()]);
    assert!(!bob_unshared.ids("security_groups").contains(&sg_id));
    assert_eq!(alice_show.body["security_group"]["shared"], false);
    carol_show.expect_error(404, "SecurityGroupNotFound");
    assert_eq!(bob_port.status, 201, "{}", bob_port.body);
    assert_eq!(bob_port.body["port"]["security_groups"], json!([sg_id]));
    carol_port.expect_error(404, "SecurityGroupNotFound");
    bob_update.expect_error(403, "PolicyNotAuthorized");
    assert!(
        refused
            .expect_error(409, "RbacPolicyInUse")
            .contains(&format!("project_id={BOB}"))
    );
    assert_eq!(removed.status, 204);
    bob_after.expect_error(404, "SecurityGroupNotFound");
    server.stop().await;
}

#[tokio::test]
async fn the_wildcard_is_needed_while_a_user_has_no_entry_of_its_own() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let sg = group(&alice, "web").await;
    let sg_id = s(&sg, "id").to_string();
    let by_member = alice
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "security_group", "object_id": sg_id,
                   "action": "access_as_shared", "target_tenant": "*"}}),
        )
        .await;
    let wildcard = share(&admin, "security_group", &sg_id, "*").await;
    let carol_sees = server
        .project(CAROL)
        .get(&format!("/v2.0/security-groups/{sg_id}"))
        .await;
    let net = bob.network("b").await;
    bob.subnet(s(&net, "id"), "10.0.0.0/24").await;
    bob.port(s(&net, "id"), json!({"security_groups": [sg_id]}))
        .await;
    // Alice's own port in her group does not hold the wildcard.
    let alice_net = alice.network("a").await;
    alice.subnet(s(&alice_net, "id"), "10.0.0.0/24").await;
    alice
        .port(s(&alice_net, "id"), json!({"security_groups": [sg_id]}))
        .await;
    let refused = admin
        .delete(&format!("/v2.0/rbac-policies/{}", s(&wildcard, "id")))
        .await;
    share(&alice, "security_group", &sg_id, BOB).await;
    let removed = admin
        .delete(&format!("/v2.0/rbac-policies/{}", s(&wildcard, "id")))
        .await;

    by_member.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(carol_sees.body["security_group"]["shared"], true);
    refused.expect_error(409, "RbacPolicyInUse");
    assert_eq!(removed.status, 204, "{}", removed.body);
    server.stop().await;
}

#[tokio::test]
async fn only_the_owner_shares_and_only_as_shared() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let sg = group(&alice, "web").await;
    let not_owner = bob
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "security_group", "object_id": sg["id"],
                   "action": "access_as_shared", "target_tenant": CAROL}}),
        )
        .await;
    let external = alice
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "security_group", "object_id": sg["id"],
                   "action": "access_as_external", "target_tenant": BOB}}),
        )
        .await;
    let unknown_type = alice
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "router", "object_id": sg["id"],
                   "action": "access_as_shared", "target_tenant": BOB}}),
        )
        .await;
    let entry = share(&alice, "security_group", s(&sg, "id"), BOB).await;
    let duplicate = alice
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "security_group", "object_id": sg["id"],
                   "action": "access_as_shared", "target_tenant": BOB}}),
        )
        .await;
    alice
        .delete(&format!("/v2.0/security-groups/{}", s(&sg, "id")))
        .await;
    let after_delete = alice
        .get(&format!("/v2.0/rbac-policies/{}", s(&entry, "id")))
        .await;

    assert!(
        not_owner
            .expect_error(400, "InvalidInput")
            .contains("Only admins can manipulate policies on objects they do not own")
    );
    external.expect_error(400, "InvalidActionForType");
    assert!(
        unknown_type
            .expect_error(400, "InvalidInput")
            .contains("'router' is not a valid RBAC object type")
    );
    duplicate.expect_error(409, "DuplicateRbacPolicy");
    after_delete.expect_error(404, "RbacPolicyNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_shared_subnet_pool_gives_its_target_subnets() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let carol = server.project(CAROL);
    let pool = alice
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "p", "prefixes": ["10.0.0.0/16"]}}),
        )
        .await
        .body["subnetpool"]
        .clone();
    let pool_id = s(&pool, "id").to_string();
    let entry = share(&alice, "subnetpool", &pool_id, BOB).await;
    let bob_show = bob.get(&format!("/v2.0/subnetpools/{pool_id}")).await;
    let bob_net = bob.network("b").await;
    let bob_subnet = bob
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": bob_net["id"], "ip_version": 4,
                   "subnetpool_id": pool_id, "prefixlen": 24}}),
        )
        .await;
    let carol_net = carol.network("c").await;
    let carol_subnet = carol
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": carol_net["id"], "ip_version": 4,
                   "subnetpool_id": pool_id, "prefixlen": 24}}),
        )
        .await;
    let alice_show = alice.get(&format!("/v2.0/subnetpools/{pool_id}")).await;
    let refused = alice
        .delete(&format!("/v2.0/rbac-policies/{}", s(&entry, "id")))
        .await;
    let retarget = alice
        .put(
            &format!("/v2.0/rbac-policies/{}", s(&entry, "id")),
            json!({"rbac_policy": {"target_tenant": CAROL}}),
        )
        .await;

    assert_eq!(bob_show.body["subnetpool"]["shared"], true);
    assert_eq!(bob_subnet.status, 201, "{}", bob_subnet.body);
    carol_subnet.expect_error(404, "SubnetPoolNotFound");
    assert_eq!(alice_show.body["subnetpool"]["shared"], false);
    refused.expect_error(409, "RbacPolicyInUse");
    retarget.expect_error(409, "RbacPolicyInUse");
    server.stop().await;
}

#[tokio::test]
async fn shared_true_on_a_pool_is_the_wildcard_entry() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let pool = admin
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "p", "prefixes": ["10.0.0.0/16"], "shared": true}}),
        )
        .await
        .body["subnetpool"]
        .clone();
    let entries = admin
        .get(&format!("/v2.0/rbac-policies?object_id={}", s(&pool, "id")))
        .await;
    let bob_sees = server
        .project(BOB)
        .get(&format!("/v2.0/subnetpools/{}", s(&pool, "id")))
        .await;
    let e = entries.items("rbac_policies");
    let removed = admin
        .delete(&format!("/v2.0/rbac-policies/{}", s(&e[0], "id")))
        .await;
    let after = admin
        .get(&format!("/v2.0/subnetpools/{}", s(&pool, "id")))
        .await;

    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["object_type"], "subnetpool");
    assert_eq!(e[0]["target_tenant"], "*");
    assert_eq!(bob_sees.body["subnetpool"]["shared"], true);
    assert_eq!(removed.status, 204);
    assert_eq!(after.body["subnetpool"]["shared"], false);
    server.stop().await;
}

#[tokio::test]
async fn a_pool_in_a_scope_is_shared_only_with_projects_the_scope_reaches() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let scope = alice
        .post(
            "/v2.0/address-scopes",
            json!({"address_scope": {"name": "s", "ip_version": 4}}),
        )
        .await
        .body["address_scope"]
        .clone();
    let pool = alice
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "p", "prefixes": ["10.0.0.0/16"],
                   "address_scope_id": scope["id"]}}),
        )
        .await
        .body["subnetpool"]
        .clone();
    let too_early = alice
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "subnetpool", "object_id": pool["id"],
                   "action": "access_as_shared", "target_tenant": BOB}}),
        )
        .await;
    let scope_entry = share(&alice, "address_scope", s(&scope, "id"), BOB).await;
    let bob_scope = bob
        .get(&format!("/v2.0/address-scopes/{}", s(&scope, "id")))
        .await;
    let bob_pool = bob
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "b", "prefixes": ["10.1.0.0/16"],
                   "address_scope_id": scope["id"]}}),
        )
        .await;
    share(&alice, "subnetpool", s(&pool, "id"), BOB).await;
    let scope_in_use = alice
        .delete(&format!("/v2.0/rbac-policies/{}", s(&scope_entry, "id")))
        .await;

    assert!(
        too_early
            .expect_error(400, "InvalidInput")
            .contains("target project doesn't have access to associated address scope")
    );
    assert_eq!(bob_scope.body["address_scope"]["shared"], true);
    assert_eq!(bob_pool.status, 201, "{}", bob_pool.body);
    assert!(
        scope_in_use
            .expect_error(409, "RbacPolicyInUse")
            .contains(&format!("project_id={BOB}"))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_shared_address_group_can_be_named_by_the_targets_rules() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let carol = server.project(CAROL);
    let ag = alice
        .post(
            "/v2.0/address-groups",
            json!({"address_group": {"name": "ag", "addresses": ["10.0.0.0/8"]}}),
        )
        .await
        .body["address_group"]
        .clone();
    let ag_id = s(&ag, "id").to_string();
    let entry = share(&alice, "address_group", &ag_id, BOB).await;
    let bob_sg = group(&bob, "b").await;
    let carol_sg = group(&carol, "c").await;
    let rule = |sg: &Value| {
        json!({"security_group_rule": {"security_group_id": sg["id"], "direction": "ingress",
               "ethertype": "IPv4", "remote_address_group_id": ag_id}})
    };
    let bob_show = bob.get(&format!("/v2.0/address-groups/{ag_id}")).await;
    let bob_rule = bob.post("/v2.0/security-group-rules", rule(&bob_sg)).await;
    let carol_rule = carol
        .post("/v2.0/security-group-rules", rule(&carol_sg))
        .await;
    let bob_change = bob
        .put(
            &format!("/v2.0/address-groups/{ag_id}/add_addresses"),
            json!({"addresses": ["192.168.0.0/16"]}),
        )
        .await;
    let bob_rename = bob
        .put(
            &format!("/v2.0/address-groups/{ag_id}"),
            json!({"address_group": {"name": "mine"}}),
        )
        .await;
    let refused = alice
        .delete(&format!("/v2.0/rbac-policies/{}", s(&entry, "id")))
        .await;

    assert_eq!(bob_show.status, 200, "{}", bob_show.body);
    // Neutron checks the update against the group read without `shared` (never shown).
    assert_eq!(bob_rename.status, 404, "{}", bob_rename.body);
    assert!(bob_show.body["address_group"].get("shared").is_none());
    assert_eq!(bob_rule.status, 201, "{}", bob_rule.body);
    carol_rule.expect_error(404, "AddressGroupNotFound");
    bob_change.expect_error(403, "PolicyNotAuthorized");
    refused.expect_error(409, "RbacPolicyInUse");
    server.stop().await;
}

#[tokio::test]
async fn entries_on_every_type_count_against_the_rbac_policy_quota() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project(ALICE);
    admin
        .put(
            &format!("/v2.0/quotas/{ALICE}"),
            json!({"quota": {"rbac_policy": 1}}),
        )
        .await;
    let sg = group(&alice, "web").await;
    share(&alice, "security_group", s(&sg, "id"), BOB).await;
    let over = alice
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "security_group", "object_id": sg["id"],
                   "action": "access_as_shared", "target_tenant": CAROL}}),
        )
        .await;
    assert!(
        over.expect_error(409, "OverQuota")
            .contains("['rbac_policy']")
    );
    server.stop().await;
}

/// 32 of Bob's clients create ports in Alice's group while Alice removes the entry that
/// shares it: either the removal is refused (Bob got ports) or it wins and no port of
/// Bob's is in the group. Never a port in a group its project may no longer use.
#[tokio::test]
async fn revoking_a_security_group_share_races_32_port_creations() {
    let server = TestServer::start().await;
    let alice = server.project(ALICE);
    let bob = server.project(BOB);
    let sg = group(&alice, "web").await;
    let sg_id = s(&sg, "id").to_string();
    let net = bob.network("b").await;
    bob.subnet(s(&net, "id"), "10.0.0.0/20").await;
    let mut outcomes = (0, 0);
    for round in 0..4 {
        let entry = share(&alice, "security_group", &sg_id, BOB).await;
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let c = bob.clone();
            let body = json!({"port": {"network_id": net["id"], "security_groups": [sg_id]}});
            tasks.push(tokio::spawn(
                async move { c.post("/v2.0/ports", body).await },
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(5 * round)).await;
        let revoked = alice
            .delete(&format!("/v2.0/rbac-policies/{}", s(&entry, "id")))
            .await;
        let mut created = Vec::new();
        for t in tasks {
            let r = t.await.unwrap();
            match r.status {
                201 => created.push(s(&r.body["port"], "id").to_string()),
                404 => assert_eq!(r.error_type(), Some("SecurityGroupNotFound")),
                other => panic!("unexpected {other}: {}", r.body),
            }
        }
        let in_group = bob
            .get(&format!("/v2.0/ports?security_groups={sg_id}"))
            .await
            .ids("ports")
            .len();
        assert_eq!(in_group, created.len(), "round {round}");
        match revoked.status {
            204 => {
                outcomes.0 += 1;
                assert!(
                    created.is_empty(),
                    "round {round}: ports in an unshared group"
                );
            }
            409 => {
                outcomes.1 += 1;
                assert!(!created.is_empty(), "round {round}: refused with no user");
                for p in &created {
                    bob.delete(&format!("/v2.0/ports/{p}")).await;
                }
                let r = alice
                    .delete(&format!("/v2.0/rbac-policies/{}", s(&entry, "id")))
                    .await;
                assert_eq!(r.status, 204, "{}", r.body);
            }
            other => panic!("unexpected revoke {other}: {}", revoked.body),
        }
    }
    eprintln!("revoked first: {}, refused: {}", outcomes.0, outcomes.1);
    server.stop().await;
}
