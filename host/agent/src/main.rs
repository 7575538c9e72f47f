//! `neutrino-agent --config FILE`: runs the configured agent roles until SIGINT/SIGTERM.

use anyhow::Context;
use clap::Parser;
use neutrino_agent::{AgentConfig, Agents};

/// Neutrino's agents (Linux bridge, Open vSwitch, DHCP).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// TOML file with `roles`, `host`, `state_path`, `transport_url`, `interface_driver`, `[ovs]`.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NEUTRINO_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config: AgentConfig = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
        }
        None => AgentConfig::default(),
    };
    if let Ok(v) = std::env::var(neutrino_bus::TRANSPORT_URL_ENV) {
        config.transport_url = v;
    }
    let bus = neutrino_bus::Bus::connect(&config.transport_url)
        .await
        .context("opening the message bus (transport_url)")?;
    let agents = Agents::start(bus.clone(), &config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    agents.stop().await;
    bus.close().await;
    Ok(())
}
