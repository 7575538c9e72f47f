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
    "subnet_allocation",
    "tag-ports-during-bulk-creation",
];

/// Neutron extensions this server does not implement; advertising one would make clients
/// call APIs that are not there.
const NOT_IMPLEMENTED: &[&str] = &[
    "router",
    "ext-gw-mode",
    "extraroute",
    "l3-ha",
    "dvr",
    "trunk",
    "qos",
    "segment",
    "dns-integration",
    "address-scope",
    "network-ip-availability",
    "auto-allocated-topology",
    "floating-ip-port-forwarding",
    "metering",
    "flavors",
    "availability_zone",
    "extra_dhcp_opt",
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
    let missing = c.get("/v2.0/extensions/router").await;

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
