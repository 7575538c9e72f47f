//! Subnet pool actions: `add_prefixes` and `remove_prefixes` (`subnetpool-prefix-ops`) and
//! `onboard_network_subnets` (`subnet_onboard`), with Neutron's answers and checks, and with
//! 32 clients changing one pool at once (the API suite also runs on PostgreSQL with
//! `NEUTRINO_TEST_BACKEND=postgres`).

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

async fn pool(c: &Client, prefixes: &[&str]) -> String {
    let r = c
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "pool", "prefixes": prefixes}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    s(&r.body["subnetpool"], "id").to_string()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

async fn prefixes_of(c: &Client, id: &str) -> (Vec<String>, u64) {
    let p = c.get_ok(&format!("/v2.0/subnetpools/{id}")).await["subnetpool"].clone();
    (strs(&p["prefixes"]), p["revision_number"].as_u64().unwrap())
}

#[tokio::test]
async fn add_prefixes_answers_the_pools_prefixes_with_adjacent_ones_merged() {
    let server = TestServer::start().await;
    let c = server.admin();
    let id = pool(&c, &["10.0.0.0/24"]).await;
    let (_, rev) = prefixes_of(&c, &id).await;

    let added = c
        .put(
            &format!("/v2.0/subnetpools/{id}/add_prefixes"),
            json!({"prefixes": ["10.0.1.0/24", "192.168.0.0/24"]}),
        )
        .await;
    let nothing = c
        .put(
            &format!("/v2.0/subnetpools/{id}/add_prefixes"),
            json!({"prefixes": []}),
        )
        .await;

    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(
        strs(&added.body["prefixes"]),
        ["10.0.0.0/23", "192.168.0.0/24"]
    );
    assert_eq!(nothing.status, 200);
    assert_eq!(
        strs(&nothing.body["prefixes"]),
        ["10.0.0.0/23", "192.168.0.0/24"]
    );
    let (after, rev_after) = prefixes_of(&c, &id).await;
    assert_eq!(after, ["10.0.0.0/23", "192.168.0.0/24"]);
    assert_eq!(rev_after, rev + 1);
    server.stop().await;
}

#[tokio::test]
async fn add_prefixes_refuses_another_ip_version_and_a_body_without_prefixes() {
    let server = TestServer::start().await;
    let c = server.admin();
    let id = pool(&c, &["10.0.0.0/24"]).await;

    let v6 = c
        .put(
            &format!("/v2.0/subnetpools/{id}/add_prefixes"),
            json!({"prefixes": ["2001:db8::/64"]}),
        )
        .await;
    let no_list = c
        .put(
            &format!("/v2.0/subnetpools/{id}/add_prefixes"),
            json!({"prefix": "10.0.1.0/24"}),
        )
        .await;
    let not_cidr = c
        .put(
            &format!("/v2.0/subnetpools/{id}/add_prefixes"),
            json!({"prefixes": ["10.0.1.0/33"]}),
        )
        .await;
    let missing = c
        .put(
            "/v2.0/subnetpools/00000000-0000-0000-0000-000000000000/add_prefixes",
            json!({"prefixes": ["10.0.1.0/24"]}),
        )
        .await;

    assert_eq!(v6.status, 400);
    assert_eq!(v6.error_type(), Some("PrefixVersionMismatch"));
    assert_eq!(no_list.status, 400);
    assert_eq!(not_cidr.status, 400);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_type(), Some("SubnetPoolNotFound"));
    assert_eq!(prefixes_of(&c, &id).await.0, ["10.0.0.0/24"]);
    server.stop().await;
}

#[tokio::test]
async fn remove_prefixes_cuts_unused_space_and_refuses_space_a_subnet_uses() {
    let server = TestServer::start().await;
    let c = server.admin();
    let id = pool(&c, &["10.0.0.0/22"]).await;
    let net = c.network("n").await;
    let sub = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "ip_version": 4, "subnetpool_id": id, "cidr": "10.0.0.0/24"}}),
        )
        .await;
    assert_eq!(sub.status, 201, "{}", sub.body);

    let cut = c
        .put(
            &format!("/v2.0/subnetpools/{id}/remove_prefixes"),
            json!({"prefixes": ["10.0.2.0/24"]}),
        )
        .await;
    let in_use = c
        .put(
            &format!("/v2.0/subnetpools/{id}/remove_prefixes"),
            json!({"prefixes": ["10.0.0.0/23"]}),
        )
        .await;
    let disjoint = c
        .put(
            &format!("/v2.0/subnetpools/{id}/remove_prefixes"),
            json!({"prefixes": ["172.16.0.0/24"]}),
        )
        .await;

    assert_eq!(cut.status, 200, "{}", cut.body);
    assert_eq!(strs(&cut.body["prefixes"]), ["10.0.0.0/23", "10.0.3.0/24"]);
    assert_eq!(in_use.status, 400);
    assert_eq!(in_use.error_type(), Some("IllegalSubnetPoolPrefixUpdate"));
    assert_eq!(disjoint.status, 200);
    assert_eq!(
        strs(&disjoint.body["prefixes"]),
        ["10.0.0.0/23", "10.0.3.0/24"]
    );
    // The pool no longer hands out the removed space.
    let taken = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net["id"], "ip_version": 4, "subnetpool_id": id, "cidr": "10.0.2.0/24"}}),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert_eq!(taken.error_type(), Some("SubnetAllocationError"));
    server.stop().await;
}

#[tokio::test]
async fn only_the_pools_owner_or_an_admin_changes_its_prefixes() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let owner = server.project("p1");
    let other = server.project("p2");
    let r = owner
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "mine", "prefixes": ["10.5.0.0/24"]}}),
        )
        .await;
    let id = s(&r.body["subnetpool"], "id").to_string();
    let shared = admin
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "shared", "prefixes": ["10.6.0.0/24"], "shared": true}}),
        )
        .await;
    let shared_id = s(&shared.body["subnetpool"], "id").to_string();

    let own = owner
        .put(
            &format!("/v2.0/subnetpools/{id}/add_prefixes"),
            json!({"prefixes": ["10.5.1.0/24"]}),
        )
        .await;
    let hidden = other
        .put(
            &format!("/v2.0/subnetpools/{id}/add_prefixes"),
            json!({"prefixes": ["10.5.2.0/24"]}),
        )
        .await;
    let not_owner = other
        .put(
            &format!("/v2.0/subnetpools/{shared_id}/remove_prefixes"),
            json!({"prefixes": ["10.6.0.0/24"]}),
        )
        .await;

    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(hidden.status, 404);
    assert_eq!(not_owner.status, 403);
    assert_eq!(not_owner.error_type(), Some("PolicyNotAuthorized"));
    server.stop().await;
}

#[tokio::test]
async fn onboarding_moves_a_networks_subnets_of_the_pools_version_into_the_pool() {
    let server = TestServer::start().await;
    let c = server.admin();
    let id = pool(&c, &["10.0.0.0/24"]).await;
    let net = c.network("legacy").await;
    let net_id = s(&net, "id").to_string();
    let a = c.subnet(&net_id, "172.16.0.0/24").await;
    let b = c.subnet(&net_id, "172.16.1.0/24").await;
    let v6 = c.subnet(&net_id, "2001:db8::/64").await;

    let r = c
        .put(
            &format!("/v2.0/subnetpools/{id}/onboard_network_subnets"),
            json!({"network_id": net_id}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let mut got: Vec<(String, String)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (s(o, "id").to_string(), s(o, "cidr").to_string()))
        .collect();
    got.sort();
    let mut want = vec![
        (s(&a, "id").to_string(), "172.16.0.0/24".to_string()),
        (s(&b, "id").to_string(), "172.16.1.0/24".to_string()),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        prefixes_of(&c, &id).await.0,
        ["10.0.0.0/24", "172.16.0.0/23"]
    );
    for sub in [&a, &b] {
        let now = c.get_ok(&format!("/v2.0/subnets/{}", s(sub, "id"))).await["subnet"].clone();
        assert_eq!(now["subnetpool_id"], id.as_str());
        assert_eq!(
            now["revision_number"].as_u64().unwrap(),
            sub["revision_number"].as_u64().unwrap() + 1
        );
    }
    let v6_now = c.get_ok(&format!("/v2.0/subnets/{}", s(&v6, "id"))).await["subnet"].clone();
    assert!(v6_now["subnetpool_id"].is_null());
    server.stop().await;
}

#[tokio::test]
async fn onboarding_refuses_overlap_with_the_pools_subnets_and_other_projects_networks() {
    let server = TestServer::start().await;
    let c = server.admin();
    let id = pool(&c, &["10.0.0.0/16"]).await;
    let mine = c.network("in-pool").await;
    let from_pool = c
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": mine["id"], "ip_version": 4, "subnetpool_id": id, "cidr": "10.0.1.0/24"}}),
        )
        .await;
    assert_eq!(from_pool.status, 201, "{}", from_pool.body);
    let legacy = c.network("legacy").await;
    c.subnet(s(&legacy, "id"), "10.0.1.0/25").await;
    let member = server.project("p1");
    let theirs = member
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "theirs", "prefixes": ["10.9.0.0/24"]}}),
        )
        .await;
    let their_pool = s(&theirs.body["subnetpool"], "id").to_string();

    let overlap = c
        .put(
            &format!("/v2.0/subnetpools/{id}/onboard_network_subnets"),
            json!({"network_id": legacy["id"]}),
        )
        .await;
    let no_network = c
        .put(
            &format!("/v2.0/subnetpools/{id}/onboard_network_subnets"),
            json!({}),
        )
        .await;
    let foreign = member
        .put(
            &format!("/v2.0/subnetpools/{their_pool}/onboard_network_subnets"),
            json!({"network_id": legacy["id"]}),
        )
        .await;

    assert_eq!(overlap.status, 400, "{}", overlap.body);
    assert_eq!(overlap.error_type(), Some("IllegalSubnetPoolUpdate"));
    assert_eq!(no_network.status, 400);
    assert_eq!(foreign.status, 404, "{}", foreign.body);
    assert_eq!(prefixes_of(&c, &id).await.0, ["10.0.0.0/16"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_two_clients_adding_prefixes_to_one_pool_lose_none() {
    let server = TestServer::start().await;
    let c = server.admin();
    let id = pool(&c, &["10.200.0.0/24"]).await;

    let tasks: Vec<_> = (1..=32)
        .map(|i| {
            let (c, id) = (c.clone(), id.clone());
            tokio::spawn(async move {
                c.put(
                    &format!("/v2.0/subnetpools/{id}/add_prefixes"),
                    json!({"prefixes": [format!("10.{}.0.0/24", 100 + i)]}),
                )
                .await
                .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }

    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (prefixes, _) = prefixes_of(&c, &id).await;
    assert_eq!(prefixes.len(), 33, "{prefixes:?}");
    for i in 1..=32 {
        let want = format!("10.{}.0.0/24", 100 + i);
        assert!(prefixes.contains(&want), "{want} lost: {prefixes:?}");
    }
    server.stop().await;
}
