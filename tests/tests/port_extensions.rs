//! Port attributes of Neutron's small port extensions: `port-mac-address-regenerate` (an
//! update with `mac_address: null` gives the port a new MAC from `base_mac`) and
//! `aap-reject-multicast` (allowed address pairs refuse multicast addresses, prefixes over
//! the multicast ranges and multicast MACs).

use neutrino_tests::{TestServer, s};
use serde_json::json;

#[tokio::test]
async fn a_null_mac_address_gives_an_unbound_port_a_new_mac_from_base_mac() {
    let server = TestServer::with_config(|c| c.base_mac = "fa:16:3e:00:00:00".into()).await;
    let c = server.admin();
    let net = c.network("n").await;
    let port = c.port(s(&net, "id"), json!({})).await;

    let r = c
        .put(
            &format!("/v2.0/ports/{}", s(&port, "id")),
            json!({"port": {"mac_address": null}}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let new = s(&r.body["port"], "mac_address");
    assert_ne!(new, s(&port, "mac_address"));
    assert!(new.starts_with("fa:16:3e:"), "{new}");
    assert_eq!(
        r.body["port"]["revision_number"].as_u64().unwrap(),
        port["revision_number"].as_u64().unwrap() + 1
    );
    let shown = c.get_ok(&format!("/v2.0/ports/{}", s(&port, "id"))).await;
    assert_eq!(shown["port"]["mac_address"], new);
    server.stop().await;
}

#[tokio::test]
async fn a_bound_port_keeps_its_mac_a_null_mac_address_is_port_bound() {
    let server = TestServer::with_config(|c| c.ml2.mechanism_drivers.clear()).await;
    let c = server.admin();
    let r = c
        .load_driver(
            "recorder",
            "recorder",
            json!({"grants": ["log", "config", "state"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let net = c.network("n").await;
    let port = c
        .port(s(&net, "id"), json!({"binding:host_id": "h1"}))
        .await;
    assert_eq!(port["binding:vif_type"], "ovs", "{port}");

    let r = c
        .put(
            &format!("/v2.0/ports/{}", s(&port, "id")),
            json!({"port": {"mac_address": null}}),
        )
        .await;

    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error_type(), Some("PortBound"));
    server.stop().await;
}

#[tokio::test]
async fn creating_a_port_with_a_null_mac_address_gets_one_from_base_mac() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let r = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id"), "mac_address": null}}),
        )
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    assert!(s(&r.body["port"], "mac_address").starts_with("fa:16:3e:"));
    server.stop().await;
}

#[tokio::test]
async fn allowed_address_pairs_refuse_multicast_addresses_prefixes_and_macs() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let port = c.port(s(&net, "id"), json!({})).await;
    let path = format!("/v2.0/ports/{}", s(&port, "id"));

    let refused = [
        (
            json!({"ip_address": "224.0.0.5"}),
            "IP 224.0.0.5 is a multicast address",
        ),
        (
            json!({"ip_address": "ff02::1"}),
            "IP ff02::1 is a multicast address",
        ),
        (
            json!({"ip_address": "224.0.0.0/8"}),
            "Subnet 224.0.0.0/8 overlaps with multicast range 224.0.0.0/4",
        ),
        (
            json!({"ip_address": "ff00::/7"}),
            "Subnet ff00::/7 overlaps with multicast range ff00::/8",
        ),
        (
            json!({"ip_address": "10.0.0.5", "mac_address": "01:00:5e:00:00:05"}),
            "MAC address 01:00:5e:00:00:05 is a multicast address",
        ),
    ];
    for (pair, message) in refused {
        let r = c
            .put(&path, json!({"port": {"allowed_address_pairs": [pair]}}))
            .await;
        assert_eq!(r.status, 400, "{pair}: {}", r.body);
        assert_eq!(r.error_type(), Some("HTTPBadRequest"), "{pair}");
        assert!(r.error_message().contains(message), "{pair}: {}", r.body);
    }
    for ok in ["10.0.0.0/8", "0.0.0.0/0", "239.255.255.255/32"] {
        let r = c
            .put(
                &path,
                json!({"port": {"allowed_address_pairs": [{"ip_address": ok}]}}),
            )
            .await;
        let expect = if ok.starts_with("239") { 400 } else { 200 };
        assert_eq!(r.status, expect, "{ok}: {}", r.body);
    }
    let created = c
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": s(&net, "id"), "allowed_address_pairs": [{"ip_address": "239.1.1.1"}]}}),
        )
        .await;
    assert_eq!(created.status, 400, "{}", created.body);
    let shown = c.get_ok(&path).await;
    assert_eq!(
        shown["port"]["allowed_address_pairs"],
        json!([{"ip_address": "0.0.0.0/0", "mac_address": shown["port"]["mac_address"]}])
    );
    server.stop().await;
}
