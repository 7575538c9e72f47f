//! The NSX driver in the SDK's harness, against scripted Policy API answers: the session
//! headers, the bodies of segments, segment ports and rules, realization polling, binding
//! and how errors are classified.

use neutrino_driver_test::{
    BindResult, CallError, ErrorKind, Harness, HarnessBuilder, Hook, RecordedRequest, Reply,
    SecurityGroupRule, SecurityGroupRuleContext, TransportError, build_driver, driver_crate_dir,
    fixtures,
};
use serde_json::{Value, json};

const NSX: &str = "https://nsx-1.example";
const NET: &str = "3f1c0b52-1d2e-4a59-9a4b-0c8f6b2d7e10";

fn url(path: &str) -> String {
    format!("{NSX}/{path}")
}

fn realized_url(net: &str) -> String {
    url(&format!(
        "policy/api/v1/infra/realized-state/realized-entities?intent_path=/infra/segments/{net}"
    ))
}

fn realization(state: &str) -> Vec<u8> {
    json!({"result_count": 1, "results": [{"entity_type": "RealizedLogicalSwitch",
        "state": state, "realization_specific_identifier": "ls-42"}]})
    .to_string()
    .into_bytes()
}

fn builder(extra: Value) -> HarnessBuilder {
    let crate_dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "drivers/nsx");
    let mut config = json!({
        "nsx_api_managers": ["nsx-1.example"],
        "nsx_api_user": "admin",
        "nsx_api_password": "p&ss word",
        "default_overlay_tz": "tz-overlay",
        "default_vlan_tz": "tz-vlan",
        "realization_wait_sec": 0.01,
        "realization_max_attempts": 3,
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        config[k] = v;
    }
    let mut b = Harness::load(build_driver(crate_dir).expect("nsx builds"))
        .allow(NSX)
        .http_response_with_headers(
            "POST",
            &url("api/session/create"),
            200,
            &[
                ("set-cookie", "JSESSIONID=s1; Path=/; HttpOnly"),
                ("x-xsrf-token", "x1"),
            ],
            "",
        )
        .http_response(
            "PATCH",
            &url(&format!("policy/api/v1/infra/segments/{NET}")),
            200,
            "",
        )
        .http_response("GET", &realized_url(NET), 200, realization("REALIZED"));
    for (k, v) in config.as_object().unwrap() {
        b = b.config(k.clone(), v.clone());
    }
    b
}

fn header<'a>(r: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_network_is_patched_as_a_segment_with_the_session_cookie_and_xsrf_token() {
    let nsx = builder(json!({})).build().await.unwrap();
    let net = fixtures::network(NET, vec![fixtures::flat("physnet1")]);

    nsx.call_network(Hook::CreatePostcommit, &net)
        .await
        .unwrap();

    let requests = nsx.http_requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(requests[0].url, url("api/session/create"));
    assert_eq!(requests[0].body, b"j_username=admin&j_password=p%26ss+word");
    assert_eq!(
        header(&requests[0], "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(requests[1].method, "PATCH");
    assert_eq!(header(&requests[1], "cookie"), Some("JSESSIONID=s1"));
    assert_eq!(header(&requests[1], "x-xsrf-token"), Some("x1"));
    let body = requests[1].json();
    assert_eq!(body["vlan_ids"], json!(["0"]), "flat: untagged");
    assert_eq!(
        body["transport_zone_path"],
        "/infra/sites/default/enforcement-points/default/transport-zones/tz-vlan"
    );
    assert_eq!(
        body["display_name"],
        json!(format!("{NET}-name_3f1c0...d7e10"))
    );
    assert_eq!(requests[2].method, "GET");
    assert_eq!(
        nsx.state(&format!("ls/{NET}")).as_deref(),
        Some(&b"ls-42"[..])
    );
}

#[tokio::test]
async fn realization_is_asked_again_until_realized_and_gives_up_as_unavailable() {
    let later = builder(json!({}))
        .http_sequence(
            "GET",
            &realized_url(NET),
            vec![
                Reply::Response {
                    status: 200,
                    headers: vec![],
                    body: realization("UNREALIZED"),
                },
                Reply::Response {
                    status: 200,
                    headers: vec![],
                    body: realization("REALIZED"),
                },
            ],
        )
        .build()
        .await
        .unwrap();
    let never = builder(json!({}))
        .http_response("GET", &realized_url(NET), 200, realization("UNREALIZED"))
        .build()
        .await
        .unwrap();
    let net = fixtures::network(NET, vec![fixtures::vxlan(77)]);

    later
        .call_network(Hook::CreatePostcommit, &net)
        .await
        .unwrap();
    let err = never
        .call_network(Hook::CreatePostcommit, &net)
        .await
        .unwrap_err();

    let asked = |h: &Harness| {
        h.http_requests()
            .iter()
            .filter(|r| r.method == "GET")
            .count()
    };
    assert_eq!(asked(&later), 2);
    assert_eq!(asked(&never), 3, "realization_max_attempts");
    assert!(
        matches!(
            err,
            CallError::Driver {
                kind: ErrorKind::Unavailable,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(never.state(&format!("ls/{NET}")), None);
}

#[tokio::test]
async fn a_port_binds_only_once_its_network_is_realized() {
    let unknown = builder(json!({})).build().await.unwrap();
    let known = builder(json!({}))
        .state(format!("ls/{NET}"), "ls-42")
        .build()
        .await
        .unwrap();
    let port = fixtures::port("p1")
        .network(fixtures::network(NET, vec![]))
        .host("esx-1")
        .segment(fixtures::vxlan(77))
        .build();

    let before = unknown.bind_port(&port).await.unwrap();
    let after = known.bind_port(&port).await.unwrap();

    assert_eq!(before, BindResult::NotBound);
    let BindResult::Bound(b) = after else {
        panic!("{after:?}")
    };
    assert_eq!(b.vif_type, "ovs");
    assert_eq!(b.status.as_deref(), Some("ACTIVE"));
    assert_eq!(
        Value::Object(b.vif_details),
        json!({"ovs_hybrid_plug": false, "port_filter": true, "nsx-logical-switch-id": "ls-42"})
    );
}

#[tokio::test]
async fn a_refused_session_logs_in_again_once() {
    let nsx = builder(json!({}))
        .http_sequence(
            "POST",
            &url("api/session/create"),
            vec![
                Reply::Response {
                    status: 200,
                    headers: vec![
                        ("set-cookie".into(), "JSESSIONID=s1".into()),
                        ("x-xsrf-token".into(), "x1".into()),
                    ],
                    body: vec![],
                },
                Reply::Response {
                    status: 200,
                    headers: vec![
                        ("set-cookie".into(), "JSESSIONID=s2".into()),
                        ("x-xsrf-token".into(), "x2".into()),
                    ],
                    body: vec![],
                },
            ],
        )
        .http_sequence(
            "PATCH",
            &url(&format!("policy/api/v1/infra/segments/{NET}")),
            vec![
                Reply::Response {
                    status: 401,
                    headers: vec![],
                    body: b"{}".to_vec(),
                },
                Reply::Response {
                    status: 200,
                    headers: vec![],
                    body: vec![],
                },
            ],
        )
        .build()
        .await
        .unwrap();
    let net = fixtures::network(NET, vec![fixtures::vxlan(77)]);

    nsx.call_network(Hook::UpdatePostcommit, &net)
        .await
        .unwrap();

    let r = nsx.http_requests();
    let lines: Vec<String> = r
        .iter()
        .map(|r| format!("{} {}", r.method, r.url))
        .collect();
    assert_eq!(
        lines[..4].to_vec(),
        vec![
            format!("POST {}", url("api/session/create")),
            format!(
                "PATCH {}",
                url(&format!("policy/api/v1/infra/segments/{NET}"))
            ),
            format!("POST {}", url("api/session/create")),
            format!(
                "PATCH {}",
                url(&format!("policy/api/v1/infra/segments/{NET}"))
            ),
        ]
    );
    assert_eq!(header(&r[3], "cookie"), Some("JSESSIONID=s2"));
    assert_eq!(header(&r[3], "x-xsrf-token"), Some("x2"));
}

#[tokio::test]
async fn connection_failures_and_5xx_are_unavailable_4xx_permanent_and_a_404_delete_is_done() {
    let path = format!("policy/api/v1/infra/segments/{NET}");
    let down = builder(json!({}))
        .http_error(
            "PATCH",
            &url(&path),
            TransportError::Connect("refused".into()),
        )
        .build()
        .await
        .unwrap();
    let busy = builder(json!({}))
        .http_response("PATCH", &url(&path), 503, "{}")
        .build()
        .await
        .unwrap();
    let bad = builder(json!({}))
        .http_response("PATCH", &url(&path), 400, "{}")
        .http_response("DELETE", &url(&path), 404, "{}")
        .build()
        .await
        .unwrap();
    let net = fixtures::network(NET, vec![fixtures::vxlan(77)]);

    let kind = |e: CallError| match e {
        CallError::Driver { kind, .. } => kind,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        kind(
            down.call_network(Hook::UpdatePostcommit, &net)
                .await
                .unwrap_err()
        ),
        ErrorKind::Unavailable
    );
    assert_eq!(
        kind(
            busy.call_network(Hook::UpdatePostcommit, &net)
                .await
                .unwrap_err()
        ),
        ErrorKind::Unavailable
    );
    assert_eq!(
        kind(
            bad.call_network(Hook::UpdatePostcommit, &net)
                .await
                .unwrap_err()
        ),
        ErrorKind::Internal
    );
    bad.call_network(Hook::DeletePostcommit, &net)
        .await
        .unwrap();
}

fn rule(protocol: Option<&str>, min: Option<u32>, max: Option<u32>) -> SecurityGroupRuleContext {
    SecurityGroupRuleContext {
        current: SecurityGroupRule {
            id: "r1".into(),
            security_group_id: "g1".into(),
            project_id: "p1".into(),
            direction: "egress".into(),
            ethertype: "IPv6".into(),
            protocol: protocol.map(str::to_string),
            port_range_min: min,
            port_range_max: max,
            remote_ip_prefix: None,
            remote_group_id: Some("g2".into()),
            revision_number: 1,
            json: "{}".into(),
        },
    }
}

#[tokio::test]
async fn rules_map_protocols_ports_and_remote_groups_to_policy_rules() {
    let rule_url = url("policy/api/v1/infra/domains/default/security-policies/g1/rules/r1");
    let nsx = builder(json!({}))
        .http_response("PATCH", &rule_url, 200, "")
        .build()
        .await
        .unwrap();

    for ctx in [
        rule(Some("udp"), Some(5000), Some(5100)),
        rule(Some("ipv6-icmp"), Some(128), Some(0)),
        rule(Some("112"), None, None),
        rule(None, None, None),
    ] {
        nsx.call_security_group_rule(Hook::CreatePostcommit, &ctx)
            .await
            .unwrap();
    }

    let bodies: Vec<Value> = nsx
        .http_requests()
        .into_iter()
        .filter(|r| r.url == rule_url)
        .map(|r| r.json())
        .collect();
    assert_eq!(bodies.len(), 4);
    assert_eq!(bodies[0]["direction"], "OUT");
    assert_eq!(bodies[0]["ip_protocol"], "IPV6");
    assert_eq!(
        bodies[0]["source_groups"],
        json!(["/infra/domains/default/groups/g1"])
    );
    assert_eq!(
        bodies[0]["destination_groups"],
        json!(["/infra/domains/default/groups/g2"])
    );
    assert_eq!(
        bodies[0]["service_entries"],
        json!([{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "UDP",
                "destination_ports": ["5000-5100"]}])
    );
    assert_eq!(
        bodies[1]["service_entries"],
        json!([{"resource_type": "ICMPTypeServiceEntry", "protocol": "ICMPv6",
                "icmp_type": 128, "icmp_code": 0}])
    );
    assert_eq!(
        bodies[2]["service_entries"],
        json!([{"resource_type": "IPProtocolServiceEntry", "protocol_number": 112}])
    );
    assert_eq!(bodies[3]["services"], json!(["ANY"]));
    assert!(bodies[3].get("service_entries").is_none());
}

#[tokio::test]
async fn without_managers_the_load_is_refused() {
    let err = builder(json!({"nsx_api_managers": []}))
        .build()
        .await
        .err()
        .expect("refused");

    assert!(err.to_string().contains("nsx_api_managers"), "{err}");
}
