//! The `nsx` driver through the API, against a fake NSX Manager speaking the Policy API:
//! networks become segments (transport zone, VLAN ids, `os-*` tags) once NSX realized them,
//! subnets the segment's subnets, ports segment ports bound at once with the realized
//! logical switch, security groups groups and policies; sessions, realization, errors and
//! the managers' failover. The driver is journaled: API calls never wait for NSX, so the
//! tests wait for the journal to deliver before looking at NSX.

use neutrino_tests::vendors::nsx::FakeNsx;
use neutrino_tests::vendors::{FakeHttp, Request};
use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const OVERLAY_TZ: &str = "1b3a2f36-bfd1-443e-a0f6-4de01abc963e";
const VLAN_TZ: &str = "7a5b2a7e-8f0e-4bd6-9bd4-2c7d8e1f0a11";

fn settings(managers: Vec<String>, extra: Value) -> Value {
    let mut config = json!({
        "nsx_api_managers": managers,
        "nsx_api_user": "admin",
        "nsx_api_password": "nsx-pw",
        "default_overlay_tz": OVERLAY_TZ,
        "default_vlan_tz": VLAN_TZ,
        "realization_wait_sec": 0.05,
        "realization_max_attempts": 5,
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            config[k] = v;
        }
    }
    json!({
        "grants": ["log", "config", "state", "http", "session"],
        "config": config,
        "http": {"allow": managers},
    })
}

async fn setup(extra: Value) -> (TestServer, FakeHttp<FakeNsx>) {
    let nsx = FakeHttp::start(FakeNsx::new("admin", "nsx-pw")).await;
    let server = start(vec![nsx.url()], extra).await;
    (server, nsx)
}

async fn start(managers: Vec<String>, extra: Value) -> TestServer {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let r = server
        .admin()
        .load_driver("nsx", "nsx", settings(managers, extra))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    server
}

/// `METHOD path` of the calls other than logins.
fn calls(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.path != "/api/session/create")
        .map(|r| {
            if r.query.is_empty() {
                r.line()
            } else {
                format!("{}?{}", r.line(), r.query)
            }
        })
        .collect()
}

/// The driver's journal (`pending`, `failed`, `delivered`, `entries`).
async fn journal(c: &Client) -> Value {
    let r = c.get("/v2.0/mechanism-drivers/nsx/journal").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["journal"].clone()
}

/// Wait until the journal has nothing pending; then `failed` entries must have failed.
async fn drain_expecting(c: &Client, failed: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = journal(c).await;
        if j["pending"] == 0 {
            assert_eq!(j["failed"], failed, "{j}");
            return j;
        }
        assert!(Instant::now() < deadline, "the journal did not drain: {j}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn drain(c: &Client) {
    drain_expecting(c, 0).await;
}

fn seg(id: &str) -> String {
    format!("/policy/api/v1/infra/segments/{id}")
}

#[tokio::test]
async fn a_network_becomes_a_realized_segment_and_goes_with_the_network() {
    let (server, nsx) = setup(json!({})).await;
    let c = server.admin();

    let net = c.network("blue").await;
    let id = s(&net, "id").to_string();
    drain(&c).await;
    let created = calls(&nsx.requests());
    nsx.clear_requests();
    let r = c
        .put(
            &format!("/v2.0/networks/{id}"),
            json!({"network": {"name": "green"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    drain(&c).await;
    let updated = calls(&nsx.requests());
    let shown = nsx.backend().segments()[&id].body.clone();
    nsx.clear_requests();
    assert_eq!(c.delete(&format!("/v2.0/networks/{id}")).await.status, 204);
    drain(&c).await;

    assert_eq!(
        created,
        vec![
            format!("PATCH {}", seg(&id)),
            format!(
                "GET /policy/api/v1/infra/realized-state/realized-entities?intent_path=/infra/segments/{id}"
            ),
        ]
    );
    assert_eq!(updated, vec![format!("PATCH {}", seg(&id))]);
    assert_eq!(shown["resource_type"], "Segment");
    assert_eq!(shown["id"], json!(id));
    assert_eq!(
        shown["display_name"],
        json!(format!("green_{}...{}", &id[..5], &id[id.len() - 5..]))
    );
    assert_eq!(
        shown["transport_zone_path"],
        json!(format!(
            "/infra/sites/default/enforcement-points/default/transport-zones/{OVERLAY_TZ}"
        ))
    );
    assert!(shown.get("vlan_ids").is_none(), "{shown:?}");
    let tags = shown["tags"].as_array().unwrap();
    assert!(tags.contains(&json!({"scope": "os-neutron-net-id", "tag": id})));
    assert!(tags.contains(&json!({"scope": "os-project-id", "tag": "admin"})));
    assert!(tags.iter().any(|t| t["scope"] == "os-api-version"));
    assert_eq!(calls(&nsx.requests()), vec![format!("DELETE {}", seg(&id))]);
    assert!(nsx.backend().segments().is_empty());
    assert_eq!(nsx.backend().logins(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_vlan_network_is_a_segment_of_the_vlan_transport_zone_with_its_vlan_id() {
    let (server, nsx) = setup(json!({})).await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "v", "provider:network_type": "vlan",
                "provider:physical_network": "physnet1", "provider:segmentation_id": 120}}),
        )
        .await;

    assert_eq!(r.status, 201, "{:?}", r.body);
    drain(&c).await;
    let segment = &nsx.backend().segments()[s(&r.body["network"], "id")].body;
    assert_eq!(segment["vlan_ids"], json!(["120"]));
    assert!(
        segment["transport_zone_path"]
            .as_str()
            .unwrap()
            .ends_with(VLAN_TZ)
    );
    server.stop().await;
}

#[tokio::test]
async fn a_network_type_without_a_transport_zone_is_refused_before_anything_is_written() {
    let (server, nsx) = setup(json!({"default_vlan_tz": null})).await;
    let c = server.admin();

    let r = c
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "vlan",
                "provider:physical_network": "physnet1", "provider:segmentation_id": 120}}),
        )
        .await;

    let message = r.expect_error(400, "MechanismDriverError");
    assert!(message.contains("default_vlan_tz"), "{message}");
    assert!(c.get("/v2.0/networks").await.items("networks").is_empty());
    assert!(nsx.requests().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn the_driver_waits_for_realization_and_binds_no_port_before_it() {
    let (server, nsx) = setup(json!({})).await;
    let c = server.admin();
    nsx.backend().realize_after(2);

    let net = c.network("slow").await;
    drain(&c).await;
    let asked = nsx.backend().segments()[s(&net, "id")].asked;
    // A network NSX does not realize: the journal retries its create, and its ports are
    // not bound until it is realized.
    nsx.backend().stay_unrealized(true);
    let r = c
        .post("/v2.0/networks", json!({"network": {"name": "stuck"}}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let stuck = s(&r.body["network"], "id").to_string();
    let early = c
        .port(
            &stuck,
            json!({"binding:host_id": "esx-1", "device_owner": "compute:nova"}),
        )
        .await;
    let waiting = journal(&c).await;
    nsx.backend().stay_unrealized(false);
    drain(&c).await;
    // Any update of a port whose binding failed binds it again.
    let again = c
        .put(
            &format!("/v2.0/ports/{}", s(&early, "id")),
            json!({"port": {"name": "again"}}),
        )
        .await;

    assert_eq!(asked, 3, "two UNREALIZED answers, then REALIZED");
    assert!(waiting["pending"].as_i64().unwrap() >= 1, "{waiting}");
    assert_eq!(early["binding:vif_type"], "binding_failed", "{early}");
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(
        again.body["port"]["binding:vif_type"], "ovs",
        "{:?}",
        again.body
    );
    assert_eq!(
        again.body["port"]["binding:vif_details"]["nsx-logical-switch-id"],
        json!(nsx.backend().segments()[&stuck].logical_switch)
    );
    server.stop().await;
}

#[tokio::test]
async fn subnets_become_the_segments_subnets() {
    let (server, nsx) = setup(json!({})).await;
    let c = server.admin();
    let net = c.network("n").await;
    let id = s(&net, "id").to_string();
    drain(&c).await;
    nsx.clear_requests();

    let sub = c.subnet(&id, "10.1.0.0/24").await;
    drain(&c).await;
    let with = nsx.backend().segments()[&id].body["subnets"].clone();
    let r = c.delete(&format!("/v2.0/subnets/{}", s(&sub, "id"))).await;
    assert_eq!(r.status, 204);
    drain(&c).await;

    assert_eq!(
        with,
        json!([{"network": "10.1.0.0/24", "gateway_address": "10.1.0.1/24",
                "dhcp_ranges": ["10.1.0.2-10.1.0.254"]}])
    );
    assert_eq!(nsx.backend().segments()[&id].body["subnets"], json!([]));
    assert_eq!(
        calls(&nsx.requests()),
        vec![format!("PATCH {}", seg(&id)), format!("PATCH {}", seg(&id))]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_port_becomes_a_segment_port_and_binds_at_once_on_the_realized_logical_switch() {
    let (server, nsx) = setup(json!({})).await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.2.0.0/24").await;
    let net_id = s(&net, "id").to_string();
    drain(&c).await;
    nsx.clear_requests();

    let port = c
        .port(
            &net_id,
            json!({"binding:host_id": "esx-1", "device_owner": "compute:nova",
                "allowed_address_pairs": [{"ip_address": "10.2.0.200"}]}),
        )
        .await;
    let port_id = s(&port, "id").to_string();
    let open = c
        .port(
            &net_id,
            json!({"port_security_enabled": false, "security_groups": []}),
        )
        .await;
    drain(&c).await;

    let segment = &nsx.backend().segments()[&net_id];
    assert_eq!(port["binding:vif_type"], "ovs", "{port}");
    assert_eq!(port["status"], "ACTIVE");
    assert_eq!(
        port["binding:vif_details"]["nsx-logical-switch-id"],
        json!(segment.logical_switch)
    );
    assert_eq!(port["binding:vif_details"]["ovs_hybrid_plug"], false);
    let sp = &segment.ports[&port_id];
    assert_eq!(sp["resource_type"], "SegmentPort");
    assert_eq!(sp["attachment"], json!({"id": port_id}));
    let ip = port["fixed_ips"][0]["ip_address"].clone();
    let mac = port["mac_address"].clone();
    let link_local = eui64_link_local(mac.as_str().unwrap());
    assert_eq!(
        sp["address_bindings"],
        json!([{"ip_address": ip, "mac_address": mac},
               {"ip_address": link_local, "mac_address": mac},
               {"ip_address": "10.2.0.200", "mac_address": mac}])
    );
    // Port security: the driver's spoofguard and segment security profiles, made before
    // the first port needed them; without it NSX's defaults. Discovery: NSX's defaults.
    let profiles = nsx.backend().profiles();
    assert_eq!(
        profiles["/infra/spoofguard-profiles/neutron-spoofguard-profile"]["address_binding_whitelist"],
        true
    );
    let security = &profiles["/infra/segment-security-profiles/neutron-segment-security-profile"];
    assert_eq!(security["dhcp_server_block_enabled"], true);
    assert_eq!(security["ra_guard_enabled"], true);
    let maps = |id: &str| segment.maps[id].clone();
    let secured = maps(&port_id);
    assert_eq!(
        secured["port-security-profile-binding-maps/default"]["spoofguard_profile_path"],
        "/infra/spoofguard-profiles/neutron-spoofguard-profile"
    );
    assert_eq!(
        secured["port-security-profile-binding-maps/default"]["segment_security_profile_path"],
        "/infra/segment-security-profiles/neutron-segment-security-profile"
    );
    assert_eq!(
        secured["port-discovery-profile-binding-maps/default"]["mac_discovery_profile_path"],
        "/infra/mac-discovery-profiles/default-mac-discovery-profile"
    );
    let unsecured = maps(s(&open, "id"));
    assert_eq!(
        unsecured["port-security-profile-binding-maps/default"]["spoofguard_profile_path"],
        "/infra/spoofguard-profiles/default-spoofguard-profile"
    );
    assert_eq!(
        unsecured["port-security-profile-binding-maps/default"]["segment_security_profile_path"],
        "/infra/segment-security-profiles/default-segment-security-profile"
    );
    let sg = port["security_groups"][0].as_str().unwrap();
    let tags = sp["tags"].as_array().unwrap();
    assert!(tags.contains(&json!({"scope": "os-neutron-port-id", "tag": port_id})));
    assert!(tags.contains(&json!({"scope": "os-security-group", "tag": sg})));
    let open_sp = &segment.ports[s(&open, "id")];
    assert!(open_sp.get("address_bindings").is_none(), "{open_sp:?}");
    // Creating the bound port: the create, then the update that carries the binding (the
    // other port's calls may come in between: the journal delivers unrelated ports in
    // parallel).
    let own: Vec<String> = calls(&nsx.requests())
        .into_iter()
        .filter(|c| c.ends_with(&format!("/ports/{port_id}")))
        .collect();
    assert_eq!(
        own,
        [
            format!("PATCH {}/ports/{port_id}", seg(&net_id)),
            format!("PATCH {}/ports/{port_id}", seg(&net_id)),
        ]
    );

    nsx.clear_requests();
    for p in [&port, &open] {
        assert_eq!(
            c.delete(&format!("/v2.0/ports/{}", s(p, "id")))
                .await
                .status,
            204
        );
    }
    drain(&c).await;
    assert!(nsx.backend().segments()[&net_id].ports.is_empty());
    assert!(nsx.backend().segments()[&net_id].maps.is_empty());
    assert_eq!(
        calls(&nsx.requests()),
        vec![
            format!("DELETE {}/ports/{port_id}", seg(&net_id)),
            format!("DELETE {}/ports/{}", seg(&net_id), s(&open, "id")),
        ]
    );
    let _ = sub;
    server.stop().await;
}

/// The modified EUI-64 link-local address of a MAC (RFC 4291), computed here independently of
/// the driver.
fn eui64_link_local(mac: &str) -> String {
    let b: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    let iid = [b[0] ^ 2, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
    let mut octets = [0u8; 16];
    octets[0] = 0xfe;
    octets[1] = 0x80;
    octets[8..].copy_from_slice(&iid);
    std::net::Ipv6Addr::from(octets).to_string()
}

#[tokio::test]
async fn an_nsx_that_lost_the_drivers_profiles_gets_them_again_before_a_ports_maps() {
    let (server, nsx) = setup(json!({})).await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.3.0.0/24").await;
    let net_id = s(&net, "id").to_string();
    let first = c
        .port(&net_id, json!({"device_owner": "compute:nova"}))
        .await;
    drain(&c).await;

    // NSX loses everything; the network's segment is put back by an update of it.
    nsx.backend().wipe();
    let renamed = c
        .put(
            &format!("/v2.0/networks/{net_id}"),
            json!({"network": {"name": "n2"}}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    drain(&c).await;
    nsx.clear_requests();
    let second = c
        .port(&net_id, json!({"device_owner": "compute:nova"}))
        .await;
    drain_expecting(&c, 0).await;

    let segment = &nsx.backend().segments()[&net_id];
    let maps = &segment.maps[s(&second, "id")];
    assert_eq!(
        maps["port-security-profile-binding-maps/default"]["spoofguard_profile_path"],
        "/infra/spoofguard-profiles/neutron-spoofguard-profile"
    );
    assert!(
        nsx.backend()
            .profiles()
            .contains_key("/infra/segment-security-profiles/neutron-segment-security-profile")
    );
    let calls = calls(&nsx.requests());
    let refused = calls
        .iter()
        .position(|c| c.contains("port-security-profile-binding-maps"))
        .unwrap();
    assert!(
        calls[refused + 1..]
            .iter()
            .any(|c| c.starts_with("PATCH /policy/api/v1/infra/spoofguard-profiles/")),
        "{calls:?}"
    );
    let _ = first;
    server.stop().await;
}

#[tokio::test]
async fn security_groups_become_groups_with_a_security_policy_of_their_rules() {
    let (server, nsx) = setup(json!({})).await;
    let c = server.admin();

    let g = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "web", "description": "front"}}),
        )
        .await;
    assert_eq!(g.status, 201, "{:?}", g.body);
    let gid = s(&g.body["security_group"], "id").to_string();
    drain(&c).await;
    let group = nsx.backend().groups()[&gid].clone();
    let policy = nsx.backend().policies()[&gid].clone();
    let r = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": gid, "direction": "ingress",
                "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
                "remote_ip_prefix": "192.0.2.0/24"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let rid = s(&r.body["security_group_rule"], "id").to_string();
    drain(&c).await;
    let rule = nsx.backend().policies()[&gid].rules[&rid].clone();
    assert_eq!(
        c.delete(&format!("/v2.0/security-group-rules/{rid}"))
            .await
            .status,
        204
    );
    drain(&c).await;
    let after_rule_delete = nsx.backend().policies()[&gid].rules.len();
    assert_eq!(
        c.delete(&format!("/v2.0/security-groups/{gid}"))
            .await
            .status,
        204
    );

    drain(&c).await;
    let path = format!("/infra/domains/default/groups/{gid}");
    assert_eq!(
        group["expression"],
        json!([{"resource_type": "Condition", "member_type": "SegmentPort", "key": "Tag",
                "operator": "EQUALS", "value": format!("os-security-group|{gid}")}])
    );
    assert_eq!(policy.body["scope"], json!([path]));
    assert_eq!(policy.body["category"], "Application");
    assert_eq!(policy.rules.len(), 2, "the two default egress rules");
    assert!(
        policy
            .rules
            .values()
            .all(|r| r["direction"] == "OUT" && r["source_groups"] == json!([path]))
    );
    assert_eq!(rule["direction"], "IN");
    assert_eq!(rule["source_groups"], json!(["192.0.2.0/24"]));
    assert_eq!(rule["destination_groups"], json!([path]));
    assert_eq!(
        rule["service_entries"],
        json!([{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP",
                "destination_ports": ["22"]}])
    );
    assert_eq!(after_rule_delete, 2);
    // Left: the project's default group, made before `web`.
    let default = c.get("/v2.0/security-groups?name=default").await;
    let default_id = s(&default.items("security_groups")[0], "id").to_string();
    assert_eq!(
        nsx.backend().groups().keys().collect::<Vec<_>>(),
        vec![&default_id]
    );
    assert_eq!(
        nsx.backend().policies().keys().collect::<Vec<_>>(),
        vec![&default_id]
    );
    assert_eq!(
        nsx.backend().policies()[&default_id].rules.len(),
        4,
        "egress and ingress from the group, IPv4 and IPv6"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_expired_session_logs_in_again_once() {
    let (server, nsx) = setup(json!({})).await;
    let c = server.admin();
    let net = c.network("a").await;
    drain(&c).await;
    assert_eq!(nsx.backend().logins(), 1);

    nsx.backend().expire_sessions();
    nsx.clear_requests();
    let r = c
        .put(
            &format!("/v2.0/networks/{}", s(&net, "id")),
            json!({"network": {"name": "b"}}),
        )
        .await;

    assert_eq!(r.status, 200);
    drain(&c).await;
    let lines: Vec<String> = nsx.requests().iter().map(Request::line).collect();
    let path = seg(s(&net, "id"));
    assert_eq!(
        lines,
        vec![
            format!("PATCH {path}"),
            "POST /api/session/create".to_string(),
            format!("PATCH {path}"),
        ]
    );
    assert_eq!(
        nsx.requests()[1].body,
        b"j_username=admin&j_password=nsx-pw"
    );
    assert_eq!(nsx.backend().logins(), 2);
    server.stop().await;
}

#[tokio::test]
async fn thirty_two_concurrent_port_creations_share_one_session_and_all_reach_nsx() {
    let (server, nsx) = setup(json!({})).await;
    let c = server.admin();
    let net = c.network("n").await;
    let net_id = s(&net, "id").to_string();
    drain(&c).await;

    let ports: Vec<Value> = futures::future::join_all((0..32).map(|_| {
        let c = server.admin();
        let net_id = net_id.clone();
        async move { c.port(&net_id, json!({"binding:host_id": "esx-1"})).await }
    }))
    .await;
    drain(&c).await;

    assert!(ports.iter().all(|p| p["binding:vif_type"] == "ovs"));
    assert_eq!(nsx.backend().segments()[&net_id].ports.len(), 32);
    assert_eq!(
        nsx.backend().logins(),
        1,
        "the session is shared by every call"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_5xx_is_retried_a_4xx_fails_the_entry_and_a_dead_manager_is_skipped() {
    let (server, nsx) = setup(json!({})).await;
    let c = server.admin();

    nsx.fail_with(503);
    let unavailable = c.post("/v2.0/networks", json!({"network": {}})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tried = journal(&c).await;
    nsx.recover();
    drain(&c).await;
    nsx.fail_with(400);
    let refused = c.post("/v2.0/networks", json!({"network": {}})).await;
    let after = drain_expecting(&c, 1).await;
    nsx.recover();

    assert_eq!(unavailable.status, 201, "the API call never waits for NSX");
    assert_eq!(refused.status, 201);
    assert_eq!(tried["pending"], 1, "{tried}");
    assert!(
        nsx.backend()
            .segments()
            .contains_key(s(&unavailable.body["network"], "id")),
        "delivered once NSX answered"
    );
    assert!(
        !nsx.backend()
            .segments()
            .contains_key(s(&refused.body["network"], "id"))
    );
    let failed = &after["entries"][0];
    assert_eq!(failed["state"], "failed", "{after}");
    server.stop().await;

    // The first manager refuses connections: the second one serves.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let nsx2 = FakeHttp::start(FakeNsx::new("admin", "nsx-pw")).await;
    let server = start(vec![dead_url, nsx2.url()], json!({})).await;
    let c: Client = server.admin();
    let net = c.network("via-second").await;
    drain(&c).await;
    assert!(nsx2.backend().segments().contains_key(s(&net, "id")));
    server.stop().await;
}

#[tokio::test]
async fn an_external_network_needs_a_tier0_gateway_and_gets_no_segment() {
    let (server, nsx) = setup(json!({})).await;
    let with_t0 = start(vec![nsx.url()], json!({"default_tier0_router": "t0-edge"})).await;
    let body = json!({"network": {"router:external": true, "name": "public"}});

    let refused = server.admin().post("/v2.0/networks", body.clone()).await;
    let ok = with_t0.admin().post("/v2.0/networks", body).await;

    let message = refused.expect_error(400, "MechanismDriverError");
    assert!(message.contains("default_tier0_router"), "{message}");
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    assert!(nsx.backend().segments().is_empty());
    server.stop().await;
    with_t0.stop().await;
}
