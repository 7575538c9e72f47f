//! Running the host's network tools (`ip`, `dnsmasq`): one place that spawns them, logs
//! them and turns a failure into an error that shows the command and its stderr.

use tokio::process::Command;

/// A command that failed.
#[derive(Debug, thiserror::Error)]
#[error("`{command}` failed: {stderr}")]
pub struct CommandError {
    /// The command line.
    pub command: String,
    /// What it printed on stderr (or why it could not start).
    pub stderr: String,
}

/// Run a program; its stdout on success.
pub async fn run(program: &str, args: &[&str]) -> Result<String, CommandError> {
    run_with_env(program, args, &[]).await
}

/// Run a program with extra environment variables; its stdout on success.
pub async fn run_with_env(
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<String, CommandError> {
    let command = format!("{program} {}", args.join(" "));
    tracing::debug!(%command, "running");
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await
        .map_err(|e| CommandError {
            command: command.clone(),
            stderr: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(CommandError {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// `ip ARGS…`.
pub async fn ip(args: &[&str]) -> Result<String, CommandError> {
    run("ip", args).await
}

/// `ip netns exec NS ip ARGS…`.
pub async fn ip_in(ns: &str, args: &[&str]) -> Result<String, CommandError> {
    let mut all = vec!["netns", "exec", ns, "ip"];
    all.extend_from_slice(args);
    run("ip", &all).await
}

/// Whether a network device exists in this namespace.
pub fn device_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// Devices of this namespace whose names start with `prefix`.
pub fn devices_with_prefix(prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Whether a network namespace exists.
pub fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// Device names: `tap` + the first 11 characters of a port id (Nova's and Neutron's).
pub fn tap_name(port_id: &str) -> String {
    format!("tap{}", &port_id[..port_id.len().min(11)])
}

/// The Linux bridge of a network: `brq` + the first 11 characters of its id.
pub fn bridge_name(network_id: &str) -> String {
    format!("brq{}", &network_id[..network_id.len().min(11)])
}

/// The device that holds `address` (`ip -o addr show`), e.g. a tunnel's `local_ip`.
pub async fn device_with_address(address: &str) -> Result<String, CommandError> {
    let out = ip(&["-o", "addr", "show"]).await?;
    out.lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let dev = f.nth(1)?;
            let addr = f.nth(1)?;
            (addr.split('/').next() == Some(address)).then(|| dev.trim_end_matches(':').to_string())
        })
        .ok_or_else(|| CommandError {
            command: "ip -o addr show".into(),
            stderr: format!("no device has the address {address}"),
        })
}
