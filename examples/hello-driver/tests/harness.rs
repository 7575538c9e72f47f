//! hello-driver's tests: the built `.wasm` in a mock host.
//!
//! Run with `cargo test` in this directory (Neutrino also runs this file
//! from its workspace as a test of `neutrino-driver-test`).

use neutrino_driver_test::{
    BindResult, CallError, Capability, ErrorKind, Harness, HarnessBuilder, Hook, LogLevel,
    TransportError, build_driver, driver_crate_dir, fixtures,
};

const CONTROLLER: &str = "http://controller.example:8080";

fn driver() -> HarnessBuilder {
    let crate_dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "examples/hello-driver");
    Harness::load(build_driver(crate_dir).expect("hello-driver builds"))
}

#[tokio::test]
async fn binds_vlan_and_flat_segments_with_the_configured_marker() {
    let hello = driver()
        .config("vif_marker", "rack-7")
        .build()
        .await
        .unwrap();
    for segment in [fixtures::vlan("physnet1", 100), fixtures::flat("physnet2")] {
        let port = fixtures::port("p1")
            .host("compute-1")
            .segment(segment.clone())
            .build();

        let result = hello.bind_port(&port).await.unwrap();

        let BindResult::Bound(binding) = result else {
            panic!("not bound: {result:?}")
        };
        assert_eq!(binding.segment_id, segment.id);
        assert_eq!(binding.vif_type, "other");
        assert_eq!(binding.vif_details["marker"], "rack-7");
    }
}

#[tokio::test]
async fn does_not_bind_tunnel_segments() {
    let hello = driver().build().await.unwrap();
    let port = fixtures::port("p1").segment(fixtures::vxlan(1001)).build();

    let result = hello.bind_port(&port).await.unwrap();

    assert_eq!(result, BindResult::NotBound);
}

#[tokio::test]
async fn counts_created_ports_in_its_state() {
    let hello = driver()
        .state_json("ports_created", &41)
        .build()
        .await
        .unwrap();

    hello
        .call_port(Hook::CreatePrecommit, &fixtures::port("p1").build())
        .await
        .unwrap();

    assert_eq!(hello.state_json::<i64>("ports_created"), Some(42));
    assert_eq!(hello.state_writes().len(), 1);
    assert!(
        hello.logs().iter().any(
            |l| l.level == LogLevel::Info && l.message == "create_port_precommit p1 (port #42)"
        ),
        "{:?}",
        hello.logs()
    );
}

#[tokio::test]
async fn tells_the_controller_about_new_ports() {
    let hello = driver()
        .config("controller_url", CONTROLLER)
        .allow(CONTROLLER)
        .http_response("POST", &format!("{CONTROLLER}/ports"), 201, "{}")
        .build()
        .await
        .unwrap();
    let port = fixtures::port("p1")
        .host("compute-1")
        .fixed_ip("s1", "10.0.0.7")
        .build();

    hello
        .call_port(Hook::CreatePostcommit, &port)
        .await
        .unwrap();

    let requests = hello.http_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].url.as_str()),
        ("POST", "http://controller.example:8080/ports")
    );
    assert_eq!(requests[0].json()["port"]["id"], "p1");
    assert_eq!(requests[0].json()["port"]["host"], "compute-1");
    assert_eq!(requests[0].json()["port"]["fixed_ips"][0], "10.0.0.7");
}

#[tokio::test]
async fn a_failing_controller_fails_the_postcommit_as_unavailable() {
    let hello = driver()
        .config("controller_url", CONTROLLER)
        .allow(CONTROLLER)
        .http_response("POST", &format!("{CONTROLLER}/ports"), 500, "boom")
        .build()
        .await
        .unwrap();

    let err = hello
        .call_port(Hook::CreatePostcommit, &fixtures::port("p1").build())
        .await
        .unwrap_err();

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
    assert!(err.to_string().contains("controller answered 500"), "{err}");
}

#[tokio::test]
async fn an_unreachable_controller_fails_the_postcommit() {
    let hello = driver()
        .config("controller_url", CONTROLLER)
        .allow(CONTROLLER)
        .http_error(
            "POST",
            &format!("{CONTROLLER}/ports"),
            TransportError::Connect("connection refused".into()),
        )
        .build()
        .await
        .unwrap();

    let err = hello
        .call_port(Hook::CreatePostcommit, &fixtures::port("p1").build())
        .await
        .unwrap_err();

    assert!(
        err.to_string()
            .ends_with("http: connection failed: connection refused"),
        "{err}"
    );
}

#[tokio::test]
async fn a_controller_the_operator_did_not_allow_is_never_contacted() {
    let hello = driver()
        .config("controller_url", CONTROLLER)
        .allow("http://other.example:8080")
        .build()
        .await
        .unwrap();

    let err = hello
        .call_port(Hook::CreatePostcommit, &fixtures::port("p1").build())
        .await
        .unwrap_err();

    assert!(
        err.to_string()
            .contains("is not an allowed destination of driver `hello-driver`"),
        "{err}"
    );
    assert!(hello.http_requests().is_empty());
}

#[tokio::test]
async fn without_the_http_grant_the_driver_does_not_load() {
    let err = driver()
        .grants([Capability::Log, Capability::Config, Capability::State])
        .build()
        .await
        .err()
        .expect("refused");

    assert_eq!(
        err.to_string(),
        "driver `hello-driver` imports `neutrino:ml2/http@0.2.0` but the operator did not grant `http`"
    );
}
