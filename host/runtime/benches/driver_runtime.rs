//! Driver runtime figures (`harness = false`; prints a table):
//!
//! - one port hook call with a fresh instance, marshalling a realistic port
//!   context (the default path of every call);
//! - the same with one reused instance (for comparison only: production
//!   never reuses instances);
//! - a native no-op taking the same context;
//! - `bind_port` with a fresh instance (the Open vSwitch driver binding on
//!   an agent);
//! - upload (bytes) to a ready `PreparedDriver`, cold (compile) and cached,
//!   with both compile strategies;
//! - a hot swap (`DriverSlot::swap`);
//! - `bind_port` throughput of 8 tasks on 2 worker threads.
//!
//! Run: `cargo bench -p neutrino-runtime --bench driver_runtime`.

use neutrino_runtime::*;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Batches per figure; each figure is the median of the batch means.
const BATCHES: usize = 21;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A port context as ML2 passes it: a port with two fixed IPs and its full
/// API dict, its network with one segment, and a binding request.
fn port_ctx() -> PortContext {
    let segment = Segment {
        id: "5e3ad6b2-2a0c-4b0e-9b5f-7a1f7c9d1e01".into(),
        network_type: "vlan".into(),
        physical_network: Some("physnet1".into()),
        segmentation_id: Some(1001),
        mtu: Some(1500),
    };
    let port_json = serde_json::json!({
        "id": "a0f4a4b6-9d53-4a39-8f0c-2d8a5c6e7b10",
        "name": "vm-1-eth0",
        "network_id": "0f9b3c52-6a1e-4a57-a5c2-0b0d2f6c1d42",
        "tenant_id": "3d2c4b5a69784f1e8d7c6b5a49382716",
        "project_id": "3d2c4b5a69784f1e8d7c6b5a49382716",
        "mac_address": "fa:16:3e:4c:2a:91",
        "admin_state_up": true,
        "status": "DOWN",
        "device_id": "9b1d2c3e-4f5a-4b6c-8d7e-1f2a3b4c5d6e",
        "device_owner": "compute:nova",
        "fixed_ips": [
            {"subnet_id": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", "ip_address": "10.0.0.15"},
            {"subnet_id": "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a", "ip_address": "fd00::f816:3eff:fe4c:2a91"}
        ],
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "security_groups": ["6f5e4d3c-2b1a-4098-8776-655443322110"],
        "description": "",
        "binding:host_id": "compute-1",
        "binding:vnic_type": "normal",
        "binding:profile": {},
        "binding:vif_type": "unbound",
        "binding:vif_details": {},
        "port_security_enabled": true,
        "tags": [],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "revision_number": 1
    });
    PortContext {
        current: Port {
            id: "a0f4a4b6-9d53-4a39-8f0c-2d8a5c6e7b10".into(),
            name: "vm-1-eth0".into(),
            project_id: "3d2c4b5a69784f1e8d7c6b5a49382716".into(),
            network_id: "0f9b3c52-6a1e-4a57-a5c2-0b0d2f6c1d42".into(),
            mac_address: "fa:16:3e:4c:2a:91".into(),
            admin_state_up: true,
            status: "DOWN".into(),
            fixed_ips: vec![
                FixedIp {
                    subnet_id: "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f".into(),
                    ip_address: "10.0.0.15".into(),
                },
                FixedIp {
                    subnet_id: "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a".into(),
                    ip_address: "fd00::f816:3eff:fe4c:2a91".into(),
                },
            ],
            device_id: "9b1d2c3e-4f5a-4b6c-8d7e-1f2a3b4c5d6e".into(),
            device_owner: "compute:nova".into(),
            revision_number: 1,
            json: port_json.to_string(),
        },
        original: None,
        network: NetworkContext {
            current: Network {
                id: "0f9b3c52-6a1e-4a57-a5c2-0b0d2f6c1d42".into(),
                name: "private".into(),
                project_id: "3d2c4b5a69784f1e8d7c6b5a49382716".into(),
                admin_state_up: true,
                status: "ACTIVE".into(),
                shared: false,
                external: false,
                mtu: Some(1500),
                revision_number: 3,
                json: r#"{"id":"0f9b3c52-6a1e-4a57-a5c2-0b0d2f6c1d42","name":"private","mtu":1500,"provider:network_type":"vlan","provider:physical_network":"physnet1","provider:segmentation_id":1001}"#.into(),
            },
            original: None,
            segments: vec![segment.clone()],
        },
        host: "compute-1".into(),
        original_host: String::new(),
        vnic_type: "normal".into(),
        profile: "{}".into(),
        segments_to_bind: vec![segment],
        binding_levels: Vec::new(),
        vif_type: "unbound".into(),
        vif_details: "{}".into(),
    }
}

fn ovs_agent() -> Agent {
    Agent {
        id: "agent-1".into(),
        agent_type: "Open vSwitch agent".into(),
        binary: "neutron-openvswitch-agent".into(),
        host: "compute-1".into(),
        alive: true,
        admin_state_up: true,
        configurations: serde_json::json!({
            "bridge_mappings": {"physnet1": "br-eth1"},
            "tunnel_types": ["vxlan"],
            "integration_bridge": "br-int",
            "datapath_type": "system",
            "ovs_hybrid_plug": false
        }),
    }
}

#[inline(never)]
fn native_noop(ctx: &PortContext) -> Result<(), CallError> {
    black_box(ctx.current.fixed_ips.len());
    Ok(())
}

struct Figures(Vec<(String, Duration, String)>);

impl Figures {
    fn add(&mut self, what: &str, d: Duration, note: &str) {
        println!("{what:<58} {:>12}  {note}", format_duration(d));
        self.0.push((what.into(), d, note.into()));
    }
}

fn format_duration(d: Duration) -> String {
    if d < Duration::from_micros(1) {
        format!("{} ns", d.as_nanos())
    } else if d < Duration::from_micros(10) {
        format!("{:.2} µs", d.as_nanos() as f64 / 1000.0)
    } else if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_nanos() as f64 / 1000.0)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    }
}

async fn per_call<F, Fut>(calls_per_batch: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..calls_per_batch {
        f().await; // warm up
    }
    let mut means = Vec::new();
    for _ in 0..BATCHES {
        let started = Instant::now();
        for _ in 0..calls_per_batch {
            f().await;
        }
        means.push(started.elapsed() / calls_per_batch as u32);
    }
    median(means)
}

/// Upload-to-ready times for `strategy`: `runs` cold prepares (each with an
/// empty compile cache) and 4 cached prepares after each.
async fn upload(
    wasm: &[u8],
    manifest: &str,
    strategy: CompileStrategy,
    runs: usize,
) -> (Duration, Duration) {
    let (mut cold, mut cached) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(dir.path().to_path_buf()),
            compile: strategy,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let started = Instant::now();
        let d = runtime
            .prepare(wasm, Some(manifest), DriverSettings::default())
            .await
            .unwrap();
        cold.push(started.elapsed());
        assert!(!d.meta().compiled_from_cache);
        for _ in 0..4 {
            let started = Instant::now();
            let d = runtime
                .prepare(wasm, Some(manifest), DriverSettings::default())
                .await
                .unwrap();
            cached.push(started.elapsed());
            assert!(d.meta().compiled_from_cache);
        }
    }
    (median(cold), median(cached))
}

async fn fresh_call(
    driver: &PreparedDriver,
    ctx: &PortContext,
    host: &Arc<dyn HostServices>,
) -> Duration {
    per_call(500, || async {
        driver
            .call_port(Hook::CreatePrecommit, ctx, host)
            .await
            .unwrap();
    })
    .await
}

fn main() {
    let guests = neutrino_wasm_build::guest_target_dir().join("bench");
    let drivers = neutrino_wasm_build::repo_root().join("drivers");
    let built = neutrino_wasm_build::build_guest_workspace(&drivers, &guests, &Default::default())
        .expect("building drivers/");
    let ovs = built
        .iter()
        .find(|g| g.name == "openvswitch")
        .expect("openvswitch built");
    let wasm = std::fs::read(&ovs.wasm).unwrap();
    let manifest = std::fs::read_to_string(ovs.manifest.as_ref().unwrap()).unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = port_ctx();
    let memory = Arc::new(MemoryHost::new());
    memory.add_agent(ovs_agent());
    let host: Arc<dyn HostServices> = memory;
    println!(
        "driver: openvswitch.wasm, {} bytes; port context: {} bytes of port JSON, 2 fixed IPs, 1 segment\n",
        wasm.len(),
        ctx.current.json.len()
    );
    let mut figures = Figures(Vec::new());

    let driver = rt.block_on(async {
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let driver = runtime
            .prepare(&wasm, Some(&manifest), DriverSettings::default())
            .await
            .unwrap();

        figures.add(
            "port hook, fresh instance per call",
            fresh_call(&driver, &ctx, &host).await,
            "target < 25 µs",
        );
        let mut phases = Vec::new();
        for _ in 0..BATCHES {
            phases.push(
                driver
                    .bench_phases(Hook::CreatePrecommit, &ctx, 200)
                    .await
                    .unwrap(),
            );
        }
        let phase = |i: usize| median(phases.iter().map(|p| p[i]).collect());
        figures.add("  of which: new store (WASI context, limits)", phase(0), "");
        figures.add("  of which: instantiate", phase(1), "");
        figures.add("  of which: marshal the context + call", phase(2), "");
        figures.add("  of which: drop the store (memory reset)", phase(3), "");

        let mut reused = Vec::new();
        for _ in 0..BATCHES {
            let total = driver
                .bench_reused_instance(Hook::CreatePrecommit, &ctx, 2000)
                .await
                .unwrap();
            reused.push(total / 2000);
        }
        figures.add(
            "port hook, one reused instance (comparison only)",
            median(reused),
            "",
        );

        let mut native = Vec::new();
        for _ in 0..BATCHES {
            let started = Instant::now();
            for _ in 0..100_000 {
                native_noop(black_box(&ctx)).unwrap();
            }
            native.push(started.elapsed() / 100_000);
        }
        figures.add("native no-op with the same context", median(native), "");

        let bind = per_call(500, || async {
            let r = driver.bind_port(&ctx, &host).await.unwrap();
            assert!(matches!(r, BindResult::Bound(_)));
        })
        .await;
        figures.add("bind_port (OVS, one agent), fresh instance", bind, "");

        let quick_runtime = Runtime::new(RuntimeConfig {
            compile: CompileStrategy::Quick,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let quick = quick_runtime
            .prepare(&wasm, Some(&manifest), DriverSettings::default())
            .await
            .unwrap();
        figures.add(
            "port hook, fresh instance, CompileStrategy::Quick",
            fresh_call(&quick, &ctx, &host).await,
            "",
        );

        let (cold, cached) = upload(&wasm, &manifest, CompileStrategy::Optimized, 7).await;
        figures.add(
            "upload to ready, cold (compile + checks + initialize)",
            cold,
            "target < 100 ms",
        );
        figures.add("upload to ready, cached compile", cached, "target < 5 ms");
        let (cold, _) = upload(&wasm, &manifest, CompileStrategy::Quick, 5).await;
        figures.add("upload to ready, cold, CompileStrategy::Quick", cold, "");

        let slot = DriverSlot::new(driver.clone());
        let mut swaps = Vec::new();
        for i in 0..1000 {
            let next = if i % 2 == 0 {
                quick.clone()
            } else {
                driver.clone()
            };
            let started = Instant::now();
            black_box(slot.swap(next));
            swaps.push(started.elapsed());
        }
        figures.add("hot swap (DriverSlot::swap)", median(swaps), "");
        driver
    });

    // Throughput: 8 tasks calling bind_port on 2 worker threads.
    let workers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let calls = workers.block_on(async {
        let stop = Instant::now() + Duration::from_millis(1500);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (driver, host, ctx) = (driver.clone(), host.clone(), ctx.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while Instant::now() < stop {
                        driver.bind_port(&ctx, &host).await.unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    println!(
        "{:<58} {:>12}",
        "bind_port throughput, 8 tasks on 2 workers",
        format!("{:.0}/s", calls as f64 / 1.5)
    );

    let s = driver.stats();
    println!(
        "\nthe driver's own stats: {} calls, p50 {:?}, p99 {:?}",
        s.calls,
        s.p50.unwrap_or_default(),
        s.p99.unwrap_or_default()
    );
}
