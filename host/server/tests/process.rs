//! The `neutrino-server` binary as an operator runs it: configuration errors name their key
//! and stop start-up, data survives a restart (after SIGINT), SIGTERM lets in-flight requests
//! finish, every request is logged, and two server processes on one PostgreSQL database never
//! hand out an address twice.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Http, PgDb, Server, run_to_exit};

fn ips_of(port: &Value) -> Vec<String> {
    port["fixed_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["ip_address"].as_str().unwrap().to_string())
        .collect()
}

fn sqlite_env(dir: &std::path::Path) -> String {
    format!("sqlite:{}", dir.join("neutrino.sqlite").display())
}

#[test]
fn a_bad_environment_value_names_its_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();

    for (key, value, named) in [
        ("NEUTRINO_BIND", "nowhere", "`bind`"),
        (
            "NEUTRINO_DATABASE_URL",
            "mysql://db/neutron",
            "`database_url`",
        ),
        ("NEUTRINO_AUTH", "ldap", "`auth`"),
        // Keystone without [keystone_authtoken] says which key is missing.
        ("NEUTRINO_AUTH", "keystone", "`keystone_authtoken.auth_url`"),
    ] {
        let (status, out) = run_to_exit(dir.path(), &[(key, value)], &[]);
        assert!(!status.success(), "{key}={value} must stop start-up");
        assert!(out.contains(named), "{key}={value}: {out}");
    }
}

#[test]
fn a_bad_file_value_names_its_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("base_mac = \"zz:zz\"\n", "base_mac"),
        ("global_physnet_mtu = 20\n", "global_physnet_mtu"),
        ("global_physnet_mtu = \"big\"\n", "global_physnet_mtu"),
        (
            "[ml2]\ntype_drivers = [\"vxlan\", \"warp\"]\n",
            "ml2.type_drivers",
        ),
        (
            "[ml2]\nvxlan_vni_ranges = [\"10:1\"]\n",
            "ml2.vxlan_vni_ranges",
        ),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();

        let (status, out) = run_to_exit(dir.path(), &[], &["--config", file.to_str().unwrap()]);

        assert!(!status.success(), "{text} must stop start-up");
        assert!(out.contains(key), "{text}: {out}");
    }
}

#[test]
fn an_unknown_ml2_extension_driver_is_named_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ext.toml");
    std::fs::write(
        &file,
        "[ml2]\nextension_drivers = [\"port_security\", \"qos\"]\n",
    )
    .unwrap();

    let (status, out) = run_to_exit(dir.path(), &[], &["--config", file.to_str().unwrap()]);

    assert!(
        !status.success(),
        "an unknown extension driver must stop start-up"
    );
    assert!(out.contains("ml2.extension_drivers"), "{out}");
    assert!(out.contains("unknown ML2 extension driver 'qos'"), "{out}");
}

#[test]
fn an_unknown_file_key_is_named_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("bnd = \"127.0.0.1:9696\"\n", "bnd"),
        ("[ml2]\ntype_driver = [\"vxlan\"]\n", "type_driver"),
        ("[nonsense]\nx = 1\n", "nonsense"),
    ] {
        let file = dir.path().join("unknown.toml");
        std::fs::write(&file, text).unwrap();

        let (status, out) = run_to_exit(dir.path(), &[], &["--config", file.to_str().unwrap()]);

        assert!(!status.success(), "{text} must stop start-up");
        assert!(out.contains(key), "{text}: {out}");
    }
}

#[test]
fn a_missing_config_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();

    let (status, out) = run_to_exit(dir.path(), &[], &["--config", "/nonexistent/neutrino.toml"]);

    assert!(!status.success());
    assert!(out.contains("/nonexistent/neutrino.toml"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_database_is_a_sqlite_file_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();

    let server = Server::start(dir.path(), &[]);
    let (status, _) = Http::new(&server.url).get("/v2.0/networks").await;

    assert_eq!(status, 200);
    assert!(dir.path().join("neutrino.sqlite").exists());
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_and_the_environment_are_both_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("neutrino.toml"),
        "default_project_id = \"ops\"\nbase_mac = \"fa:16:3e:7e:00:00\"\n",
    )
    .unwrap();
    let db = sqlite_env(dir.path());

    let server = Server::start_with_args(
        dir.path(),
        &[
            ("NEUTRINO_DATABASE_URL", &db),
            ("NEUTRINO_DEFAULT_PROJECT_ID", "envproject"),
        ],
        &["--config", "neutrino.toml"],
    );
    let http = Http::new(&server.url);
    let (_, net) = http
        .post("/v2.0/networks", json!({"network": {"name": "n"}}))
        .await;
    let (_, port) = http
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net["network"]["id"]}}),
        )
        .await;

    assert_eq!(net["network"]["project_id"], "envproject");
    let mac = port["port"]["mac_address"].as_str().unwrap();
    assert!(
        mac.starts_with("fa:16:3e:7e:"),
        "base_mac from the file: {mac}"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_env(dir.path());
    let env = [("NEUTRINO_DATABASE_URL", db.as_str())];

    let server = Server::start(dir.path(), &env);
    let http = Http::new(&server.url);
    let (_, net) = http
        .post("/v2.0/networks", json!({"network": {"name": "kept"}}))
        .await;
    let net_id = net["network"]["id"].as_str().unwrap().to_string();
    let (s, _) = http
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net_id, "cidr": "10.0.0.0/29", "ip_version": 4}}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, port) = http
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net_id, "tags": ["t"]}}),
        )
        .await;
    // Ctrl-C stops the server as cleanly as SIGTERM.
    server.stop_with("INT");

    let server = Server::start(dir.path(), &env);
    let http = Http::new(&server.url);
    let (_, shown) = http.get(&format!("/v2.0/networks/{net_id}")).await;
    let (_, ports) = http.get("/v2.0/ports").await;
    let (_, next) = http
        .post("/v2.0/ports", json!({"port": {"network_id": net_id}}))
        .await;

    for k in [
        "id",
        "name",
        "project_id",
        "created_at",
        "mtu",
        "provider:segmentation_id",
    ] {
        assert_eq!(shown["network"][k], net["network"][k], "{k}");
    }
    assert_eq!(shown["network"]["subnets"].as_array().unwrap().len(), 1);
    assert_eq!(ports["ports"], json!([port["port"]]));
    let first = ips_of(&port["port"]);
    let second = ips_of(&next["port"]);
    assert_ne!(
        first, second,
        "the address taken before the restart stays taken"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_logged_with_id_method_path_status_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_env(dir.path());
    let server = Server::start(dir.path(), &[("NEUTRINO_DATABASE_URL", &db)]);
    let http = Http::new(&server.url);

    let (status, _) = http.get("/v2.0/networks/nope").await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    assert_eq!(status, 404);
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("path=/v2.0/networks/nope"))
        .unwrap_or_else(|| panic!("no access log line:\n{log}"));
    for part in [
        "request_id=req-",
        "method=GET",
        "status=404",
        "duration_ms=",
    ] {
        assert!(line.contains(part), "{part} missing in {line}");
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_in_flight_requests_finish_and_writes_nothing_half() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_env(dir.path());
    let env = [("NEUTRINO_DATABASE_URL", db.as_str())];
    let mut server = Server::start(dir.path(), &env);
    let http = Http::new(&server.url);
    let (_, net) = http
        .post("/v2.0/networks", json!({"network": {"name": "busy"}}))
        .await;
    let net_id = net["network"]["id"].as_str().unwrap().to_string();
    let (s, _) = http
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net_id, "cidr": "10.0.0.0/16", "ip_version": 4}}),
        )
        .await;
    assert_eq!(s, 201);

    // Clients create ports in bulks of 40 until the server stops answering.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let http = Http::new(&server.url);
            let net_id = net_id.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let bulk: Vec<Value> = (0..40).map(|_| json!({"network_id": net_id})).collect();
                    let t0 = started.elapsed();
                    let r = http
                        .try_send(
                            reqwest::Method::POST,
                            "/v2.0/ports",
                            Some(json!({ "ports": bulk })),
                        )
                        .await;
                    let t1 = started.elapsed();
                    match r {
                        Ok((status, body)) => done.push((t0, t1, status, body)),
                        Err(_) => break,
                    }
                }
                done
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let signalled = started.elapsed();
    server.terminate();
    let status = tokio::task::spawn_blocking(move || {
        let s = server.wait(Duration::from_secs(60));
        (s, server)
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let (exit, server) = status;
    assert!(exit.success(), "graceful exit: {exit}\n{}", server.log());
    drop(server);

    let mut answered = Vec::new();
    for w in workers {
        answered.extend(w.await.unwrap());
    }
    let mut created = 0;
    let mut spanning = 0;
    for (t0, t1, status, body) in &answered {
        assert_eq!(*status, 201, "{body}");
        created += body["ports"].as_array().unwrap().len();
        if *t0 < signalled && *t1 > signalled {
            spanning += 1;
        }
    }
    assert!(created > 0);
    assert!(
        spanning > 0,
        "some request was in flight at SIGTERM and was answered"
    );

    // After a restart exactly the acknowledged ports exist, each with one unique address.
    let server = Server::start(dir.path(), &env);
    let http = Http::new(&server.url);
    let (_, ports) = http.get("/v2.0/ports").await;
    let ports = ports["ports"].as_array().unwrap().clone();
    assert_eq!(ports.len(), created);
    let mut seen = HashSet::new();
    for p in &ports {
        let ips = ips_of(p);
        assert_eq!(ips.len(), 1, "{p}");
        assert!(seen.insert(ips[0].clone()), "{} twice", ips[0]);
        assert_eq!(p["security_groups"].as_array().unwrap().len(), 1);
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgres_hand_out_each_address_once() {
    let Some(pg) = PgDb::create().await else {
        return;
    };
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let env = [("NEUTRINO_DATABASE_URL", pg.url.as_str())];
    let a = Server::start(dir_a.path(), &env);
    let b = Server::start(dir_b.path(), &env);
    let (ha, hb) = (Http::new(&a.url), Http::new(&b.url));
    let (_, net) = ha
        .post("/v2.0/networks", json!({"network": {"name": "shared-db"}}))
        .await;
    let net_id = net["network"]["id"].as_str().unwrap().to_string();
    let (s, _) = hb
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net_id, "cidr": "10.0.0.0/27", "ip_version": 4}}),
        )
        .await;
    assert_eq!(s, 201);

    let race = |n: usize| {
        let (ha, hb, net_id) = (ha.clone(), hb.clone(), net_id.clone());
        async move {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let h = if i % 2 == 0 { ha.clone() } else { hb.clone() };
                    let net_id = net_id.clone();
                    tokio::spawn(async move {
                        h.post("/v2.0/ports", json!({"port": {"network_id": net_id}}))
                            .await
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        }
    };

    let results = race(40).await;

    let mut addresses = Vec::new();
    let mut exhausted = 0;
    for (status, body) in &results {
        match status {
            201 => addresses.extend(ips_of(&body["port"])),
            409 => {
                assert_eq!(body["NeutronError"]["type"], "IpAddressGenerationFailure");
                exhausted += 1;
            }
            other => panic!("{other}: {body}\nA:\n{}\nB:\n{}", a.log(), b.log()),
        }
    }
    let unique: HashSet<&String> = addresses.iter().collect();
    assert_eq!(addresses.len(), 29, "{addresses:?}");
    assert_eq!(
        unique.len(),
        29,
        "an address was handed out twice: {addresses:?}"
    );
    assert_eq!(exhausted, 11);

    // Freed through one server, the addresses are handed out again through both.
    for (_, body) in results.iter().filter(|(s, _)| *s == 201) {
        let (s, _) = ha
            .delete(&format!(
                "/v2.0/ports/{}",
                body["port"]["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(s, 204);
    }
    let again = race(29).await;
    let again: HashSet<String> = again
        .iter()
        .map(|(s, body)| {
            assert_eq!(*s, 201, "{body}");
            ips_of(&body["port"])[0].clone()
        })
        .collect();
    assert_eq!(again.len(), 29);
    a.stop();
    b.stop();
    drop(pg);
}
