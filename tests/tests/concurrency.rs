//! Concurrency: no address, MAC, segment or prefix is handed out twice, however many
//! requests race for it, and conditional updates let exactly one writer win.

use std::collections::HashSet;

use neutrino_tests::{TestServer, ips, s};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ports_on_a_27_get_each_address_once_and_the_rest_fail() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/27").await;

    let results = futures::future::join_all((0..40).map(|_| {
        let c = c.clone();
        let net_id = net["id"].clone();
        tokio::spawn(async move {
            c.post("/v2.0/ports", json!({"port": {"network_id": net_id}}))
                .await
        })
    }))
    .await;

    let mut addresses = Vec::new();
    let mut failures = 0;
    for r in results {
        let r = r.unwrap();
        match r.status {
            201 => addresses.extend(ips(&r.body["port"])),
            409 => {
                r.expect_error(409, "IpAddressGenerationFailure");
                failures += 1;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    let unique: HashSet<&String> = addresses.iter().collect();
    assert_eq!(addresses.len(), 29, "a /27 has 29 addresses for ports");
    assert_eq!(unique.len(), 29, "no duplicates: {addresses:?}");
    let expected: HashSet<String> = (2..=30).map(|i| format!("10.0.0.{i}")).collect();
    assert_eq!(unique, expected.iter().collect());
    assert_eq!(failures, 11);
    let listed = c.get_ok("/v2.0/ports").await;
    assert_eq!(listed["ports"].as_array().unwrap().len(), 29);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_one_address_let_exactly_one_win() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/24").await;

    let results = futures::future::join_all((0..16).map(|_| {
        let c = c.clone();
        let net_id = net["id"].clone();
        tokio::spawn(async move {
            c.post(
                "/v2.0/ports",
                json!({"port": {"network_id": net_id, "fixed_ips": [{"ip_address": "10.0.0.42"}]}}),
            )
            .await
        })
    }))
    .await;

    let mut won = 0;
    for r in results {
        let r = r.unwrap();
        match r.status {
            201 => won += 1,
            _ => {
                r.expect_error(409, "IpAddressAlreadyAllocated");
            }
        }
    }
    assert_eq!(won, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_one_mac_let_exactly_one_win() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;

    let results = futures::future::join_all((0..16).map(|_| {
        let c = c.clone();
        let net_id = net["id"].clone();
        tokio::spawn(async move {
            c.post(
                "/v2.0/ports",
                json!({"port": {"network_id": net_id, "mac_address": "fa:16:3e:00:00:42"}}),
            )
            .await
        })
    }))
    .await;

    let mut won = 0;
    for r in results {
        let r = r.unwrap();
        match r.status {
            201 => won += 1,
            _ => {
                r.expect_error(409, "MacAddressInUse");
            }
        }
    }
    assert_eq!(won, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_networks_get_distinct_segments() {
    let server = TestServer::start().await;
    let c = server.admin();

    let results = futures::future::join_all((0..24).map(|i| {
        let c = c.clone();
        tokio::spawn(async move {
            let body = if i % 2 == 0 {
                json!({"network": {"name": format!("t{i}")}})
            } else {
                json!({"network": {"name": format!("v{i}"), "provider:network_type": "vlan",
                    "provider:physical_network": "physnet1"}})
            };
            c.post("/v2.0/networks", body).await
        })
    }))
    .await;

    let mut segments = HashSet::new();
    for r in results {
        let r = r.unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        let n = &r.body["network"];
        assert!(
            segments.insert((
                n["provider:network_type"].to_string(),
                n["provider:segmentation_id"].as_i64().unwrap()
            )),
            "segment handed out twice: {n}"
        );
    }
    assert_eq!(segments.len(), 24);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_updates_let_exactly_one_win() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;
    let path = format!("/v2.0/networks/{}", s(&n, "id"));
    let etag = format!("revision_number={}", n["revision_number"]);

    let results = futures::future::join_all((0..12).map(|i| {
        let c = c.clone();
        let path = path.clone();
        let etag = etag.clone();
        tokio::spawn(async move {
            c.put_with(
                &path,
                json!({"network": {"name": format!("writer-{i}")}}),
                &[("If-Match", &etag)],
            )
            .await
        })
    }))
    .await;

    let mut won = 0;
    for r in results {
        let r = r.unwrap();
        match r.status {
            200 => won += 1,
            _ => {
                r.expect_error(412, "RevisionNumberConstraintFailed");
            }
        }
    }
    assert_eq!(won, 1);
    let shown = c.get_ok(&path).await;
    assert_eq!(
        shown["network"]["revision_number"].as_i64().unwrap(),
        n["revision_number"].as_i64().unwrap() + 1
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_and_deletes_never_share_an_address() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, _) = c.network_with_subnet("n", "10.0.0.0/28").await;

    // 8 workers each create and delete ports in a loop on a pool of 13 addresses.
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            let net_id = net["id"].clone();
            tokio::spawn(async move {
                let mut held = Vec::new();
                for _ in 0..6 {
                    let r = c
                        .post("/v2.0/ports", json!({"port": {"network_id": net_id}}))
                        .await;
                    match r.status {
                        201 => held.push(r.body["port"].clone()),
                        409 => {
                            r.expect_error(409, "IpAddressGenerationFailure");
                        }
                        other => panic!("{other}: {}", r.body),
                    }
                    if held.len() > 1 {
                        let p = held.remove(0);
                        let d = c.delete(&format!("/v2.0/ports/{}", s(&p, "id"))).await;
                        assert_eq!(d.status, 204, "{}", d.body);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }

    let listed = c.get_ok("/v2.0/ports").await;
    let all: Vec<String> = listed["ports"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(ips)
        .collect();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "{all:?}");
    // Every address not held is free again: fill the pool up exactly.
    let free = 13 - all.len();
    for _ in 0..free {
        c.port(s(&net, "id"), json!({})).await;
    }
    c.post("/v2.0/ports", json!({"port": {"network_id": net["id"]}}))
        .await
        .expect_error(409, "IpAddressGenerationFailure");
    server.stop().await;
}
