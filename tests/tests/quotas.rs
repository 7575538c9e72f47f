//! Quotas: the `/v2.0/quotas` API with Neutron's defaults, answers and rules for lowering a
//! limit, enforcement on create (single and bulk), and limits that are never overshot by
//! concurrent creators, on one server and on two servers sharing PostgreSQL.

use neutrino_tests::{Backend, Client, TestDb, TestServer, s};
use serde_json::{Value, json};

#[tokio::test]
async fn defaults_are_neutrons_and_a_project_can_read_its_own() {
    let server = TestServer::start().await;
    let alice = server.project("alice");

    let own = alice.get_ok("/v2.0/quotas/alice").await;
    let defaults = alice.get_ok("/v2.0/quotas/alice/default").await;
    let other = alice.get("/v2.0/quotas/bob").await;
    let other_details = alice.get("/v2.0/quotas/bob/details").await;
    let list = alice.get("/v2.0/quotas").await;
    let whoami = alice.get_ok("/v2.0/quotas/project").await;

    for q in [&own["quota"], &defaults["quota"]] {
        assert_eq!(q["network"], 100);
        assert_eq!(q["subnet"], 100);
        assert_eq!(q["port"], 500);
        assert_eq!(q["security_group"], 10);
        assert_eq!(q["security_group_rule"], 100);
        assert_eq!(q["subnetpool"], -1);
    }
    other.expect_error(403, "PolicyNotAuthorized");
    other_details.expect_error(403, "AdminRequired");
    list.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(whoami["project"]["project_id"], "alice");
    server.stop().await;
}

#[tokio::test]
async fn an_admin_sets_lists_and_resets_limits() {
    let server = TestServer::start().await;
    let admin = server.admin();

    let set = admin
        .put(
            "/v2.0/quotas/alice",
            json!({"quota": {"network": 0, "security_group": "7"}}),
        )
        .await;
    let listed = admin.get_ok("/v2.0/quotas").await;
    let by_member = server
        .project("alice")
        .put("/v2.0/quotas/alice", json!({"quota": {"network": 5}}))
        .await;
    let reset = admin.delete("/v2.0/quotas/alice").await;
    let again = admin.delete("/v2.0/quotas/alice").await;
    let after = admin.get_ok("/v2.0/quotas").await;

    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["quota"]["network"], 0);
    assert_eq!(set.body["quota"]["security_group"], 7);
    assert_eq!(listed["quotas"][0]["project_id"], "alice");
    assert_eq!(listed["quotas"][0]["network"], 0);
    by_member.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(reset.status, 204);
    again.expect_error(404, "TenantQuotaNotFound");
    assert_eq!(after["quotas"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn bad_limits_are_refused() {
    let server = TestServer::start().await;
    let admin = server.admin();

    for bad in [json!(-2), json!(2147483648i64), json!("value")] {
        let r = admin
            .put(
                "/v2.0/quotas/alice",
                json!({"quota": {"security_group": bad}}),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let unknown = admin
        .put("/v2.0/quotas/alice", json!({"quota": {"widgets": 3}}))
        .await;
    for good in [-1, 0, 10, 2147483647] {
        let r = admin
            .put(
                "/v2.0/quotas/alice",
                json!({"quota": {"security_group": good}}),
            )
            .await;
        assert_eq!(r.body["quota"]["security_group"], good, "{}", r.body);
    }
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    server.stop().await;
}

#[tokio::test]
async fn creating_past_a_limit_is_409_overquota_and_bulk_creates_nothing() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    admin
        .put("/v2.0/quotas/alice", json!({"quota": {"network": 2}}))
        .await;

    alice.network("a").await;
    let bulk = alice
        .post(
            "/v2.0/networks",
            json!({"networks": [{"name": "b"}, {"name": "c"}]}),
        )
        .await;
    alice.network("b").await;
    let third = alice
        .post("/v2.0/networks", json!({"network": {"name": "c"}}))
        .await;
    let details = alice.get_ok("/v2.0/quotas/alice/details").await;

    assert_eq!(
        bulk.expect_error(409, "OverQuota"),
        "Quota exceeded for resources: ['network']."
    );
    third.expect_error(409, "OverQuota");
    assert_eq!(
        details["quota"]["network"],
        json!({"limit": 2, "used": 2, "reserved": 0})
    );
    server.stop().await;
}

#[tokio::test]
async fn a_limit_below_usage_needs_force() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    alice.network("a").await;
    alice.network("b").await;

    let refused = admin
        .put("/v2.0/quotas/alice", json!({"quota": {"network": 1}}))
        .await;
    let forced = admin
        .put(
            "/v2.0/quotas/alice",
            json!({"quota": {"network": 1, "force": true}}),
        )
        .await;

    assert_eq!(
        refused.expect_error(400, "HTTPBadRequest"),
        "Quota limit 1 for network must be greater than or equal to already used 2"
    );
    assert_eq!(forced.body["quota"]["network"], 1, "{}", forced.body);
    server.stop().await;
}

#[tokio::test]
async fn security_group_quotas_count_the_default_group_and_template_rules() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    admin
        .put(
            "/v2.0/quotas/alice",
            json!({"quota": {"security_group": 2}}),
        )
        .await;

    let first = alice
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "a"}}),
        )
        .await;
    let second = alice
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "b"}}),
        )
        .await;
    admin
        .put(
            "/v2.0/quotas/bob",
            json!({"quota": {"security_group_rule": 0}}),
        )
        .await;
    let no_rules = server
        .project("bob")
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "a"}}),
        )
        .await;

    assert_eq!(first.status, 201, "{}", first.body);
    second.expect_error(409, "OverQuota");
    no_rules.expect_error(409, "OverQuota");
    server.stop().await;
}

async fn port_race(clients: Vec<Client>, network: &str) -> (usize, usize) {
    let tasks = clients.into_iter().enumerate().map(|(i, c)| {
        let network = network.to_string();
        async move {
            let mut made = 0;
            let mut refused = 0;
            for _ in 0..3 {
                let r = c
                    .post(
                        "/v2.0/ports",
                        json!({"port": {"network_id": network, "name": format!("c{i}")}}),
                    )
                    .await;
                match r.status {
                    201 => made += 1,
                    409 if r.error_type() == Some("OverQuota") => refused += 1,
                    other => panic!("unexpected {other}: {}", r.body),
                }
            }
            (made, refused)
        }
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

#[tokio::test]
async fn thirty_two_concurrent_creators_end_with_exactly_the_limit() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    let net = alice.network("n").await;
    alice.subnet(s(&net, "id"), "10.0.0.0/24").await;
    admin
        .put("/v2.0/quotas/alice", json!({"quota": {"port": 50}}))
        .await;

    let (made, refused) = port_race((0..32).map(|_| alice.clone()).collect(), s(&net, "id")).await;
    let listed = alice.get_ok("/v2.0/ports").await;

    assert_eq!(made, 50);
    assert_eq!(refused, 32 * 3 - 50);
    assert_eq!(listed["ports"].as_array().map(Vec::len), Some(50));
    let details = alice.get_ok("/v2.0/quotas/alice/details").await;
    assert_eq!(details["quota"]["port"]["used"], 50);
    server.stop().await;
}

#[tokio::test]
async fn details_while_32_creators_race_show_use_within_the_limit_and_nothing_reserved() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    let net = alice.network("n").await;
    alice.subnet(s(&net, "id"), "10.0.0.0/24").await;
    admin
        .put("/v2.0/quotas/alice", json!({"quota": {"port": 50}}))
        .await;

    // One reader asks for the details again and again while 32 clients create ports.
    let racing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let reader = {
        let alice = alice.clone();
        let racing = racing.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while racing.load(std::sync::atomic::Ordering::Relaxed) {
                seen.push(alice.get_ok("/v2.0/quotas/alice/details").await);
            }
            seen
        })
    };
    let (made, _) = port_race((0..32).map(|_| alice.clone()).collect(), s(&net, "id")).await;
    racing.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut seen = reader.await.unwrap();
    seen.push(alice.get_ok("/v2.0/quotas/alice/details").await);

    assert_eq!(made, 50);
    assert!(seen.len() > 1, "no details read during the race");
    let mut last_used = 0;
    for details in &seen {
        for (resource, d) in details["quota"].as_object().unwrap() {
            assert_eq!(d["reserved"], 0, "{resource} reserved: {details}");
        }
        let port = &details["quota"]["port"];
        let used = port["used"].as_i64().unwrap();
        assert_eq!(port["limit"], 50);
        assert!(used <= 50, "{used} ports in use past a limit of 50");
        assert!(
            used >= last_used,
            "use went back from {last_used} to {used}"
        );
        last_used = used;
    }
    assert_eq!(last_used, 50);
    server.stop().await;
}

#[tokio::test]
async fn an_unlimited_project_still_counts_what_32_creators_make() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    let net = alice.network("n").await;
    alice.subnet(s(&net, "id"), "10.0.0.0/24").await;
    admin
        .put("/v2.0/quotas/alice", json!({"quota": {"port": -1}}))
        .await;

    let (made, refused) = port_race((0..32).map(|_| alice.clone()).collect(), s(&net, "id")).await;
    let details = alice.get_ok("/v2.0/quotas/alice/details").await;
    let lower = admin
        .put("/v2.0/quotas/alice", json!({"quota": {"port": 50}}))
        .await;
    let forced = admin
        .put(
            "/v2.0/quotas/alice",
            json!({"quota": {"port": 50, "force": true}}),
        )
        .await;
    let past = alice
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id")}}),
        )
        .await;

    assert_eq!((made, refused), (96, 0));
    assert_eq!(
        details["quota"]["port"],
        json!({"limit": -1, "used": 96, "reserved": 0})
    );
    lower.expect_error(400, "HTTPBadRequest");
    assert_eq!(forced.status, 200, "{}", forced.body);
    past.expect_error(409, "OverQuota");
    server.stop().await;
}

/// 32 clients each ask for one bulk create of three ports: (ports made, bulks refused).
async fn bulk_race(clients: Vec<Client>, network: &str) -> (usize, usize) {
    let tasks = clients.into_iter().enumerate().map(|(i, c)| {
        let network = network.to_string();
        async move {
            let ports: Vec<Value> = (0..3)
                .map(|k| json!({"network_id": network, "name": format!("b{i}-{k}")}))
                .collect();
            let r = c.post("/v2.0/ports", json!({ "ports": ports })).await;
            match r.status {
                201 => (r.body["ports"].as_array().map_or(0, Vec::len), 0),
                409 if r.error_type() == Some("OverQuota") => (0, 1),
                other => panic!("unexpected {other}: {}", r.body),
            }
        }
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

#[tokio::test]
async fn thirty_two_concurrent_bulk_creates_stop_at_the_last_whole_bulk_under_the_limit() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    let net = alice.network("n").await;
    alice.subnet(s(&net, "id"), "10.0.0.0/24").await;
    admin
        .put("/v2.0/quotas/alice", json!({"quota": {"port": 50}}))
        .await;

    let (made, refused) = bulk_race((0..32).map(|_| alice.clone()).collect(), s(&net, "id")).await;
    let listed = alice.get_ok("/v2.0/ports").await;

    // 16 bulks of three fit in 50; the 2 left over fit no bulk, which is all or nothing.
    assert_eq!((made, refused), (48, 16));
    assert_eq!(listed["ports"].as_array().map(Vec::len), Some(48));
    server.stop().await;
}

#[tokio::test]
async fn a_lowered_limit_binds_at_once_after_32_creators_used_a_higher_one() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    let net = alice.network("n").await;
    alice.subnet(s(&net, "id"), "10.0.0.0/24").await;
    admin
        .put("/v2.0/quotas/alice", json!({"quota": {"port": 1000}}))
        .await;
    let (first, _) = port_race((0..32).map(|_| alice.clone()).collect(), s(&net, "id")).await;

    let lower = admin
        .put("/v2.0/quotas/alice", json!({"quota": {"port": 100}}))
        .await;
    let (second, refused) =
        port_race((0..32).map(|_| alice.clone()).collect(), s(&net, "id")).await;
    let details = alice.get_ok("/v2.0/quotas/alice/details").await;

    assert_eq!(first, 96);
    assert_eq!(lower.status, 200, "{}", lower.body);
    assert_eq!((second, refused), (4, 92));
    assert_eq!(
        details["quota"]["port"],
        json!({"limit": 100, "used": 100, "reserved": 0})
    );
    server.stop().await;
}

#[tokio::test]
async fn ports_deleted_by_32_clients_free_exactly_their_quota_again() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    let net = alice.network("n").await;
    alice.subnet(s(&net, "id"), "10.0.0.0/24").await;
    admin
        .put("/v2.0/quotas/alice", json!({"quota": {"port": 50}}))
        .await;
    let (made, _) = port_race((0..32).map(|_| alice.clone()).collect(), s(&net, "id")).await;
    let ports = alice.get_ok("/v2.0/ports").await;

    // 32 clients delete 20 of the 50 at once, then race for the room again.
    let doomed: Vec<String> = ports["ports"].as_array().unwrap()[..20]
        .iter()
        .map(|p| s(p, "id").to_string())
        .collect();
    let deletes = doomed.iter().enumerate().map(|(i, id)| {
        let c = alice.clone();
        let path = format!("/v2.0/ports/{id}");
        async move { (i, c.delete(&path).await.status) }
    });
    let statuses = futures::future::join_all(deletes).await;
    let (again, refused) = port_race((0..32).map(|_| alice.clone()).collect(), s(&net, "id")).await;
    let details = alice.get_ok("/v2.0/quotas/alice/details").await;

    assert_eq!(made, 50);
    assert!(statuses.iter().all(|(_, st)| *st == 204), "{statuses:?}");
    assert_eq!((again, refused), (20, 76));
    assert_eq!(details["quota"]["port"]["used"], 50);
    server.stop().await;
}

fn pg_wanted() -> bool {
    std::env::var_os("NEUTRINO_TEST_REQUIRE_PG").is_some()
        || Backend::from_env() == Backend::Postgres
}

#[tokio::test]
async fn two_servers_on_one_postgresql_never_overshoot_a_limit() {
    if !pg_wanted() {
        eprintln!("SKIPPED: set NEUTRINO_TEST_REQUIRE_PG or NEUTRINO_TEST_BACKEND=postgres");
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let url = db.url.clone();
    let one = TestServer::on_db(db, |_| {}).await;
    let two = TestServer::on_db(TestDb::existing(&url), |_| {}).await;
    let net = one.project("alice").network("n").await;
    one.project("alice")
        .subnet(s(&net, "id"), "10.0.0.0/24")
        .await;
    one.admin()
        .put("/v2.0/quotas/alice", json!({"quota": {"port": 50}}))
        .await;

    let clients: Vec<Client> = (0..32)
        .map(|i| {
            if i % 2 == 0 {
                one.project("alice")
            } else {
                two.project("alice")
            }
        })
        .collect();
    let (made, _) = port_race(clients, s(&net, "id")).await;
    let listed: Value = two.project("alice").get_ok("/v2.0/ports").await;

    assert_eq!(made, 50);
    assert_eq!(listed["ports"].as_array().map(Vec::len), Some(50));
    two.stop().await;
    one.stop().await;
}
