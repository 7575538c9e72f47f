//! The harness delivers a journaled driver's postcommits as the server does: in order,
//! retried while the driver says `unavailable` (the controller is down, a 5xx), failed for
//! good on any other refusal; and it calls `periodic`. Uses the `journaled` test driver,
//! which posts every postcommit to config `url`.

use neutrino_driver_test::{
    Delivery, ErrorKind, Harness, Hook, JournalOp, Reply, TransportError, build_driver,
    driver_crate_dir, fixtures,
};

const URL: &str = "http://controller.test:8080";

fn journaled() -> neutrino_driver_test::HarnessBuilder {
    let dir = driver_crate_dir(env!("CARGO_MANIFEST_DIR"), "tests/drivers/journaled");
    Harness::load(build_driver(dir).expect("the journaled test driver builds"))
        .config("url", URL)
        .allow(URL)
}

fn refused_ok(status: u16) -> Reply {
    Reply::Response {
        status,
        headers: Vec::new(),
        body: b"{}".to_vec(),
    }
}

#[tokio::test]
async fn a_controller_down_twice_gets_the_entry_on_the_third_attempt_then_the_next() {
    let driver = journaled()
        .http_sequence(
            "POST",
            &format!("{URL}/hooks"),
            vec![
                Reply::Error(TransportError::Connect("connection refused".into())),
                refused_ok(503),
                refused_ok(200),
            ],
        )
        .build()
        .await
        .unwrap();
    assert!(driver.meta().journal, "the manifest says journal = true");
    let net = fixtures::network("n1", vec![]);
    let port = fixtures::port("p1").build();
    driver.journal(JournalOp::network(Hook::CreatePostcommit, &net));
    driver.journal(JournalOp::port(Hook::CreatePostcommit, &port));

    let report = driver.deliver_journal(5).await;

    assert_eq!(report.len(), 2);
    match &report[0] {
        Delivery::Delivered { attempts, waited } => {
            assert_eq!(*attempts, 3);
            assert_eq!(
                waited,
                &[
                    std::time::Duration::from_millis(500),
                    std::time::Duration::from_secs(1)
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(report[1].is_delivered());
    let bodies: Vec<String> = driver
        .http_requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(
        bodies.len(),
        4,
        "three tries of the network, one of the port"
    );
    assert!(bodies[..3].iter().all(|b| b.contains("create_network")));
    assert!(bodies[3].contains("create_port"));
    assert_eq!(driver.journal_len(), 0);
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_entry_and_a_still_unavailable_one_holds_the_queue() {
    let driver = journaled()
        .http_response("POST", &format!("{URL}/hooks"), 409, "{}")
        .build()
        .await
        .unwrap();
    driver.journal(JournalOp::network(
        Hook::CreatePostcommit,
        &fixtures::network("n1", vec![]),
    ));
    let report = driver.deliver_journal(5).await;
    match &report[..] {
        [Delivery::Failed { attempts: 1, error }] => {
            assert!(error.to_string().contains("409"), "{error}");
            assert!(!error.is_retryable());
        }
        other => panic!("{other:?}"),
    }

    let down = journaled()
        .http_error(
            "POST",
            &format!("{URL}/hooks"),
            TransportError::Connect("connection refused".into()),
        )
        .build()
        .await
        .unwrap();
    down.journal(JournalOp::network(
        Hook::CreatePostcommit,
        &fixtures::network("n1", vec![]),
    ));
    down.journal(JournalOp::port(
        Hook::CreatePostcommit,
        &fixtures::port("p1").build(),
    ));
    let report = down.deliver_journal(3).await;
    match &report[..] {
        [Delivery::StillPending { attempts: 3, error }] => {
            assert!(
                matches!(
                    error,
                    neutrino_driver_test::CallError::Driver {
                        kind: ErrorKind::Unavailable,
                        ..
                    }
                ),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(down.journal_len(), 2, "the port waits behind the network");
}

#[tokio::test]
async fn periodic_is_called_on_demand() {
    let driver = journaled()
        .http_response("POST", &format!("{URL}/periodic"), 200, "{}")
        .build()
        .await
        .unwrap();
    assert!(driver.has_periodic());
    assert_eq!(
        driver.meta().periodic_interval,
        Some(std::time::Duration::from_secs(1))
    );
    driver.call_periodic().await.unwrap();
    let requests = driver.http_requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].url.ends_with("/periodic"));
}
