//! `neutrino-server`: the Neutron v2.0 API on port 9696.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use neutrino_server::Config;

/// mimalloc: the server allocates many small, short-lived buffers per request (rows, JSON).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Neutrino: OpenStack Networking with WebAssembly drivers.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML). Environment variables NEUTRINO_* override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

/// Stack of each runtime thread. A request's future nests the API handler, the plugin and
/// the store (a router's gateway creates a port, which reserves quota, allocates addresses
/// and sets up provisioning blocks); a debug build's frames for that overflowed tokio's
/// default 2 MiB.
const THREAD_STACK: usize = 16 * 1024 * 1024;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK)
        .build()?
        .block_on(serve())
}

async fn serve() -> anyhow::Result<()> {
    neutrino_server::malloc::tune();
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NEUTRINO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let args = Args::parse();
    let config = Config::load(args.config.as_deref(), &|k| std::env::var(k).ok())?;
    let settings = config.settings().context("invalid configuration")?;
    let running = neutrino_server::start(settings, true).await?;
    running.wait().await
}
