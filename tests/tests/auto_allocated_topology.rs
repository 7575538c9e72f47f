//! `auto-allocated-topology`: `is_default` on external networks (one default), and
//! `/v2.0/auto-allocated-topology/{project_id}`: `GET` builds a project's network, subnets
//! (one per default subnet pool) and router on the default external network once, the dry
//! run checks what it needs, `DELETE` removes it; 32 clients asking at once get one topology
//! (the API suite also runs on PostgreSQL with `NEUTRINO_TEST_BACKEND=postgres`).

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

/// An external network (with a subnet), the default one when `default`.
async fn external(c: &Client, name: &str, default: bool, cidr: &str) -> String {
    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": name, "router:external": true, "is_default": default}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = s(&r.body["network"], "id").to_string();
    c.subnet(&id, cidr).await;
    id
}

/// A default subnet pool of the prefix's IP version, shared.
async fn default_pool(c: &Client, prefix: &str, prefixlen: u8) -> String {
    let r = c
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": format!("default-{prefix}"), "prefixes": [prefix],
                   "default_prefixlen": prefixlen, "is_default": true, "shared": true}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    s(&r.body["subnetpool"], "id").to_string()
}

/// The default external network and an IPv4 default pool.
async fn deployment(c: &Client) -> String {
    let ext = external(c, "public", true, "203.0.113.0/24").await;
    default_pool(c, "10.128.0.0/16", 24).await;
    ext
}

async fn count(c: &Client, path: &str, collection: &str) -> usize {
    c.get_ok(path).await[collection].as_array().unwrap().len()
}

#[tokio::test]
async fn is_default_is_shown_on_external_networks_and_only_one_is_the_default() {
    let server = TestServer::start().await;
    let c = server.admin();
    let first = external(&c, "public", true, "203.0.113.0/24").await;
    let internal = c.network("internal").await;

    let second = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "other", "router:external": true, "is_default": true}}),
        )
        .await;
    let other = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "other", "router:external": true}}),
        )
        .await;
    let other_id = s(&other.body["network"], "id").to_string();
    let promoted = c
        .put(
            &format!("/v2.0/networks/{other_id}"),
            json!({"network": {"is_default": true}}),
        )
        .await;
    let by_member = server
        .project("p1")
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "mine", "router:external": false, "is_default": true}}),
        )
        .await;
    let defaults = c.get_ok("/v2.0/networks?is_default=true").await;

    let shown = c.get_ok(&format!("/v2.0/networks/{first}")).await;
    assert_eq!(shown["network"]["is_default"], true);
    assert_eq!(other.body["network"]["is_default"], false);
    assert!(
        internal.get("is_default").is_none(),
        "only external networks have is_default: {internal}"
    );
    assert_eq!(
        second.expect_error(409, "DefaultExternalNetworkExists"),
        format!("A default external network already exists: {first}.")
    );
    promoted.expect_error(409, "DefaultExternalNetworkExists");
    by_member.expect_error(403, "PolicyNotAuthorized");
    let ids: Vec<&str> = defaults["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(n, "id"))
        .collect();
    assert_eq!(ids, [first.as_str()]);

    // Another network becomes the default once the first one is not.
    let demoted = c
        .put(
            &format!("/v2.0/networks/{first}"),
            json!({"network": {"is_default": false}}),
        )
        .await;
    let promoted = c
        .put(
            &format!("/v2.0/networks/{other_id}"),
            json!({"network": {"is_default": true}}),
        )
        .await;
    assert_eq!(demoted.status, 200, "{}", demoted.body);
    assert_eq!(demoted.body["network"]["is_default"], false);
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    assert_eq!(promoted.body["network"]["is_default"], true);

    // A network that stops being external stops being the default.
    let internalised = c
        .put(
            &format!("/v2.0/networks/{other_id}"),
            json!({"network": {"router:external": false}}),
        )
        .await;
    let again = c
        .put(
            &format!("/v2.0/networks/{first}"),
            json!({"network": {"is_default": true}}),
        )
        .await;
    assert_eq!(internalised.status, 200, "{}", internalised.body);
    assert!(internalised.body["network"].get("is_default").is_none());
    assert_eq!(again.status, 200, "{}", again.body);
    server.stop().await;
}

#[tokio::test]
async fn the_default_external_network_stays_external_to_everyone() {
    let server = TestServer::start().await;
    let c = server.admin();
    let ext = external(&c, "public", true, "203.0.113.0/24").await;
    let entries = c
        .get_ok(&format!(
            "/v2.0/rbac-policies?object_id={ext}&action=access_as_external"
        ))
        .await;
    let wildcard = s(&entries["rbac_policies"][0], "id").to_string();

    let deleted = c.delete(&format!("/v2.0/rbac-policies/{wildcard}")).await;

    assert_eq!(
        deleted.expect_error(409, "RbacPolicyInUse"),
        format!(
            "RBAC policy on object {ext} cannot be removed because other objects depend on \
             it.\nDetails: Default external networks must be shared to everyone."
        )
    );
    let net = c.get_ok(&format!("/v2.0/networks/{ext}")).await;
    assert_eq!(net["network"]["router:external"], true);
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_admins_making_networks_the_default_leave_one_default() {
    let server = TestServer::start().await;
    let c = server.admin();
    let mut nets = Vec::new();
    for i in 0..32 {
        nets.push(external(&c, &format!("ext{i}"), false, &format!("198.18.{i}.0/24")).await);
    }

    let paths: Vec<String> = nets
        .iter()
        .map(|id| format!("/v2.0/networks/{id}"))
        .collect();
    let answers: Vec<_> = futures::future::join_all(
        paths
            .iter()
            .map(|path| c.put(path, json!({"network": {"is_default": true}}))),
    )
    .await;

    let won: Vec<&str> = answers
        .iter()
        .zip(&nets)
        .filter(|(r, _)| r.status == 200)
        .map(|(_, id)| id.as_str())
        .collect();
    assert_eq!(won.len(), 1, "one default: {won:?}");
    for r in answers.iter().filter(|r| r.status != 200) {
        assert_eq!(
            r.expect_error(409, "DefaultExternalNetworkExists"),
            format!("A default external network already exists: {}.", won[0])
        );
    }
    let defaults = c.get_ok("/v2.0/networks?is_default=true").await;
    assert_eq!(defaults["networks"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn get_builds_a_network_subnets_and_a_router_on_the_default_external_network_once() {
    let server = TestServer::start().await;
    let c = server.admin();
    let ext = deployment(&c).await;
    let v6_pool = default_pool(&c, "fd00:1::/48", 64).await;
    let p = server.project("p1");

    let first = p.get("/v2.0/auto-allocated-topology/p1").await;
    let second = p.get("/v2.0/auto-allocated-topology/p1").await;

    assert_eq!(first.status, 200, "{}", first.body);
    let topo = &first.body["auto_allocated_topology"];
    let net_id = s(topo, "id").to_string();
    assert_eq!(topo["project_id"], "p1");
    assert_eq!(topo["tenant_id"], "p1");
    assert_eq!(
        second.body, first.body,
        "later calls answer the same network"
    );

    let net = p.get_ok(&format!("/v2.0/networks/{net_id}")).await["network"].clone();
    assert_eq!(net["name"], "auto_allocated_network");
    assert_eq!(net["project_id"], "p1");
    assert_eq!(net["admin_state_up"], true);
    assert_eq!(net["router:external"], false);

    let subnets = p
        .get_ok(&format!(
            "/v2.0/subnets?network_id={net_id}&sort_key=ip_version&sort_dir=asc"
        ))
        .await;
    let subnets = subnets["subnets"].as_array().unwrap().clone();
    assert_eq!(subnets.len(), 2, "one subnet per default pool: {subnets:?}");
    assert_eq!(subnets[0]["name"], "auto_allocated_subnet_v4");
    assert_eq!(subnets[0]["cidr"], "10.128.0.0/24");
    assert_eq!(subnets[1]["name"], "auto_allocated_subnet_v6");
    assert_eq!(subnets[1]["subnetpool_id"], v6_pool.as_str());
    assert_eq!(subnets[1]["cidr"], "fd00:1::/64");

    let routers = p.get_ok("/v2.0/routers").await["routers"].clone();
    let routers = routers.as_array().unwrap();
    assert_eq!(routers.len(), 1, "{routers:?}");
    assert_eq!(routers[0]["name"], "auto_allocated_router");
    assert_eq!(routers[0]["project_id"], "p1");
    assert_eq!(
        routers[0]["external_gateway_info"]["network_id"],
        ext.as_str()
    );
    let router_id = s(&routers[0], "id");
    let interfaces = c
        .get_ok(&format!(
            "/v2.0/ports?device_id={router_id}&device_owner=network:router_interface"
        ))
        .await;
    let mut on: Vec<String> = interfaces["ports"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|port| port["fixed_ips"].as_array().unwrap().clone())
        .map(|ip| s(&ip, "subnet_id").to_string())
        .collect();
    on.sort();
    let mut want: Vec<String> = subnets.iter().map(|x| s(x, "id").to_string()).collect();
    want.sort();
    assert_eq!(on, want, "the router has an interface on each subnet");
    assert_eq!(
        count(
            &p,
            "/v2.0/networks?project_id=p1&name=auto_allocated_network",
            "networks"
        )
        .await,
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn a_dry_run_checks_the_requirements_and_builds_nothing() {
    let server = TestServer::start().await;
    let c = server.admin();
    let p = server.project("p1");

    let nothing = p
        .get("/v2.0/auto-allocated-topology/p1?fields=dry-run")
        .await;
    external(&c, "public", true, "203.0.113.0/24").await;
    let no_pools = p
        .get("/v2.0/auto-allocated-topology/p1?fields=dry-run")
        .await;
    let built_without_pools = p.get("/v2.0/auto-allocated-topology/p1").await;
    default_pool(&c, "10.128.0.0/16", 24).await;
    let ready = p
        .get("/v2.0/auto-allocated-topology/p1?fields=dry-run")
        .await;
    let other_field = p.get("/v2.0/auto-allocated-topology/p1?fields=id").await;

    assert_eq!(
        nothing.expect_error(409, "AutoAllocationFailure"),
        "Deployment error: No default router:external network."
    );
    assert_eq!(
        no_pools.expect_error(409, "AutoAllocationFailure"),
        "Deployment error: No default subnetpools defined."
    );
    assert_eq!(
        built_without_pools.expect_error(409, "AutoAllocationFailure"),
        "Deployment error: Unable to provide project private network."
    );
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["auto_allocated_topology"]["id"], "dry-run=pass");
    assert_eq!(ready.body["auto_allocated_topology"]["project_id"], "p1");
    assert_eq!(
        other_field.expect_error(400, "BadRequest"),
        "Bad auto_allocate request: Unrecognized field."
    );
    assert_eq!(
        count(&p, "/v2.0/networks?project_id=p1", "networks").await,
        0,
        "nothing left behind"
    );
    assert_eq!(count(&p, "/v2.0/routers", "routers").await, 0);

    // The failed attempt released the project: the next one builds.
    let built = p.get("/v2.0/auto-allocated-topology/p1").await;
    assert_eq!(built.status, 200, "{}", built.body);
    server.stop().await;
}

#[tokio::test]
async fn a_project_asks_for_its_own_topology_and_admins_for_any() {
    let server = TestServer::start().await;
    let c = server.admin();
    deployment(&c).await;
    let p1 = server.project("p1");

    let foreign = p1.get("/v2.0/auto-allocated-topology/p2").await;
    let foreign_delete = p1.delete("/v2.0/auto-allocated-topology/p2").await;
    let own = p1.get("/v2.0/auto-allocated-topology/None").await;
    let for_p2 = c.get("/v2.0/auto-allocated-topology/p2").await;
    let reader = c.with_roles("p2", "reader");
    let read = reader.get("/v2.0/auto-allocated-topology/p2").await;
    let reader_delete = reader.delete("/v2.0/auto-allocated-topology/p2").await;

    assert_eq!(
        foreign.expect_error(403, "NotAuthorized"),
        "Not authorized."
    );
    foreign_delete.expect_error(403, "NotAuthorized");
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["auto_allocated_topology"]["project_id"], "p1");
    assert_eq!(for_p2.status, 200, "{}", for_p2.body);
    let p2_net = s(&for_p2.body["auto_allocated_topology"], "id");
    let net = c.get_ok(&format!("/v2.0/networks/{p2_net}")).await;
    assert_eq!(net["network"]["project_id"], "p2");
    assert_eq!(
        read.body, for_p2.body,
        "a reader sees the project's topology"
    );
    reader_delete.expect_error(403, "PolicyNotAuthorized");
    server.stop().await;
}

#[tokio::test]
async fn delete_removes_the_topology_and_the_next_get_builds_a_new_one() {
    let server = TestServer::start().await;
    let c = server.admin();
    let p = server.project("p1");

    let none_configured = p.delete("/v2.0/auto-allocated-topology/p1").await;
    deployment(&c).await;
    let none_yet = p.delete("/v2.0/auto-allocated-topology/p1").await;
    let first = p.get("/v2.0/auto-allocated-topology/p1").await;
    let net_id = s(&first.body["auto_allocated_topology"], "id").to_string();

    let deleted = p.delete("/v2.0/auto-allocated-topology/p1").await;

    // Neutron's controller reads the topology before deleting it: without one, the same
    // requirements are checked, and nothing is left.
    assert_eq!(
        none_configured.expect_error(409, "AutoAllocationFailure"),
        "Deployment error: No default router:external network."
    );
    assert_eq!(none_yet.status, 204, "{}", none_yet.body);
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(p.get(&format!("/v2.0/networks/{net_id}")).await.status, 404);
    assert_eq!(
        count(&p, "/v2.0/networks?project_id=p1", "networks").await,
        0
    );
    assert_eq!(count(&p, "/v2.0/subnets?project_id=p1", "subnets").await, 0);
    assert_eq!(count(&p, "/v2.0/routers", "routers").await, 0);
    assert_eq!(count(&c, "/v2.0/ports?project_id=p1", "ports").await, 0);

    let again = p.get("/v2.0/auto-allocated-topology/p1").await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_ne!(s(&again.body["auto_allocated_topology"], "id"), net_id);
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_concurrent_requests_for_one_project_build_one_topology() {
    let server = TestServer::start().await;
    let c = server.admin();
    deployment(&c).await;
    let p = server.project("p1");

    let answers: Vec<_> =
        futures::future::join_all((0..32).map(|_| p.get("/v2.0/auto-allocated-topology/p1"))).await;

    let ids: Vec<Value> = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["auto_allocated_topology"]["id"].clone()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one network: {ids:?}");
    assert_eq!(
        count(&p, "/v2.0/networks?project_id=p1", "networks").await,
        1
    );
    assert_eq!(count(&p, "/v2.0/routers", "routers").await, 1);
    assert_eq!(count(&p, "/v2.0/subnets?project_id=p1", "subnets").await, 1);
    server.stop().await;
}
