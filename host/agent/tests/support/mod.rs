//! What the data-plane tests share: running commands, a VM's DHCP client, waiting for a
//! port's status.

use std::process::Command;
use std::time::Duration;

use neutrino_tests::Client;

/// Run a command; its output.
pub fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("command runs")
}

/// Run a command that must succeed.
pub fn ok(args: &[&str]) {
    let o = sh(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Write the VMs' udhcpc script into `dir`: it sets the address it was given on the
/// interface and prints `BOUND <address>` (what [`dhcp`] reads). Its path.
#[allow(dead_code)] // not every test file boots VMs this way
pub fn udhcpc_script(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("udhcpc.sh");
    std::fs::write(
        &p,
        "#!/bin/sh\n[ \"$1\" = bound ] || [ \"$1\" = renew ] || exit 0\n\
         ip addr flush dev \"$interface\"\nip addr add \"$ip/$subnet\" dev \"$interface\"\n\
         echo \"BOUND $ip\"\n",
    )
    .unwrap();
    ok(&["chmod", "+x", p.to_str().unwrap()]);
    p
}

/// Run udhcpc in the VM until it binds; the address it got.
pub fn dhcp(vm: &str, script: &std::path::Path) -> Option<String> {
    for _ in 0..20 {
        let o = sh(&[
            "ip",
            "netns",
            "exec",
            vm,
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-f",
            "-t",
            "3",
            "-T",
            "1",
            "-s",
            script.to_str().unwrap(),
        ]);
        let out = String::from_utf8_lossy(&o.stdout);
        if let Some(line) = out.lines().find_map(|l| l.strip_prefix("BOUND ")) {
            return Some(line.trim().to_string());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    None
}

/// Wait (up to 30 s) until a port has `want` as its status.
pub async fn wait_status(c: &Client, port: &str, want: &str) {
    for _ in 0..150 {
        let r = c.get(&format!("/v2.0/ports/{port}")).await;
        if r.get("port")["status"] == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("port {port} never became {want}");
}

/// Whether `vm` reaches `ip` within about 20 s (up to 15 pings, 1 s each, 300 ms apart).
#[allow(dead_code)] // the two-host tests use it, `dataplane.rs` pings its own way
pub fn pings(vm: &str, ip: &str) -> bool {
    (0..15).any(|_| {
        let ok = sh(&["ip", "netns", "exec", vm, "ping", "-c", "1", "-W", "1", ip])
            .status
            .success();
        if !ok {
            std::thread::sleep(Duration::from_millis(300));
        }
        ok
    })
}
