//! The port bindings API (`binding-extended`), as Nova's live migration uses it: a compute
//! port bound on one host gets a second, inactive binding on another host (bound there by
//! the mechanism drivers), the binding is activated when the instance moves (the port now
//! bound on the new host, the old binding kept inactive and cleared), and the old binding is
//! deleted. Only the `service` role changes bindings; admins read them.

use std::path::PathBuf;
use std::process::Command;

use neutrino_ml2::agents::AgentReport;
use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

async fn ovs_agent(server: &TestServer, host: &str) {
    server
        .plugin()
        .report_agent_state(AgentReport {
            agent_type: "Open vSwitch agent".into(),
            binary: "neutron-openvswitch-agent".into(),
            topic: "N/A".into(),
            host: host.into(),
            configurations: json!({
                "tunnel_types": ["vxlan"],
                "bridge_mappings": {},
                "integration_bridge": "br-int",
                "datapath_type": "system",
                "ovs_hybrid_plug": false,
            }),
            availability_zone: None,
            start_flag: true,
        })
        .await
        .expect("agent report");
}

/// Nova's service user.
fn nova(server: &TestServer) -> Client {
    Client::new(&server.url, Some(("service".into(), "service".into())))
}

/// A server with Open vSwitch agents on compute-1 and compute-2, a network with a subnet
/// and a compute port bound on compute-1.
async fn setup() -> (TestServer, Value) {
    let server = TestServer::start().await;
    ovs_agent(&server, "compute-1").await;
    ovs_agent(&server, "compute-2").await;
    let c = server.admin();
    let net = c.network("n").await;
    c.subnet(s(&net, "id"), "10.1.0.0/24").await;
    let port = c
        .port(
            s(&net, "id"),
            json!({"binding:host_id": "compute-1", "device_owner": "compute:nova"}),
        )
        .await;
    assert_eq!(port["binding:vif_type"], "ovs", "{port}");
    (server, port)
}

/// A server whose only mechanism driver is the `recorder` test driver (it binds on any host
/// and records the host in `vif_details`), with a network `n`.
async fn recorder_server() -> (TestServer, Value) {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let admin = server.admin();
    let r = admin
        .load_driver(
            "recorder",
            "recorder",
            json!({"grants": ["log", "config", "state"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let net = admin.network("n").await;
    (server, net)
}

fn bindings_path(port: &Value) -> String {
    format!("/v2.0/ports/{}/bindings", s(port, "id"))
}

async fn create_binding(c: &Client, port: &Value, host: &str) -> neutrino_tests::Resp {
    c.post(&bindings_path(port), json!({"binding": {"host": host}}))
        .await
}

/// `(host, status)` of every binding of a port, sorted by host.
async fn bindings_of(c: &Client, port: &Value) -> Vec<(String, String)> {
    let r = c.get_ok(&bindings_path(port)).await;
    let mut out: Vec<(String, String)> = r["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (s(b, "host").to_string(), s(b, "status").to_string()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_compute_port_lists_its_active_binding() {
    let (server, port) = setup().await;

    let r = nova(&server).get(&bindings_path(&port)).await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["bindings"],
        json!([{
            "host": "compute-1",
            "vif_type": "ovs",
            "vnic_type": "normal",
            "status": "ACTIVE",
            "profile": {},
            "vif_details": port["binding:vif_details"],
        }])
    );
    server.stop().await;
}

#[tokio::test]
async fn a_second_binding_is_bound_on_its_own_host_and_stays_inactive() {
    let (server, port) = setup().await;
    let nova = nova(&server);

    let r = nova
        .post(
            &bindings_path(&port),
            json!({"binding": {"host": "compute-2", "profile": {"migrating_to": "compute-2"}}}),
        )
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    let b = &r.body["binding"];
    assert_eq!(b["host"], "compute-2");
    assert_eq!(b["status"], "INACTIVE");
    assert_eq!(b["vif_type"], "ovs");
    assert_eq!(b["vnic_type"], "normal");
    assert_eq!(b["profile"], json!({"migrating_to": "compute-2"}));
    assert_eq!(b["vif_details"]["bridge_name"], "br-int");
    let shown = nova
        .get_ok(&format!("{}/compute-2", bindings_path(&port)))
        .await;
    assert_eq!(&shown["binding"], b);
    let only_host = nova
        .get_ok(&format!("{}/compute-2?fields=host", bindings_path(&port)))
        .await;
    assert_eq!(only_host["binding"], json!({"host": "compute-2"}));
    assert_eq!(
        bindings_of(&nova, &port).await,
        vec![
            ("compute-1".into(), "ACTIVE".into()),
            ("compute-2".into(), "INACTIVE".into())
        ]
    );
    let inactive = nova
        .get_ok(&format!("{}?status=INACTIVE", bindings_path(&port)))
        .await;
    assert_eq!(inactive["bindings"].as_array().unwrap().len(), 1);
    assert_eq!(inactive["bindings"][0]["host"], "compute-2");
    // The port itself is still bound where it was.
    let p = server
        .admin()
        .get_ok(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    assert_eq!(p["port"]["binding:host_id"], "compute-1");
    assert_eq!(p["port"]["revision_number"], port["revision_number"]);
    server.stop().await;
}

#[tokio::test]
async fn bindings_are_sorted_and_paged_by_host() {
    let (server, port) = setup().await;
    let nova = nova(&server);
    assert_eq!(create_binding(&nova, &port, "compute-2").await.status, 201);
    let path = bindings_path(&port);

    let desc = nova
        .get_ok(&format!("{path}?sort_key=host&sort_dir=desc"))
        .await;
    let first = nova.get_ok(&format!("{path}?limit=1")).await;
    let next = nova
        .get_ok(&format!("{path}?limit=1&marker=compute-1"))
        .await;

    let hosts = |v: &Value| -> Vec<String> {
        v["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| s(b, "host").to_string())
            .collect()
    };
    assert_eq!(hosts(&desc), vec!["compute-2", "compute-1"]);
    assert_eq!(hosts(&first), vec!["compute-1"]);
    let link = s(&first["bindings_links"][0], "href");
    assert!(link.contains("marker=compute-1"), "{link}");
    assert_eq!(hosts(&next), vec!["compute-2"]);
    server.stop().await;
}

#[tokio::test]
async fn activating_moves_the_port_and_keeps_the_old_binding_inactive_and_cleared() {
    let (server, port) = setup().await;
    let nova = nova(&server);
    let created = create_binding(&nova, &port, "compute-2").await;
    assert_eq!(created.status, 201, "{}", created.body);

    let r = nova
        .put(
            &format!("{}/compute-2/activate", bindings_path(&port)),
            json!({}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    // Neutron answers the binding itself, without an envelope.
    assert_eq!(r.body["host"], "compute-2");
    assert_eq!(r.body["status"], "ACTIVE");
    assert_eq!(r.body["vif_type"], "ovs");
    let p = server
        .admin()
        .get_ok(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await["port"]
        .clone();
    assert_eq!(p["binding:host_id"], "compute-2");
    assert_eq!(p["binding:vif_type"], "ovs");
    assert_eq!(
        p["binding:vif_details"],
        created.body["binding"]["vif_details"]
    );
    assert_eq!(p["binding:levels"][0]["driver"], "openvswitch");
    assert_eq!(p["status"], "DOWN");
    assert!(p["revision_number"].as_i64() > port["revision_number"].as_i64());
    let old = nova
        .get_ok(&format!("{}/compute-1", bindings_path(&port)))
        .await;
    assert_eq!(
        old["binding"],
        json!({"host": "compute-1", "vif_type": "unbound", "vnic_type": "normal",
               "status": "INACTIVE", "profile": {}, "vif_details": {}})
    );

    // Nova then deletes the source host's binding.
    let d = nova
        .delete(&format!("{}/compute-1", bindings_path(&port)))
        .await;
    assert_eq!(d.status, 204, "{}", d.body);
    assert_eq!(
        bindings_of(&nova, &port).await,
        vec![("compute-2".into(), "ACTIVE".into())]
    );
    nova.get(&format!("{}/compute-1", bindings_path(&port)))
        .await
        .expect_error(404, "PortBindingNotFound");
    server.stop().await;
}

#[tokio::test]
async fn activating_a_cleared_binding_again_binds_it_anew() {
    let (server, port) = setup().await;
    let nova = nova(&server);
    create_binding(&nova, &port, "compute-2").await;
    let path = bindings_path(&port);
    let r = nova
        .put(&format!("{path}/compute-2/activate"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Migration rolled back: back to compute-1, whose binding was cleared.
    let r = nova
        .put(&format!("{path}/compute-1/activate"), json!({}))
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["host"], "compute-1");
    assert_eq!(r.body["vif_type"], "ovs");
    let p = server
        .admin()
        .get_ok(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    assert_eq!(p["port"]["binding:host_id"], "compute-1");
    assert_eq!(p["port"]["binding:vif_type"], "ovs");
    assert_eq!(
        bindings_of(&nova, &port).await,
        vec![
            ("compute-1".into(), "ACTIVE".into()),
            ("compute-2".into(), "INACTIVE".into())
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn an_admin_updates_a_bindings_profile_and_vnic_type_and_it_is_bound_again() {
    let (server, net) = recorder_server().await;
    let admin = server.admin();
    let port = admin
        .port(
            s(&net, "id"),
            json!({"binding:host_id": "h1", "device_owner": "compute:nova"}),
        )
        .await;
    let nova = nova(&server);
    assert_eq!(create_binding(&nova, &port, "h2").await.status, 201);
    let path = bindings_path(&port);

    let inactive = admin
        .put(
            &format!("{path}/h2"),
            json!({"binding": {"profile": {"pci_slot": "0000:05:00.1"}, "vnic_type": "direct"}}),
        )
        .await;
    let active = admin
        .put(
            &format!("{path}/h1"),
            json!({"binding": {"profile": {"k": "v"}}}),
        )
        .await;

    assert_eq!(inactive.status, 200, "{}", inactive.body);
    let b = &inactive.body["binding"];
    assert_eq!(b["status"], "INACTIVE");
    assert_eq!(b["vnic_type"], "direct");
    assert_eq!(b["profile"], json!({"pci_slot": "0000:05:00.1"}));
    assert_eq!(b["vif_details"]["host"], "h2");
    assert_eq!(active.status, 200, "{}", active.body);
    assert_eq!(active.body["binding"]["status"], "ACTIVE");
    assert_eq!(active.body["binding"]["profile"], json!({"k": "v"}));
    assert_eq!(active.body["binding"]["vif_type"], "ovs");
    let p = admin
        .get_ok(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    assert_eq!(p["port"]["binding:profile"], json!({"k": "v"}));
    assert_eq!(p["port"]["binding:host_id"], "h1");
    assert_eq!(
        nova.get_ok(&format!("{path}/h2")).await["binding"]["vnic_type"],
        "direct"
    );
    // `update_port_binding` has no rule of its own: `default` (admin or owner) decides.
    nova.put(&format!("{path}/h2"), json!({"binding": {"profile": {}}}))
        .await
        .expect_error(403, "PolicyNotAuthorized");
    admin
        .put(&format!("{path}/h9"), json!({"binding": {"profile": {}}}))
        .await
        .expect_error(404, "PortBindingNotFound");
    assert_eq!(
        admin
            .put(&format!("{path}/h2"), json!({"binding": {"host": "h3"}}))
            .await
            .expect_error(400, "HTTPBadRequest"),
        "Cannot update read-only attribute host"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_port_bound_nowhere_gets_a_binding_activated_and_can_be_unbound_again() {
    let (server, bound) = setup().await;
    let admin = server.admin();
    let port = admin
        .port(
            s(&bound, "network_id"),
            json!({"device_owner": "compute:nova"}),
        )
        .await;
    let nova = nova(&server);
    // Its one binding is the unbound one, on no host (as Neutron lists it).
    assert_eq!(
        bindings_of(&nova, &port).await,
        vec![("".into(), "ACTIVE".into())]
    );
    let created = create_binding(&nova, &port, "compute-2").await;
    assert_eq!(created.body["binding"]["status"], "INACTIVE");

    let r = nova
        .put(
            &format!("{}/compute-2/activate", bindings_path(&port)),
            json!({}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        bindings_of(&nova, &port).await,
        vec![("compute-2".into(), "ACTIVE".into())]
    );
    let unbound = admin
        .put(
            &format!("/v2.0/ports/{}", s(&port, "id")),
            json!({"port": {"binding:host_id": ""}}),
        )
        .await;
    assert_eq!(unbound.status, 200, "{}", unbound.body);
    assert_eq!(unbound.body["port"]["binding:vif_type"], "unbound");
    server.stop().await;
}

#[tokio::test]
async fn deleting_an_inactive_binding_leaves_the_port_as_it_was() {
    let (server, port) = setup().await;
    let nova = nova(&server);
    create_binding(&nova, &port, "compute-2").await;

    let d = nova
        .delete(&format!("{}/compute-2", bindings_path(&port)))
        .await;

    assert_eq!(d.status, 204, "{}", d.body);
    assert_eq!(
        bindings_of(&nova, &port).await,
        vec![("compute-1".into(), "ACTIVE".into())]
    );
    let p = server
        .admin()
        .get_ok(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    assert_eq!(p["port"]["binding:host_id"], "compute-1");
    assert_eq!(p["port"]["revision_number"], port["revision_number"]);
    // The host is free again.
    assert_eq!(create_binding(&nova, &port, "compute-2").await.status, 201);
    server.stop().await;
}

#[tokio::test]
async fn a_host_with_a_binding_gets_no_second_one() {
    let (server, port) = setup().await;
    let nova = nova(&server);
    assert_eq!(create_binding(&nova, &port, "compute-2").await.status, 201);

    let active = create_binding(&nova, &port, "compute-1").await;
    let inactive = create_binding(&nova, &port, "compute-2").await;
    let moved = server
        .admin()
        .put(
            &format!("/v2.0/ports/{}", s(&port, "id")),
            json!({"port": {"binding:host_id": "compute-2"}}),
        )
        .await;

    let id = s(&port, "id");
    assert_eq!(
        active.expect_error(409, "PortBindingAlreadyExists"),
        format!("Binding for port {id} on host compute-1 already exists.")
    );
    inactive.expect_error(409, "PortBindingAlreadyExists");
    moved.expect_error(409, "PortBindingAlreadyExists");
    server.stop().await;
}

#[tokio::test]
async fn a_host_no_driver_can_bind_is_a_port_binding_error_and_nothing_is_kept() {
    let (server, port) = setup().await;
    let nova = nova(&server);

    let r = create_binding(&nova, &port, "compute-9").await;

    let id = s(&port, "id");
    assert_eq!(
        r.expect_error(500, "PortBindingError"),
        format!("Binding for port {id} on host compute-9 could not be created or updated.")
    );
    nova.get(&format!("{}/compute-9", bindings_path(&port)))
        .await
        .expect_error(404, "PortBindingNotFound");
    assert_eq!(bindings_of(&nova, &port).await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn unknown_bindings_active_ones_and_unknown_ports_answer_neutrons_errors() {
    let (server, port) = setup().await;
    let nova = nova(&server);
    let path = bindings_path(&port);
    let id = s(&port, "id");

    assert_eq!(
        nova.get(&format!("{path}/compute-7"))
            .await
            .expect_error(404, "PortBindingNotFound"),
        format!("Binding for port {id} for host compute-7 could not be found.")
    );
    nova.put(&format!("{path}/compute-7/activate"), json!({}))
        .await
        .expect_error(404, "PortBindingNotFound");
    nova.delete(&format!("{path}/compute-7"))
        .await
        .expect_error(404, "PortBindingNotFound");
    assert_eq!(
        nova.put(&format!("{path}/compute-1/activate"), json!({}))
            .await
            .expect_error(409, "PortBindingAlreadyActive"),
        format!("Binding for port {id} on host compute-1 is already active.")
    );
    let missing = "/v2.0/ports/6f0f5a4c-1d5e-4f7e-9a55-3c8e4d2b1a00/bindings";
    nova.get(missing).await.expect_error(404, "PortNotFound");
    nova.post(missing, json!({"binding": {"host": "compute-2"}}))
        .await
        .expect_error(404, "PortNotFound");
    nova.get(&format!("{missing}/compute-2"))
        .await
        .expect_error(404, "PortNotFound");
    server.stop().await;
}

#[tokio::test]
async fn only_compute_ports_have_several_bindings() {
    let (server, _) = setup().await;
    let admin = server.admin();
    let nets = admin.get_ok("/v2.0/networks").await;
    let net_id = s(&nets["networks"][0], "id").to_string();
    let other = admin
        .port(
            &net_id,
            json!({"binding:host_id": "compute-1", "device_owner": "network:dhcp"}),
        )
        .await;
    let nova = nova(&server);
    let path = bindings_path(&other);

    let list = nova.get(&path).await;
    let create = create_binding(&nova, &other, "compute-2").await;
    let show = nova.get(&format!("{path}/compute-1")).await;

    let msg = list.expect_error(400, "BadRequest");
    assert_eq!(
        msg,
        format!(
            "Bad port request: Invalid port {}. Operation only valid on compute and shared \
             filesystem ports.",
            s(&other, "id")
        )
    );
    create.expect_error(400, "BadRequest");
    show.expect_error(400, "BadRequest");
    server.stop().await;
}

#[tokio::test]
async fn a_binding_body_is_checked_as_neutron_checks_it() {
    let (server, port) = setup().await;
    let nova = nova(&server);
    let path = bindings_path(&port);

    let no_host = nova.post(&path, json!({"binding": {}})).await;
    let vif_type = nova
        .post(
            &path,
            json!({"binding": {"host": "compute-2", "vif_type": "ovs"}}),
        )
        .await;
    let vnic = nova
        .post(
            &path,
            json!({"binding": {"host": "compute-2", "vnic_type": "warp"}}),
        )
        .await;
    let profile = nova
        .post(
            &path,
            json!({"binding": {"host": "compute-2", "profile": "x"}}),
        )
        .await;
    let unwrapped = nova.post(&path, json!({"host": "compute-2"})).await;

    assert_eq!(
        no_host.expect_error(400, "HTTPBadRequest"),
        "Failed to parse request. Required attribute 'host' not specified"
    );
    assert_eq!(
        vif_type.expect_error(400, "HTTPBadRequest"),
        "Attribute 'vif_type' not allowed in POST"
    );
    assert_eq!(vnic.status, 400, "{}", vnic.body);
    assert_eq!(profile.status, 400, "{}", profile.body);
    unwrapped.expect_error(400, "HTTPBadRequest");
    assert_eq!(bindings_of(&nova, &port).await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn admins_read_bindings_and_only_the_service_role_changes_them() {
    let (server, port) = setup().await;
    assert_eq!(
        create_binding(&nova(&server), &port, "compute-2")
            .await
            .status,
        201
    );
    let admin = server.admin();
    let member = server.project("admin");
    let path = bindings_path(&port);

    // Admins read.
    assert_eq!(bindings_of(&admin, &port).await.len(), 2);
    assert_eq!(admin.get(&format!("{path}/compute-2")).await.status, 200);
    // Admins do not change (the default policy names the service role only).
    assert_eq!(
        create_binding(&admin, &port, "compute-3")
            .await
            .expect_error(403, "PolicyNotAuthorized"),
        "rule:create_port_binding is disallowed by policy"
    );
    assert_eq!(
        admin
            .put(&format!("{path}/compute-2/activate"), json!({}))
            .await
            .expect_error(403, "PolicyNotAuthorized"),
        "rule:activate is disallowed by policy"
    );
    admin
        .delete(&format!("{path}/compute-2"))
        .await
        .expect_error(403, "PolicyNotAuthorized");
    // A member of the port's project sees no binding and cannot change one.
    let listed = member.get_ok(&path).await;
    assert_eq!(listed["bindings"], json!([]));
    member
        .get(&format!("{path}/compute-2"))
        .await
        .expect_error(404, "HTTPNotFound");
    create_binding(&member, &port, "compute-3")
        .await
        .expect_error(403, "PolicyNotAuthorized");
    member
        .put(&format!("{path}/compute-2/activate"), json!({}))
        .await
        .expect_error(404, "HTTPNotFound");
    member
        .delete(&format!("{path}/compute-2"))
        .await
        .expect_error(404, "HTTPNotFound");
    // Nothing changed.
    assert_eq!(
        bindings_of(&admin, &port).await,
        vec![
            ("compute-1".into(), "ACTIVE".into()),
            ("compute-2".into(), "INACTIVE".into())
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_driver_binds_the_new_binding_on_its_host_and_its_update_hooks_see_the_activation() {
    let (server, net) = recorder_server().await;
    let admin = server.admin();
    let port = admin
        .port(
            s(&net, "id"),
            json!({"binding:host_id": "h1", "device_owner": "compute:nova"}),
        )
        .await;
    assert_eq!(port["binding:vif_details"]["host"], "h1", "{port}");
    let updates = |state: &Value| -> i64 {
        state["state"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == "count/update_port_postcommit")
            .map_or(0, |e| {
                e["value"].as_str().unwrap_or("0").parse().unwrap_or(0)
            })
    };
    let before = updates(&admin.get_ok("/v2.0/mechanism-drivers/recorder/state").await);
    let nova = nova(&server);

    let created = create_binding(&nova, &port, "h2").await;

    // The driver was asked to bind on h2: the host names the binding being bound.
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["binding"]["vif_details"],
        json!({"bound_by": "recorder", "host": "h2"})
    );
    let after_create = updates(&admin.get_ok("/v2.0/mechanism-drivers/recorder/state").await);
    assert_eq!(
        after_create, before,
        "creating a binding is not a port update"
    );

    let r = nova
        .put(&format!("{}/h2/activate", bindings_path(&port)), json!({}))
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let after_activate = updates(&admin.get_ok("/v2.0/mechanism-drivers/recorder/state").await);
    assert_eq!(after_activate, before + 1);
    let p = admin
        .get_ok(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    assert_eq!(
        p["port"]["binding:vif_details"],
        json!({"bound_by": "recorder", "host": "h2"})
    );
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_port_takes_its_inactive_bindings_along() {
    let (server, port) = setup().await;
    let nova = nova(&server);
    assert_eq!(create_binding(&nova, &port, "compute-2").await.status, 201);

    let d = server
        .admin()
        .delete(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;

    assert_eq!(d.status, 204, "{}", d.body);
    nova.get(&bindings_path(&port))
        .await
        .expect_error(404, "PortNotFound");
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_clients_activating_the_bindings_of_thirty_two_ports_move_every_port_once() {
    let (server, first) = setup().await;
    let admin = server.admin();
    let net_id = s(&first, "network_id").to_string();
    let mut ports = vec![first];
    for _ in 1..32 {
        ports.push(
            admin
                .port(
                    &net_id,
                    json!({"binding:host_id": "compute-1", "device_owner": "compute:nova"}),
                )
                .await,
        );
    }
    let nova = nova(&server);
    for p in &ports {
        assert_eq!(create_binding(&nova, p, "compute-2").await.status, 201);
    }

    let calls = ports.iter().map(|p| {
        let c = nova.clone();
        let path = format!("{}/compute-2/activate", bindings_path(p));
        async move { c.put(&path, json!({})).await }
    });
    let answers = futures::future::join_all(calls).await;

    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["host"], "compute-2");
    }
    for p in &ports {
        assert_eq!(
            bindings_of(&nova, p).await,
            vec![
                ("compute-1".into(), "INACTIVE".into()),
                ("compute-2".into(), "ACTIVE".into())
            ]
        );
        let shown = admin.get_ok(&format!("/v2.0/ports/{}", s(p, "id"))).await;
        assert_eq!(shown["port"]["binding:host_id"], "compute-2");
        assert_eq!(shown["port"]["binding:vif_type"], "ovs");
    }
    server.stop().await;
}

#[tokio::test]
async fn of_thirty_two_clients_activating_one_binding_exactly_one_wins() {
    let (server, port) = setup().await;
    let nova = nova(&server);
    assert_eq!(create_binding(&nova, &port, "compute-2").await.status, 201);
    let path = format!("{}/compute-2/activate", bindings_path(&port));

    let calls = (0..32).map(|_| {
        let c = nova.clone();
        let path = path.clone();
        async move { c.put(&path, json!({})).await }
    });
    let answers = futures::future::join_all(calls).await;

    let won = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        won,
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        r.expect_error(409, "PortBindingAlreadyActive");
    }
    assert_eq!(
        bindings_of(&nova, &port).await,
        vec![
            ("compute-1".into(), "INACTIVE".into()),
            ("compute-2".into(), "ACTIVE".into())
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn of_thirty_two_clients_creating_one_hosts_binding_exactly_one_wins() {
    let (server, port) = setup().await;
    let nova = nova(&server);

    let calls = (0..32).map(|_| {
        let c = nova.clone();
        let port = port.clone();
        async move { create_binding(&c, &port, "compute-2").await }
    });
    let answers = futures::future::join_all(calls).await;

    let won = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(won, 1);
    for r in answers.iter().filter(|r| r.status != 201) {
        r.expect_error(409, "PortBindingAlreadyExists");
    }
    assert_eq!(bindings_of(&nova, &port).await.len(), 2);
    server.stop().await;
}

/// A Python that has openstacksdk: the `openstack` CLI's (`NEUTRINO_OPENSTACK_CLI`), the
/// workspace's `.venv`, or the one on `PATH`.
fn sdk_python() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(cli) = std::env::var("NEUTRINO_OPENSTACK_CLI") {
        candidates.push(PathBuf::from(cli).with_file_name("python3"));
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python3"));
    candidates.push(PathBuf::from("python3"));
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import openstack"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Nova's calls through openstacksdk (`create_port_binding`, `port_bindings`,
/// `activate_port_binding`, `delete_port_binding`), as the service user.
const SDK_SCRIPT: &str = r#"
import sys
from keystoneauth1 import noauth, session
import openstack.connection

url, port_id = sys.argv[1], sys.argv[2]
sess = session.Session(
    auth=noauth.NoAuth(endpoint=url),
    additional_headers={"X-Project-Id": "service", "X-Roles": "service"},
)
net = openstack.connection.Connection(session=sess).network
b = net.create_port_binding(port_id, host="compute-2")
assert (b.host, b.status, b.vif_type) == ("compute-2", "INACTIVE", "ovs"), b
assert sorted((x.host, x.status) for x in net.port_bindings(port_id)) == [
    ("compute-1", "ACTIVE"), ("compute-2", "INACTIVE")]
a = net.activate_port_binding(port_id, "compute-2")
assert (a.host, a.status) == ("compute-2", "ACTIVE"), a
net.delete_port_binding(port_id, "compute-1")
assert [(x.host, x.status) for x in net.port_bindings(port_id)] == [("compute-2", "ACTIVE")]
print("sdk ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstacksdk_creates_activates_and_deletes_bindings() {
    let Some(python) = sdk_python() else {
        println!("SKIPPED: openstacksdk is not importable (run .ci/run to create .venv)");
        return;
    };
    let (server, port) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("sdk_bindings.py");
    std::fs::write(&script, SDK_SCRIPT).unwrap();
    let (url, id) = (server.url.clone(), s(&port, "id").to_string());

    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&script)
            .arg(&url)
            .arg(&id)
            .output()
            .expect("run python")
    })
    .await
    .unwrap();

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("sdk ok"),
        "openstacksdk script\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = server
        .admin()
        .get_ok(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    assert_eq!(p["port"]["binding:host_id"], "compute-2");
    server.stop().await;
}

#[tokio::test]
async fn activating_a_direct_physical_ports_binding_takes_the_mac_of_its_device() {
    // `port-mac-override` on live migration: the port moves to the new host's physical
    // function, whose MAC Nova names in the new binding's profile (Neutron's
    // `_commit_port_binding` runs on activation too).
    let (server, net) = recorder_server().await;
    let admin = server.admin();
    let nova = nova(&server);
    let port = nova
        .port(
            s(&net, "id"),
            json!({"binding:host_id": "h1", "device_owner": "compute:nova",
                   "binding:vnic_type": "direct-physical",
                   "binding:profile": {"device_mac_address": "b4:96:91:00:00:01"}}),
        )
        .await;
    assert_eq!(port["mac_address"], "b4:96:91:00:00:01", "{port}");
    let created = nova
        .post(
            &bindings_path(&port),
            json!({"binding": {"host": "h2", "vnic_type": "direct-physical",
                               "profile": {"device_mac_address": "b4:96:91:00:00:02"}}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    // An inactive binding changes nothing yet.
    let p = admin
        .get_ok(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    assert_eq!(p["port"]["mac_address"], "b4:96:91:00:00:01");

    let r = nova
        .put(&format!("{}/h2/activate", bindings_path(&port)), json!({}))
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let p = admin
        .get_ok(&format!("/v2.0/ports/{}", s(&port, "id")))
        .await;
    assert_eq!(p["port"]["binding:host_id"], "h2");
    assert_eq!(
        p["port"]["mac_address"], "b4:96:91:00:00:02",
        "{}",
        p["port"]
    );
    server.stop().await;
}
