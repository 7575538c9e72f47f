//! The Linux bridge L2 agent (Neutron's `neutron-linuxbridge-agent`): it watches this host's
//! `tap…` devices, asks the server for each new one's details, plugs it into its network's
//! bridge (`brq<first 11 chars of the network id>`, created on demand) and reports it up;
//! a device whose port is administratively down is unplugged and reported down, a vanished
//! device is reported down. Port updates from the server make it look at the device again.
//! The wiring is local to the host: ports of one network on this host share a bridge, and
//! ports of different networks never share one.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use neutrino_bus::neutron::{self, AgentState, AgentStateWrapper, DeviceDetails};
use neutrino_bus::{Bus, Dispatcher, Endpoint, Listener, RemoteError};
use serde_json::json;
use tokio::sync::{Mutex, Notify};

use crate::ip;

/// How often the agent looks for new and vanished devices.
const POLL: Duration = Duration::from_millis(250);
/// How often it reports its state (Neutron's `report_interval` is 30 s; agents are dead
/// after `agent_down_time`, 75 s).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    /// Device → network it is plugged into (or `None` when known but unplugged).
    wired: HashMap<String, Option<String>>,
    /// Devices to look at again (port updates).
    again: BTreeSet<String>,
}

/// A running Linux bridge agent.
pub struct LinuxBridgeAgent {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    listeners: Vec<Box<dyn Listener>>,
}

impl LinuxBridgeAgent {
    /// Start on `bus` as `host`.
    pub async fn start(bus: Bus, host: String) -> neutrino_bus::Result<LinuxBridgeAgent> {
        let state = Arc::new(Mutex::new(State::default()));
        let wake = Arc::new(Notify::new());
        let (s1, w1) = (state.clone(), wake.clone());
        let (s2, w2) = (state.clone(), wake.clone());
        let endpoint = Endpoint::new("1.4")
            .on::<neutron::PortUpdate, _, _>(move |_ctx, a| {
                let (state, wake) = (s1.clone(), w1.clone());
                async move {
                    if let Some(id) = a.port["id"].as_str() {
                        state.lock().await.again.insert(ip::tap_name(id));
                        wake.notify_one();
                    }
                    Ok::<_, RemoteError>(())
                }
            })
            .on::<neutron::PortDelete, _, _>(move |_ctx, a| {
                let (state, wake) = (s2.clone(), w2.clone());
                async move {
                    state.lock().await.again.insert(ip::tap_name(&a.port_id));
                    wake.notify_one();
                    Ok::<_, RemoteError>(())
                }
            });
        let d = Dispatcher::default().with(endpoint);
        let listeners = vec![
            bus.serve(neutron::PORT_UPDATE, &host, d.clone()).await?,
            bus.serve(neutron::PORT_DELETE, &host, d).await?,
        ];
        // The first report before anything else: ports are bound by it.
        let first = !report(&bus, &host, true).await;
        let reporter = tokio::spawn(report_loop(bus.clone(), host.clone(), first));
        let worker = tokio::spawn(work_loop(bus, host, state, wake));
        Ok(LinuxBridgeAgent {
            tasks: vec![reporter, worker],
            listeners,
        })
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

async fn report_loop(bus: Bus, host: String, mut first: bool) {
    loop {
        tokio::time::sleep(REPORT_INTERVAL).await;
        first = !report(&bus, &host, first).await && first;
    }
}

/// One state report; whether the server took it.
async fn report(bus: &Bus, host: &str, first: bool) -> bool {
    {
        let args = neutron::ReportStateArgs {
            agent_state: AgentStateWrapper {
                agent_state: AgentState {
                    binary: "neutron-linuxbridge-agent".into(),
                    host: host.to_string(),
                    topic: "N/A".into(),
                    agent_type: neutron::agent_type::LINUXBRIDGE.into(),
                    configurations: json!({
                        "interface_mappings": {},
                        "bridge_mappings": {},
                        "tunnel_types": ["vxlan"],
                        "devices": 0,
                    }),
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
}

/// The report's `time`: seconds since the epoch (the server does not read it).
pub(crate) fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

async fn work_loop(bus: Bus, host: String, state: Arc<Mutex<State>>, wake: Arc<Notify>) {
    let agent_id = format!("lb-{host}");
    loop {
        if let Err(e) = scan(&bus, &host, &agent_id, &state).await {
            tracing::warn!(error = %e, "device scan failed; retrying");
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

async fn scan(
    bus: &Bus,
    host: &str,
    agent_id: &str,
    state: &Mutex<State>,
) -> Result<(), crate::Error> {
    let present: BTreeSet<String> = ip::devices_with_prefix("tap").into_iter().collect();
    let (todo, gone) = {
        let mut st = state.lock().await;
        let mut todo: Vec<String> = present
            .iter()
            .filter(|d| !st.wired.contains_key(*d))
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
            match wire(&d).await {
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
                Err(e) => tracing::warn!(device = %d.device, error = %e, "wiring failed"),
            }
        }
    }
    if !gone.is_empty() {
        let mut st = state.lock().await;
        for d in &gone {
            st.wired.remove(d);
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

/// Plug a device into its network's bridge (`Some(network)`), or unplug it when its port is
/// administratively down or unknown (`None`).
async fn wire(d: &DeviceDetails) -> Result<Option<String>, ip::CommandError> {
    let Some(network) = &d.network_id else {
        return Ok(None);
    };
    if d.admin_state_up != Some(true) {
        ip::ip(&["link", "set", "dev", &d.device, "nomaster"]).await?;
        ip::ip(&["link", "set", "dev", &d.device, "down"]).await?;
        return Ok(None);
    }
    let bridge = ip::bridge_name(network);
    if !ip::device_exists(&bridge) {
        match ip::ip(&["link", "add", &bridge, "type", "bridge"]).await {
            Ok(_) => {}
            Err(_) if ip::device_exists(&bridge) => {}
            Err(e) => return Err(e),
        }
        ip::ip(&["link", "set", "dev", &bridge, "up"]).await?;
    }
    ip::ip(&["link", "set", "dev", &d.device, "master", &bridge]).await?;
    ip::ip(&["link", "set", "dev", &d.device, "up"]).await?;
    Ok(Some(network.clone()))
}
