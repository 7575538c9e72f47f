//! Neutron's service framework and network-wide read APIs, as Neutron 29 serves them:
//! flavors and service profiles (`flavors`), service providers (`service-type`).

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

const PROVIDERS: [&str; 2] = [
    "L3_ROUTER_NAT:Single_Node:neutrino.l3.single_node:default",
    "VPN:strongswan:neutrino.vpn.strongswan",
];

async fn server() -> TestServer {
    TestServer::with_config(|c| {
        c.service_providers.service_provider = PROVIDERS.iter().map(|p| p.to_string()).collect();
    })
    .await
}

async fn flavor(c: &Client, name: &str) -> Value {
    let r = c
        .post(
            "/v2.0/flavors",
            json!({"flavor": {"name": name, "service_type": "CORE", "description": "d"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["flavor"].clone()
}

async fn profile(c: &Client, body: Value) -> Value {
    let r = c
        .post("/v2.0/service_profiles", json!({ "service_profile": body }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["service_profile"].clone()
}

#[tokio::test]
async fn an_admin_creates_a_flavor_and_everybody_sees_it() {
    let server = server().await;
    let admin = server.admin();
    let member = server.project("p1");

    let f = flavor(&admin, "gold").await;
    let listed = member.get_ok("/v2.0/flavors?name=gold").await;
    let shown = member
        .get_ok(&format!("/v2.0/flavors/{}", s(&f, "id")))
        .await;
    let by_member = member
        .post(
            "/v2.0/flavors",
            json!({"flavor": {"name": "x", "service_type": "CORE"}}),
        )
        .await;

    assert_eq!(
        f,
        json!({"id": f["id"], "name": "gold", "description": "d", "service_type": "CORE",
               "enabled": true, "service_profiles": []})
    );
    assert_eq!(listed["flavors"], json!([f]));
    assert_eq!(shown["flavor"], f);
    assert_eq!(
        by_member.expect_error(403, "PolicyNotAuthorized"),
        "rule:create_flavor is disallowed by policy"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_flavor_needs_the_type_of_a_running_service_plugin_that_never_changes() {
    let server = server().await;
    let c = server.admin();
    let f = flavor(&c, "f").await;

    let unknown = c
        .post(
            "/v2.0/flavors",
            json!({"flavor": {"name": "x", "service_type": "FIREWALL"}}),
        )
        .await;
    let missing = c
        .post("/v2.0/flavors", json!({"flavor": {"name": "x"}}))
        .await;
    let retype = c
        .put(
            &format!("/v2.0/flavors/{}", s(&f, "id")),
            json!({"flavor": {"service_type": "FLAVORS"}}),
        )
        .await;
    let renamed = c
        .put(
            &format!("/v2.0/flavors/{}", s(&f, "id")),
            json!({"flavor": {"name": "g", "enabled": false}}),
        )
        .await;

    assert!(
        unknown
            .expect_error(400, "InvalidServiceType")
            .contains("FIREWALL")
    );
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert_eq!(retype.status, 400, "{}", retype.body);
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["flavor"]["name"], "g");
    assert_eq!(renamed.body["flavor"]["enabled"], false);
    assert_eq!(renamed.body["flavor"]["service_type"], "CORE");
    server.stop().await;
}

#[tokio::test]
async fn a_service_profile_needs_a_configured_driver_or_metainfo() {
    let server = server().await;
    let c = server.admin();

    let with_driver = profile(&c, json!({"driver": "neutrino.vpn.strongswan"})).await;
    let with_meta = profile(&c, json!({"metainfo": "{'a': 1}", "enabled": "false"})).await;
    let unknown = c
        .post(
            "/v2.0/service_profiles",
            json!({"service_profile": {"driver": "no.such.driver"}}),
        )
        .await;
    let empty = c
        .post("/v2.0/service_profiles", json!({"service_profile": {}}))
        .await;

    assert_eq!(with_driver["enabled"], true);
    assert_eq!(with_driver["metainfo"], "");
    assert_eq!(with_meta["enabled"], false);
    assert_eq!(with_meta["driver"], "");
    unknown.expect_error(404, "ServiceProfileDriverNotFound");
    empty.expect_error(400, "ServiceProfileEmpty");
    server.stop().await;
}

#[tokio::test]
async fn service_profiles_are_for_admins_only() {
    let server = server().await;
    let c = server.admin();
    let member = server.project("p1");
    let p = profile(&c, json!({"metainfo": "m"})).await;

    let listed = member.get_ok("/v2.0/service_profiles").await;
    let shown = member
        .get(&format!("/v2.0/service_profiles/{}", s(&p, "id")))
        .await;
    let created = member
        .post(
            "/v2.0/service_profiles",
            json!({"service_profile": {"metainfo": "m"}}),
        )
        .await;

    assert_eq!(listed, json!({"service_profiles": []}));
    shown.expect_error(404, "ServiceProfileNotFound");
    created.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(
        c.get_ok("/v2.0/service_profiles").await["service_profiles"],
        json!([p])
    );
    server.stop().await;
}

#[tokio::test]
async fn profiles_are_bound_to_flavors_and_a_bound_profile_stays_as_it_is() {
    let server = server().await;
    let c = server.admin();
    let f = flavor(&c, "f").await;
    let p = profile(&c, json!({"driver": "neutrino.l3.single_node"})).await;
    let (fid, pid) = (s(&f, "id").to_string(), s(&p, "id").to_string());
    let bindings = format!("/v2.0/flavors/{fid}/service_profiles");

    let bound = c
        .post(&bindings, json!({"service_profile": {"id": pid}}))
        .await;
    let again = c
        .post(&bindings, json!({"service_profile": {"id": pid}}))
        .await;
    let shown = c.get_ok(&format!("/v2.0/flavors/{fid}")).await;
    let one = c.get(&format!("{bindings}/{pid}")).await;
    let next = c
        .get_ok(&format!("/v2.0/flavors/{fid}/next_providers"))
        .await;
    let update = c
        .put(
            &format!("/v2.0/service_profiles/{pid}"),
            json!({"service_profile": {"description": "x"}}),
        )
        .await;
    let delete = c.delete(&format!("/v2.0/service_profiles/{pid}")).await;

    assert_eq!(bound.status, 201, "{}", bound.body);
    assert_eq!(bound.body, json!({"service_profile": {"id": pid}}));
    again.expect_error(409, "FlavorServiceProfileBindingExists");
    assert_eq!(shown["flavor"]["service_profiles"], json!([pid]));
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(
        next["next_providers"][0],
        json!({"driver": "neutrino.l3.single_node", "provider": "single_node", "metainfo": ""})
    );
    update.expect_error(409, "ServiceProfileInUse");
    delete.expect_error(409, "ServiceProfileInUse");

    let unbound = c.delete(&format!("{bindings}/{pid}")).await;
    let twice = c.delete(&format!("{bindings}/{pid}")).await;
    let gone = c.get(&format!("{bindings}/{pid}")).await;
    let deleted = c.delete(&format!("/v2.0/service_profiles/{pid}")).await;

    assert_eq!(unbound.status, 204, "{}", unbound.body);
    twice.expect_error(404, "FlavorServiceProfileBindingNotFound");
    gone.expect_error(404, "FlavorServiceProfileBindingNotFound");
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    server.stop().await;
}

#[tokio::test]
async fn binding_unknown_things_and_deleting_a_flavor() {
    let server = server().await;
    let c = server.admin();
    let f = flavor(&c, "f").await;
    let p = profile(&c, json!({"metainfo": "m"})).await;
    let fid = s(&f, "id");
    let nobody = uuid::Uuid::new_v4().to_string();

    let no_profile = c
        .post(
            &format!("/v2.0/flavors/{fid}/service_profiles"),
            json!({"service_profile": {"id": nobody}}),
        )
        .await;
    let no_flavor = c
        .post(
            &format!("/v2.0/flavors/{nobody}/service_profiles"),
            json!({"service_profile": {"id": p["id"]}}),
        )
        .await;
    let not_uuid = c
        .post(
            &format!("/v2.0/flavors/{fid}/service_profiles"),
            json!({"service_profile": {"id": "x"}}),
        )
        .await;
    let member = server
        .project("p1")
        .post(
            &format!("/v2.0/flavors/{fid}/service_profiles"),
            json!({"service_profile": {"id": p["id"]}}),
        )
        .await;
    c.post(
        &format!("/v2.0/flavors/{fid}/service_profiles"),
        json!({"service_profile": {"id": p["id"]}}),
    )
    .await;
    let deleted = c.delete(&format!("/v2.0/flavors/{fid}")).await;
    let profile_freed = c
        .delete(&format!("/v2.0/service_profiles/{}", s(&p, "id")))
        .await;

    no_profile.expect_error(404, "ServiceProfileNotFound");
    no_flavor.expect_error(404, "FlavorNotFound");
    assert_eq!(not_uuid.status, 400, "{}", not_uuid.body);
    member.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(
        profile_freed.status, 204,
        "the flavor's bindings went with it"
    );
    c.get(&format!("/v2.0/flavors/{fid}"))
        .await
        .expect_error(404, "FlavorNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_flavor_takes_profiles_on_create_and_update() {
    let server = server().await;
    let c = server.admin();
    let p1 = profile(&c, json!({"metainfo": "1"})).await;
    let p2 = profile(&c, json!({"metainfo": "2"})).await;

    let r = c
        .post(
            "/v2.0/flavors",
            json!({"flavor": {"service_type": "CORE", "service_profiles": [p1["id"]]}}),
        )
        .await;
    let fid = s(&r.body["flavor"], "id").to_string();
    let updated = c
        .put(
            &format!("/v2.0/flavors/{fid}"),
            json!({"flavor": {"service_profiles": [p2["id"]]}}),
        )
        .await;
    let unknown = c
        .put(
            &format!("/v2.0/flavors/{fid}"),
            json!({"flavor": {"service_profiles": [uuid::Uuid::new_v4().to_string()]}}),
        )
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["flavor"]["service_profiles"], json!([p1["id"]]));
    assert_eq!(
        updated.body["flavor"]["service_profiles"],
        json!([p2["id"]])
    );
    unknown.expect_error(404, "ServiceProfileNotFound");
    let shown = c.get_ok(&format!("/v2.0/flavors/{fid}")).await;
    assert_eq!(
        shown["flavor"]["service_profiles"],
        json!([p2["id"]]),
        "nothing half-written"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_admins_binding_profiles_to_one_flavor() {
    let server = server().await;
    let c = server.admin();
    let f = flavor(&c, "f").await;
    let bindings = format!("/v2.0/flavors/{}/service_profiles", s(&f, "id"));
    let mut profiles = Vec::new();
    for i in 0..32 {
        profiles.push(
            s(
                &profile(&c, json!({"metainfo": format!("{i}")})).await,
                "id",
            )
            .to_string(),
        );
    }
    let contested = profiles[0].clone();

    // Every client binds its own profile and races the others for the first one.
    let results = futures::future::join_all(profiles.iter().map(|p| {
        let (c, bindings, p, contested) =
            (c.clone(), bindings.clone(), p.clone(), contested.clone());
        tokio::spawn(async move {
            let own = c
                .post(&bindings, json!({"service_profile": {"id": p}}))
                .await;
            let shared = c
                .post(&bindings, json!({"service_profile": {"id": contested}}))
                .await;
            (own.status, shared.status)
        })
    }))
    .await;

    let outcomes: Vec<(u16, u16)> = results.into_iter().map(|r| r.unwrap()).collect();
    assert!(
        outcomes
            .iter()
            .all(|(own, shared)| matches!(own, 201 | 409) && matches!(shared, 201 | 409)),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|(own, _)| *own == 201).count()
            + outcomes.iter().filter(|(_, shared)| *shared == 201).count(),
        32,
        "each profile bound exactly once: {outcomes:?}"
    );
    let shown = c.get_ok(&format!("/v2.0/flavors/{}", s(&f, "id"))).await;
    let mut expected = profiles.clone();
    expected.sort();
    assert_eq!(shown["flavor"]["service_profiles"], json!(expected));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_profiles_while_others_bind_them_leaves_no_dangling_binding() {
    let server = server().await;
    let c = server.admin();
    let f = flavor(&c, "f").await;
    let fid = s(&f, "id").to_string();
    let mut profiles = Vec::new();
    for i in 0..16 {
        profiles.push(
            s(
                &profile(&c, json!({"metainfo": format!("{i}")})).await,
                "id",
            )
            .to_string(),
        );
    }

    let tasks = profiles.iter().flat_map(|p| {
        let bind = {
            let (c, fid, p) = (c.clone(), fid.clone(), p.clone());
            tokio::spawn(async move {
                c.post(
                    &format!("/v2.0/flavors/{fid}/service_profiles"),
                    json!({"service_profile": {"id": p}}),
                )
                .await
                .status
            })
        };
        let delete = {
            let (c, p) = (c.clone(), p.clone());
            tokio::spawn(async move {
                c.delete(&format!("/v2.0/service_profiles/{p}"))
                    .await
                    .status
            })
        };
        [bind, delete]
    });
    let statuses: Vec<u16> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();

    for pair in statuses.chunks(2) {
        // Either the binding won (and the delete saw a profile in use) or the delete won
        // (and the binding found no profile).
        assert!(
            matches!((pair[0], pair[1]), (201, 409) | (404, 204)),
            "{pair:?}"
        );
    }
    let shown = c.get_ok(&format!("/v2.0/flavors/{fid}")).await;
    for p in shown["flavor"]["service_profiles"].as_array().unwrap() {
        let r = c
            .get(&format!("/v2.0/service_profiles/{}", p.as_str().unwrap()))
            .await;
        assert_eq!(r.status, 200, "bound profile {p} exists");
    }
    server.stop().await;
}

#[tokio::test]
async fn service_providers_are_the_configured_ones() {
    let server = server().await;
    let member = server.project("p1");

    let all = member.get_ok("/v2.0/service-providers").await;
    let l3 = member
        .get_ok("/v2.0/service-providers?service_type=L3_ROUTER_NAT&fields=name")
        .await;
    let defaults = member.get_ok("/v2.0/service-providers?default=false").await;
    let bad = member.get("/v2.0/service-providers?driver=x").await;

    // The L3 plugin's own providers follow, but for the name configured already.
    assert_eq!(
        all["service_providers"],
        json!([
            {"service_type": "L3_ROUTER_NAT", "name": "single_node", "default": true},
            {"service_type": "VPN", "name": "strongswan", "default": false},
            {"service_type": "L3_ROUTER_NAT", "name": "dvrha", "default": false},
            {"service_type": "L3_ROUTER_NAT", "name": "dvr", "default": false},
            {"service_type": "L3_ROUTER_NAT", "name": "ha", "default": false}
        ])
    );
    assert_eq!(
        l3["service_providers"],
        json!([{"name": "single_node"}, {"name": "dvrha"}, {"name": "dvr"}, {"name": "ha"}])
    );
    assert_eq!(defaults["service_providers"][0]["name"], "strongswan");
    assert_eq!(bad.status, 400, "{}", bad.body);
    server.stop().await;
}

#[tokio::test]
async fn without_configured_providers_the_l3_plugins_own_are_listed() {
    let server = TestServer::start().await;

    let r = server.admin().get_ok("/v2.0/service-providers").await;

    // Neutron's L3 router plugin always adds these four.
    assert_eq!(
        r,
        json!({"service_providers": [
            {"service_type": "L3_ROUTER_NAT", "name": "dvrha", "default": false},
            {"service_type": "L3_ROUTER_NAT", "name": "dvr", "default": false},
            {"service_type": "L3_ROUTER_NAT", "name": "ha", "default": false},
            {"service_type": "L3_ROUTER_NAT", "name": "single_node", "default": false}
        ]})
    );
    server.stop().await;
}

/// The raw body of a GET: availability figures pass 2^64, beyond what `serde_json::Value`
/// keeps exactly, so they are checked in the text.
async fn raw_get(server: &TestServer, path: &str, roles: Option<(&str, &str)>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", server.url));
    if let Some((project, roles)) = roles {
        req = req.header("X-Project-Id", project).header("X-Roles", roles);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn ip_availability_counts_as_neutron_for_v4_and_a_v6_64() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, v4) = c.network_with_subnet("private", "10.0.0.0/24").await;
    let net_id = s(&net, "id").to_string();
    let v6 = c.subnet(&net_id, "fdbf:ac66:9be8::/64").await;
    c.port(&net_id, json!({"fixed_ips": [{"subnet_id": v4["id"]}]}))
        .await;
    c.port(
        &net_id,
        json!({"fixed_ips": [{"subnet_id": v4["id"]}, {"subnet_id": v6["id"]}]}),
    )
    .await;

    let (status, body) = raw_get(
        &server,
        &format!("/v2.0/network-ip-availabilities/{net_id}"),
        None,
    )
    .await;

    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let n = &v["network_ip_availability"];
    assert_eq!(n["network_id"], net_id.as_str());
    assert_eq!(n["network_name"], "private");
    assert_eq!(n["tenant_id"], n["project_id"]);
    assert_eq!(n["used_ips"], 3);
    let mut subnets = n["subnet_ip_availability"].as_array().unwrap().clone();
    subnets.sort_by_key(|x| x["ip_version"].as_i64());
    assert_eq!(subnets[0]["subnet_id"], v4["id"]);
    assert_eq!(subnets[0]["cidr"], "10.0.0.0/24");
    assert_eq!(subnets[0]["ip_version"], 4);
    assert_eq!(subnets[0]["total_ips"], 253);
    assert_eq!(subnets[0]["used_ips"], 2);
    assert_eq!(
        subnets[0]["ip_availability_details"],
        json!({"total_ips_in_subnet": 254, "total_ips_in_allocation_pool": 253,
               "used_ips_in_subnet": 2, "used_ips_in_allocation_pool": 2})
    );
    assert_eq!(subnets[1]["used_ips"], 1);
    // A /64 with the default pool (the subnet-router address is the gateway): 2^64 - 1.
    for exact in [
        "\"cidr\":\"fdbf:ac66:9be8::/64\",\"total_ips\":18446744073709551615,\"used_ips\":1",
        "{\"total_ips_in_subnet\":18446744073709551616,\"total_ips_in_allocation_pool\":18446744073709551615,\"used_ips_in_subnet\":1,\"used_ips_in_allocation_pool\":1}",
        "\"total_ips\":18446744073709551868,\"used_ips\":3",
        "\"ip_availability_details\":{\"total_ips_in_subnet\":18446744073709551870,\"total_ips_in_allocation_pool\":18446744073709551868,\"used_ips_in_subnet\":3,\"used_ips_in_allocation_pool\":3}}}",
    ] {
        assert!(body.contains(exact), "{exact} not in {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn ip_availability_of_a_slash_8_and_of_addresses_outside_the_pools() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("big").await;
    let net_id = s(&net, "id").to_string();
    let big = c.subnet(&net_id, "10.0.0.0/8").await;
    let pooled = c
        .subnet_with(json!({"network_id": net_id, "ip_version": 4, "cidr": "192.168.0.0/24",
                            "allocation_pools": [{"start": "192.168.0.10", "end": "192.168.0.19"}]}))
        .await;
    let mut ports = Vec::new();
    for _ in 0..6 {
        ports.push(
            c.port(&net_id, json!({"fixed_ips": [{"subnet_id": pooled["id"]}]}))
                .await,
        );
    }
    c.port(
        &net_id,
        json!({"fixed_ips": [{"subnet_id": pooled["id"], "ip_address": "192.168.0.200"}]}),
    )
    .await;
    for p in &ports[..2] {
        c.delete(&format!("/v2.0/ports/{}", s(p, "id"))).await;
    }
    c.port(&net_id, json!({"fixed_ips": [{"subnet_id": big["id"]}]}))
        .await;

    let r = c
        .get_ok(&format!("/v2.0/network-ip-availabilities/{net_id}"))
        .await;

    let of = |id: &Value| {
        r["network_ip_availability"]["subnet_ip_availability"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["subnet_id"] == *id)
            .unwrap()
            .clone()
    };
    let subnets = [of(&big["id"]), of(&pooled["id"])];
    assert_eq!(subnets[0]["total_ips"], 16777213, "{subnets:?}");
    assert_eq!(
        subnets[0]["ip_availability_details"]["total_ips_in_subnet"],
        16777214
    );
    assert_eq!(subnets[0]["used_ips"], 1);
    assert_eq!(subnets[1]["total_ips"], 10);
    assert_eq!(
        subnets[1]["ip_availability_details"],
        json!({"total_ips_in_subnet": 254, "total_ips_in_allocation_pool": 10,
               "used_ips_in_subnet": 5, "used_ips_in_allocation_pool": 4}),
        "four pool addresses left after two were given back, one address outside the pool"
    );
    assert_eq!(r["network_ip_availability"]["used_ips"], 6);
    server.stop().await;
}

#[tokio::test]
async fn ip_availability_of_a_slaac_subnet_counts_its_mac_derived_addresses() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("v6").await;
    let net_id = s(&net, "id").to_string();
    c.subnet_with(
        json!({"network_id": net_id, "ip_version": 6, "cidr": "2001:db8::/64",
                         "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
    )
    .await;
    for _ in 0..3 {
        c.port(&net_id, json!({})).await;
    }

    let r = c
        .get_ok(&format!("/v2.0/network-ip-availabilities/{net_id}"))
        .await;

    let d = &r["network_ip_availability"]["subnet_ip_availability"][0]["ip_availability_details"];
    assert_eq!(d["used_ips_in_subnet"], 3);
    assert_eq!(d["used_ips_in_allocation_pool"], 3);
    server.stop().await;
}

#[tokio::test]
async fn ip_availability_lists_filter_and_page() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (a, _) = c.network_with_subnet("a", "10.1.0.0/24").await;
    let b = c.network("b").await;
    c.subnet(s(&b, "id"), "2001:db8:1::/64").await;
    let empty = c.network("empty").await;
    let theirs = server.project("p2").network("theirs").await;

    let all = c.get_ok("/v2.0/network-ip-availabilities").await;
    let v4 = c
        .get_ok("/v2.0/network-ip-availabilities?ip_version=4")
        .await;
    let by_name = c
        .get_ok("/v2.0/network-ip-availabilities?network_name=b&fields=network_id&fields=total_ips")
        .await;
    let by_project = c
        .get_ok("/v2.0/network-ip-availabilities?project_id=p2")
        .await;
    let page = c
        .get_ok("/v2.0/network-ip-availabilities?limit=2&sort_key=network_id&sort_dir=asc")
        .await;
    let bad = c.get("/v2.0/network-ip-availabilities?ip_version=5").await;
    let unknown = c.get("/v2.0/network-ip-availabilities?shared=true").await;

    let ids = |v: &Value| -> Vec<String> {
        v["network_ip_availabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["network_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&all).len(), 4);
    let empty_entry = all["network_ip_availabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["network_id"] == empty["id"])
        .unwrap()
        .clone();
    assert_eq!(empty_entry["total_ips"], 0);
    assert_eq!(empty_entry["subnet_ip_availability"], json!([]));
    assert_eq!(ids(&v4), vec![s(&a, "id").to_string()]);
    assert_eq!(
        by_name["network_ip_availabilities"],
        json!([{"network_id": b["id"], "total_ips": 18446744073709551615u64}])
    );
    assert_eq!(ids(&by_project), vec![s(&theirs, "id").to_string()]);
    assert_eq!(ids(&page).len(), 2);
    assert!(page["network_ip_availabilities_links"].is_array());
    let mut sorted = ids(&all);
    sorted.sort();
    assert_eq!(ids(&page), sorted[..2].to_vec());
    bad.expect_error(400, "InvalidInput");
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    server.stop().await;
}

#[tokio::test]
async fn ip_availability_is_for_admins_and_services() {
    let server = TestServer::start().await;
    let member = server.project("p1");
    let (net, _) = member.network_with_subnet("mine", "10.0.0.0/24").await;
    let path = format!("/v2.0/network-ip-availabilities/{}", s(&net, "id"));

    let listed = member.get_ok("/v2.0/network-ip-availabilities").await;
    let shown = member.get(&path).await;
    let (service_status, _) = raw_get(&server, &path, Some(("nova", "service"))).await;
    let missing = server
        .admin()
        .get(&format!(
            "/v2.0/network-ip-availabilities/{}",
            uuid::Uuid::new_v4()
        ))
        .await;
    let write = server
        .admin()
        .post("/v2.0/network-ip-availabilities", json!({}))
        .await;

    assert_eq!(listed, json!({"network_ip_availabilities": []}));
    shown.expect_error(404, "NetworkNotFound");
    assert_eq!(service_status, 200);
    missing.expect_error(404, "NetworkNotFound");
    write.expect_error(405, "HTTPMethodNotAllowed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ip_availability_while_thirty_two_clients_take_addresses() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let net_id = s(&net, "id").to_string();
    let path = format!("/v2.0/network-ip-availabilities/{net_id}");

    let creators = (0..32).map(|_| {
        let (c, net_id) = (c.clone(), net_id.clone());
        tokio::spawn(async move {
            c.post("/v2.0/ports", json!({"port": {"network_id": net_id}}))
                .await
                .status
        })
    });
    let readers = (0..8).map(|_| {
        let (c, path) = (c.clone(), path.clone());
        tokio::spawn(async move {
            let r = c.get_ok(&path).await;
            let n = &r["network_ip_availability"];
            let d = &n["ip_availability_details"];
            (
                n["used_ips"].as_u64().unwrap(),
                d["used_ips_in_allocation_pool"].as_u64().unwrap(),
            )
        })
    });
    let created = futures::future::join_all(creators).await;
    let seen = futures::future::join_all(readers).await;

    assert!(created.into_iter().all(|r| r.unwrap() == 201));
    for r in seen {
        let (used, in_pool) = r.unwrap();
        assert!(
            used <= 32 && used == in_pool,
            "a consistent snapshot: {used} {in_pool}"
        );
    }
    let r = c.get_ok(&path).await;
    assert_eq!(r["network_ip_availability"]["used_ips"], 32);
    assert_eq!(
        r["network_ip_availability"]["ip_availability_details"]["used_ips_in_allocation_pool"],
        32
    );
    server.stop().await;
}

async fn agent(server: &TestServer, agent_type: &str, host: &str, zone: &str) {
    server
        .plugin()
        .report_agent_state(neutrino_ml2::agents::AgentReport {
            agent_type: agent_type.into(),
            binary: "neutrino-agent".into(),
            topic: "N/A".into(),
            host: host.into(),
            configurations: json!({}),
            availability_zone: Some(zone.into()),
            start_flag: true,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn without_agents_there_are_no_availability_zones() {
    let server = TestServer::start().await;
    let c = server.project("p1");

    let zones = c.get_ok("/v2.0/availability_zones").await;
    let hinted = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "n", "availability_zone_hints": ["az1"]}}),
        )
        .await;
    let plain = c.network("plain").await;

    assert_eq!(zones, json!({"availability_zones": []}));
    assert_eq!(
        hinted.expect_error(404, "AvailabilityZoneNotFound"),
        "AvailabilityZone az1 could not be found."
    );
    assert_eq!(plain["availability_zone_hints"], json!([]));
    assert_eq!(plain["availability_zones"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn availability_zones_come_from_the_agents() {
    let server = TestServer::start().await;
    agent(&server, "DHCP agent", "host1", "az1").await;
    agent(&server, "L3 agent", "host2", "az1").await;
    agent(&server, "DHCP agent", "host3", "az2").await;
    agent(&server, "L3 agent", "host4", "edge").await;
    agent(&server, "Open vSwitch agent", "host1", "ignored").await;
    let admin = server.admin();
    let down = admin.get_ok("/v2.0/agents?host=host3").await["agents"][0]["id"].clone();
    admin
        .put(
            &format!("/v2.0/agents/{}", down.as_str().unwrap()),
            json!({"agent": {"admin_state_up": false}}),
        )
        .await;
    let c = server.project("p1");

    let all = c.get_ok("/v2.0/availability_zones").await;
    let networks = c
        .get_ok("/v2.0/availability_zones?resource=network&fields=name")
        .await;
    let unavailable = c.get_ok("/v2.0/availability_zones?state=unavailable").await;
    let named = c
        .get_ok("/v2.0/availability_zones?name=az1&resource=router")
        .await;
    let bad = c.get("/v2.0/availability_zones?zone=az1").await;
    let agents_in_az1 = admin.get_ok("/v2.0/agents?availability_zone=az1").await;

    assert_eq!(
        all["availability_zones"],
        json!([
            {"name": "az1", "resource": "network", "state": "available"},
            {"name": "az1", "resource": "router", "state": "available"},
            {"name": "az2", "resource": "network", "state": "unavailable"},
            {"name": "edge", "resource": "router", "state": "available"},
        ])
    );
    assert_eq!(
        networks["availability_zones"],
        json!([{"name": "az1"}, {"name": "az2"}])
    );
    assert_eq!(unavailable["availability_zones"][0]["name"], "az2");
    assert_eq!(
        named["availability_zones"],
        json!([{"name": "az1", "resource": "router", "state": "available"}])
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(agents_in_az1["agents"].as_array().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn network_hints_must_name_zones_of_dhcp_agents() {
    let server = TestServer::start().await;
    agent(&server, "DHCP agent", "host1", "az1").await;
    agent(&server, "DHCP agent", "host2", "az2").await;
    agent(&server, "L3 agent", "host3", "edge").await;
    let c = server.project("p1");

    let ok = c
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "n", "availability_zone_hints": ["az2", "az1"]}}),
        )
        .await;
    let router_zone = c
        .post(
            "/v2.0/networks",
            json!({"network": {"availability_zone_hints": ["az1", "edge"]}}),
        )
        .await;
    let duplicate = c
        .post(
            "/v2.0/networks",
            json!({"network": {"availability_zone_hints": ["az1", "az1"]}}),
        )
        .await;
    let too_many: Vec<String> = (0..30).map(|i| format!("zone-{i:03}")).collect();
    let too_long = c
        .post(
            "/v2.0/networks",
            json!({"network": {"availability_zone_hints": too_many}}),
        )
        .await;
    let update = c
        .put(
            &format!("/v2.0/networks/{}", s(&ok.body["network"], "id")),
            json!({"network": {"availability_zone_hints": ["az2"]}}),
        )
        .await;

    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(
        ok.body["network"]["availability_zone_hints"],
        json!(["az2", "az1"])
    );
    router_zone.expect_error(404, "AvailabilityZoneNotFound");
    duplicate.expect_error(400, "InvalidInput");
    assert_eq!(
        too_long.expect_error(400, "InvalidInput"),
        "Invalid input for operation: Too many availability_zone_hints specified"
    );
    assert_eq!(
        update.status, 400,
        "hints are set on create only: {}",
        update.body
    );
    assert_eq!(
        c.get_ok("/v2.0/networks").await["networks"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "refused networks were not written"
    );
    server.stop().await;
}
