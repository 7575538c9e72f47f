//! Contract 0.2 beside 0.1: a 0.1 driver (built from the frozen WIT) and a
//! 0.2 driver load into one runtime and run side by side; what 0.2 adds
//! (atomic state operations, sessions with single flight, structured
//! configuration, security group hooks) works under 32 concurrent calls.

use crate::support::*;
use neutrino_runtime::contract::Family;
use neutrino_runtime::*;
use serde_json::json;
use std::sync::Arc;

const CLIENTS: usize = 32;

fn platform_settings(config: serde_json::Value) -> DriverSettings {
    let mut s = settings(&[]);
    s.config = serde_json::from_value(config).unwrap();
    s.grants.insert(Capability::Session);
    s
}

fn counter(host: &MemoryHost, driver: &str, key: &str) -> i64 {
    let raw = host
        .state(driver, key)
        .unwrap_or_else(|| panic!("{key} is set"));
    String::from_utf8(raw).unwrap().parse().unwrap()
}

/// Run `calls` calls of `f` from `CLIENTS` concurrent tasks.
async fn concurrently<F, Fut>(calls: usize, f: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move {
                for _ in (i..calls).step_by(CLIENTS) {
                    f().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_0_1_driver_and_a_0_2_driver_run_side_by_side() {
    let rt = runtime();
    let legacy = prepare(&rt, "legacy-v01", settings(&[])).await;
    let platform = prepare(&rt, "platform", platform_settings(json!({}))).await;
    let memory = memory_host();
    let host: Arc<dyn HostServices> = memory.clone();

    assert_eq!(legacy.family(), Family::V0_1);
    assert_eq!(legacy.meta().contract, "neutrino:ml2@0.1.0");
    assert_eq!(platform.family(), Family::V0_2);
    assert_eq!(platform.meta().contract, "neutrino:ml2@0.2.0");
    for _ in 0..3 {
        legacy
            .call_port(Hook::CreatePrecommit, &port_ctx(), &host)
            .await
            .unwrap();
        platform
            .call_port(Hook::CreatePrecommit, &port_ctx(), &host)
            .await
            .unwrap();
    }

    assert_eq!(
        counter(&memory, "legacy-v01", "count/create_port_precommit"),
        3
    );
    assert_eq!(counter(&memory, "platform", "ports"), 3);
    let vif = |r: BindResult| match r {
        BindResult::Bound(b) => b.vif_type,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        vif(legacy.bind_port(&port_ctx(), &host).await.unwrap()),
        "legacy"
    );
    assert_eq!(
        vif(platform.bind_port(&port_ctx(), &host).await.unwrap()),
        "platform"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn increments_from_32_concurrent_calls_are_all_counted_and_one_compare_and_set_wins() {
    let rt = runtime();
    let platform = prepare(&rt, "platform", platform_settings(json!({}))).await;
    let memory = memory_host();
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));

    let (p, m, seen) = (platform.clone(), memory.clone(), ids.clone());
    concurrently(1000, move || {
        let (p, m, seen) = (p.clone(), m.clone(), seen.clone());
        async move {
            let mut ctx = port_ctx();
            ctx.current.id = format!("port-{}", rand_id());
            seen.lock().unwrap().push(ctx.current.id.clone());
            let host: Arc<dyn HostServices> = m;
            p.call_port(Hook::CreatePrecommit, &ctx, &host)
                .await
                .unwrap();
        }
    })
    .await;

    assert_eq!(counter(&memory, "platform", "ports"), 1000);
    let first = String::from_utf8(memory.state("platform", "first").unwrap()).unwrap();
    assert!(ids.lock().unwrap().contains(&first), "{first}");
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn incrementing_a_value_that_is_not_a_counter_fails_naming_the_key() {
    let rt = runtime();
    let platform = prepare(&rt, "platform", platform_settings(json!({}))).await;
    let memory = memory_host();
    memory.set_state("platform", "ports", "not a number");
    let host: Arc<dyn HostServices> = memory.clone();

    let err = platform
        .call_port(Hook::CreatePrecommit, &port_ctx(), &host)
        .await
        .unwrap_err();

    assert!(
        err.to_string()
            .contains("`ports` does not hold an integer counter"),
        "{err}"
    );
    assert_eq!(memory.state("platform", "ports").unwrap(), b"not a number");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_first_calls_log_in_once_and_an_upgrade_drops_the_session() {
    let rt = runtime();
    let config = json!({"login_ms": 300});
    let platform = prepare(&rt, "platform", platform_settings(config.clone())).await;
    let memory = memory_host();

    let (p, m) = (platform.clone(), memory.clone());
    concurrently(CLIENTS, move || {
        let (p, m) = (p.clone(), m.clone());
        async move {
            let host: Arc<dyn HostServices> = m;
            p.call_port(Hook::CreatePostcommit, &port_ctx(), &host)
                .await
                .unwrap();
        }
    })
    .await;

    assert_eq!(counter(&memory, "platform", "logins"), 1, "single flight");
    assert_eq!(counter(&memory, "platform", "postcommits"), CLIENTS as i64);

    // A new version (an upgrade, a restart) starts without the session.
    let upgraded = prepare(&rt, "platform", platform_settings(config)).await;
    let host: Arc<dyn HostServices> = memory.clone();
    upgraded
        .call_port(Hook::CreatePostcommit, &port_ctx(), &host)
        .await
        .unwrap();
    assert_eq!(counter(&memory, "platform", "logins"), 2);
    // The old version still has its own.
    platform
        .call_port(Hook::CreatePostcommit, &port_ctx(), &host)
        .await
        .unwrap();
    assert_eq!(counter(&memory, "platform", "logins"), 2);
}

#[tokio::test]
async fn a_driver_deserializes_numbers_booleans_and_nested_tables_from_its_configuration() {
    let rt = runtime();
    let settings: DriverSettings = toml::from_str(
        r#"
        grants = ["log", "config", "state", "session"]
        [config]
        retries = 3
        verify_tls = true
        [[config.switches]]
        name = "tor-1"
        host_interfaces = { compute-1 = ["eth1", "eth2"], compute-2 = ["eth1"] }
        [[config.switches]]
        name = "tor-2"
        "#,
    )
    .unwrap();
    let platform = prepare(&rt, "platform", settings).await;

    let bound = platform.bind_port(&port_ctx(), &host()).await.unwrap();

    match bound {
        BindResult::Bound(b) => assert_eq!(
            serde_json::Value::Object(b.vif_details),
            json!({"retries": 3, "verify_tls": true, "switches": ["tor-1", "tor-2"], "interfaces": 3, "password_chars": null})
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_configuration_value_of_the_wrong_type_is_refused_naming_the_key_and_the_type() {
    let rt = runtime();

    let err = try_prepare(
        &rt,
        "platform",
        platform_settings(json!({"retries": "three"})),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("config `retries`: invalid type: string \"three\", expected u32"),
        "{err}"
    );

    let nested = json!({"switches": [{"name": "tor-1", "host_interfaces": {"c1": "eth1"}}]});
    let err = try_prepare(&rt, "platform", platform_settings(nested))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("config `switches[0].host_interfaces.c1`: invalid type: string \"eth1\", expected a sequence"),
        "{err}"
    );
}

#[tokio::test]
async fn security_group_hooks_reach_0_2_drivers_and_skip_0_1_drivers() {
    let rt = runtime();
    let legacy = prepare(&rt, "legacy-v01", settings(&[])).await;
    let platform = prepare(&rt, "platform", platform_settings(json!({}))).await;
    let memory = memory_host();
    let host: Arc<dyn HostServices> = memory.clone();
    let group = SecurityGroupContext {
        current: SecurityGroup {
            id: "sg-1".into(),
            name: "web".into(),
            ..SecurityGroup::default()
        },
        original: None,
    };
    let rule = SecurityGroupRuleContext {
        current: SecurityGroupRule {
            id: "rule-1".into(),
            security_group_id: "sg-1".into(),
            direction: "ingress".into(),
            ethertype: "IPv4".into(),
            protocol: Some("tcp".into()),
            port_range_min: Some(80),
            port_range_max: Some(80),
            ..SecurityGroupRule::default()
        },
    };

    for hook in Hook::ALL {
        legacy
            .call_security_group(hook, &group, &host)
            .await
            .unwrap();
        platform
            .call_security_group(hook, &group, &host)
            .await
            .unwrap();
        platform
            .call_security_group_rule(hook, &rule, &host)
            .await
            .unwrap();
    }

    assert!(!legacy.has_security_group_hooks());
    assert_eq!(
        counter(&memory, "platform", "sg/create_security_group_precommit"),
        1
    );
    assert_eq!(
        counter(&memory, "platform", "sg/delete_security_group_postcommit"),
        1
    );
    assert_eq!(
        counter(
            &memory,
            "platform",
            "sg/create_security_group_rule_postcommit"
        ),
        1
    );
    assert_eq!(
        memory.state_of("platform").len(),
        10,
        "six group hooks and four rule hooks (rules have no update)"
    );
    assert!(memory.state_of("legacy-v01").is_empty());
}
