//! The Neutrino server: reads its configuration, opens the store, wires the core plugin and
//! the API together, and serves until told to stop. No logic of its own beyond wiring.

pub mod config;
pub mod malloc;
pub mod rpc;
pub mod serve;
pub mod watch;

use std::net::SocketAddr;

use anyhow::Context;
use neutrino_api::{ApiConfig, AppState};
use neutrino_ml2::Plugin;
use neutrino_ml2::store::Store;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Config, Settings};
pub use neutrino_api::keystone::Keystone as KeystoneClient;

/// A server that is listening.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The core plugin (for in-process callers such as tests and the agent RPC).
    pub plugin: Plugin,
    /// The Keystone client, with `auth = "keystone"` (its counters are read by tests).
    pub keystone: Option<std::sync::Arc<neutrino_api::keystone::Keystone>>,
    /// The agents' message bus (in-process unless `transport_url` names a broker).
    pub bus: neutrino_bus::Bus,
    rpc: Option<rpc::RpcServer>,
    agents: Option<neutrino_agent::Agents>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
    background: Vec<JoinHandle<()>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Running {
    /// Stop accepting, let in-flight requests finish, close the store.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for b in &self.background {
            b.abort();
        }
        if let Some(agents) = self.agents.take() {
            agents.stop().await;
        }
        if let Some(rpc) = self.rpc.take() {
            rpc.stop().await;
        }
        self.bus.close().await;
        self.task.await.context("server task panicked")?
    }

    /// Wait until the server stops on its own (after a signal).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let result = (&mut self.task).await.context("server task panicked")?;
        for b in &self.background {
            b.abort();
        }
        if let Some(agents) = self.agents.take() {
            agents.stop().await;
        }
        if let Some(rpc) = self.rpc.take() {
            rpc.stop().await;
        }
        self.bus.close().await;
        result
    }
}

/// Open the store, build the application and start serving on `settings.bind`.
/// The server stops on SIGINT/SIGTERM when `signals` is true, or on [`Running::shutdown`].
pub async fn start(settings: Settings, signals: bool) -> anyhow::Result<Running> {
    let store = Store::connect(&settings.database_url)
        .await
        .with_context(|| format!("opening the database {}", redact(&settings.database_url)))?;
    let runtime = neutrino_runtime::RuntimeConfig {
        cache_dir: settings.mech.cache_dir.clone(),
        ..neutrino_runtime::RuntimeConfig::default()
    };
    let plugin = Plugin::with_drivers(
        store.clone(),
        settings.core.clone(),
        settings.types.clone(),
        settings.mech.clone(),
        runtime,
        std::sync::Arc::new(neutrino_api::views::DriverRenderer),
    );
    plugin
        .start()
        .await
        .context("loading the mechanism drivers")?;
    let mut background = vec![
        neutrino_ml2::mech::journal::spawn_worker(plugin.mech().clone()),
        neutrino_ml2::mech::periodic::spawn_scheduler(plugin.mech().clone()),
    ];
    if let Some(interval) = settings.driver_sync_interval {
        background.push(watch::follow(plugin.mech().clone(), interval));
    }
    let mut watcher = None;
    if let (true, Some(dir)) = (settings.watch_drivers, settings.mech.directory.clone()) {
        let (task, w) = watch::watch_directory(plugin.mech().clone(), dir.clone())
            .with_context(|| format!("watching the drivers directory {}", dir.display()))?;
        background.push(task);
        watcher = Some(w);
    }
    let mut keystone = None;
    let auth = match &settings.keystone {
        Some(cfg) => {
            let k = std::sync::Arc::new(neutrino_api::keystone::Keystone::new(cfg.clone()));
            k.check().await?;
            tracing::info!(auth_url = %cfg.auth_url, "authenticating with Keystone");
            keystone = Some(k.clone());
            neutrino_api::auth::Auth::Keystone(k)
        }
        None => neutrino_api::auth::Auth::NoAuth,
    };
    let state = AppState {
        plugin: plugin.clone(),
        config: std::sync::Arc::new(ApiConfig {
            ..settings.api.clone()
        }),
        extra_extensions: std::sync::Arc::new(Vec::new()),
        drivers_dir: settings.mech.directory.clone(),
        policy: settings.policy.clone(),
        auth,
    };
    let bus = neutrino_bus::Bus::connect(&settings.transport_url)
        .await
        .context("opening the message bus (transport_url)")?;
    let rpc = rpc::serve(&bus, plugin.clone(), &settings.host)
        .await
        .context("serving the agents' RPC")?;
    tracing::info!(transport = ?bus, host = %settings.host, "agents' RPC served");
    let agents = match &settings.agent {
        Some(config) => Some(
            neutrino_agent::Agents::start(bus.clone(), config)
                .await
                .context("starting the [agent] roles")?,
        ),
        None => None,
    };
    let app = neutrino_api::app(state);
    let listener = TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("binding {}", settings.bind))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            if signals {
                tokio::select! {
                    _ = stop_rx => {}
                    _ = signal() => {}
                }
            } else {
                let _ = stop_rx.await;
            }
            tracing::info!("shutting down: finishing in-flight requests");
        };
        serve::serve(listener, app, shutdown)
            .await
            .context("serving HTTP")?;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    });
    tracing::info!(%addr, database = %redact(&settings.database_url), "neutrino-server listening");
    Ok(Running {
        addr,
        plugin,
        keystone,
        bus,
        rpc: Some(rpc),
        agents,
        stop: Some(stop_tx),
        task,
        background,
        _watcher: watcher,
    })
}

async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Hide a password in a database URL for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
