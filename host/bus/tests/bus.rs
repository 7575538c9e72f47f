//! The bus, specified against both transports: the in-process one and RabbitMQ. Each test
//! runs once per transport; the RabbitMQ half needs a broker at `NEUTRINO_TEST_RABBITMQ_URL`
//! (default `amqp://guest:guest@127.0.0.1:5672/%2f`) and prints a SKIPPED line without one,
//! unless `NEUTRINO_TEST_REQUIRE_RABBITMQ` is set (then a missing broker fails the test).
//! Every test uses topics of its own, so tests never see each other's messages.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use neutrino_bus::Error;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_returns_the_servers_reply() {
    for (name, a, b) in transports("a_call_returns_the_servers_reply").await {
        let t = topic("call");
        let (tx, _rx) = mpsc::unbounded_channel();
        let l = b
            .serve(&t, "host-b", dispatcher("host-b", tx))
            .await
            .unwrap();
        let reply = a.client(&t).call::<Echo>(&args(7, "a")).await.unwrap();
        assert_eq!(
            reply,
            EchoReply {
                n: 7,
                from: "a".into(),
                server: "host-b".into()
            },
            "{name}"
        );
        l.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_minor_version_is_refused_and_an_unknown_method_is_named() {
    for (name, a, b) in transports("versions").await {
        let t = topic("versions");
        let (tx, _rx) = mpsc::unbounded_channel();
        let l = b.serve(&t, "h", dispatcher("h", tx)).await.unwrap();
        match a.client(&t).call::<EchoTooNew>(&args(1, "a")).await {
            Err(Error::Remote(e)) => {
                assert_eq!(e.class, "UnsupportedVersion", "{name}");
                assert!(e.message.contains("1.3"), "{name}: {}", e.message);
            }
            other => panic!("{name}: expected UnsupportedVersion, got {other:?}"),
        }
        match a.client(&t).call::<Frobnicate>(&args(1, "a")).await {
            Err(Error::Remote(e)) => assert_eq!(e.class, "NoSuchMethod", "{name}"),
            other => panic!("{name}: expected NoSuchMethod, got {other:?}"),
        }
        l.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_nobody_answers_times_out() {
    for (name, a, _b) in transports("timeout").await {
        let t = topic("nobody");
        let client = a.client(&t).with_timeout(Duration::from_millis(300));
        match client.call::<Echo>(&args(1, "a")).await {
            Err(Error::Timeout { method, topic, .. }) => {
                assert_eq!(method, "echo", "{name}");
                assert_eq!(topic, t, "{name}");
            }
            other => panic!("{name}: expected a timeout, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_callers_each_get_their_own_replies() {
    for (name, a, b) in transports("32 callers").await {
        let t = topic("concurrent");
        let (tx, _rx) = mpsc::unbounded_channel();
        let l = b.serve(&t, "h", dispatcher("h", tx)).await.unwrap();
        let mut tasks = Vec::new();
        for caller in 0..32u64 {
            let client = a.client(&t);
            tasks.push(tokio::spawn(async move {
                for i in 0..10u64 {
                    let n = caller * 1000 + i;
                    let r = client
                        .call::<Echo>(&args(n, &format!("c{caller}")))
                        .await
                        .unwrap();
                    assert_eq!((r.n, r.from.as_str()), (n, format!("c{caller}").as_str()));
                }
            }));
        }
        for task in tasks {
            task.await.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        l.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_a_topics_calls_and_casts_and_both_hear_fanouts() {
    for (name, a, b) in transports("competing consumers").await {
        let t = topic("shared");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let l1 = a
            .serve(&t, "server-1", dispatcher("server-1", tx.clone()))
            .await
            .unwrap();
        let l2 = b
            .serve(&t, "server-2", dispatcher("server-2", tx))
            .await
            .unwrap();
        // Calls from 32 concurrent callers, alternating the bus they are sent on.
        let mut tasks = Vec::new();
        for caller in 0..32u64 {
            let client = if caller % 2 == 0 {
                a.client(&t)
            } else {
                b.client(&t)
            };
            tasks.push(tokio::spawn(async move {
                let mut by = Vec::new();
                for i in 0..4u64 {
                    by.push(
                        client
                            .call::<Echo>(&args(caller * 10 + i, "x"))
                            .await
                            .unwrap()
                            .server,
                    );
                }
                by
            }));
        }
        let mut served: HashMap<String, usize> = HashMap::new();
        for task in tasks {
            for s in task.await.unwrap() {
                *served.entry(s).or_default() += 1;
            }
        }
        assert_eq!(served.values().sum::<usize>(), 128, "{name}");
        assert!(
            served.get("server-1").copied().unwrap_or(0) > 0,
            "{name}: {served:?}"
        );
        assert!(
            served.get("server-2").copied().unwrap_or(0) > 0,
            "{name}: {served:?}"
        );
        let calls = drain(&mut rx, 128).await;
        assert_eq!(calls.len(), 128, "{name}: each call handled exactly once");

        // 40 casts: each handled by exactly one server.
        for n in 0..40 {
            a.client(&t).cast::<Note>(&args(n, "a")).await.unwrap();
        }
        let casts = drain(&mut rx, 40).await;
        let mut ns: Vec<u64> = casts.iter().map(|c| c.2).collect();
        ns.sort();
        assert_eq!(ns, (0..40).collect::<Vec<_>>(), "{name}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(rx.try_recv().is_err(), "{name}: a cast was handled twice");

        // A fanout reaches both servers; a directed cast only its server.
        a.client(&t)
            .to_all()
            .cast::<Note>(&args(1000, "a"))
            .await
            .unwrap();
        let mut heard: Vec<String> = drain(&mut rx, 2).await.into_iter().map(|c| c.0).collect();
        heard.sort();
        assert_eq!(heard, ["server-1", "server-2"], "{name}");
        for n in 0..5 {
            a.client(&t)
                .to_server("server-2")
                .cast::<Note>(&args(2000 + n, "a"))
                .await
                .unwrap();
        }
        let directed = drain(&mut rx, 5).await;
        assert!(
            directed.iter().all(|c| c.0 == "server-2"),
            "{name}: {directed:?}"
        );
        assert_eq!(directed.len(), 5, "{name}");
        l1.stop().await;
        l2.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cast_sent_before_any_server_listens_waits_in_its_queue() {
    for (name, a, b) in transports("queued cast").await {
        let t = topic("early");
        // Declare the topic's queue the way a server would, then leave.
        let (tx, _rx) = mpsc::unbounded_channel();
        b.serve(&t, "h", dispatcher("h", tx))
            .await
            .unwrap()
            .stop()
            .await;
        for n in 0..3 {
            a.client(&t).cast::<Note>(&args(n, "a")).await.unwrap();
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let l = b.serve(&t, "h", dispatcher("h", tx)).await.unwrap();
        let got = drain(&mut rx, 3).await;
        assert_eq!(got.len(), 3, "{name}: {got:?}");
        l.stop().await;
    }
}
