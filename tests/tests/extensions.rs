//! `GET /`, `GET /v2.0` and `/v2.0/extensions[/{alias}]`: they list exactly what the server
//! implements, in Neutron's shapes.

use neutrino_tests::TestServer;
use serde_json::Value;

/// The core API extensions this server implements (drivers and agents may add their own).
const CORE: &[&str] = &[
    "allowed-address-pairs",
    "binding",
    "default-subnetpools",
    "empty-string-filtering",
    "external-net",
    "filter-validation",
    "ip-substring-filtering",
    "multi-provider",
    "net-mtu",
    "net-mtu-writable",
    "pagination",
    "port-security",
    "port-security-groups-filtering",
    "project-id",
    "provider",
    "quota-check-limit",
    "quota-check-limit-default",
    "quota_details",
    "quotas",
    "revision-if-match",
    "security-group",
    "sorting",
    "standard-attr-description",
    "standard-attr-revisions",
    "standard-attr-tag",
    "standard-attr-timestamp",
    "subnet-external-network",
    "subnet_allocation",
    "tag-ports-during-bulk-creation",
];

/// Neutron extensions this server does not implement; advertising one would make clients
/// call APIs that are not there.
const NOT_IMPLEMENTED: &[&str] = &[
    "external-gateway-multihoming",
    "trunk",
    "qos",
    "segment",
    "dns-integration",
    "floating-ip-port-forwarding",
    "metering",
];

fn aliases(v: &Value) -> Vec<String> {
    v["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["alias"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn root_lists_the_v2_version() {
    let server = TestServer::start().await;

    let r = server.admin().get_ok("/").await;

    let versions = r["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["id"], "v2.0");
    assert_eq!(versions[0]["status"], "CURRENT");
    let href = versions[0]["links"][0]["href"].as_str().unwrap();
    assert!(
        href.starts_with(&server.url) && href.contains("/v2.0"),
        "{href}"
    );
    assert_eq!(versions[0]["links"][0]["rel"], "self");
    server.stop().await;
}

#[tokio::test]
async fn v2_lists_the_resources_and_each_one_answers() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c.get_ok("/v2.0").await;

    let resources = r["resources"].as_array().unwrap();
    let mut collections: Vec<&str> = resources
        .iter()
        .map(|x| x["collection"].as_str().unwrap())
        .collect();
    collections.sort();
    for core in [
        "networks",
        "ports",
        "security-group-rules",
        "security-groups",
        "subnetpools",
        "subnets",
    ] {
        assert!(
            collections.contains(&core),
            "{core} missing: {collections:?}"
        );
    }
    for x in resources {
        let coll = x["collection"].as_str().unwrap();
        assert!(x["name"].is_string());
        let href = x["links"][0]["href"].as_str().unwrap();
        assert!(href.ends_with(&format!("/v2.0/{coll}")), "{href}");
        let listed = c.get(&format!("/v2.0/{coll}")).await;
        assert_eq!(listed.status, 200, "GET /v2.0/{coll}: {}", listed.body);
    }
    server.stop().await;
}

#[tokio::test]
async fn extensions_list_the_implemented_ones_and_no_others() {
    let server = TestServer::start().await;

    let r = server.admin().get_ok("/v2.0/extensions").await;

    let got = aliases(&r);
    for a in CORE {
        assert!(got.iter().any(|g| g == a), "{a} missing: {got:?}");
    }
    for a in NOT_IMPLEMENTED {
        assert!(
            !got.iter().any(|g| g == a),
            "{a} is advertised but not implemented"
        );
    }
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "no alias twice");
    for e in r["extensions"].as_array().unwrap() {
        for k in ["name", "alias", "description", "updated"] {
            assert!(e[k].is_string(), "{k} in {e}");
        }
        assert!(e["links"].is_array());
    }
    server.stop().await;
}

#[tokio::test]
async fn one_extension_is_shown_by_alias() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = c.get_ok("/v2.0/extensions/standard-attr-tag").await;
    let missing = c.get("/v2.0/extensions/trunk").await;

    assert_eq!(r["extension"]["alias"], "standard-attr-tag");
    assert_eq!(missing.status, 404, "{}", missing.body);
    server.stop().await;
}

#[tokio::test]
async fn advertised_extensions_work() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let id = net["id"].as_str().unwrap();

    // pagination and sorting
    let page = c
        .get_ok("/v2.0/networks?limit=1&sort_key=name&sort_dir=asc")
        .await;
    assert!(page["networks_links"].is_array());
    // standard-attr-tag
    let tags = c
        .put(&format!("/v2.0/networks/{id}/tags/x"), Value::Null)
        .await;
    assert_eq!(tags.status, 201);
    // revision-if-match
    let stale = c
        .put_with(
            &format!("/v2.0/networks/{id}"),
            serde_json::json!({"network": {"name": "y"}}),
            &[("If-Match", "revision_number=999")],
        )
        .await;
    assert_eq!(stale.status, 412);
    // standard-attr-timestamp, standard-attr-revisions, standard-attr-description, project-id
    for k in [
        "created_at",
        "updated_at",
        "revision_number",
        "description",
        "project_id",
    ] {
        assert!(net.get(k).is_some(), "{k}");
    }
    // net-mtu, port-security, external-net, provider
    for k in [
        "mtu",
        "port_security_enabled",
        "router:external",
        "provider:network_type",
    ] {
        assert!(net.get(k).is_some(), "{k}");
    }
    server.stop().await;
}

/// What every probe may use: an admin client and one of each core resource.
struct Fixture {
    c: neutrino_tests::Client,
    net: Value,
    port: Value,
    group: Value,
}

fn has(v: &Value, key: &str) -> Result<(), String> {
    if v.get(key).is_some() {
        Ok(())
    } else {
        Err(format!("no `{key}` in {v}"))
    }
}

async fn answers(c: &neutrino_tests::Client, path: &str) -> Result<(), String> {
    let r = c.get(path).await;
    if r.status == 200 {
        Ok(())
    } else {
        Err(format!("GET {path}: {} {}", r.status, r.body))
    }
}

/// Share the fixture's security group with another project through an entry of
/// `object_type` (the group's id stands for an object of that type): an unknown type would
/// be refused as such; a known type with no such object is refused for that reason.
async fn rbac_type(c: &neutrino_tests::Client, object_type: &str, id: &str) -> Result<(), String> {
    let r = c
        .post(
            "/v2.0/rbac-policies",
            serde_json::json!({"rbac_policy": {"object_type": object_type, "object_id": id,
                "action": "access_as_shared", "target_tenant": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}}),
        )
        .await;
    if r.status == 201 || !r.body.to_string().contains("not a valid RBAC object type") {
        Ok(())
    } else {
        Err(format!("{object_type}: {}", r.body))
    }
}

/// Show that the behaviour behind `alias` is served; an alias without a probe here fails the
/// test, so nothing can be advertised without being checked.
async fn served(alias: &str, f: &Fixture) -> Result<(), String> {
    let c = &f.c;
    let net_id = f.net["id"].as_str().unwrap_or_default();
    let port_id = f.port["id"].as_str().unwrap_or_default();
    match alias {
        "agent" => answers(c, "/v2.0/agents").await,
        "dhcp_agent_scheduler" => answers(c, &format!("/v2.0/networks/{net_id}/dhcp-agents")).await,
        "mechanism-drivers" => answers(c, "/v2.0/mechanism-drivers").await,
        "allowed-address-pairs" => has(&f.port, "allowed_address_pairs"),
        "binding" => has(&f.port, "binding:vif_type"),
        "binding-extended" => {
            let r = c
                .post(
                    "/v2.0/ports",
                    serde_json::json!({"port": {"network_id": net_id, "device_owner": "compute:nova"}}),
                )
                .await;
            let id = r.body["port"]["id"].as_str().unwrap_or_default();
            let r = c.get(&format!("/v2.0/ports/{id}/bindings")).await;
            (r.status == 200 && r.body["bindings"][0]["status"] == "ACTIVE")
                .then_some(())
                .ok_or_else(|| format!("bindings of a compute port: {} {}", r.status, r.body))
        }
        "default-subnetpools" => {
            answers(c, "/v2.0/subnetpools?is_default=true").await?;
            Ok(())
        }
        "empty-string-filtering" => answers(c, "/v2.0/networks?description=").await,
        "external-net" => has(&f.net, "router:external"),
        "filter-validation" => {
            let r = c.get("/v2.0/networks?no_such_attribute=1").await;
            (r.status == 400)
                .then_some(())
                .ok_or_else(|| format!("unknown filter accepted: {}", r.status))
        }
        "ip-substring-filtering" => {
            answers(c, "/v2.0/ports?fixed_ips=ip_address_substr%3D10.").await
        }
        "multi-provider" | "provider" => has(&f.net, "provider:network_type"),
        "net-mtu" => has(&f.net, "mtu"),
        "net-mtu-writable" => {
            let r = c
                .put(
                    &format!("/v2.0/networks/{net_id}"),
                    serde_json::json!({"network": {"mtu": 1400}}),
                )
                .await;
            (r.status == 200)
                .then_some(())
                .ok_or_else(|| format!("mtu update: {}", r.body))
        }
        "pagination" => {
            let r = c.get_ok("/v2.0/networks?limit=1").await;
            has(&r, "networks_links")
        }
        "sorting" => answers(c, "/v2.0/networks?sort_key=name&sort_dir=desc").await,
        "port-security" => has(&f.port, "port_security_enabled"),
        "port-security-groups-filtering" => {
            let g = f.group["id"].as_str().unwrap_or_default();
            answers(c, &format!("/v2.0/ports?security_groups={g}")).await
        }
        "project-id" => has(&f.net, "project_id"),
        "revision-if-match" => {
            let r = c
                .put_with(
                    &format!("/v2.0/networks/{net_id}"),
                    serde_json::json!({"network": {"name": "x"}}),
                    &[("If-Match", "revision_number=99999")],
                )
                .await;
            (r.status == 412)
                .then_some(())
                .ok_or_else(|| format!("If-Match ignored: {}", r.status))
        }
        "security-group" => answers(c, "/v2.0/security-groups").await,
        "security-groups-normalized-cidr" => {
            let rules = f.group["security_group_rules"].as_array().cloned();
            has(&rules.unwrap_or_default()[0], "normalized_cidr")
        }
        "standard-attr-description" => has(&f.net, "description"),
        "standard-attr-revisions" => has(&f.net, "revision_number"),
        "standard-attr-timestamp" => has(&f.net, "created_at"),
        "standard-attr-tag" => answers(c, &format!("/v2.0/networks/{net_id}/tags")).await,
        "stateful-security-group" => has(&f.group, "stateful"),
        "subnet-service-types" => answers(c, "/v2.0/subnets?fields=service_types").await,
        "subnet-external-network" => {
            let r = c.get_ok("/v2.0/subnets").await;
            has(&r["subnets"][0], "router:external")
        }
        "subnet_allocation" => answers(c, "/v2.0/subnetpools").await,
        "tag-ports-during-bulk-creation" => {
            let r = c
                .post(
                    "/v2.0/ports",
                    serde_json::json!({"ports": [{"network_id": net_id, "tags": ["t"]}]}),
                )
                .await;
            (r.status == 201 && r.body["ports"][0]["tags"] == serde_json::json!(["t"]))
                .then_some(())
                .ok_or_else(|| format!("bulk ports with tags: {}", r.body))
        }
        "tag-creation" => {
            let r = c
                .post(
                    &format!("/v2.0/ports/{port_id}/tags"),
                    serde_json::json!({"tags": ["a", "b"]}),
                )
                .await;
            (r.status == 200)
                .then_some(())
                .ok_or_else(|| format!("POST tags: {} {}", r.status, r.body))
        }
        "auto-allocated-topology" => {
            // Nothing is configured for it: the dry run says what is missing.
            let r = c
                .get("/v2.0/auto-allocated-topology/None?fields=dry-run")
                .await;
            (r.status == 409 && r.body["NeutronError"]["type"] == "AutoAllocationFailure")
                .then_some(())
                .ok_or_else(|| format!("dry run: {} {}", r.status, r.body))?;
            has(&f.net, "router:external")
        }
        "flavors" => answers(c, "/v2.0/flavors").await,
        "quotas" => answers(c, "/v2.0/quotas").await,
        "quota_details" => answers(c, "/v2.0/quotas/admin/details").await,
        "quota-check-limit" | "quota-check-limit-default" => {
            let r = c
                .put(
                    "/v2.0/quotas/admin",
                    serde_json::json!({"quota": {"network": 0}}),
                )
                .await;
            (r.status == 400)
                .then_some(())
                .ok_or_else(|| format!("a limit below usage was not refused: {}", r.status))
        }
        "rbac-policies" => answers(c, "/v2.0/rbac-policies").await,
        "service-type" => answers(c, "/v2.0/service-providers").await,
        "address-group" => answers(c, "/v2.0/address-groups").await,
        "rbac-security-groups" => {
            rbac_type(
                c,
                "security_group",
                f.group["id"].as_str().unwrap_or_default(),
            )
            .await
        }
        "rbac-subnetpool" => rbac_type(c, "subnetpool", net_id).await,
        "rbac-address-scope" => rbac_type(c, "address_scope", net_id).await,
        "rbac-address-group" => rbac_type(c, "address_group", net_id).await,
        "address-scope" => {
            answers(c, "/v2.0/address-scopes").await?;
            has(&f.net, "ipv4_address_scope")
        }
        "security-groups-remote-address-group" => {
            let rules = f.group["security_group_rules"].as_array().cloned();
            has(&rules.unwrap_or_default()[0], "remote_address_group_id")?;
            answers(c, "/v2.0/security-group-rules?remote_address_group_id=x").await
        }
        "network-ip-availability" => answers(c, "/v2.0/network-ip-availabilities").await,
        "network-ip-availability-details" => {
            let r = c
                .get_ok(&format!("/v2.0/network-ip-availabilities/{net_id}"))
                .await;
            has(&r["network_ip_availability"], "ip_availability_details")
        }
        "security-groups-default-rules" => answers(c, "/v2.0/default-security-group-rules").await,
        "security-groups-default-statefulness" => {
            answers(c, "/v2.0/security-groups-default-statefulness").await
        }
        "security-groups-rules-belongs-to-default-sg" => {
            let rules = f.group["security_group_rules"].as_array().cloned();
            has(&rules.unwrap_or_default()[0], "belongs_to_default_sg")?;
            answers(c, "/v2.0/security-group-rules?belongs_to_default_sg=true").await
        }
        "security-groups-shared-filtering" => {
            has(&f.group, "shared")?;
            answers(c, "/v2.0/security-groups?shared=false").await
        }
        "availability_zone" => answers(c, "/v2.0/availability_zones").await,
        "availability_zone_filter" => {
            answers(
                c,
                "/v2.0/availability_zones?resource=network&state=available",
            )
            .await?;
            answers(c, "/v2.0/agents?availability_zone=az").await
        }
        "network_availability_zone" => {
            has(&f.net, "availability_zone_hints")?;
            has(&f.net, "availability_zones")
        }
        "router" => {
            answers(c, "/v2.0/routers").await?;
            answers(c, "/v2.0/floatingips").await
        }
        "ext-gw-mode"
        | "extraroute"
        | "router_availability_zone"
        | "dvr"
        | "l3-ha"
        | "router-admin-state-down-before-update"
        | "extraroute-atomic" => {
            let r = c
                .post(
                    "/v2.0/routers",
                    serde_json::json!({"router": {"name": "probe"}}),
                )
                .await;
            let router = r.body["router"].clone();
            let id = router["id"].as_str().unwrap_or_default().to_string();
            let out = match alias {
                "extraroute" => has(&router, "routes"),
                "router_availability_zone" => has(&router, "availability_zone_hints"),
                "dvr" => has(&router, "distributed"),
                "l3-ha" => has(&router, "ha"),
                "extraroute-atomic" => {
                    let r = c
                        .put(
                            &format!("/v2.0/routers/{id}/add_extraroutes"),
                            serde_json::json!({"router": {"routes": []}}),
                        )
                        .await;
                    (r.status == 200)
                        .then_some(())
                        .ok_or_else(|| format!("add_extraroutes: {} {}", r.status, r.body))
                }
                "router-admin-state-down-before-update" => {
                    let r = c
                        .put(
                            &format!("/v2.0/routers/{id}"),
                            serde_json::json!({"router": {"distributed": true}}),
                        )
                        .await;
                    (r.status == 400)
                        .then_some(())
                        .ok_or_else(|| format!("active router converted: {}", r.status))
                }
                _ => has(&router, "external_gateway_info"),
            };
            c.delete(&format!("/v2.0/routers/{id}")).await;
            out
        }
        "fip-port-details" | "floatingip-pools" => answers(c, "/v2.0/floatingip-pools").await,
        "floating-ip-router-writable" => {
            // A router with its gateway on the external network but no interface on the
            // port's subnet hosts a floating IP named with it.
            let ext = c
                .post(
                    "/v2.0/networks",
                    serde_json::json!({"network": {"name": alias, "router:external": true}}),
                )
                .await
                .body["network"]
                .clone();
            let ext_id = ext["id"].as_str().unwrap_or_default();
            c.subnet(ext_id, "198.51.100.0/24").await;
            let router = c
                .post(
                    "/v2.0/routers",
                    serde_json::json!({"router": {"name": alias,
                        "external_gateway_info": {"network_id": ext_id}}}),
                )
                .await
                .body["router"]["id"]
                .clone();
            let r = c
                .post(
                    "/v2.0/floatingips",
                    serde_json::json!({"floatingip": {"floating_network_id": ext_id,
                        "port_id": port_id, "router_id": router}}),
                )
                .await;
            (r.status == 201 && r.body["floatingip"]["router_id"] == router)
                .then_some(())
                .ok_or_else(|| format!("router_id not taken: {} {}", r.status, r.body))
        }
        "l3-port-ip-change-not-allowed" => {
            let (net, subnet) = c.network_with_subnet("ipchange", "10.77.0.0/24").await;
            let router = c
                .post(
                    "/v2.0/routers",
                    serde_json::json!({"router": {"name": alias}}),
                )
                .await
                .body["router"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let added = c
                .put(
                    &format!("/v2.0/routers/{router}/add_router_interface"),
                    serde_json::json!({"subnet_id": subnet["id"]}),
                )
                .await;
            let port = added.body["port_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let r = c
                .put(
                    &format!("/v2.0/ports/{port}"),
                    serde_json::json!({"port": {"fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "10.77.0.9"}]}}),
                )
                .await;
            let _ = net;
            (r.status == 400)
                .then_some(())
                .ok_or_else(|| format!("router port address changed: {} {}", r.status, r.body))
        }
        "l3-flavors" => {
            let r = c
                .post(
                    "/v2.0/routers",
                    serde_json::json!({"router": {"name": alias, "flavor_id": "00000000-0000-0000-0000-000000000000"}}),
                )
                .await;
            (r.status == 404)
                .then_some(())
                .ok_or_else(|| format!("unknown flavor accepted: {} {}", r.status, r.body))
        }
        "port-mac-address-regenerate" => {
            let before = f.port["mac_address"].clone();
            let r = c
                .put(
                    &format!("/v2.0/ports/{port_id}"),
                    serde_json::json!({"port": {"mac_address": null}}),
                )
                .await;
            (r.status == 200 && r.body["port"]["mac_address"] != before)
                .then_some(())
                .ok_or_else(|| format!("regenerate: {} {}", r.status, r.body))
        }
        "aap-reject-multicast" => {
            let r = c
                .put(
                    &format!("/v2.0/ports/{port_id}"),
                    serde_json::json!({"port": {"allowed_address_pairs": [{"ip_address": "224.0.0.5"}]}}),
                )
                .await;
            (r.status == 400)
                .then_some(())
                .ok_or_else(|| format!("multicast pair accepted: {}", r.status))
        }
        "port-device-profile" => {
            let r = c
                .post(
                    "/v2.0/ports",
                    serde_json::json!({"port": {"network_id": net_id, "device_profile": "dp1"}}),
                )
                .await;
            (r.status == 201 && r.body["port"]["device_profile"] == "dp1")
                .then_some(())
                .ok_or_else(|| format!("device_profile: {} {}", r.status, r.body))
        }
        "port-numa-affinity-policy" | "port-numa-affinity-policy-socket" => {
            let policy = if alias.ends_with("socket") {
                "socket"
            } else {
                "required"
            };
            let r = c
                .post(
                    "/v2.0/ports",
                    serde_json::json!({"port": {"network_id": net_id, "numa_affinity_policy": policy}}),
                )
                .await;
            (r.status == 201 && r.body["port"]["numa_affinity_policy"] == policy)
                .then_some(())
                .ok_or_else(|| format!("numa_affinity_policy: {} {}", r.status, r.body))
        }
        "extra_dhcp_opt" => {
            let opts = serde_json::json!([{"opt_name": "bootfile-name", "opt_value": "pxe.0", "ip_version": 4}]);
            let r = c
                .post(
                    "/v2.0/ports",
                    serde_json::json!({"port": {"network_id": net_id, "extra_dhcp_opts": opts}}),
                )
                .await;
            (r.status == 201 && r.body["port"]["extra_dhcp_opts"] == opts)
                .then_some(())
                .ok_or_else(|| format!("extra_dhcp_opts: {} {}", r.status, r.body))
        }
        "port-mac-override" => {
            let mac = "b4:96:91:34:f4:aa";
            let r = c
                .with_roles("admin", "admin,service")
                .post(
                    "/v2.0/ports",
                    serde_json::json!({"port": {
                        "network_id": net_id,
                        "binding:host_id": "probe-host",
                        "binding:vnic_type": "direct-physical",
                        "binding:profile": {"device_mac_address": mac},
                    }}),
                )
                .await;
            (r.status == 201 && r.body["port"]["mac_address"] == mac)
                .then_some(())
                .ok_or_else(|| format!("MAC not overridden: {} {}", r.status, r.body))
        }
        "subnetpool-prefix-ops" | "subnet_onboard" => {
            let pool = c
                .post(
                    "/v2.0/subnetpools",
                    serde_json::json!({"subnetpool": {"name": alias, "prefixes": ["10.250.0.0/24"]}}),
                )
                .await
                .body["subnetpool"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let r = if alias == "subnet_onboard" {
                c.put(
                    &format!("/v2.0/subnetpools/{pool}/onboard_network_subnets"),
                    serde_json::json!({"network_id": net_id}),
                )
                .await
            } else {
                c.put(
                    &format!("/v2.0/subnetpools/{pool}/add_prefixes"),
                    serde_json::json!({"prefixes": ["10.250.1.0/24"]}),
                )
                .await
            };
            (r.status == 200)
                .then_some(())
                .ok_or_else(|| format!("{alias}: {} {}", r.status, r.body))
        }
        other => Err(format!(
            "`{other}` is advertised but this test has no probe showing it is served"
        )),
    }
}

#[tokio::test]
async fn every_advertised_extension_is_served() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("probe", "10.9.0.0/24").await;
    let port = c
        .port(net["id"].as_str().unwrap(), serde_json::json!({}))
        .await;
    let group = c
        .post(
            "/v2.0/security-groups",
            serde_json::json!({"security_group": {"name": "probe"}}),
        )
        .await
        .body["security_group"]
        .clone();
    let net = c
        .get_ok(&format!("/v2.0/networks/{}", net["id"].as_str().unwrap()))
        .await["network"]
        .clone();
    let f = Fixture {
        c: c.clone(),
        net,
        port,
        group,
    };

    let listed = aliases(&c.get_ok("/v2.0/extensions").await);
    let mut failures = Vec::new();
    for alias in &listed {
        if let Err(why) = served(alias, &f).await {
            failures.push(format!("{alias}: {why}"));
        }
    }

    assert!(failures.is_empty(), "{}", failures.join("\n"));
    server.stop().await;
}

/// Name and description of extensions exactly as Neutron 29 gives them (neutron-lib's API
/// definitions): clients look some of them up by name.
const NEUTRON_NAMES: &[(&str, &str, &str)] = &[
    (
        "extra_dhcp_opt",
        "Neutron Extra DHCP options",
        "Extra options configuration for DHCP. For example PXE boot options to DHCP clients \
         can be specified (e.g. tftp-server, server-ip-address, bootfile-name)",
    ),
    (
        "port-device-profile",
        "Port device profile",
        "Expose the port device profile (Cyborg)",
    ),
    (
        "port-mac-override",
        "Neutron Port MAC address override",
        "Allow overriding the MAC address of a direct-physical Port via the active binding \
         profile",
    ),
    (
        "port-numa-affinity-policy",
        "Port NUMA affinity policy",
        "Expose the port NUMA affinity policy",
    ),
    (
        "port-numa-affinity-policy-socket",
        "Port NUMA affinity policy \"socket\"",
        "Adds \"socket\" to the supported port NUMA affinity policies",
    ),
    (
        "availability_zone",
        "Availability Zone",
        "The availability zone extension.",
    ),
    (
        "availability_zone_filter",
        "Availability Zone Filter Extension",
        "Add filter parameters to AvailabilityZone resource",
    ),
    (
        "network_availability_zone",
        "Network Availability Zone",
        "Availability zone support for network.",
    ),
    (
        "network-ip-availability",
        "Network IP Availability",
        "Provides IP availability data for each network and subnet.",
    ),
    (
        "network-ip-availability-details",
        "Network IP Availability Details Extension",
        "Add ip_availability_details attribute to network-ip-availabilities resource.",
    ),
    (
        "security-groups-default-rules",
        "Default rules for security groups",
        "Configure set of security group rules used as default rules for every new security group",
    ),
    (
        "security-groups-default-statefulness",
        "Security Groups Default Statefulness",
        "Allows configuring the default value of the 'stateful' attribute for new security groups, on a per-project or system-wide basis",
    ),
    (
        "security-groups-rules-belongs-to-default-sg",
        "Security group rule belongs to the project's default security group",
        "Flag to determine if the security group rule belongs to the project's default security group",
    ),
    (
        "security-groups-shared-filtering",
        "Security group filtering on the shared field",
        "Support filtering security groups on the shared field",
    ),
    ("address-group", "Address group", "Support address group"),
    (
        "address-scope",
        "Address scope",
        "Address scopes extension.",
    ),
    (
        "rbac-address-group",
        "Add address_group type to RBAC",
        "Add address_group type to network RBAC",
    ),
    (
        "rbac-address-scope",
        "Add address_scope type to RBAC",
        "Add address_scope type to RBAC",
    ),
    (
        "rbac-security-groups",
        "Add security_group type to network RBAC",
        "Add security_group type to network RBAC",
    ),
    (
        "rbac-subnetpool",
        "Add subnetpool type to RBAC",
        "Add subnetpool type to RBAC",
    ),
    (
        "security-groups-remote-address-group",
        "Remote address group id field for security group rules",
        "Add new field of remote address group id in SG rules",
    ),
    (
        "tag-creation",
        "Tag creation extension",
        "Allow to create multiple tags for a resource",
    ),
    (
        "router",
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
    ),
    (
        "ext-gw-mode",
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
    ),
    (
        "extraroute",
        "Neutron Extra Route",
        "Extra routes configuration for L3 router",
    ),
    (
        "extraroute-atomic",
        "Atomically add/remove extra routes",
        "Edit extra routes of a router on server side by atomically adding/removing extra routes",
    ),
    (
        "fip-port-details",
        "Floating IP Port Details Extension",
        "Add port_details attribute to Floating IP resource",
    ),
    (
        "floating-ip-router-writable",
        "Floating IP router writable",
        "Allow the router hosting a floating IP (router_id) to be set on create and update",
    ),
    (
        "floatingip-pools",
        "Floating IP Pools Extension",
        "Provides a floating IP pools API.",
    ),
    (
        "router_availability_zone",
        "Router Availability Zone",
        "Availability zone support for router.",
    ),
    (
        "router-admin-state-down-before-update",
        "Enforce Router's Admin State Down Before Update Extension",
        "Ensure that the admin state of a router is DOWN (admin_state_up=False) before updating the distributed attribute",
    ),
    (
        "flavors",
        "Neutron Service Flavors",
        "Flavor specification for Neutron advanced services.",
    ),
    (
        "service-type",
        "Neutron Service Type Management",
        "API for retrieving service providers for Neutron advanced services",
    ),
];

#[tokio::test]
async fn extensions_carry_neutrons_names_and_descriptions() {
    let server = TestServer::start().await;
    let c = server.admin();

    for (alias, name, description) in NEUTRON_NAMES {
        let r = c.get_ok(&format!("/v2.0/extensions/{alias}")).await;
        assert_eq!(r["extension"]["name"], *name, "{alias}");
        assert_eq!(r["extension"]["description"], *description, "{alias}");
    }
    server.stop().await;
}

/// Attributes that come with extensions this server does not advertise, by resource.
const UNADVERTISED_KEYS: &[(&str, &[&str])] = &[
    // dns-integration, l2_adjacency (`is_default` of auto-allocated-topology: external
    // networks only, tests/tests/auto_allocated_topology.rs)
    ("network", &["dns_domain", "l2_adjacency", "is_default"]),
    // segment
    ("subnet", &["segment_id"]),
    // dns-integration, ip_allocation
    ("port", &["dns_name", "dns_assignment", "ip_allocation"]),
];

#[tokio::test]
async fn resources_carry_the_keys_of_advertised_extensions_only() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("keys", "10.9.0.0/24").await;
    let port = c
        .port(net["id"].as_str().unwrap(), serde_json::json!({}))
        .await;

    for (resource, v) in [("network", &net), ("subnet", &sub), ("port", &port)] {
        let keys = UNADVERTISED_KEYS
            .iter()
            .find(|(r, _)| *r == resource)
            .map(|(_, k)| *k)
            .unwrap_or_default();
        for k in keys {
            assert!(v.get(*k).is_none(), "{resource} carries `{k}`: {v}");
        }
    }
    // subnet-external-network: a subnet shows its network's `router:external`.
    assert_eq!(sub["router:external"], false);
    let ext = c
        .post(
            "/v2.0/networks",
            serde_json::json!({"network": {"name": "ext", "router:external": true}}),
        )
        .await
        .body["network"]
        .clone();
    let ext_sub = c.subnet(ext["id"].as_str().unwrap(), "192.0.2.0/24").await;
    assert_eq!(ext_sub["router:external"], true);
    let shown = c
        .get_ok(&format!(
            "/v2.0/subnets/{}",
            ext_sub["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(shown["subnet"]["router:external"], true);
    // …and filterable, as Neutron's suites filter every subnet list.
    let external = c.get_ok("/v2.0/subnets?router:external=True").await;
    let internal = c.get_ok("/v2.0/subnets?router%3Aexternal=False").await;
    assert_eq!(external["subnets"].as_array().unwrap().len(), 1);
    assert_eq!(external["subnets"][0]["id"], ext_sub["id"]);
    assert_eq!(internal["subnets"].as_array().unwrap().len(), 1);
    assert_eq!(internal["subnets"][0]["id"], sub["id"]);
    // A key of an extension that is not advertised is not accepted either.
    let r = c
        .post(
            "/v2.0/networks",
            serde_json::json!({"network": {"name": "d", "dns_domain": "example.org."}}),
        )
        .await;
    assert_eq!(
        r.expect_error(400, "HTTPBadRequest"),
        "Unrecognized attribute(s) 'dns_domain'"
    );
    server.stop().await;
}
