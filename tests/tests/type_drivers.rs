//! Type drivers and provider networks: validation, segment allocation and release, MTUs, and
//! the out-of-the-box configuration.

use neutrino_tests::{TestServer, s};
use serde_json::json;

async fn create(c: &neutrino_tests::Client, body: serde_json::Value) -> neutrino_tests::Resp {
    c.post("/v2.0/networks", json!({ "network": body })).await
}

#[tokio::test]
async fn project_networks_get_distinct_vxlan_segments_out_of_the_box() {
    let server = TestServer::start().await;
    let c = server.admin();

    let a = c.network("a").await;
    let b = c.network("b").await;

    assert_eq!(a["provider:network_type"], "vxlan");
    assert_eq!(b["provider:network_type"], "vxlan");
    assert_ne!(a["provider:segmentation_id"], b["provider:segmentation_id"]);
    assert_eq!(a["mtu"], 1450);
    server.stop().await;
}

#[tokio::test]
async fn the_default_physical_network_accepts_flat_and_vlan_provider_networks() {
    let server = TestServer::start().await;
    let c = server.admin();

    let flat = create(
        &c,
        json!({"provider:network_type": "flat", "provider:physical_network": "physnet1"}),
    )
    .await;
    let vlan = create(&c, json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 100})).await;

    assert_eq!(flat.status, 201, "{:?}", flat.body);
    assert_eq!(flat.body["network"]["mtu"], 1500);
    assert_eq!(
        flat.body["network"]["provider:segmentation_id"],
        serde_json::Value::Null
    );
    assert_eq!(vlan.status, 201, "{:?}", vlan.body);
    assert_eq!(vlan.body["network"]["provider:segmentation_id"], 100);
    assert_eq!(vlan.body["network"]["mtu"], 1500);
    server.stop().await;
}

#[tokio::test]
async fn a_vlan_id_in_use_is_refused_and_free_again_after_delete() {
    let server = TestServer::start().await;
    let c = server.admin();
    let spec = json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 42});
    let first = create(&c, spec.clone()).await;
    assert_eq!(first.status, 201);

    let second = create(&c, spec.clone()).await;
    assert_eq!(second.status, 409);
    assert_eq!(second.error_type(), Some("VlanIdInUse"));

    assert_eq!(
        c.delete(&format!(
            "/v2.0/networks/{}",
            s(&first.body["network"], "id")
        ))
        .await
        .status,
        204
    );
    let third = create(&c, spec).await;
    assert_eq!(third.status, 201, "{:?}", third.body);
    server.stop().await;
}

#[tokio::test]
async fn a_tunnel_id_in_use_and_a_second_flat_network_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();
    let vx = json!({"provider:network_type": "vxlan", "provider:segmentation_id": 5000});
    assert_eq!(create(&c, vx.clone()).await.status, 201);
    let again = create(&c, vx).await;
    assert_eq!(
        (again.status, again.error_type()),
        (409, Some("TunnelIdInUse"))
    );

    let flat = json!({"provider:network_type": "flat", "provider:physical_network": "physnet1"});
    assert_eq!(create(&c, flat.clone()).await.status, 201);
    let again = create(&c, flat).await;
    assert_eq!(
        (again.status, again.error_type()),
        (409, Some("FlatNetworkInUse"))
    );
    server.stop().await;
}

#[tokio::test]
async fn invalid_provider_attributes_are_refused_with_the_reason() {
    let server = TestServer::start().await;
    let c = server.admin();
    let cases = [
        (
            json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 5000}),
            "out of range",
        ),
        (
            json!({"provider:network_type": "vlan", "provider:physical_network": "nowhere", "provider:segmentation_id": 5}),
            "unknown",
        ),
        (
            json!({"provider:network_type": "flat"}),
            "physical_network required",
        ),
        (
            json!({"provider:network_type": "flat", "provider:physical_network": "physnet1", "provider:segmentation_id": 3}),
            "segmentation_id prohibited",
        ),
        (
            json!({"provider:network_type": "vxlan", "provider:physical_network": "physnet1"}),
            "physical_network",
        ),
        (
            json!({"provider:network_type": "local", "provider:segmentation_id": 3}),
            "prohibited",
        ),
        (
            json!({"provider:network_type": "token-ring"}),
            "not supported",
        ),
    ];
    for (body, reason) in cases {
        let r = create(&c, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(r.error_type(), Some("InvalidInput"), "{body}");
        assert!(
            r.error_message().contains(reason),
            "{body}: {}",
            r.error_message()
        );
    }
    assert_eq!(
        c.get("/v2.0/networks").await.body["networks"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn multi_segment_networks_show_their_segments_and_take_the_smallest_mtu() {
    let server = TestServer::start().await;
    let c = server.admin();

    let r = create(
        &c,
        json!({"segments": [
            {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 7},
            {"provider:network_type": "vxlan"}
        ]}),
    )
    .await;

    assert_eq!(r.status, 201, "{:?}", r.body);
    let net = &r.body["network"];
    let segs = net["segments"].as_array().expect("segments list");
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[0]["provider:segmentation_id"], 7);
    assert_eq!(segs[1]["provider:network_type"], "vxlan");
    assert!(segs[1]["provider:segmentation_id"].as_i64().is_some());
    assert!(net.get("provider:network_type").is_none());
    assert_eq!(net["mtu"], 1450);
    server.stop().await;
}

#[tokio::test]
async fn segments_and_provider_attributes_together_are_refused() {
    let server = TestServer::start().await;
    let r = create(
        &server.admin(),
        json!({"provider:network_type": "vxlan", "segments": [{"provider:network_type": "vxlan"}]}),
    )
    .await;
    assert_eq!(
        (r.status, r.error_type()),
        (400, Some("SegmentsSetInConjunctionWithProviders"))
    );
    server.stop().await;
}

#[tokio::test]
async fn provider_attributes_are_admin_only() {
    let server = TestServer::start().await;
    let user = server.project("p1");

    let refused = create(&user, json!({"provider:network_type": "vxlan"})).await;
    let own = user.network("mine").await;

    assert_eq!(
        (refused.status, refused.error_type()),
        (403, Some("PolicyNotAuthorized"))
    );
    assert!(own.get("provider:network_type").is_none(), "{own}");
    assert!(own.get("provider:segmentation_id").is_none());
    server.stop().await;
}

#[tokio::test]
async fn an_exhausted_tenant_range_answers_no_network_available() {
    let server = TestServer::with_config(|c| c.ml2.vxlan_vni_ranges = vec!["10:11".into()]).await;
    let c = server.admin();
    c.network("a").await;
    c.network("b").await;

    let third = create(&c, json!({"name": "c"})).await;

    assert_eq!(
        (third.status, third.error_type()),
        (503, Some("NoNetworkAvailable"))
    );
    server.stop().await;
}

#[tokio::test]
async fn concurrent_project_networks_never_share_a_vni() {
    let server = TestServer::with_config(|c| c.ml2.vxlan_vni_ranges = vec!["100:131".into()]).await;
    let c = server.admin();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                c.post(
                    "/v2.0/networks",
                    json!({"network": {"name": format!("n{i}")}}),
                )
                .await
            })
        })
        .collect();
    let mut vnis = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            201 => vnis.push(
                r.body["network"]["provider:segmentation_id"]
                    .as_i64()
                    .unwrap(),
            ),
            503 => refused += 1,
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
    vnis.sort();
    let before = vnis.len();
    vnis.dedup();
    assert_eq!(before, vnis.len(), "a VNI was handed out twice");
    assert_eq!(vnis.len(), 32);
    assert_eq!(refused, 8);
    assert!(vnis.iter().all(|v| (100..=131).contains(v)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_never_hand_out_the_same_vni() {
    // Two servers need a database both can open: PostgreSQL.
    let db = neutrino_tests::TestDb::new(neutrino_tests::Backend::Postgres).await;
    let url = db.url.clone();
    let narrow = |c: &mut neutrino_server::Config| {
        c.ml2.vxlan_vni_ranges = vec!["500:523".into()];
        c.ml2.mechanism_drivers.clear();
    };
    let a = TestServer::on_db(db, narrow).await;
    let b = TestServer::on_db(neutrino_tests::TestDb::existing(&url), narrow).await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let c = if i % 2 == 0 { a.admin() } else { b.admin() };
        tasks.push(tokio::spawn(async move {
            c.post(
                "/v2.0/networks",
                json!({"network": {"name": format!("n{i}")}}),
            )
            .await
        }));
    }

    let mut vnis = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            201 => vnis.push(
                r.body["network"]["provider:segmentation_id"]
                    .as_i64()
                    .unwrap(),
            ),
            503 => assert_eq!(r.error_type(), Some("NoNetworkAvailable")),
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }

    vnis.sort();
    assert_eq!(
        vnis,
        (500..=523).collect::<Vec<i64>>(),
        "each VNI exactly once"
    );
    b.stop().await;
    a.stop().await;
}
