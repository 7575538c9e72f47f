//! Ports: defaults, MAC addresses, fixed IPs (by subnet, by address, both, none), updates,
//! security groups, address pairs, bulk create and delete.

use neutrino_tests::{TestServer, ips, s};
use serde_json::{Value, json};

#[tokio::test]
async fn a_new_port_has_neutrons_defaults() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;

    let p = c.port(s(&net, "id"), json!({})).await;

    assert!(uuid::Uuid::parse_str(s(&p, "id")).is_ok());
    assert_eq!(p["name"], "");
    assert_eq!(p["description"], "");
    assert_eq!(p["network_id"], net["id"]);
    assert_eq!(p["admin_state_up"], true);
    assert_eq!(p["status"], "DOWN");
    assert_eq!(p["device_id"], "");
    assert_eq!(p["device_owner"], "");
    assert_eq!(p["project_id"], "admin");
    assert_eq!(p["tenant_id"], "admin");
    assert_eq!(
        p["fixed_ips"],
        json!([{"subnet_id": sub["id"], "ip_address": "10.0.0.2"}])
    );
    assert!(
        s(&p, "mac_address").starts_with("fa:16:3e:"),
        "{}",
        p["mac_address"]
    );
    assert_eq!(p["port_security_enabled"], true);
    assert_eq!(p["allowed_address_pairs"], json!([]));
    assert_eq!(p["binding:vnic_type"], "normal");
    assert_eq!(p["binding:host_id"], "");
    assert_eq!(p["binding:vif_type"], "unbound");
    assert_eq!(p["binding:profile"], json!({}));
    assert_eq!(p["tags"], json!([]));
    assert_eq!(p["security_groups"].as_array().unwrap().len(), 1);
    let sg = c
        .get_ok(&format!(
            "/v2.0/security-groups/{}",
            p["security_groups"][0].as_str().unwrap()
        ))
        .await;
    assert_eq!(sg["security_group"]["name"], "default");
    server.stop().await;
}

#[tokio::test]
async fn a_port_on_a_network_without_subnets_has_no_addresses() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let p = c.port(s(&net, "id"), json!({})).await;

    assert_eq!(p["fixed_ips"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn fixed_ips_by_subnet_take_a_free_address_of_that_subnet() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let _a = c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let b = c.subnet(s(&net, "id"), "10.0.1.0/24").await;

    let p = c
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"subnet_id": b["id"]}]}),
        )
        .await;

    assert_eq!(
        p["fixed_ips"],
        json!([{"subnet_id": b["id"], "ip_address": "10.0.1.2"}])
    );
    server.stop().await;
}

#[tokio::test]
async fn fixed_ips_by_address_find_the_subnet() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let _a = c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let b = c.subnet(s(&net, "id"), "10.0.1.0/24").await;

    let p = c
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"ip_address": "10.0.1.77"}]}),
        )
        .await;

    assert_eq!(
        p["fixed_ips"],
        json!([{"subnet_id": b["id"], "ip_address": "10.0.1.77"}])
    );
    server.stop().await;
}

#[tokio::test]
async fn fixed_ips_by_subnet_and_address_take_exactly_that() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;

    let p = c
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.0.0.200"},
                                 {"subnet_id": sub["id"]}]}),
        )
        .await;

    assert_eq!(ips(&p), vec!["10.0.0.200", "10.0.0.2"]);
    server.stop().await;
}

#[tokio::test]
async fn an_empty_fixed_ips_list_gives_no_address() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;

    let p = c.port(s(&net, "id"), json!({"fixed_ips": []})).await;

    assert_eq!(p["fixed_ips"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn an_address_outside_the_pool_but_inside_the_cidr_is_accepted() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    c.subnet_with(
        json!({"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
        "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}]}),
    )
    .await;

    let p = c
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"ip_address": "10.0.0.100"}]}),
        )
        .await;

    assert_eq!(ips(&p), vec!["10.0.0.100"]);
    server.stop().await;
}

#[tokio::test]
async fn an_address_in_use_is_ip_address_in_use() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    c.port(
        s(&net, "id"),
        json!({"fixed_ips": [{"ip_address": "10.0.0.5"}]}),
    )
    .await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.5"}]}}),
        )
        .await;

    let msg = r.expect_error(409, "IpAddressAlreadyAllocated");
    assert!(msg.contains("10.0.0.5"), "{msg}");
    assert_eq!(
        c.get_ok("/v2.0/ports").await["ports"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn an_address_of_no_subnet_of_the_network_is_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "192.168.9.9"}]}}),
        )
        .await;

    r.expect_error(400, "InvalidIpForNetwork");
    server.stop().await;
}

#[tokio::test]
async fn an_address_outside_the_named_subnet_is_invalid_for_it() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;

    for ip in ["10.0.1.5", "10.0.0.0", "10.0.0.255"] {
        let r = c
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": net["id"],
                    "fixed_ips": [{"subnet_id": sub["id"], "ip_address": ip}]}}),
            )
            .await;
        r.expect_error(400, "InvalidIpForSubnet");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_subnet_of_another_network_is_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let (_, other) = c.network_with_subnet("m", "10.9.0.0/24").await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": other["id"]}]}}),
        )
        .await;

    r.expect_error(400, "InvalidInput");
    server.stop().await;
}

#[tokio::test]
async fn a_port_on_an_unknown_network_is_network_not_found() {
    let server = TestServer::start().await;

    let r = server
        .admin()
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": uuid::Uuid::new_v4().to_string()}}),
        )
        .await;

    r.expect_error(404, "NetworkNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_port_without_network_id_names_it() {
    let server = TestServer::start().await;

    let r = server
        .admin()
        .post("/v2.0/ports", json!({"port": {"name": "p"}}))
        .await;

    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.error_message().contains("network_id"), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn a_given_mac_is_kept_in_canonical_form() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let p = c
        .port(s(&net, "id"), json!({"mac_address": "FA:16:3E:AA:BB:CC"}))
        .await;

    assert_eq!(p["mac_address"], "fa:16:3e:aa:bb:cc");
    server.stop().await;
}

#[tokio::test]
async fn a_mac_used_on_the_network_is_mac_address_in_use() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let other = c.network("m").await;
    c.port(s(&net, "id"), json!({"mac_address": "fa:16:3e:aa:bb:cc"}))
        .await;

    let same_net = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "mac_address": "fa:16:3e:aa:bb:cc"}}),
        )
        .await;
    let other_net = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": other["id"], "mac_address": "fa:16:3e:aa:bb:cc"}}),
        )
        .await;

    same_net.expect_error(409, "MacAddressInUse");
    assert_eq!(other_net.status, 201, "{}", other_net.body);
    server.stop().await;
}

#[tokio::test]
async fn an_invalid_mac_names_the_attribute() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    for mac in [
        "zz:16:3e:aa:bb:cc",
        "01:00:5e:00:00:01",
        "00:00:00:00:00:00",
        "fa:16:3e",
    ] {
        let r = c
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": net["id"], "mac_address": mac}}),
            )
            .await;
        r.expect_error(400, "InvalidInput");
        assert!(r.error_message().contains("mac_address"), "{}", r.body);
    }
    server.stop().await;
}

#[tokio::test]
async fn generated_macs_follow_the_configured_base_mac() {
    let server = TestServer::with_config(|c| c.base_mac = "fa:16:3e:7f:00:00".into()).await;
    let c = server.admin();
    let net = c.network("n").await;

    let mut macs = Vec::new();
    for _ in 0..20 {
        let p = c.port(s(&net, "id"), json!({})).await;
        macs.push(s(&p, "mac_address").to_string());
    }

    assert!(
        macs.iter().all(|m| m.starts_with("fa:16:3e:7f:")),
        "{macs:?}"
    );
    macs.sort();
    macs.dedup();
    assert_eq!(macs.len(), 20);
    server.stop().await;
}

#[tokio::test]
async fn random_mac_collisions_are_retried_not_reported() {
    // Two random octets: 65,536 MACs, so 1,500 ports collide about 17 times (birthday
    // bound); on SQLite each collision is only found by the database when the port's rows
    // are written at commit. (Bulks of 10 keep the chance that a bulk collides on all 20
    // attempts nil.)
    let server = TestServer::with_config(|c| c.base_mac = "fa:16:3e:7f:00:00".into()).await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/20").await;
    // More ports than Neutron's default quota of 500.
    c.put("/v2.0/quotas/admin", json!({"quota": {"port": -1}}))
        .await;

    let mut macs = Vec::new();
    for _ in 0..150 {
        let bulk: Vec<Value> = (0..10).map(|_| json!({"network_id": net["id"]})).collect();
        let r = c.post("/v2.0/ports", json!({ "ports": bulk })).await;
        assert_eq!(r.status, 201, "{}", r.body);
        for p in r.body["ports"].as_array().unwrap() {
            macs.push(s(p, "mac_address").to_string());
        }
    }

    assert_eq!(macs.len(), 1500);
    macs.sort();
    macs.dedup();
    assert_eq!(macs.len(), 1500, "every port has its own MAC");
    server.stop().await;
}

#[tokio::test]
async fn updating_fixed_ips_adds_and_releases_addresses() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let p = c
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"ip_address": "10.0.0.10"}]}),
        )
        .await;
    let path = format!("/v2.0/ports/{}", s(&p, "id"));

    let added = c
        .put(
            &path,
            json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.10"}, {"ip_address": "10.0.0.11"}]}}),
        )
        .await;
    let replaced = c
        .put(
            &path,
            json!({"port": {"fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.0.0.11"}]}}),
        )
        .await;
    let reuse = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.10"}]}}),
        )
        .await;

    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(ips(&added.body["port"]), vec!["10.0.0.10", "10.0.0.11"]);
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(ips(&replaced.body["port"]), vec!["10.0.0.11"]);
    assert_eq!(
        reuse.status, 201,
        "released address is free again: {}",
        reuse.body
    );
    server.stop().await;
}

#[tokio::test]
async fn updating_fixed_ips_to_an_address_in_use_changes_nothing() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    c.port(
        s(&net, "id"),
        json!({"fixed_ips": [{"ip_address": "10.0.0.9"}]}),
    )
    .await;
    let p = c
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"ip_address": "10.0.0.10"}]}),
        )
        .await;
    let path = format!("/v2.0/ports/{}", s(&p, "id"));

    let r = c
        .put(
            &path,
            json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.9"}]}}),
        )
        .await;

    r.expect_error(409, "IpAddressAlreadyAllocated");
    assert_eq!(c.get_ok(&path).await["port"], p);
    // 10.0.0.10 is still held by the port.
    c.post(
        "/v2.0/ports",
        json!({"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.10"}]}}),
    )
    .await
    .expect_error(409, "IpAddressAlreadyAllocated");
    server.stop().await;
}

#[tokio::test]
async fn a_deleted_ports_address_can_be_allocated_again() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let p = c
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"ip_address": "10.0.0.33"}]}),
        )
        .await;

    let deleted = c.delete(&format!("/v2.0/ports/{}", s(&p, "id"))).await;
    let again = c
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"ip_address": "10.0.0.33"}]}),
        )
        .await;

    assert_eq!(deleted.status, 204);
    assert_eq!(ips(&again), vec!["10.0.0.33"]);
    server.stop().await;
}

#[tokio::test]
async fn update_changes_name_device_and_admin_state() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let p = c.port(s(&net, "id"), json!({})).await;
    let path = format!("/v2.0/ports/{}", s(&p, "id"));

    let r = c
        .put(
            &path,
            json!({"port": {"name": "vm-port", "device_id": "vm-1",
                "device_owner": "compute:nova", "admin_state_up": false}}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let u = &r.body["port"];
    assert_eq!(u["name"], "vm-port");
    assert_eq!(u["device_id"], "vm-1");
    assert_eq!(u["device_owner"], "compute:nova");
    assert_eq!(u["admin_state_up"], false);
    assert_eq!(u["fixed_ips"], p["fixed_ips"]);
    assert_eq!(c.get_ok(&path).await["port"], *u);
    server.stop().await;
}

#[tokio::test]
async fn the_mac_of_an_unbound_port_can_change() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let p = c.port(s(&net, "id"), json!({})).await;

    let r = c
        .put(
            &format!("/v2.0/ports/{}", s(&p, "id")),
            json!({"port": {"mac_address": "fa:16:3e:01:02:03"}}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["port"]["mac_address"], "fa:16:3e:01:02:03");
    assert_eq!(r.body["port"]["fixed_ips"], p["fixed_ips"]);
    server.stop().await;
}

#[tokio::test]
async fn network_id_cannot_be_updated() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let other = c.network("m").await;
    let p = c.port(s(&net, "id"), json!({})).await;

    let r = c
        .put(
            &format!("/v2.0/ports/{}", s(&p, "id")),
            json!({"port": {"network_id": other["id"]}}),
        )
        .await;

    assert_eq!(r.status, 400, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn security_groups_can_be_chosen_or_left_empty() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let sg = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "web"}}),
        )
        .await;
    assert_eq!(sg.status, 201, "{}", sg.body);
    let sg_id = s(&sg.body["security_group"], "id").to_string();

    let chosen = c
        .port(s(&net, "id"), json!({"security_groups": [sg_id]}))
        .await;
    let none = c.port(s(&net, "id"), json!({"security_groups": []})).await;

    assert_eq!(chosen["security_groups"], json!([sg_id]));
    assert_eq!(none["security_groups"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_security_group_is_security_group_not_found() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"],
                "security_groups": [uuid::Uuid::new_v4().to_string()]}}),
        )
        .await;

    r.expect_error(404, "SecurityGroupNotFound");
    assert_eq!(c.get_ok("/v2.0/ports").await["ports"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn security_groups_need_port_security() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let sg = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "web"}}),
        )
        .await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "port_security_enabled": false,
                "security_groups": [sg.body["security_group"]["id"]]}}),
        )
        .await;
    let plain = c
        .port(s(&net, "id"), json!({"port_security_enabled": false}))
        .await;

    r.expect_error(400, "PortSecurityAndIPRequiredForSecurityGroups");
    assert_eq!(plain["security_groups"], json!([]));
    assert_eq!(plain["port_security_enabled"], false);
    server.stop().await;
}

#[tokio::test]
async fn allowed_address_pairs_are_stored() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let p = c
        .port(
            s(&net, "id"),
            json!({"allowed_address_pairs": [{"ip_address": "10.0.0.0/24"},
                {"ip_address": "10.1.1.1", "mac_address": "fa:16:3e:00:00:01"}]}),
        )
        .await;

    let pairs = p["allowed_address_pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0]["ip_address"], "10.0.0.0/24");
    assert_eq!(pairs[0]["mac_address"], p["mac_address"]);
    assert_eq!(pairs[1]["mac_address"], "fa:16:3e:00:00:01");
    server.stop().await;
}

#[tokio::test]
async fn bulk_ports_are_all_or_nothing() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;

    let bad = c
        .post(
            "/v2.0/ports",
            json!({"ports": [
                {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.50"}]},
                {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.50"}]}]}),
        )
        .await;
    let good = c
        .post(
            "/v2.0/ports",
            json!({"ports": [{"network_id": net["id"], "name": "a"},
                             {"network_id": net["id"], "name": "b", "tags": ["x"]}]}),
        )
        .await;

    bad.expect_error(409, "IpAddressAlreadyAllocated");
    assert_eq!(good.status, 201, "{}", good.body);
    let ports = good.items("ports");
    assert_eq!(ports.len(), 2);
    assert_eq!(ports[1]["tags"], json!(["x"]));
    assert_ne!(ips(&ports[0]), ips(&ports[1]));
    assert_eq!(
        c.get_ok("/v2.0/ports").await["ports"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "the failed bulk request wrote nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn delete_of_an_unknown_port_is_port_not_found() {
    let server = TestServer::start().await;

    let r = server
        .admin()
        .delete(&format!("/v2.0/ports/{}", uuid::Uuid::new_v4()))
        .await;

    r.expect_error(404, "PortNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_dhcp_port_gets_no_default_security_group() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;

    let p = c
        .port(s(&net, "id"), json!({"device_owner": "network:dhcp"}))
        .await;

    assert_eq!(p["security_groups"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_vnic_type_names_the_attribute() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["id"], "binding:vnic_type": "warp"}}),
        )
        .await;

    r.expect_error(400, "InvalidInput");
    assert!(
        r.error_message().contains("binding:vnic_type"),
        "{}",
        r.body
    );
    server.stop().await;
}

#[tokio::test]
async fn fixed_ips_entries_must_be_objects_with_known_keys() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;

    for fixed in [
        json!(["10.0.0.5"]),
        json!([{"ip": "10.0.0.5"}]),
        json!("10.0.0.5"),
    ] {
        let r = c
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": net["id"], "fixed_ips": fixed}}),
            )
            .await;
        assert_eq!(r.status, 400, "{fixed}: {}", r.body);
        assert!(r.error_message().contains("fixed_ips"), "{}", r.body);
    }
    assert_eq!(c.get_ok("/v2.0/ports").await["ports"], Value::Array(vec![]));
    server.stop().await;
}
