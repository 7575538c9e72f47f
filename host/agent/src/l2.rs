//! What every L2 agent does, whatever it wires with: listen for port updates and deletes,
//! report its state, look for new and vanished devices, ask the server for a new device's
//! details, have its [`Wiring`] plug or unplug it, and report devices up or down
//! (`update_device_list`); a wiring that tunnels also tells the server its endpoint
//! (`tunnel_sync`, until it succeeds) and hears of the others' (`tunnel_update`,
//! `tunnel_delete`). The Linux bridge ([`crate::linuxbridge`]) and Open vSwitch
//! ([`crate::ovs`]) agents differ only in their [`Wiring`].

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use neutrino_bus::neutron::{self, AgentState, AgentStateWrapper, DeviceDetails};
use neutrino_bus::{Bus, Dispatcher, Endpoint, Listener, RemoteError};
use serde_json::Value;
use tokio::sync::{Mutex, Notify};

/// How often the agent looks for new and vanished devices (besides whenever its
/// [`Wiring::watch`] reports a change).
const POLL: Duration = Duration::from_millis(250);
/// How often it reports its state (Neutron's `report_interval` is 30 s; agents are dead
/// after `agent_down_time`, 75 s).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// How an L2 agent finds devices and connects them to their networks.
pub trait Wiring: Send + Sync + 'static {
    /// `binary` in state reports (`neutron-linuxbridge-agent`, …).
    const BINARY: &'static str;
    /// `agent_type` in state reports (the mechanism drivers bind by it).
    const AGENT_TYPE: &'static str;
    /// Prefix of the agent id in RPC calls.
    const ID_PREFIX: &'static str;

    /// The `configurations` of state reports.
    fn configurations(&self) -> Value;

    /// The device name this agent uses for a port (what it reports to the server).
    fn device_of_port(&self, port_id: &str) -> String;

    /// The devices present on this host that this agent is responsible for.
    fn present(&self) -> impl Future<Output = Result<BTreeSet<String>, crate::Error>> + Send;

    /// Plug a device into its network (`Some(network)`), or isolate it when its port is
    /// administratively down or unknown here (`None`).
    fn wire(
        &self,
        d: &DeviceDetails,
    ) -> impl Future<Output = Result<Option<String>, crate::Error>> + Send;

    /// A device this agent wired has vanished.
    fn forget(&self, device: &str) -> impl Future<Output = ()> + Send;

    /// Watch the host for device changes, waking `wake` at each (see [`crate::watch`]);
    /// without a watcher the agent only polls.
    fn watch(&self, wake: Arc<Notify>) -> Option<tokio::task::JoinHandle<()>> {
        let _ = wake;
        None
    }

    /// This host's tunnel endpoint and the tunnel types it carries, when the wiring builds
    /// tunnels to the other hosts' endpoints (`tunnel_sync`, `tunnel_update`).
    fn tunneling(&self) -> Option<(String, Vec<String>)> {
        None
    }

    /// Another host's endpoint is there: tunnel to it.
    fn tunnel_update(
        &self,
        _ip: &str,
        _tunnel_type: &str,
    ) -> impl Future<Output = Result<(), crate::Error>> + Send {
        async { Ok(()) }
    }

    /// Another host's endpoint is stale: the tunnel to it goes.
    fn tunnel_delete(
        &self,
        _ip: &str,
        _tunnel_type: &str,
    ) -> impl Future<Output = Result<(), crate::Error>> + Send {
        async { Ok(()) }
    }
}

#[derive(Default)]
struct State {
    /// Device → network it is plugged into (or `None` when known but unplugged).
    wired: HashMap<String, Option<String>>,
    /// Devices to look at again (port updates).
    again: BTreeSet<String>,
    /// Devices whose wiring failed, and when: tried again after [`RETRY_FAILED`].
    failed: HashMap<String, std::time::Instant>,
}

/// How long a device whose wiring failed waits before the next try.
const RETRY_FAILED: Duration = Duration::from_secs(5);

/// A running L2 agent.
pub struct L2Agent {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    listeners: Vec<Box<dyn Listener>>,
}

impl L2Agent {
    /// Start on `bus` as `host`, wiring with `wiring`.
    pub async fn start<W: Wiring>(
        bus: Bus,
        host: String,
        wiring: W,
    ) -> neutrino_bus::Result<L2Agent> {
        let wiring = Arc::new(wiring);
        let state = Arc::new(Mutex::new(State::default()));
        let wake = Arc::new(Notify::new());
        let (s1, w1, r1) = (state.clone(), wake.clone(), wiring.clone());
        let (s2, w2, r2) = (state.clone(), wake.clone(), wiring.clone());
        let (r3, r4) = (wiring.clone(), wiring.clone());
        let endpoint = Endpoint::new("1.4")
            .on::<neutron::PortUpdate, _, _>(move |_ctx, a| {
                let (state, wake, wiring) = (s1.clone(), w1.clone(), r1.clone());
                async move {
                    if let Some(id) = a.port["id"].as_str() {
                        state.lock().await.again.insert(wiring.device_of_port(id));
                        wake.notify_one();
                    }
                    Ok::<_, RemoteError>(())
                }
            })
            .on::<neutron::PortDelete, _, _>(move |_ctx, a| {
                let (state, wake, wiring) = (s2.clone(), w2.clone(), r2.clone());
                async move {
                    state
                        .lock()
                        .await
                        .again
                        .insert(wiring.device_of_port(&a.port_id));
                    wake.notify_one();
                    Ok::<_, RemoteError>(())
                }
            })
            .on::<neutron::TunnelUpdate, _, _>(move |_ctx, a| {
                let wiring = r3.clone();
                async move {
                    if let Err(e) = wiring.tunnel_update(&a.tunnel_ip, &a.tunnel_type).await {
                        tracing::warn!(ip = %a.tunnel_ip, error = %e, "tunnel not set up");
                    }
                    Ok::<_, RemoteError>(())
                }
            })
            .on::<neutron::TunnelDelete, _, _>(move |_ctx, a| {
                let wiring = r4.clone();
                async move {
                    if let Err(e) = wiring.tunnel_delete(&a.tunnel_ip, &a.tunnel_type).await {
                        tracing::warn!(ip = %a.tunnel_ip, error = %e, "tunnel not removed");
                    }
                    Ok::<_, RemoteError>(())
                }
            });
        let d = Dispatcher::default().with(endpoint);
        let mut listeners = vec![
            bus.serve(neutron::PORT_UPDATE, &host, d.clone()).await?,
            bus.serve(neutron::PORT_DELETE, &host, d.clone()).await?,
        ];
        if wiring.tunneling().is_some() {
            listeners.push(bus.serve(neutron::TUNNEL_UPDATE, &host, d.clone()).await?);
            listeners.push(bus.serve(neutron::TUNNEL_DELETE, &host, d).await?);
        }
        // The first report before anything else: ports are bound by it.
        let first = !report(&bus, &host, &*wiring, true).await;
        let reporter = tokio::spawn(report_loop(
            bus.clone(),
            host.clone(),
            wiring.clone(),
            first,
        ));
        let mut tasks = vec![reporter];
        tasks.extend(wiring.watch(wake.clone()));
        tasks.push(tokio::spawn(work_loop(bus, host, wiring, state, wake)));
        Ok(L2Agent { tasks, listeners })
    }

    /// Stop (devices stay as they are wired).
    pub async fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
        for l in self.listeners {
            l.stop().await;
        }
    }
}

async fn report_loop<W: Wiring>(bus: Bus, host: String, wiring: Arc<W>, mut first: bool) {
    loop {
        tokio::time::sleep(REPORT_INTERVAL).await;
        first = !report(&bus, &host, &*wiring, first).await && first;
    }
}

/// One state report; whether the server took it.
async fn report<W: Wiring>(bus: &Bus, host: &str, wiring: &W, first: bool) -> bool {
    let args = neutron::ReportStateArgs {
        agent_state: AgentStateWrapper {
            agent_state: AgentState {
                binary: W::BINARY.into(),
                host: host.to_string(),
                topic: "N/A".into(),
                agent_type: W::AGENT_TYPE.into(),
                configurations: wiring.configurations(),
                start_flag: first.then_some(true),
                availability_zone: None,
            },
        },
        time: now(),
    };
    match bus
        .client(neutron::REPORTS)
        .with_timeout(Duration::from_secs(10))
        .call::<neutron::ReportState>(&args)
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, "state report failed");
            false
        }
    }
}

/// The report's `time`: seconds since the epoch (the server does not read it).
pub(crate) fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

async fn work_loop<W: Wiring>(
    bus: Bus,
    host: String,
    wiring: Arc<W>,
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
) {
    let agent_id = format!("{}-{host}", W::ID_PREFIX);
    let mut synced = wiring.tunneling().is_none();
    loop {
        if !synced {
            match tunnel_sync(&bus, &host, &*wiring).await {
                Ok(()) => synced = true,
                Err(e) => tracing::warn!(error = %e, "tunnel_sync failed; retrying"),
            }
        }
        if let Err(e) = scan(&bus, &host, &agent_id, &*wiring, &state).await {
            tracing::warn!(error = %e, "device scan failed; retrying");
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Tell the server this host's tunnel endpoint (`tunnel_sync`, per type) and tunnel to
/// every endpoint it answers.
async fn tunnel_sync<W: Wiring>(bus: &Bus, host: &str, wiring: &W) -> Result<(), crate::Error> {
    let Some((ip, types)) = wiring.tunneling() else {
        return Ok(());
    };
    let plugin = bus
        .client(neutron::PLUGIN)
        .with_timeout(Duration::from_secs(30));
    for tunnel_type in types {
        let reply = plugin
            .call::<neutron::TunnelSync>(&neutron::TunnelSyncArgs {
                tunnel_ip: ip.clone(),
                tunnel_type: tunnel_type.clone(),
                host: Some(host.to_string()),
            })
            .await?;
        for t in reply.tunnels {
            wiring.tunnel_update(&t.ip_address, &tunnel_type).await?;
        }
    }
    Ok(())
}

async fn scan<W: Wiring>(
    bus: &Bus,
    host: &str,
    agent_id: &str,
    wiring: &W,
    state: &Mutex<State>,
) -> Result<(), crate::Error> {
    let present = wiring.present().await?;
    let (todo, gone) = {
        let mut st = state.lock().await;
        st.failed.retain(|_, at| at.elapsed() < RETRY_FAILED);
        let mut todo: Vec<String> = present
            .iter()
            .filter(|d| !st.wired.contains_key(*d) && !st.failed.contains_key(*d))
            .cloned()
            .collect();
        let again: Vec<String> = std::mem::take(&mut st.again).into_iter().collect();
        for d in again {
            if present.contains(&d) && !todo.contains(&d) {
                todo.push(d);
            }
        }
        let gone: Vec<String> = st
            .wired
            .keys()
            .filter(|d| !present.contains(*d))
            .cloned()
            .collect();
        (todo, gone)
    };
    let plugin = bus
        .client(neutron::PLUGIN)
        .with_timeout(Duration::from_secs(30));
    let mut up = Vec::new();
    let mut down = Vec::new();
    if !todo.is_empty() {
        let details = plugin
            .call::<neutron::GetDevicesDetailsListAndFailedDevices>(&neutron::DevicesArgs {
                devices: todo.clone(),
                agent_id: agent_id.to_string(),
                host: host.to_string(),
            })
            .await?;
        let mut st = state.lock().await;
        for d in details.devices {
            match wiring.wire(&d).await {
                Ok(Some(network)) => {
                    st.wired.insert(d.device.clone(), Some(network));
                    up.push(d.device.clone());
                }
                Ok(None) => {
                    // Unknown or bound elsewhere (looked at again when a port update names
                    // it), or administratively down (reported down).
                    st.wired.insert(d.device.clone(), None);
                    if d.network_id.is_some() {
                        down.push(d.device.clone());
                    }
                }
                Err(e) => {
                    tracing::warn!(device = %d.device, error = %e, "wiring failed; trying again in 5 s");
                    st.failed
                        .insert(d.device.clone(), std::time::Instant::now());
                }
            }
        }
    }
    if !gone.is_empty() {
        let mut st = state.lock().await;
        for d in &gone {
            st.wired.remove(d);
            wiring.forget(d).await;
        }
        down.extend(gone);
    }
    if !up.is_empty() || !down.is_empty() {
        tracing::info!(?up, ?down, "devices changed");
        plugin
            .call::<neutron::UpdateDeviceList>(&neutron::DeviceListArgs {
                devices_up: up,
                devices_down: down,
                agent_id: agent_id.to_string(),
                host: host.to_string(),
                refresh_tunnels: false,
            })
            .await?;
    }
    Ok(())
}
