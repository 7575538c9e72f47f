//! Hot swap: calls keep working across swaps, new calls see the new
//! version, failed prepares change nothing.

use crate::support::*;
use neutrino_runtime::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_see_no_errors_and_calls_after_each_swap_see_the_new_version() {
    let rt = runtime();
    let v1 = rt
        .prepare(&guests().wasm("versioned"), None, settings(&[]))
        .await
        .unwrap();
    let v2 = rt
        .prepare(&guests().wasm("versioned-v2"), None, settings(&[]))
        .await
        .unwrap();
    assert_eq!(
        (v1.meta().version.as_str(), v2.meta().version.as_str()),
        ("1.0.0", "2.0.0")
    );
    let slot = Arc::new(DriverSlot::new(v1.clone()));
    // generation g serves MARKERS[g]; it is bumped right after each swap, so
    // a call that read generation g before loading the slot must see it.
    const MARKERS: [&str; 3] = ["version=1", "version=2", "version=1"];
    let generation = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let host = host();

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (slot, generation, stop, host) =
                (slot.clone(), generation.clone(), stop.clone(), host.clone());
            tokio::spawn(async move {
                let (mut calls, mut wrong) = (0usize, Vec::new());
                while !stop.load(Ordering::SeqCst) {
                    let g = generation.load(Ordering::SeqCst);
                    let result = slot
                        .bind_port(&port_ctx(), &host)
                        .await
                        .expect("no errors across swaps");
                    let seen = marker(&result);
                    let now = generation.load(Ordering::SeqCst);
                    // Calls that straddle a swap may see either version.
                    if g == now && seen != MARKERS[g] {
                        wrong.push((g, seen));
                    }
                    calls += 1;
                }
                (calls, wrong)
            })
        })
        .collect();
    for (next, version) in [(1, &v2), (2, &v1)] {
        tokio::time::sleep(Duration::from_millis(300)).await;
        slot.swap(version.clone());
        generation.store(next, Ordering::SeqCst);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);

    let mut total = 0;
    for task in tasks {
        let (calls, wrong) = task.await.unwrap();
        assert!(
            wrong.is_empty(),
            "calls saw the old version after a swap: {wrong:?}"
        );
        total += calls;
    }
    assert!(total > 100, "only {total} calls");
    let stats = slot.stats();
    assert_eq!((stats.calls, stats.errors), (total as u64, 0));
    assert_eq!(stats.by_version.len(), 2, "{:?}", stats.by_version);
}

#[tokio::test]
async fn a_failed_prepare_leaves_the_old_version_serving() {
    let rt = runtime();
    let v1 = rt
        .prepare(&guests().wasm("versioned"), None, settings(&[]))
        .await
        .unwrap();
    let slot = DriverSlot::new(v1);

    let failed = rt
        .prepare(
            &guests().wasm("versioned-v2"),
            None,
            settings(&[("fail_initialize", "true")]),
        )
        .await;

    assert!(
        matches!(failed, Err(LoadError::Initialize { .. })),
        "{failed:?}"
    );
    assert_eq!(slot.current().meta().version, "1.0.0");
    assert_eq!(
        marker(&slot.bind_port(&port_ctx(), &host()).await.unwrap()),
        "version=1"
    );
}

#[tokio::test]
async fn a_call_in_flight_finishes_on_the_version_it_started_with() {
    let rt = runtime();
    let recorder = prepare(&rt, "recorder", settings(&[])).await;
    let versioned = rt
        .prepare(&guests().wasm("versioned"), None, settings(&[]))
        .await
        .unwrap();
    let slot = Arc::new(DriverSlot::new(recorder));
    let slow = Arc::new(SlowHost {
        inner: MemoryHost::new(),
        delay: Duration::from_millis(300),
    });

    let in_flight = {
        let (slot, host) = (slot.clone(), slow.clone() as Arc<dyn HostServices>);
        tokio::spawn(async move {
            slot.call_port(Hook::CreatePrecommit, &port_ctx(), &host)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let old = slot.swap(versioned);

    in_flight
        .await
        .unwrap()
        .expect("the in-flight call completes");
    assert_eq!(old.meta().name, "recorder");
    assert_eq!(
        slow.inner.state("recorder", "last/create_port_precommit"),
        Some(b"port-1".to_vec())
    );
    assert_eq!(
        marker(&slot.bind_port(&port_ctx(), &host()).await.unwrap()),
        "version=1"
    );
}

#[tokio::test]
async fn rolling_back_is_swapping_the_previous_version_back() {
    let rt = runtime();
    let v1 = rt
        .prepare(&guests().wasm("versioned"), None, settings(&[]))
        .await
        .unwrap();
    let v2 = rt
        .prepare(&guests().wasm("versioned-v2"), None, settings(&[]))
        .await
        .unwrap();
    let slot = DriverSlot::new(v1);
    let host = host();

    let previous = slot.swap(v2);
    assert_eq!(
        marker(&slot.bind_port(&port_ctx(), &host).await.unwrap()),
        "version=2"
    );
    slot.swap(previous);

    assert_eq!(
        marker(&slot.bind_port(&port_ctx(), &host).await.unwrap()),
        "version=1"
    );
    assert_eq!(slot.stats().calls, 2, "stats survive swaps");
}
