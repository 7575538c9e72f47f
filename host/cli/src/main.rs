//! `neutrino`: the operator's command line. It manages mechanism drivers through the
//! server's admin API (`/v2.0/mechanism-drivers`): list, show, load or upgrade, roll back,
//! enable, disable, remove, history, state, journal; and it plays Nova's part of the boot flow for demos and
//! tests (`neutrino vm`, [`vm`]).

mod client;
mod output;
mod vm;

use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use client::Api;

/// Operate a Neutrino server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Server URL.
    #[arg(long, env = "NEUTRINO_URL", default_value = "http://127.0.0.1:9696")]
    url: String,
    /// Project to act for (sent as X-Project-Id).
    #[arg(long, env = "NEUTRINO_PROJECT", default_value = "admin")]
    project: String,
    /// Roles (sent as X-Roles).
    #[arg(long, env = "NEUTRINO_ROLES", default_value = "admin")]
    roles: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Mechanism drivers.
    #[command(subcommand)]
    Driver(DriverCommand),
    /// Demo VMs (network namespaces) booted as Nova boots them (root).
    #[command(subcommand)]
    Vm(VmCommand),
}

#[derive(Subcommand, Debug)]
enum VmCommand {
    /// Create a port as Nova does, a namespace as the VM with its tap device, wait until the
    /// port is ACTIVE, and get the VM's address by DHCP.
    Boot {
        /// Network (name or id).
        #[arg(long)]
        network: String,
        /// Host (`binding:host_id`; default: this machine's host name, as the agents').
        #[arg(long)]
        host: Option<String>,
        /// The VM's name (1-11 letters, digits or '-').
        name: String,
    },
    /// Run a command inside a VM: `neutrino vm exec vm1 -- ping -c 1 10.0.0.3`.
    Exec {
        /// The VM.
        name: String,
        /// The command and its arguments.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// The VMs booted here.
    List,
    /// Delete a VM: its namespace, device and port.
    Delete {
        /// The VM.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum DriverCommand {
    /// List the loaded drivers with their version and counters.
    List,
    /// Show one driver.
    Show {
        /// Driver name.
        name: String,
    },
    /// Load a driver, or upgrade it, from a local .wasm file (a `driver.toml` or `<file>.toml`
    /// beside it is sent too).
    Load {
        /// Driver name.
        name: String,
        /// The .wasm file (omit with --server-path or to change only settings).
        file: Option<PathBuf>,
        /// A .wasm file name in the server's drivers directory instead of an upload.
        #[arg(long)]
        server_path: Option<String>,
        /// Operator settings as a TOML file (config, grants, http.allow, limits, failure_policy).
        #[arg(long)]
        settings: Option<PathBuf>,
        /// Call order.
        #[arg(long)]
        position: Option<i64>,
    },
    /// Go back to the previous version.
    Rollback {
        /// Driver name.
        name: String,
    },
    /// Stop calling a driver (it stays loaded).
    Disable {
        /// Driver name.
        name: String,
    },
    /// Call a disabled driver again.
    Enable {
        /// Driver name.
        name: String,
    },
    /// Remove a driver (its versions and history stay on record).
    Remove {
        /// Driver name.
        name: String,
    },
    /// Versions and actions of a driver.
    History {
        /// Driver name.
        name: String,
    },
    /// A journaled driver's postcommit journal: pending, failed and delivered counts, the age
    /// of the oldest pending entry, and the entries; or retry or drop one entry.
    Journal {
        /// Driver name.
        name: String,
        /// Only entries in this state (`pending` or `failed`).
        #[arg(long, conflicts_with_all = ["retry", "drop"])]
        state: Option<String>,
        /// Deliver entry ID again now (a failed entry becomes pending).
        #[arg(long, value_name = "ID", conflicts_with = "drop")]
        retry: Option<i64>,
        /// Drop entry ID without delivering it.
        #[arg(long, value_name = "ID")]
        drop: Option<i64>,
    },
    /// What a driver keeps in its state (`--prefix` narrows it), or delete one key.
    State {
        /// Driver name.
        name: String,
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Delete this key instead of listing (recorded in the driver's history).
        #[arg(long, conflicts_with = "prefix")]
        delete: Option<String>,
    },
}

/// `s` percent-encoded for a URL path or query, keeping `/` when `keep_slash`.
fn encode(s: &str, keep_slash: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b'/' if keep_slash => "/".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn manifest_beside(file: &std::path::Path) -> Option<String> {
    let own = file.with_extension("toml");
    let shared = file.parent().map(|d| d.join("driver.toml"));
    std::fs::read_to_string(&own)
        .ok()
        .or_else(|| shared.and_then(|p| std::fs::read_to_string(p).ok()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli).await {
        eprintln!("neutrino: {e:#}");
        std::process::exit(1);
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let api = Api::new(&cli.url, &cli.project, &cli.roles)?;
    let json_out = cli.json;
    let cmd = match cli.command {
        Command::Driver(cmd) => cmd,
        Command::Vm(VmCommand::Boot {
            network,
            host,
            name,
        }) => return vm::boot(&api, &network, host, &name).await,
        Command::Vm(VmCommand::Exec { name, command }) => {
            let code = vm::exec(&name, &command)?;
            std::process::exit(code);
        }
        Command::Vm(VmCommand::List) => return vm::list(json_out),
        Command::Vm(VmCommand::Delete { name }) => return vm::delete(&api, &name).await,
    };
    let base = "/v2.0/mechanism-drivers";
    match cmd {
        DriverCommand::List => {
            let v = api.get(base).await?;
            output::drivers(&v["mechanism_drivers"], json_out);
        }
        DriverCommand::Show { name } => {
            let v = api.get(&format!("{base}/{name}")).await?;
            output::driver(&v["mechanism_driver"], json_out);
        }
        DriverCommand::Load {
            name,
            file,
            server_path,
            settings,
            position,
        } => {
            let mut body = serde_json::Map::new();
            if let Some(f) = &file {
                let wasm = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
                body.insert(
                    "wasm".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(wasm)),
                );
                if let Some(m) = manifest_beside(f) {
                    body.insert("manifest".into(), json!(m));
                }
            }
            if let Some(p) = server_path {
                body.insert("path".into(), json!(p));
            }
            if let Some(s) = &settings {
                let text = std::fs::read_to_string(s)
                    .with_context(|| format!("reading {}", s.display()))?;
                let parsed: toml::Table = text
                    .parse()
                    .with_context(|| format!("{} is not TOML", s.display()))?;
                body.insert("settings".into(), serde_json::to_value(parsed)?);
            }
            if let Some(p) = position {
                body.insert("position".into(), json!(p));
            }
            if body.is_empty() {
                bail!("give a .wasm file, --server-path or --settings");
            }
            let v = api
                .put_json(
                    &format!("{base}/{name}"),
                    &json!({ "mechanism_driver": Value::Object(body) }),
                )
                .await?;
            output::driver(&v["mechanism_driver"], json_out);
        }
        DriverCommand::Rollback { name } => {
            let v = api
                .put_json(&format!("{base}/{name}/rollback"), &json!({}))
                .await?;
            output::driver(&v["mechanism_driver"], json_out);
        }
        DriverCommand::Disable { name } => {
            let v = api
                .put_json(
                    &format!("{base}/{name}"),
                    &json!({"mechanism_driver": {"enabled": false}}),
                )
                .await?;
            output::driver(&v["mechanism_driver"], json_out);
        }
        DriverCommand::Enable { name } => {
            let v = api
                .put_json(
                    &format!("{base}/{name}"),
                    &json!({"mechanism_driver": {"enabled": true}}),
                )
                .await?;
            output::driver(&v["mechanism_driver"], json_out);
        }
        DriverCommand::Remove { name } => {
            api.delete(&format!("{base}/{name}")).await?;
            if !json_out {
                output::emit(&format!("removed {name}"));
            }
        }
        DriverCommand::State {
            name,
            prefix,
            delete,
        } => match delete {
            Some(key) => {
                api.delete(&format!("{base}/{name}/state/{}", encode(&key, true)))
                    .await?;
                if !json_out {
                    output::emit(&format!("deleted state key {key} of {name}"));
                }
            }
            None => {
                let v = api
                    .get(&format!(
                        "{base}/{name}/state?prefix={}",
                        encode(&prefix, false)
                    ))
                    .await?;
                output::state(&v["state"], json_out);
            }
        },
        DriverCommand::History { name } => {
            let v = api.get(&format!("{base}/{name}/history")).await?;
            output::history(&v["history"], json_out);
        }
        DriverCommand::Journal {
            name,
            state,
            retry,
            drop,
        } => {
            if let Some(id) = retry {
                api.post_json(&format!("{base}/{name}/journal/{id}/retry"), &json!({}))
                    .await?;
                if !json_out {
                    output::emit(&format!("entry {id} of {name} will be delivered again"));
                }
            } else if let Some(id) = drop {
                api.delete(&format!("{base}/{name}/journal/{id}")).await?;
                if !json_out {
                    output::emit(&format!("entry {id} of {name} dropped"));
                }
            } else {
                let path = match state {
                    Some(s) => format!("{base}/{name}/journal?state={s}"),
                    None => format!("{base}/{name}/journal"),
                };
                let v = api.get(&path).await?;
                output::journal(&v["journal"], json_out);
            }
        }
    }
    Ok(())
}
