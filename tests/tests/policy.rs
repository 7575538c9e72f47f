//! Neutron's default policy and an operator's policy file, through HTTP with identity
//! headers (noauth): who may do what, 403 `PolicyNotAuthorized` for a denied action or
//! attribute, 404 for what the caller may not see, attributes stripped from what it reads.

use neutrino_tests::{Client, TestServer, s};
use serde_json::json;

fn as_roles(server: &TestServer, project: &str, roles: &str) -> Client {
    Client::new(&server.url, Some((project.to_string(), roles.to_string())))
}

#[tokio::test]
async fn a_reader_reads_but_cannot_write() {
    let server = TestServer::start().await;
    let alice = server.project("alice");
    let reader = as_roles(&server, "alice", "reader");
    let net = alice.network("n").await;

    let listed = reader.get("/v2.0/networks").await;
    let create = reader
        .post("/v2.0/networks", json!({"network": {"name": "r"}}))
        .await;
    let rename = reader
        .put(
            &format!("/v2.0/networks/{}", s(&net, "id")),
            json!({"network": {"name": "x"}}),
        )
        .await;
    let delete = reader
        .delete(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;

    assert_eq!(listed.ids("networks"), vec![s(&net, "id").to_string()]);
    assert_eq!(
        create.expect_error(403, "PolicyNotAuthorized"),
        "rule:create_network is disallowed by policy"
    );
    rename.expect_error(403, "PolicyNotAuthorized");
    delete.expect_error(403, "PolicyNotAuthorized");
    server.stop().await;
}

#[tokio::test]
async fn a_member_cannot_see_another_projects_network_and_gets_404_for_it() {
    let server = TestServer::start().await;
    let alice = server.project("alice");
    let bob = server.project("bob");
    let net = alice.network("private").await;
    let path = format!("/v2.0/networks/{}", s(&net, "id"));

    assert!(bob.get("/v2.0/networks").await.ids("networks").is_empty());
    bob.get(&path).await.expect_error(404, "NetworkNotFound");
    bob.put(&path, json!({"network": {"name": "x"}}))
        .await
        .expect_error(404, "NetworkNotFound");
    bob.delete(&path).await.expect_error(404, "NetworkNotFound");
    bob.post("/v2.0/ports", json!({"port": {"network_id": net["id"]}}))
        .await
        .expect_error(404, "NetworkNotFound");
    server.stop().await;
}

#[tokio::test]
async fn on_a_shared_network_a_member_may_not_choose_addresses_or_drop_port_security() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let bob = server.project("bob");
    let net = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "shared", "shared": true}}),
        )
        .await
        .body["network"]
        .clone();
    let sub = admin.subnet(s(&net, "id"), "10.0.0.0/24").await;

    let plain = bob
        .post("/v2.0/ports", json!({"port": {"network_id": net["id"]}}))
        .await;
    let with_subnet = bob
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": sub["id"]}]}}),
        )
        .await;
    let mut refused = Vec::new();
    for extra in [
        json!({"mac_address": "fa:16:3e:00:00:01"}),
        json!({"fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.0.0.50"}]}),
        json!({"port_security_enabled": false}),
        json!({"allowed_address_pairs": [{"ip_address": "10.0.0.60"}]}),
        json!({"device_owner": "network:dhcp"}),
    ] {
        let mut body = extra.clone();
        body["network_id"] = net["id"].clone();
        let r = bob.post("/v2.0/ports", json!({ "port": body })).await;
        refused.push((extra, r));
    }

    assert_eq!(plain.status, 201, "{}", plain.body);
    assert_eq!(with_subnet.status, 201, "{}", with_subnet.body);
    for (extra, r) in &refused {
        assert_eq!(r.status, 403, "{extra}: {}", r.body);
    }
    assert_eq!(
        refused[0].1.error_message(),
        "(rule:create_port and rule:create_port:mac_address) is disallowed by policy"
    );
    assert_eq!(
        refused[1].1.error_message(),
        "(rule:create_port and (rule:create_port:fixed_ips and \
         (rule:create_port:fixed_ips:ip_address and rule:create_port:fixed_ips:subnet_id))) \
         is disallowed by policy"
    );
    let port_path = format!("/v2.0/ports/{}", s(&plain.body["port"], "id"));
    bob.put(
        &port_path,
        json!({"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.61"}]}}),
    )
    .await
    .expect_error(403, "PolicyNotAuthorized");
    // The network owner may.
    let owner_port = admin
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "mac_address": "fa:16:3e:00:00:02"}}),
        )
        .await;
    assert_eq!(owner_port.status, 201, "{}", owner_port.body);
    server.stop().await;
}

#[tokio::test]
async fn binding_and_provider_attributes_are_shown_only_to_admins_and_the_service_role() {
    let server = TestServer::start().await;
    let alice = server.project("alice");
    let service = as_roles(&server, "svc", "service");
    let net = alice.network("n").await;
    alice.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let port = alice.port(s(&net, "id"), json!({})).await;
    let path = format!("/v2.0/ports/{}", s(&port, "id"));

    let as_member = alice.get_ok(&path).await;
    let as_service = service.get_ok(&path).await;
    let as_admin = server.admin().get_ok(&path).await;
    let net_as_member = alice
        .get_ok(&format!("/v2.0/networks/{}", s(&net, "id")))
        .await;

    assert!(as_member["port"].get("binding:host_id").is_none());
    assert!(as_member["port"].get("binding:vif_type").is_none());
    assert_eq!(as_member["port"]["binding:vnic_type"], "normal");
    assert_eq!(as_service["port"]["binding:vif_type"], "unbound");
    assert_eq!(as_admin["port"]["binding:host_id"], "");
    assert!(
        net_as_member["network"]
            .get("provider:network_type")
            .is_none()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_member_may_not_create_in_another_project_and_an_admin_may() {
    let server = TestServer::start().await;
    let alice = server.project("alice");

    let r = alice
        .post("/v2.0/networks", json!({"network": {"project_id": "bob"}}))
        .await;
    let by_admin = server
        .admin()
        .post("/v2.0/networks", json!({"network": {"project_id": "bob"}}))
        .await;

    assert_eq!(
        r.expect_error(400, "HTTPBadRequest"),
        "Specifying 'project_id' other than the authenticated project in request is not \
         allowed for the current user."
    );
    assert_eq!(by_admin.status, 201, "{}", by_admin.body);
    server.stop().await;
}

#[tokio::test]
async fn non_admins_see_no_agents_and_cannot_manage_drivers() {
    let server = TestServer::start().await;
    let alice = server.project("alice");

    let agents = alice.get_ok("/v2.0/agents").await;
    let drivers = alice.get("/v2.0/mechanism-drivers").await;

    assert_eq!(agents["agents"], json!([]));
    drivers.expect_error(403, "PolicyNotAuthorized");
    server.stop().await;
}

#[tokio::test]
async fn a_policy_file_overrides_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(
        &file,
        "# Only network admins create networks; readers may create ports.\n\
         \"create_network\": \"role:netadmin\"\n\
         create_port: \"rule:admin_only or role:reader and rule:network_owner\"\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let server = TestServer::with_config(|c| c.oslo_policy.policy_file = Some(path)).await;
    let member = server.project("alice");
    let netadmin = as_roles(&server, "alice", "netadmin");
    let reader = as_roles(&server, "alice", "reader");

    let by_member = member
        .post("/v2.0/networks", json!({"network": {"name": "m"}}))
        .await;
    let by_netadmin = netadmin
        .post("/v2.0/networks", json!({"network": {"name": "n"}}))
        .await;
    let net = &by_netadmin.body["network"];
    server.admin().subnet(s(net, "id"), "10.0.0.0/24").await;
    let port = reader
        .post("/v2.0/ports", json!({"port": {"network_id": net["id"]}}))
        .await;

    by_member.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(by_netadmin.status, 201, "{}", by_netadmin.body);
    assert_eq!(port.status, 201, "{}", port.body);
    server.stop().await;
}

#[test]
fn a_bad_policy_file_stops_start_up_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(
        &file,
        "create_network: role:admin\nget_network: (rule:shared or\n",
    )
    .unwrap();
    let config = neutrino_server::Config {
        oslo_policy: neutrino_server::config::OsloPolicySection {
            policy_file: Some(file.display().to_string()),
        },
        ..neutrino_server::Config::default()
    };

    let err = config.settings().unwrap_err().to_string();

    assert!(err.contains("oslo_policy.policy_file"), "{err}");
    assert!(err.contains("policy.yaml:2: rule 'get_network'"), "{err}");
}
