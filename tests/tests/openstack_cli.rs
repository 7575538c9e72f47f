//! The real OpenStack clients against a test server: the `openstack` CLI (python-
//! openstackclient) with the commands the README shows, and an openstacksdk script. Skipped,
//! with a message, when no `openstack` executable is found: `NEUTRINO_OPENSTACK_CLI`, then
//! `.venv/bin/openstack` at the workspace root (what `.ci/run` installs), then `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

use neutrino_tests::TestServer;
use serde_json::Value;

fn find_cli() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("NEUTRINO_OPENSTACK_CLI") {
        return Some(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/openstack");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("openstack"))
            .find(|p| p.is_file())
    })
}

/// Runs `openstack …` against one server, with noauth settings in the environment.
struct Cli {
    exe: PathBuf,
    endpoint: String,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.exe);
        for (k, _) in std::env::vars() {
            if k.starts_with("OS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("OS_AUTH_TYPE", "none")
            .env("OS_ENDPOINT", &self.endpoint)
            .args(args);
        cmd
    }

    /// Run a command that must succeed; returns its stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run openstack");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "openstack {}\nstdout: {stdout}\nstderr: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Run a command with `-f json` and parse its output.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-f", "json"]);
        let text = self.run(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["Name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn fixed_ips(port: &Value) -> Vec<String> {
    port["fixed_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["ip_address"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_commands_work_with_the_openstack_cli() {
    let Some(exe) = find_cli() else {
        println!(
            "SKIPPED: no openstack CLI (set NEUTRINO_OPENSTACK_CLI, or run .ci/run to create .venv)"
        );
        return;
    };
    // `network service provider list` lists the configured providers.
    let server = TestServer::with_config(|c| {
        c.service_providers.service_provider =
            vec!["L3_ROUTER_NAT:single_node:neutrino.l3.single_node:default".into()];
    })
    .await;
    let cli = Cli {
        exe,
        endpoint: server.url.clone(),
    };
    let result = tokio::task::spawn_blocking(move || {
        // Networks.
        let net = cli.json(&["network", "create", "net1"]);
        assert_eq!(net["name"], "net1");
        assert_eq!(net["status"], "ACTIVE");
        assert_eq!(names(&cli.json(&["network", "list"])), vec!["net1"]);
        assert_eq!(cli.json(&["network", "show", "net1"])["id"], net["id"]);

        // A subnet with an allocation pool.
        let sub = cli.json(&[
            "subnet",
            "create",
            "--network",
            "net1",
            "--subnet-range",
            "10.0.0.0/24",
            "--allocation-pool",
            "start=10.0.0.10,end=10.0.0.100",
            "sub1",
        ]);
        assert_eq!(sub["cidr"], "10.0.0.0/24");
        assert_eq!(sub["gateway_ip"], "10.0.0.1");
        assert_eq!(sub["allocation_pools"][0]["start"], "10.0.0.10");

        // A port with a fixed IP, listed long.
        let port = cli.json(&[
            "port",
            "create",
            "--network",
            "net1",
            "--fixed-ip",
            "subnet=sub1,ip-address=10.0.0.20",
            "port1",
        ]);
        assert_eq!(fixed_ips(&port), vec!["10.0.0.20"]);
        let long = cli.json(&["port", "list", "--long"]);
        assert_eq!(names(&long), vec!["port1"]);
        let row = &long[0];
        assert!(
            row.to_string().contains("10.0.0.20"),
            "port list --long shows the address: {row}"
        );

        // port set / unset: rename and add an address, then release the first.
        cli.run(&[
            "port",
            "set",
            "--name",
            "port1b",
            "--fixed-ip",
            "subnet=sub1",
            "port1",
        ]);
        let shown = cli.json(&["port", "show", "port1b"]);
        assert_eq!(fixed_ips(&shown).len(), 2, "{shown}");
        cli.run(&[
            "port",
            "unset",
            "--fixed-ip",
            "subnet=sub1,ip-address=10.0.0.20",
            "port1b",
        ]);
        let shown = cli.json(&["port", "show", "port1b"]);
        let left = fixed_ips(&shown);
        assert_eq!(left.len(), 1);
        assert_ne!(left[0], "10.0.0.20");

        // Tags.
        cli.run(&["network", "set", "--tag", "red", "--tag", "blue", "net1"]);
        let tags = cli.json(&["network", "show", "net1"])["tags"].clone();
        assert_eq!(tags, serde_json::json!(["blue", "red"]));
        assert_eq!(
            names(&cli.json(&["network", "list", "--tags", "red"])),
            vec!["net1"]
        );
        assert!(names(&cli.json(&["network", "list", "--tags", "green"])).is_empty());

        // A subnet pool and a subnet carved from it.
        let pool = cli.json(&[
            "subnet",
            "pool",
            "create",
            "--pool-prefix",
            "10.100.0.0/16",
            "--default-prefix-length",
            "24",
            "pool1",
        ]);
        assert_eq!(pool["prefixes"], serde_json::json!(["10.100.0.0/16"]));
        // On a network of its own: the subnets of one network come from one pool (or none).
        cli.run(&["network", "create", "net2"]);
        let carved = cli.json(&[
            "subnet",
            "create",
            "--network",
            "net2",
            "--subnet-pool",
            "pool1",
            "--prefix-length",
            "26",
            "sub2",
        ]);
        assert_eq!(carved["cidr"], "10.100.0.0/26");

        // Security groups.
        let groups = cli.json(&["security", "group", "list"]);
        assert_eq!(names(&groups), vec!["default"]);
        let rule = cli.json(&[
            "security",
            "group",
            "rule",
            "create",
            "--protocol",
            "tcp",
            "--dst-port",
            "22",
            "default",
        ]);
        assert_eq!(rule["port_range_min"], 22);

        // Port attributes of the ML2 extensions: extra DHCP options, NUMA policy, device
        // profile.
        let port2 = cli.json(&[
            "port",
            "create",
            "--network",
            "net1",
            "--extra-dhcp-option",
            "name=bootfile-name,value=pxelinux.0",
            "--numa-policy-socket",
            "--device-profile",
            "gpu-profile",
            "port2",
        ]);
        assert_eq!(
            port2["extra_dhcp_opts"],
            serde_json::json!([{"opt_name": "bootfile-name", "opt_value": "pxelinux.0", "ip_version": 4}]),
            "{port2}"
        );
        assert_eq!(port2["numa_affinity_policy"], "socket");
        assert_eq!(port2["device_profile"], "gpu-profile");
        cli.run(&[
            "port",
            "set",
            "--extra-dhcp-option",
            "name=bootfile-name,value=ipxe.efi",
            "--numa-policy-legacy",
            "port2",
        ]);
        let port2 = cli.json(&["port", "show", "port2"]);
        assert_eq!(port2["extra_dhcp_opts"][0]["opt_value"], "ipxe.efi", "{port2}");
        assert_eq!(port2["numa_affinity_policy"], "legacy");

        // Subnet pool prefixes grow, merged as Neutron merges them.
        cli.run(&["subnet", "pool", "set", "--pool-prefix", "10.101.0.0/16", "pool1"]);
        let pool = cli.json(&["subnet", "pool", "show", "pool1"]);
        assert_eq!(pool["prefixes"], serde_json::json!(["10.100.0.0/15"]), "{pool}");

        // Address groups: create, add and remove addresses.
        cli.run(&["address", "group", "create", "--address", "10.0.0.0/24", "group1"]);
        cli.run(&["address", "group", "set", "--address", "10.1.0.0/24", "group1"]);
        cli.run(&["address", "group", "unset", "--address", "10.0.0.0/24", "group1"]);
        let group = cli.json(&["address", "group", "show", "group1"]);
        assert_eq!(group["addresses"], serde_json::json!(["10.1.0.0/24"]), "{group}");
        assert_eq!(
            names(&cli.json(&["address", "group", "list"])),
            vec!["group1"]
        );

        // Default security group rules (the templates of new groups' rules).
        let template = cli.json(&[
            "default",
            "security",
            "group",
            "rule",
            "create",
            "--protocol",
            "tcp",
            "--dst-port",
            "80",
            "--for-custom-sg",
        ]);
        assert_eq!(template["used_in_non_default_sg"], true, "{template}");
        let templates = cli.json(&["default", "security", "group", "rule", "list"]);
        assert!(
            templates.to_string().contains(template["id"].as_str().unwrap()),
            "{templates}"
        );
        cli.run(&[
            "default",
            "security",
            "group",
            "rule",
            "delete",
            template["id"].as_str().unwrap(),
        ]);

        // IP availability, availability zones, service providers.
        let availability = cli.json(&["ip", "availability", "list"]);
        assert!(
            availability.to_string().contains(net["id"].as_str().unwrap()),
            "{availability}"
        );
        let shown = cli.json(&["ip", "availability", "show", "net1"]);
        assert_eq!(shown["network_name"], "net1", "{shown}");
        assert_eq!(shown["used_ips"], 2, "port1b and port2: {shown}");
        let zones = cli.json(&["availability", "zone", "list", "--network"]);
        assert_eq!(zones, serde_json::json!([]), "no agents, no zones");
        let providers = cli.json(&["network", "service", "provider", "list"]);
        assert_eq!(providers[0]["Name"], "single_node", "{providers}");

        // Network flavors and service profiles.
        let flavor = cli.json(&[
            "network",
            "flavor",
            "create",
            "--service-type",
            "L3_ROUTER_NAT",
            "flavor1",
        ]);
        assert_eq!(flavor["service_type"], "L3_ROUTER_NAT", "{flavor}");
        let profile = cli.json(&[
            "network",
            "flavor",
            "profile",
            "create",
            "--driver",
            "neutrino.l3.single_node",
        ]);
        let profile_id = profile["id"].as_str().unwrap().to_string();
        cli.run(&["network", "flavor", "add", "profile", "flavor1", &profile_id]);
        let flavor = cli.json(&["network", "flavor", "show", "flavor1"]);
        assert!(flavor.to_string().contains(&profile_id), "{flavor}");
        cli.run(&["network", "flavor", "remove", "profile", "flavor1", &profile_id]);
        cli.run(&["network", "flavor", "profile", "delete", &profile_id]);
        cli.run(&["network", "flavor", "delete", "flavor1"]);
        cli.run(&["address", "group", "delete", "group1"]);

        // Routers and floating IPs.
        let public = cli.json(&["network", "create", "--external", "public"]);
        assert_eq!(public["router:external"], true);
        cli.run(&[
            "subnet",
            "create",
            "--network",
            "public",
            "--subnet-range",
            "172.24.4.0/24",
            "public-sub",
        ]);
        let router = cli.json(&["router", "create", "router1"]);
        assert_eq!(router["status"], "ACTIVE");
        cli.run(&["router", "add", "subnet", "router1", "sub1"]);
        cli.run(&["router", "set", "--external-gateway", "public", "router1"]);
        let router = cli.json(&["router", "show", "router1"]);
        assert_eq!(
            router["external_gateway_info"]["network_id"], public["id"],
            "{router}"
        );
        let fip = cli.json(&["floating", "ip", "create", "public"]);
        let address = fip["floating_ip_address"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(address.starts_with("172.24.4."), "{fip}");
        cli.run(&["floating", "ip", "set", "--port", "port1b", &address]);
        let fip = cli.json(&["floating", "ip", "show", &address]);
        assert_eq!(fip["router_id"], router["id"], "{fip}");
        assert_eq!(fip["fixed_ip_address"], serde_json::json!(left[0]));
        cli.run(&["floating", "ip", "delete", &address]);
        cli.run(&["router", "remove", "subnet", "router1", "sub1"]);
        cli.run(&["router", "delete", "router1"]);
        cli.run(&["network", "delete", "public"]);

        // Clean up through the CLI too.
        cli.run(&["port", "delete", "port1b", "port2"]);
        cli.run(&["subnet", "delete", "sub1", "sub2"]);
        cli.run(&["subnet", "pool", "delete", "pool1"]);
        cli.run(&["network", "delete", "net1", "net2"]);
        assert!(names(&cli.json(&["network", "list"])).is_empty());
        cli
    })
    .await;
    let cli = result.expect("openstack CLI checks");

    // The SDK, when the CLI's Python has it.
    let python = cli.exe.with_file_name("python3");
    let python = if python.is_file() {
        python
    } else {
        PathBuf::from("python3")
    };
    let has_sdk = Command::new(&python)
        .args(["-c", "import openstack"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_sdk {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("sdk_check.py");
        std::fs::write(&script, SDK_SCRIPT).unwrap();
        let url = server.url.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(&python)
                .arg(&script)
                .arg(&url)
                .output()
                .expect("run python")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("sdk ok"),
            "openstacksdk script\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        println!(
            "SKIPPED: openstacksdk is not importable by {}",
            python.display()
        );
    }
    server.stop().await;
}

/// What a Python user of openstacksdk would do first.
const SDK_SCRIPT: &str = r#"
import sys
import openstack

conn = openstack.connect(auth_type="none", auth={"endpoint": sys.argv[1]})
net = conn.network.create_network(name="sdk-net")
sub = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.9.0.0/24")
port = conn.network.create_port(network_id=net.id, name="sdk-port")
assert port.fixed_ips[0]["ip_address"] == "10.9.0.2", port.fixed_ips
assert [p.name for p in conn.network.ports(network_id=net.id)] == ["sdk-port"]
assert [n.id for n in conn.network.networks(name="sdk-net")] == [net.id]
conn.network.set_tags(net, ["a", "b"])
assert sorted(conn.network.get_network(net.id).tags) == ["a", "b"]
assert [n.id for n in conn.network.networks(tags="a")] == [net.id]
extra = [conn.network.create_port(network_id=net.id) for _ in range(3)]
paged = list(conn.network.ports(network_id=net.id, limit=2, paginated=True))
assert len(paged) == 4, len(paged)
for p in [port] + extra:
    conn.network.delete_port(p)
conn.network.delete_subnet(sub)
conn.network.delete_network(net)
assert conn.network.find_network("sdk-net") is None
print("sdk ok")
"#;
