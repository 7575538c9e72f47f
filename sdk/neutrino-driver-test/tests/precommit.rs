//! The harness runs precommit hooks as the server does: state written by a precommit that
//! then refuses is discarded, and concurrent precommits never lose an increment.

use neutrino_driver_test::{Harness, Hook, build_driver, driver_crate_dir, fixtures};
use serde_json::json;
use std::sync::Arc;

fn platform() -> neutrino_driver_test::HarnessBuilder {
    let dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "tests/drivers/platform");
    Harness::load(build_driver(dir).expect("the platform test driver builds"))
}

#[tokio::test]
async fn a_refused_precommit_leaves_no_state_behind() {
    let driver = platform()
        .config("fail_after_write", json!(true))
        .build()
        .await
        .unwrap();
    let port = fixtures::port("p1").build();

    let err = driver
        .call_port(Hook::CreatePrecommit, &port)
        .await
        .unwrap_err();

    assert!(err.to_string().contains("refuses after writing"), "{err}");
    assert_eq!(driver.state("ports"), None);
    assert_eq!(driver.state("first"), None);
    assert!(driver.state_writes().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn successful_precommits_keep_their_state_and_32_concurrent_ones_all_count() {
    let driver = Arc::new(platform().build().await.unwrap());

    let calls: Vec<_> = (0..32)
        .map(|i| {
            let driver = driver.clone();
            tokio::spawn(async move {
                let port = fixtures::port(&format!("p{i}")).build();
                driver
                    .call_port(Hook::CreatePrecommit, &port)
                    .await
                    .unwrap();
            })
        })
        .collect();
    for c in calls {
        c.await.unwrap();
    }

    assert_eq!(driver.state("ports").as_deref(), Some(b"32".as_slice()));
    assert!(driver.state("first").is_some());
}
