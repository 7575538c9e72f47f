//! Hostile drivers are contained: each failure is one call's typed error
//! naming the driver and the cause, and the next call works.

use crate::support::*;
use neutrino_runtime::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test]
async fn an_endless_loop_in_bind_port_exceeds_the_cpu_budget_and_the_next_call_works() {
    let rt = runtime();
    let spin = prepare(&rt, "spin", settings(&[])).await;
    let host = host();

    let started = Instant::now();
    let err = spin.bind_port(&port_ctx(), &host).await.unwrap_err();

    assert!(
        matches!(err, CallError::Timeout { clock: Clock::Cpu, budget, .. } if budget == Duration::from_millis(200)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "driver `spin` exceeded its CPU budget of 200ms in bind_port"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    spin.call_network(Hook::CreatePrecommit, &network_ctx(), &host)
        .await
        .expect("the next call works");
    assert_eq!(spin.stats().timeouts, 1);
}

#[tokio::test]
async fn postcommit_hooks_get_their_own_longer_cpu_budget() {
    let rt = runtime();
    let mut s = settings(&[]);
    s.limits.postcommit_cpu = Duration::from_millis(400);
    let spin = prepare(&rt, "spin", s).await;

    let started = Instant::now();
    let err = spin
        .call_port(Hook::CreatePostcommit, &port_ctx(), &host())
        .await
        .unwrap_err();

    assert!(
        matches!(err, CallError::Timeout { clock: Clock::Cpu, budget, hook: "create_port_postcommit", .. } if budget == Duration::from_millis(400)),
        "{err:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "stopped early: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_drivers_keep_working_while_one_spins() {
    let rt = runtime();
    let mut s = settings(&[]);
    s.limits.precommit_cpu = Duration::from_secs(3);
    s.limits.precommit_wall = Duration::from_secs(30);
    let spin = prepare(&rt, "spin", s).await;
    let recorder = prepare(&rt, "recorder", settings(&[])).await;
    let host = host();

    let spinning = {
        let (spin, host) = (spin.clone(), host.clone());
        tokio::spawn(async move { spin.bind_port(&port_ctx(), &host).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..20 {
        recorder
            .bind_port(&port_ctx(), &host)
            .await
            .expect("recorder binds while spin spins");
    }

    assert!(
        !spinning.is_finished(),
        "20 recorder calls should finish while spin still runs"
    );
    let err = spinning.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            CallError::Timeout {
                clock: Clock::Cpu,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit_and_the_next_call_works() {
    let rt = runtime();
    let mut s = settings(&[]);
    s.limits.memory_mib = 16;
    let bomb = prepare(&rt, "membomb", s).await;
    let host = host();

    let err = bomb.bind_port(&port_ctx(), &host).await.unwrap_err();

    let CallError::ResourceLimit {
        ref driver,
        hook,
        ref message,
    } = err
    else {
        panic!("expected a resource limit, got {err:?}");
    };
    assert_eq!((driver.as_str(), hook), ("membomb", "bind_port"));
    assert!(
        message.starts_with("memory limit of 16 MiB reached"),
        "{message}"
    );
    bomb.call_network(Hook::CreatePrecommit, &network_ctx(), &host)
        .await
        .expect("the next call works");
}

#[tokio::test]
async fn a_trap_fails_only_that_call() {
    let rt = runtime();
    let trap = prepare(&rt, "trap", settings(&[])).await;
    let host = host();

    let first = trap.bind_port(&port_ctx(), &host).await.unwrap_err();
    let second = trap.bind_port(&port_ctx(), &host).await.unwrap_err();

    let CallError::Trap { ref message, .. } = first else {
        panic!("expected a trap, got {first:?}");
    };
    assert!(message.contains("unreachable"), "{message}");
    assert!(
        first
            .to_string()
            .starts_with("driver `trap` crashed in bind_port: "),
        "{first}"
    );
    // A fresh instance per call: the second call traps the same way instead
    // of finding a poisoned instance.
    assert_eq!(first.to_string(), second.to_string());
    trap.call_port(Hook::CreatePrecommit, &port_ctx(), &host)
        .await
        .expect("other hooks still work");
    assert_eq!(trap.stats().traps, 2);
}

#[tokio::test]
async fn a_panic_message_reaches_the_error() {
    let rt = runtime();
    let panicking = prepare(&rt, "panic", settings(&[])).await;

    let err = panicking.bind_port(&port_ctx(), &host()).await.unwrap_err();

    let CallError::Trap { ref stderr, .. } = err else {
        panic!("expected a trap, got {err:?}");
    };
    assert!(
        stderr.contains("driver bug: segment table corrupted for port port-1"),
        "stderr: {stderr}"
    );
    assert!(err.to_string().contains("segment table corrupted"), "{err}");
}

#[tokio::test]
async fn enormous_vif_details_are_refused_as_invalid() {
    let rt = runtime();
    let huge = prepare(&rt, "huge-result", settings(&[])).await;

    let err = huge.bind_port(&port_ctx(), &host()).await.unwrap_err();

    let CallError::Invalid { ref message, .. } = err else {
        panic!("expected invalid, got {err:?}");
    };
    assert!(message.starts_with("vif_details is 41943"), "{message}");
    assert!(message.ends_with("the limit is 16384"), "{message}");
}

#[tokio::test]
async fn an_enormous_refusal_message_is_truncated_not_passed_on() {
    let rt = runtime();
    let huge = prepare(&rt, "huge-result", settings(&[])).await;

    let err = huge
        .call_port(Hook::CreatePrecommit, &port_ctx(), &host())
        .await
        .unwrap_err();

    let CallError::Driver {
        kind, ref message, ..
    } = err
    else {
        panic!("expected a refusal, got {err:?}");
    };
    assert_eq!(kind, ErrorKind::Conflict);
    assert!(message.len() < 5000, "{} bytes", message.len());
    assert!(
        message.ends_with("more bytes)"),
        "{}",
        &message[message.len() - 40..]
    );
}

#[tokio::test]
async fn malformed_bind_results_are_refused_with_the_reason() {
    let rt = runtime();
    let cases = [
        ("unknown-segment", "segment \"not-offered\" was not offered"),
        ("bad-json", "vif_details is not JSON"),
        (
            "reserved-vif-type",
            "vif_type \"binding_failed\" cannot be bound",
        ),
        (
            "empty-continuation",
            "a continuation needs 1 to 16 next segments, got 0",
        ),
    ];
    for (mode, expected) in cases {
        let driver = prepare(&rt, "bad-result", settings(&[("mode", mode)])).await;

        let err = driver.bind_port(&port_ctx(), &host()).await.unwrap_err();

        assert!(matches!(err, CallError::Invalid { .. }), "{mode}: {err:?}");
        assert!(err.to_string().contains(expected), "{mode}: {err}");
        assert!(
            err.to_string()
                .starts_with("driver `bad-result` returned an invalid result from bind_port")
        );
    }
}

#[tokio::test]
async fn the_wall_clock_budget_covers_slow_host_calls() {
    let rt = runtime();
    let mut s = settings(&[]);
    s.limits.precommit_wall = Duration::from_millis(300);
    let recorder = prepare(&rt, "recorder", s).await;
    let slow: Arc<dyn HostServices> = Arc::new(SlowHost {
        inner: MemoryHost::new(),
        delay: Duration::from_secs(5),
    });

    let started = Instant::now();
    let err = recorder
        .call_port(Hook::CreatePrecommit, &port_ctx(), &slow)
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            CallError::Timeout {
                clock: Clock::Wall,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "driver `recorder` exceeded its wall-clock budget of 300ms in create_port_precommit"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_fail_as_busy() {
    let rt = runtime();
    let mut s = settings(&[]);
    s.limits.max_concurrent_calls = 1;
    s.limits.queue_timeout = Duration::from_millis(50);
    s.limits.precommit_cpu = Duration::from_millis(600);
    let spin = prepare(&rt, "spin", s).await;
    let host = host();

    let running = {
        let (spin, host) = (spin.clone(), host.clone());
        tokio::spawn(async move { spin.bind_port(&port_ctx(), &host).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = spin
        .call_network(Hook::CreatePrecommit, &network_ctx(), &host)
        .await
        .unwrap_err();

    assert!(matches!(err, CallError::Busy { limit: 1, .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("driver `spin` is busy"),
        "{err}"
    );
    running.await.unwrap().unwrap_err();
    spin.call_network(Hook::CreatePrecommit, &network_ctx(), &host)
        .await
        .expect("works again once the slot is free");
}
