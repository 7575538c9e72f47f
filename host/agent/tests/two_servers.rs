//! Two servers on one PostgreSQL database and one RabbitMQ broker serve the same agents, all
//! separate from the agent process: the agent's reports, device details and device-up calls
//! are taken by either server (competing consumers on `q-plugin` and `q-reports-plugin`),
//! and a change made through either server reaches the agent (the fanouts). VMs booted
//! through both servers get their addresses by DHCP and reach each other; a port set down
//! through one server stops passing traffic and passes again when set up through the other.
//!
//! Needs root, `ip`, `dnsmasq`, `busybox`, PostgreSQL and RabbitMQ: without them it prints a
//! SKIPPED line, unless `NEUTRINO_TEST_REQUIRE_DATAPLANE` is set (CI sets it). Everything it
//! creates is removed when it ends, also on failure.

use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::Duration;

mod support;

use support::{dhcp, ok, pings, sh, wait_status};

use neutrino_tests::{Backend, Client, TestDb, TestServer, s};
use serde_json::{Value, json};

fn runnable() -> bool {
    let have = |cmd: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {cmd}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    #[allow(unsafe_code)]
    let root = unsafe { libc::geteuid() } == 0;
    let pg = std::env::var_os("NEUTRINO_TEST_REQUIRE_PG").is_some()
        || std::env::var_os("NEUTRINO_TEST_PG_URL").is_some();
    let ok = root && pg && have("ip") && have("dnsmasq") && have("busybox");
    if !ok {
        assert!(
            std::env::var_os("NEUTRINO_TEST_REQUIRE_DATAPLANE").is_none(),
            "the two-server data-plane test is required but needs root, ip, dnsmasq, busybox \
             and PostgreSQL (NEUTRINO_TEST_PG_URL or NEUTRINO_TEST_REQUIRE_PG)"
        );
        println!("SKIPPED: two servers with real agents: needs root, tools and PostgreSQL");
    }
    ok
}

/// Removes what the test made, whatever happens: the agent process, its dnsmasqs (by their
/// pid files), namespaces and links.
#[derive(Default)]
struct Cleanup {
    agent: Mutex<Option<Child>>,
    state: Mutex<Option<tempfile::TempDir>>,
    namespaces: Mutex<Vec<String>>,
    links: Mutex<Vec<String>>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut child) = self.agent.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(state) = self.state.lock().unwrap().as_ref()
            && let Ok(dirs) = std::fs::read_dir(state.path().join("dhcp"))
        {
            for d in dirs.flatten() {
                if let Ok(pid) = std::fs::read_to_string(d.path().join("pid")) {
                    let _ = Command::new("kill").arg(pid.trim()).output();
                }
            }
        }
        for n in self.namespaces.lock().unwrap().iter() {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
        for l in self.links.lock().unwrap().iter() {
            let _ = Command::new("ip").args(["link", "del", l]).output();
        }
    }
}

/// A VM: a namespace whose `eth0` has the port's MAC and whose peer is `tap<port id[..11]>`.
fn boot_vm(clean: &Cleanup, port: &Value) -> String {
    let id = s(port, "id");
    let (ns, tap) = (format!("vm-{}", &id[..8]), format!("tap{}", &id[..11]));
    clean.namespaces.lock().unwrap().push(ns.clone());
    clean.links.lock().unwrap().push(tap.clone());
    ok(&["ip", "netns", "add", &ns]);
    ok(&[
        "ip", "link", "add", &tap, "type", "veth", "peer", "name", "eth0", "netns", &ns,
    ]);
    let mac = s(port, "mac_address");
    ok(&["ip", "-n", &ns, "link", "set", "eth0", "address", mac]);
    ok(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
    ok(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
    ok(&["ip", "link", "set", &tap, "up"]);
    ns
}

/// A port as Nova creates it for a VM on `host`.
async fn vm_port(c: &Client, net: &str, host: &str) -> Value {
    c.port(
        net,
        json!({"binding:host_id": host, "device_owner": "compute:nova",
               "device_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await
}

/// Whether a ping from `vm` to `ip` fails for three seconds running (within about 20 s).
fn stops_reaching(vm: &str, ip: &str) -> bool {
    let mut failed = 0;
    for _ in 0..20 {
        let ok = sh(&["ip", "netns", "exec", vm, "ping", "-c", "1", "-W", "1", ip])
            .status
            .success();
        failed = if ok { 0 } else { failed + 1 };
        if failed == 3 {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgresql_and_one_broker_serve_the_same_agent_process() {
    if !runnable() {
        return;
    }
    let Some(vhost) = neutrino_tests::rabbit::vhost("two servers with real agents") else {
        return;
    };
    let clean = Cleanup::default();
    let state_path = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        *clean.state.lock().unwrap() = Some(dir);
        path
    };
    let script = support::udhcpc_script(&state_path);

    let db = TestDb::new(Backend::Postgres).await;
    let db_url = db.url.clone();
    let url = vhost.url.clone();
    let one = TestServer::on_db(db, |c| c.transport_url = url.clone()).await;
    let url = vhost.url.clone();
    let two = TestServer::on_db(TestDb::existing(&db_url), |c| c.transport_url = url.clone()).await;

    let host = format!("ts-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let config = state_path.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "roles = [\"linuxbridge\", \"dhcp\"]\nhost = \"{host}\"\nstate_path = \"{}\"\n\
             transport_url = \"{}\"\n",
            state_path.display(),
            vhost.url
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_neutrino-agent"))
        .args(["--config", config.to_str().unwrap()])
        .env_remove("NEUTRINO_TRANSPORT_URL")
        .spawn()
        .expect("neutrino-agent starts");
    *clean.agent.lock().unwrap() = Some(child);

    // Both servers list the agent process's two agents, alive.
    let (a, b) = (one.admin(), two.admin());
    for c in [&a, &b] {
        let mut alive = 0;
        for _ in 0..100 {
            let agents = c.get(&format!("/v2.0/agents?host={host}")).await;
            alive = agents
                .items("agents")
                .iter()
                .filter(|x| x["alive"] == true)
                .count();
            if alive == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(alive, 2, "both servers see the agents alive");
    }

    let net = a.network("shared-servers").await;
    let net_id = s(&net, "id").to_string();
    clean
        .links
        .lock()
        .unwrap()
        .push(format!("brq{}", &net_id[..11]));
    clean
        .namespaces
        .lock()
        .unwrap()
        .push(format!("qdhcp-{net_id}"));
    b.subnet(&net_id, "10.234.0.0/24").await;

    // Four VMs, their ports created alternately through each server.
    let mut ports = Vec::new();
    for i in 0..4 {
        let c = if i % 2 == 0 { &a } else { &b };
        ports.push(vm_port(c, &net_id, &host).await);
    }
    let vms: Vec<String> = ports.iter().map(|p| boot_vm(&clean, p)).collect();
    for (i, p) in ports.iter().enumerate() {
        // Read through the server that did not create it.
        let c = if i % 2 == 0 { &b } else { &a };
        wait_status(c, s(p, "id"), "ACTIVE").await;
    }

    let (script2, vms2) = (script.clone(), vms.clone());
    let got: Vec<Option<String>> =
        tokio::task::spawn_blocking(move || vms2.iter().map(|vm| dhcp(vm, &script2)).collect())
            .await
            .unwrap();
    let want: Vec<Option<String>> = ports
        .iter()
        .map(|p| Some(s(&p["fixed_ips"][0], "ip_address").to_string()))
        .collect();
    assert_eq!(got, want, "every VM got exactly its Neutron address");
    let (vm0, last_ip) = (vms[0].clone(), want[3].clone().unwrap());
    let reached = tokio::task::spawn_blocking(move || pings(&vm0, &last_ip))
        .await
        .unwrap();
    assert!(
        reached,
        "a VM of one server's port reaches one of the other's"
    );

    // Down through server one (its notification reaches the agent), up through server two.
    let last = s(&ports[3], "id").to_string();
    let down = a
        .put(
            &format!("/v2.0/ports/{last}"),
            json!({"port": {"admin_state_up": false}}),
        )
        .await;
    assert_eq!(down.status, 200, "{}", down.body);
    let (vm0, last_ip) = (vms[0].clone(), want[3].clone().unwrap());
    let stopped = tokio::task::spawn_blocking(move || stops_reaching(&vm0, &last_ip))
        .await
        .unwrap();
    assert!(stopped, "a port set down stops passing traffic");
    wait_status(&b, &last, "DOWN").await;
    let up = b
        .put(
            &format!("/v2.0/ports/{last}"),
            json!({"port": {"admin_state_up": true}}),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    let (vm0, last_ip) = (vms[0].clone(), want[3].clone().unwrap());
    let again = tokio::task::spawn_blocking(move || pings(&vm0, &last_ip))
        .await
        .unwrap();
    assert!(
        again,
        "set up again through the other server, it passes traffic"
    );
    wait_status(&a, &last, "ACTIVE").await;

    two.stop().await;
    one.stop().await;
    drop(clean);
    drop(vhost);
}
