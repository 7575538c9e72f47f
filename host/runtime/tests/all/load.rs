//! Loading: manifests, contract versions, capabilities, the compile cache
//! and initialize.

use crate::support::*;
use neutrino_runtime::*;

/// `wasm` with its embedded manifest section renamed, so only a
/// driver.toml describes it.
fn without_embedded_manifest(mut wasm: Vec<u8>) -> Vec<u8> {
    let name = b"neutrino:manifest";
    let at = wasm
        .windows(name.len())
        .position(|w| w == name)
        .expect("the component embeds a manifest");
    wasm[at..at + name.len()].copy_from_slice(b"neutrino:xxxxxxxx");
    wasm
}

#[tokio::test]
async fn a_driver_built_for_an_unsupported_contract_is_refused_naming_both_versions() {
    let rt = runtime();

    let err = try_prepare(&rt, "wrong-contract", settings(&[]))
        .await
        .unwrap_err();

    assert!(
        matches!(err, LoadError::UnsupportedContract { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "driver `wrong-contract` was built for neutrino:ml2@9.0.0; this host supports 0.2.x, 0.1.x"
    );
}

#[tokio::test]
async fn the_exported_contract_is_checked_even_when_the_manifest_claims_a_supported_one() {
    let rt = runtime();
    let wasm = without_embedded_manifest(guests().wasm("wrong-contract"));
    let lying =
        "name = \"wrong-contract\"\nversion = \"0.1.0\"\ncontract = \"neutrino:ml2@0.1.0\"\n";

    let err = rt
        .prepare(&wasm, Some(lying), settings(&[]))
        .await
        .unwrap_err();

    assert_eq!(
        err.to_string(),
        "driver `wrong-contract` was built for neutrino:ml2@9.0.0; this host supports 0.2.x, 0.1.x"
    );
}

#[tokio::test]
async fn an_import_missing_from_the_manifest_is_refused() {
    let rt = runtime();
    let wasm = without_embedded_manifest(guests().wasm("recorder"));
    let manifest = "name = \"recorder\"\nversion = \"0.1.0\"\ncontract = \"neutrino:ml2@0.2.0\"\ncapabilities = [\"log\", \"config\"]\n";

    let err = rt
        .prepare(&wasm, Some(manifest), settings(&[]))
        .await
        .unwrap_err();

    assert_eq!(
        err.to_string(),
        "driver `recorder` imports `neutrino:ml2/state@0.2.0` but its manifest does not declare `state`"
    );
}

#[tokio::test]
async fn a_capability_the_operator_withholds_is_refused() {
    let rt = runtime();
    let mut s = settings(&[]);
    s.grants = [Capability::Log, Capability::Config].into_iter().collect();

    let err = try_prepare(&rt, "recorder", s).await.unwrap_err();

    assert!(
        matches!(
            err,
            LoadError::CapabilityNotGranted {
                capability: Capability::State,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "driver `recorder` imports `neutrino:ml2/state@0.2.0` but the operator did not grant `state`"
    );
}

#[tokio::test]
async fn a_bare_wasm_describes_itself() {
    let rt = runtime();

    let driver = rt
        .prepare(&guests().wasm("versioned"), None, settings(&[]))
        .await
        .unwrap();

    let meta = driver.meta();
    assert_eq!(
        (meta.name.as_str(), meta.version.as_str()),
        ("versioned", "1.0.0")
    );
    assert_eq!(meta.contract, "neutrino:ml2@0.2.0");
    assert_eq!(meta.capabilities.to_string(), "config");
    assert_eq!(meta.sha256.len(), 64);
}

#[tokio::test]
async fn driver_toml_and_the_embedded_manifest_must_agree() {
    let rt = runtime();
    let toml = guests()
        .manifest("openvswitch")
        .unwrap()
        .replace("0.1.0\"\ncontract", "9.9.9\"\ncontract");

    let err = rt
        .prepare(&guests().wasm("openvswitch"), Some(&toml), settings(&[]))
        .await
        .unwrap_err();

    assert_eq!(
        err.to_string(),
        "driver `openvswitch`: driver.toml and the manifest embedded in the component disagree on `version` (driver.toml: \"9.9.9\", embedded: \"0.1.0\")"
    );
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused() {
    let rt = runtime();
    let manifest = guests().manifest("recorder").unwrap();

    let err = rt
        .prepare(b"\0asm\x01\0\0\0garbage", Some(&manifest), settings(&[]))
        .await
        .unwrap_err();

    assert!(
        err.to_string()
            .starts_with("driver `recorder` cannot be compiled"),
        "{err}"
    );
}

#[tokio::test]
async fn granted_capabilities_are_the_manifest_ones_the_operator_allows() {
    let rt = runtime();

    let ovs = prepare(&rt, "openvswitch", settings(&[])).await;

    assert_eq!(ovs.meta().capabilities.to_string(), "log, config, agents");
    assert_eq!(ovs.meta().failure_policy, FailurePolicy::Fail);
}

#[tokio::test]
async fn the_second_prepare_of_the_same_bytes_loads_from_the_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_with(RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    });

    let first = prepare(&rt, "recorder", settings(&[])).await;
    let second = prepare(&rt, "recorder", settings(&[])).await;

    assert!(!first.meta().compiled_from_cache);
    assert!(second.meta().compiled_from_cache);
    second
        .bind_port(&port_ctx(), &host())
        .await
        .expect("cached code runs");
    let entry = format!("{}-{}.cwasm", second.meta().sha256, rt.engine_key());
    assert!(dir.path().join(entry).is_file());
}

#[tokio::test]
async fn a_different_engine_configuration_misses_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let config = |compile| RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        compile,
        ..RuntimeConfig::default()
    };
    let quick = runtime_with(config(CompileStrategy::Quick));
    let optimized = runtime_with(config(CompileStrategy::Optimized));
    prepare(&quick, "recorder", settings(&[])).await;

    let other = prepare(&optimized, "recorder", settings(&[])).await;

    assert_ne!(quick.engine_key(), optimized.engine_key());
    assert!(!other.meta().compiled_from_cache);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_a_miss_and_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_with(RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    });
    let first = prepare(&rt, "recorder", settings(&[])).await;
    let entry = dir
        .path()
        .join(format!("{}-{}.cwasm", first.meta().sha256, rt.engine_key()));
    std::fs::write(&entry, b"not compiled code").unwrap();

    let second = prepare(&rt, "recorder", settings(&[])).await;
    let third = prepare(&rt, "recorder", settings(&[])).await;

    assert!(!second.meta().compiled_from_cache);
    assert!(third.meta().compiled_from_cache);
}

#[tokio::test]
async fn an_initialize_refusal_fails_the_load() {
    let rt = runtime();

    let err = try_prepare(&rt, "versioned", settings(&[("fail_initialize", "true")]))
        .await
        .unwrap_err();

    assert_eq!(
        err.to_string(),
        "driver `versioned` failed to initialize: driver `versioned` refused initialize: version=1 refuses to start: fail_initialize is set"
    );
}

#[tokio::test]
async fn a_trap_in_initialize_fails_the_load() {
    let rt = runtime();

    let err = try_prepare(&rt, "trap", settings(&[("trap_in", "initialize")]))
        .await
        .unwrap_err();

    let LoadError::Initialize { source, .. } = err else {
        panic!("expected an initialize failure, got {err:?}");
    };
    assert!(matches!(*source, CallError::Trap { .. }), "{source:?}");
}

#[tokio::test]
async fn invalid_destinations_in_the_settings_fail_the_load() {
    let rt = runtime();

    let err = try_prepare(
        &rt,
        "http-forbidden",
        http_settings(&[], &["ctrl.example.net".into()]),
    )
    .await
    .unwrap_err();

    assert!(
        err.to_string().starts_with(
            "driver `http-forbidden`: invalid settings: allowed destination \"ctrl.example.net\""
        ),
        "{err}"
    );
}

#[tokio::test]
async fn every_in_tree_driver_loads_with_the_default_grants() {
    let rt = runtime();
    for name in ["openvswitch", "linuxbridge"] {
        let driver = prepare(&rt, name, settings(&[])).await;

        assert_eq!(driver.meta().name, name);
        let result = driver.bind_port(&port_ctx(), &host()).await.unwrap();
        assert_eq!(
            result,
            BindResult::NotBound,
            "{name} binds nothing without agents"
        );
    }
}

#[tokio::test]
async fn a_contract_0_2_driver_reads_the_wall_and_monotonic_clocks() {
    let rt = runtime();

    let clock = prepare(&rt, "clock", settings(&[])).await;

    clock
        .call_port(Hook::CreatePrecommit, &port_ctx(), &host())
        .await
        .expect("both clocks work");
}

#[tokio::test]
async fn std_hash_maps_work_in_a_driver() {
    let rt = runtime();
    let driver = prepare(&rt, "hashmap", settings(&[])).await;

    let result = driver.bind_port(&port_ctx(), &host()).await.unwrap();

    assert!(
        matches!(result, BindResult::Bound(ref b) if b.segment_id == "seg-vlan-100"),
        "{result:?}"
    );
}
