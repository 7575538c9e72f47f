//! noauth identities and Neutron's visibility and admin-only rules: a project sees its own
//! resources plus shared networks, cannot act in another project, and cannot set admin-only
//! attributes; callers without identity headers are admins of the default project.

use neutrino_tests::{TestServer, s};
use serde_json::{Value, json};

fn ids(v: &Value, collection: &str) -> Vec<String> {
    let mut out: Vec<String> = v[collection]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| s(i, "id").to_string())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn without_headers_the_caller_is_admin_of_the_default_project() {
    let server = TestServer::with_config(|c| c.default_project_id = "ops".into()).await;

    let n = server.admin().network("n").await;

    assert_eq!(n["project_id"], "ops");
    assert!(
        n.get("provider:network_type").is_some(),
        "admins see provider attributes"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_project_owns_what_it_creates() {
    let server = TestServer::start().await;
    let alice = server.project("alice");

    let n = alice.network("mine").await;
    let sub = alice.subnet(s(&n, "id"), "10.0.0.0/24").await;
    let p = alice.port(s(&n, "id"), json!({})).await;

    for v in [&n, &sub, &p] {
        assert_eq!(v["project_id"], "alice");
        assert_eq!(v["tenant_id"], "alice");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_project_does_not_see_another_projects_resources() {
    let server = TestServer::start().await;
    let alice = server.project("alice");
    let bob = server.project("bob");
    let (n, sub) = bob.network_with_subnet("bobs", "10.0.0.0/24").await;
    let p = bob.port(s(&n, "id"), json!({})).await;
    let own = alice.network("alices").await;

    let nets = alice.get_ok("/v2.0/networks").await;
    let subnets = alice.get_ok("/v2.0/subnets").await;
    let ports = alice.get_ok("/v2.0/ports").await;

    assert_eq!(ids(&nets, "networks"), vec![s(&own, "id").to_string()]);
    assert_eq!(subnets["subnets"], json!([]));
    assert_eq!(ports["ports"], json!([]));
    for (path, kind) in [
        (format!("/v2.0/networks/{}", s(&n, "id")), "NetworkNotFound"),
        (format!("/v2.0/subnets/{}", s(&sub, "id")), "SubnetNotFound"),
        (format!("/v2.0/ports/{}", s(&p, "id")), "PortNotFound"),
    ] {
        alice.get(&path).await.expect_error(404, kind);
        alice.delete(&path).await.expect_error(404, kind);
    }
    server.stop().await;
}

#[tokio::test]
async fn an_invisible_resource_cannot_be_updated() {
    let server = TestServer::start().await;
    let alice = server.project("alice");
    let bob = server.project("bob");
    let (n, sub) = bob.network_with_subnet("bobs", "10.0.0.0/24").await;
    let p = bob.port(s(&n, "id"), json!({})).await;

    let net = alice
        .put(
            &format!("/v2.0/networks/{}", s(&n, "id")),
            json!({"network": {"name": "x"}}),
        )
        .await;
    let subnet = alice
        .put(
            &format!("/v2.0/subnets/{}", s(&sub, "id")),
            json!({"subnet": {"name": "x"}}),
        )
        .await;
    let port = alice
        .put(
            &format!("/v2.0/ports/{}", s(&p, "id")),
            json!({"port": {"name": "x"}}),
        )
        .await;

    net.expect_error(404, "NetworkNotFound");
    subnet.expect_error(404, "SubnetNotFound");
    port.expect_error(404, "PortNotFound");
    assert_eq!(
        bob.get_ok(&format!("/v2.0/networks/{}", s(&n, "id"))).await["network"]["name"],
        "bobs"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_shared_network_and_its_subnets_are_visible_to_every_project() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    let shared = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "public", "shared": true}}),
        )
        .await
        .body["network"]
        .clone();
    let sub = admin.subnet(s(&shared, "id"), "10.0.0.0/24").await;
    let private = admin.network("private").await;
    admin.subnet(s(&private, "id"), "10.1.0.0/24").await;

    let nets = alice.get_ok("/v2.0/networks").await;
    let subnets = alice.get_ok("/v2.0/subnets").await;

    assert_eq!(ids(&nets, "networks"), vec![s(&shared, "id").to_string()]);
    assert_eq!(ids(&subnets, "subnets"), vec![s(&sub, "id").to_string()]);
    assert_eq!(
        alice
            .get_ok(&format!("/v2.0/subnets/{}", s(&sub, "id")))
            .await["subnet"]["id"],
        sub["id"]
    );
    assert!(nets["networks"][0].get("provider:network_type").is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_project_can_plug_a_port_into_a_shared_network_but_not_change_it() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.project("alice");
    let shared = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "public", "shared": true}}),
        )
        .await
        .body["network"]
        .clone();
    let sub = admin.subnet(s(&shared, "id"), "10.0.0.0/24").await;

    let port = alice.port(s(&shared, "id"), json!({})).await;
    let rename = alice
        .put(
            &format!("/v2.0/networks/{}", s(&shared, "id")),
            json!({"network": {"name": "mine"}}),
        )
        .await;
    let delete = alice
        .delete(&format!("/v2.0/networks/{}", s(&shared, "id")))
        .await;
    let subnet = alice
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": shared["id"], "cidr": "10.9.0.0/24", "ip_version": 4}}),
        )
        .await;
    let subnet_update = alice
        .put(
            &format!("/v2.0/subnets/{}", s(&sub, "id")),
            json!({"subnet": {"name": "x"}}),
        )
        .await;

    assert_eq!(port["project_id"], "alice");
    rename.expect_error(403, "PolicyNotAuthorized");
    delete.expect_error(403, "PolicyNotAuthorized");
    subnet.expect_error(403, "PolicyNotAuthorized");
    subnet_update.expect_error(403, "PolicyNotAuthorized");
    server.stop().await;
}

#[tokio::test]
async fn the_network_owner_sees_other_projects_ports_on_it() {
    let server = TestServer::start().await;
    let alice = server.project("alice");
    let admin = server.admin();
    let net = alice
        .post("/v2.0/networks", json!({"network": {"name": "n"}}))
        .await
        .body["network"]
        .clone();
    alice.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let theirs = admin
        .port(s(&net, "id"), json!({"project_id": "bob"}))
        .await;

    let listed = alice.get_ok("/v2.0/ports").await;

    assert_eq!(ids(&listed, "ports"), vec![s(&theirs, "id").to_string()]);
    server.stop().await;
}

#[tokio::test]
async fn a_project_cannot_create_in_another_project() {
    let server = TestServer::start().await;
    let alice = server.project("alice");

    for body in [
        json!({"network": {"project_id": "bob"}}),
        json!({"network": {"tenant_id": "bob"}}),
    ] {
        let r = alice.post("/v2.0/networks", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
    let own = alice
        .post(
            "/v2.0/networks",
            json!({"network": {"project_id": "alice"}}),
        )
        .await;
    assert_eq!(own.status, 201, "{}", own.body);
    assert_eq!(
        server.admin().get_ok("/v2.0/networks").await["networks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn an_admin_creates_for_another_project() {
    let server = TestServer::start().await;
    let admin = server.admin();

    let r = admin
        .post("/v2.0/networks", json!({"network": {"project_id": "bob"}}))
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["network"]["project_id"], "bob");
    let bob_sees = server.project("bob").get_ok("/v2.0/networks").await;
    assert_eq!(bob_sees["networks"][0]["id"], r.body["network"]["id"]);
    server.stop().await;
}

#[tokio::test]
async fn admin_only_attributes_are_refused_to_members() {
    let server = TestServer::start().await;
    let alice = server.project("alice");
    let net = alice.network("n").await;

    for (path, body) in [
        ("/v2.0/networks", json!({"network": {"shared": true}})),
        (
            "/v2.0/networks",
            json!({"network": {"router:external": true}}),
        ),
        (
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "vlan"}}),
        ),
        (
            "/v2.0/networks",
            json!({"network": {"provider:segmentation_id": 5}}),
        ),
        (
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "binding:host_id": "h1"}}),
        ),
        (
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "binding:profile": {"a": 1}}}),
        ),
    ] {
        let r = alice.post(path, body.clone()).await;
        r.expect_error(403, "PolicyNotAuthorized");
    }
    let update = alice
        .put(
            &format!("/v2.0/networks/{}", s(&net, "id")),
            json!({"network": {"shared": true}}),
        )
        .await;
    update.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(
        alice.get_ok("/v2.0/networks").await["networks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(alice.get_ok("/v2.0/ports").await["ports"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn members_do_not_see_binding_details() {
    let server = TestServer::start().await;
    let alice = server.project("alice");
    let net = alice.network("n").await;

    let p = alice.port(s(&net, "id"), json!({})).await;

    assert!(p.get("binding:host_id").is_none(), "{p}");
    assert!(p.get("binding:vif_type").is_none(), "{p}");
    assert_eq!(p["binding:vnic_type"], "normal");
    server.stop().await;
}

#[tokio::test]
async fn an_admin_role_in_any_project_sees_everything() {
    let server = TestServer::start().await;
    let alice = server.project("alice");
    let bob = server.project("bob");
    alice.network("a").await;
    bob.network("b").await;

    let r = alice.admin_of("carol").get_ok("/v2.0/networks").await;

    assert_eq!(r["networks"].as_array().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn security_groups_are_private_to_their_project() {
    let server = TestServer::start().await;
    let alice = server.project("alice");
    let bob = server.project("bob");
    let g = bob
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "bobs"}}),
        )
        .await
        .body["security_group"]
        .clone();
    let net = alice.network("n").await;

    let listed = alice.get_ok("/v2.0/security-groups").await;
    let shown = alice
        .get(&format!("/v2.0/security-groups/{}", s(&g, "id")))
        .await;
    let used = alice
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "security_groups": [g["id"]]}}),
        )
        .await;

    let names: Vec<&str> = listed["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["default"]);
    shown.expect_error(404, "SecurityGroupNotFound");
    used.expect_error(404, "SecurityGroupNotFound");
    server.stop().await;
}

#[tokio::test]
async fn roles_come_from_x_roles() {
    let server = TestServer::start().await;
    let c = neutrino_tests::Client::new(&server.url, Some(("p1".into(), "reader, admin".into())));

    let r = c
        .post("/v2.0/networks", json!({"network": {"shared": true}}))
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["network"]["project_id"], "p1");
    server.stop().await;
}
