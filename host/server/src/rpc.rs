//! The server's RPC layer (the third server module, beside REST and the plugin): serves the
//! agents' calls on `q-plugin` (`tunnel_sync` included) and their state reports on
//! `q-reports-plugin`, and tells them what changed: `tunnel_update`/`tunnel_delete`,
//! `port_update`/`port_delete`/`network_update`/`network_delete` fanouts to L2
//! agents, and the `*_end` notifications to the DHCP agents scheduled to the network
//! (`dhcp_agent.<host>`; [`neutrino_ml2::dhcp_scheduler`]). It also moves networks off DHCP
//! agents that stopped reporting (`allow_automatic_dhcp_failover`).

use neutrino_bus::neutron::{self, DeviceDetails, FixedIp};
use neutrino_bus::{Bus, Dispatcher, Endpoint, Listener, RemoteError};
use neutrino_ml2::Plugin;
use neutrino_ml2::agents::AgentReport;
use neutrino_ml2::events::Event;
use neutrino_ml2::store::model::{Port, Subnet};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The running RPC layer.
pub struct RpcServer {
    listeners: Vec<Box<dyn Listener>>,
    notifier: JoinHandle<()>,
    failover: JoinHandle<()>,
}

impl RpcServer {
    /// Stop serving and notifying.
    pub async fn stop(self) {
        self.notifier.abort();
        self.failover.abort();
        for l in self.listeners {
            l.stop().await;
        }
    }
}

fn failed(e: neutrino_ml2::Error) -> RemoteError {
    let kind = match &e {
        neutrino_ml2::Error::Neutron { kind, .. } => kind.to_string(),
        neutrino_ml2::Error::Store(_) => "DBError".to_string(),
    };
    RemoteError::handler(&kind, e.to_string())
}

/// Serve the agents on `bus` as server `host`.
pub async fn serve(bus: &Bus, plugin: Plugin, host: &str) -> neutrino_bus::Result<RpcServer> {
    let reports = bus
        .serve(neutron::REPORTS, host, reports(plugin.clone()))
        .await?;
    let calls = bus
        .serve(neutron::PLUGIN, host, calls(plugin.clone(), bus.clone()))
        .await?;
    let failover = tokio::spawn(plugin.clone().dhcp_failover_loop());
    let notifier = tokio::spawn(notify(bus.clone(), plugin));
    Ok(RpcServer {
        listeners: vec![reports, calls],
        notifier,
        failover,
    })
}

/// `report_state` (AgentExtRpcCallback, 1.4).
fn reports(plugin: Plugin) -> Dispatcher {
    Dispatcher::default().with(Endpoint::new("1.4").on::<neutron::ReportState, _, _>(
        move |_ctx, args| {
            let plugin = plugin.clone();
            async move {
                let s = args.agent_state.agent_state;
                let report = AgentReport {
                    agent_type: s.agent_type,
                    binary: s.binary,
                    topic: s.topic,
                    host: s.host,
                    configurations: s.configurations,
                    availability_zone: s.availability_zone,
                    start_flag: s.start_flag.unwrap_or(false),
                };
                let outcome = plugin.report_agent_state(report).await.map_err(failed)?;
                Ok(outcome.to_string())
            }
        },
    ))
}

fn details(device: &str, info: Option<neutrino_ml2::agent_rpc::DeviceInfo>) -> DeviceDetails {
    let Some(info) = info else {
        return DeviceDetails {
            device: device.to_string(),
            ..Default::default()
        };
    };
    let p = &info.port;
    DeviceDetails {
        device: device.to_string(),
        port_id: Some(p.id.clone()),
        network_id: Some(p.network_id.clone()),
        mac_address: Some(p.mac_address.clone()),
        admin_state_up: Some(p.admin_state_up),
        network_type: info.segment.as_ref().map(|s| s.network_type.clone()),
        segmentation_id: info.segment.as_ref().and_then(|s| s.segmentation_id),
        physical_network: info
            .segment
            .as_ref()
            .and_then(|s| s.physical_network.clone()),
        mtu: Some(info.network.mtu),
        fixed_ips: p
            .fixed_ips
            .iter()
            .map(|f| FixedIp {
                subnet_id: f.subnet_id.clone(),
                ip_address: f.ip_address.clone(),
            })
            .collect(),
        device_owner: Some(p.device_owner.clone()),
    }
}

/// `q-plugin`: the L2 agents' calls (RpcCallbacks, 1.9) and the DHCP agents' (1.10).
fn calls(plugin: Plugin, bus: Bus) -> Dispatcher {
    let (p1, p2) = (plugin.clone(), plugin.clone());
    let l2 = Endpoint::new("1.9")
        .on::<neutron::GetDevicesDetailsListAndFailedDevices, _, _>(move |_ctx, args| {
            let plugin = p1.clone();
            async move {
                let mut out = neutron::DevicesDetails::default();
                for d in &args.devices {
                    match plugin.device_details(d, &args.host).await {
                        Ok(info) => out.devices.push(details(d, info)),
                        Err(e) => {
                            tracing::warn!(device = %d, error = %e, "device details failed");
                            out.failed_devices.push(d.clone());
                        }
                    }
                }
                Ok(out)
            }
        })
        .on::<neutron::UpdateDeviceList, _, _>(move |_ctx, args| {
            let plugin = p2.clone();
            async move {
                let mut out = neutron::DeviceListResult::default();
                for (devices, up) in [(&args.devices_up, true), (&args.devices_down, false)] {
                    for d in devices {
                        let ok = match plugin.update_device(d, &args.host, up).await {
                            Ok(known) => known || !up,
                            Err(e) => {
                                tracing::warn!(device = %d, error = %e, "device status failed");
                                false
                            }
                        };
                        match (up, ok) {
                            (true, true) => out.devices_up.push(d.clone()),
                            (true, false) => out.failed_devices_up.push(d.clone()),
                            (false, true) => out.devices_down.push(d.clone()),
                            (false, false) => out.failed_devices_down.push(d.clone()),
                        }
                    }
                }
                Ok(out)
            }
        });
    let l2 = l2.on::<neutron::TunnelSync, _, _>({
        let (plugin, bus) = (plugin.clone(), bus.clone());
        move |_ctx, args| {
            let (plugin, bus) = (plugin.clone(), bus.clone());
            async move { tunnel_sync(&plugin, &bus, args).await }
        }
    });
    let (p3, p4, p5, p6, p7) = (
        plugin.clone(),
        plugin.clone(),
        plugin.clone(),
        plugin.clone(),
        plugin.clone(),
    );
    let dhcp = Endpoint::new("1.10")
        .on::<neutron::GetActiveNetworksInfo, _, _>(move |_ctx, args| {
            let plugin = p3.clone();
            async move {
                // The networks scheduled to this host's DHCP agent (unserved ones are
                // scheduled first: `network_auto_schedule`).
                let ids = plugin
                    .dhcp_network_ids_for_host(&args.host)
                    .await
                    .map_err(failed)?;
                let mut nets = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(n) = plugin.dhcp_network(&id).await.map_err(failed)? {
                        nets.push(dhcp_network(&n));
                    }
                }
                Ok(nets)
            }
        })
        .on::<neutron::GetNetworkInfo, _, _>(move |_ctx, args| {
            let plugin = p4.clone();
            async move {
                let n = plugin
                    .dhcp_network(&args.network_id)
                    .await
                    .map_err(failed)?;
                Ok(n.as_ref().map(dhcp_network))
            }
        })
        .on::<neutron::CreateDhcpPort, _, _>(move |_ctx, args| {
            let plugin = p5.clone();
            async move {
                let port = args.port.get("port").unwrap_or(&args.port);
                let network_id = port["network_id"].as_str().unwrap_or_default();
                let device_id = port["device_id"].as_str().unwrap_or_default();
                if network_id.is_empty() || device_id.is_empty() {
                    return Err(RemoteError::handler(
                        "InvalidInput",
                        "create_dhcp_port needs network_id and device_id",
                    ));
                }
                let p = plugin
                    .ensure_dhcp_port(network_id, device_id, &args.host)
                    .await
                    .map_err(failed)?;
                Ok(p.as_ref().map(port_dict))
            }
        })
        .on::<neutron::ReleaseDhcpPort, _, _>(move |_ctx, args| {
            let plugin = p6.clone();
            async move {
                plugin
                    .release_dhcp_port(&args.network_id, &args.device_id)
                    .await
                    .map_err(failed)
            }
        })
        .on::<neutron::DhcpReadyOnPorts, _, _>(move |_ctx, args| {
            // Clears the ports' DHCP provisioning blocks ([`neutrino_ml2::provisioning`]).
            let plugin = p7.clone();
            async move {
                plugin
                    .dhcp_ready_on_ports(&args.port_ids)
                    .await
                    .map_err(failed)
            }
        });
    Dispatcher::new(vec![l2, dhcp])
}

/// `tunnel_sync` (Neutron's `TunnelRpcCallbackMixin`): record the caller's endpoint, tell
/// the other agents (`tunnel_delete` for the host's old address, `tunnel_update` for the new
/// one) and answer every endpoint of the type.
async fn tunnel_sync(
    plugin: &Plugin,
    bus: &Bus,
    args: neutron::TunnelSyncArgs,
) -> Result<neutron::TunnelSyncReply, RemoteError> {
    let done = plugin
        .tunnel_sync(&args.tunnel_ip, &args.tunnel_type, args.host.as_deref())
        .await
        .map_err(failed)?;
    let notice = |ip: &str| neutron::TunnelArgs {
        tunnel_ip: ip.to_string(),
        tunnel_type: args.tunnel_type.clone(),
    };
    if let Some(old) = &done.replaced
        && let Err(e) = bus
            .client(neutron::TUNNEL_DELETE)
            .to_all()
            .cast::<neutron::TunnelDelete>(&notice(old))
            .await
    {
        tracing::warn!(error = %e, ip = %old, "tunnel_delete not sent");
    }
    let ip = args
        .tunnel_ip
        .parse::<std::net::IpAddr>()
        .map(|i| i.to_string());
    let ip = ip.unwrap_or(args.tunnel_ip.clone());
    if let Err(e) = bus
        .client(neutron::TUNNEL_UPDATE)
        .to_all()
        .cast::<neutron::TunnelUpdate>(&notice(&ip))
        .await
    {
        tracing::warn!(error = %e, ip = %ip, "tunnel_update not sent");
    }
    Ok(neutron::TunnelSyncReply {
        tunnels: done
            .endpoints
            .into_iter()
            .map(|e| neutron::TunnelEndpoint {
                ip_address: e.ip_address,
                host: e.host,
            })
            .collect(),
    })
}

/// A port as agents see it in notifications and DHCP network info.
pub fn port_dict(p: &Port) -> Value {
    json!({
        "id": p.id,
        "network_id": p.network_id,
        "project_id": p.project_id,
        "tenant_id": p.project_id,
        "mac_address": p.mac_address,
        "admin_state_up": p.admin_state_up,
        "status": p.status,
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "fixed_ips": p.fixed_ips.iter().map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address})).collect::<Vec<_>>(),
        "binding:host_id": p.binding_host_id,
        "binding:vif_type": p.binding_vif_type,
        "extra_dhcp_opts": p.extra_dhcp_opts,
    })
}

fn subnet_dict(s: &Subnet) -> Value {
    json!({
        "id": s.id,
        "network_id": s.network_id,
        "ip_version": s.ip_version,
        "cidr": s.cidr,
        "gateway_ip": s.gateway_ip,
        "enable_dhcp": s.enable_dhcp,
        "ipv6_ra_mode": s.ipv6_ra_mode,
        "ipv6_address_mode": s.ipv6_address_mode,
        "dns_nameservers": s.dns_nameservers,
        "host_routes": s.host_routes.iter().map(|r| json!({"destination": r.destination, "nexthop": r.nexthop})).collect::<Vec<_>>(),
    })
}

fn dhcp_network(n: &neutrino_ml2::agent_rpc::DhcpNetwork) -> Value {
    json!({
        "id": n.network.id,
        "project_id": n.network.project_id,
        "admin_state_up": n.network.admin_state_up,
        "mtu": n.network.mtu,
        "subnets": n.subnets.iter().map(subnet_dict).collect::<Vec<_>>(),
        "ports": n.ports.iter().map(port_dict).collect::<Vec<_>>(),
    })
}

/// Turn the plugin's events into notifications, in order.
async fn notify(bus: Bus, plugin: Plugin) {
    let mut events = plugin.subscribe();
    while let Some(e) = events.recv().await {
        if let Err(err) = notify_one(&bus, &plugin, e).await {
            tracing::warn!(error = %err, "agent notification not sent");
        }
    }
}

/// Casts to the DHCP agents serving one network (`dhcp_agent.<host>`), scheduling it first
/// when it lacks agents; a deleted network's bindings are gone, so its end goes to all.
struct DhcpAgents {
    hosts: Vec<String>,
    bus: Bus,
}

impl DhcpAgents {
    async fn of(bus: &Bus, plugin: &Plugin, network_id: &str) -> DhcpAgents {
        let hosts = match plugin.schedule_network(network_id).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(network = %network_id, error = %e, "DHCP scheduling failed");
                Vec::new()
            }
        };
        DhcpAgents {
            hosts,
            bus: bus.clone(),
        }
    }

    async fn cast<M: neutrino_bus::Method>(&self, args: &M::Args) -> neutrino_bus::Result<()> {
        for h in &self.hosts {
            self.bus
                .client(neutron::DHCP_AGENT)
                .to_server(h)
                .cast::<M>(args)
                .await?;
        }
        Ok(())
    }
}

async fn notify_one(bus: &Bus, plugin: &Plugin, e: Event) -> neutrino_bus::Result<()> {
    let payload = |v: Value| neutron::DhcpPayload { payload: v };
    match e {
        Event::PortCreated(p) => {
            let dhcp = DhcpAgents::of(bus, plugin, &p.network_id).await;
            dhcp.cast::<neutron::PortCreateEnd>(&payload(json!({"port": port_dict(&p)})))
                .await
        }
        Event::PortUpdated(p) => {
            let segment = segment_of(plugin, &p).await;
            let args = neutron::PortUpdateArgs {
                port: port_dict(&p),
                network_type: segment.as_ref().map(|s| s.network_type.clone()),
                segmentation_id: segment.as_ref().and_then(|s| s.segmentation_id),
                physical_network: segment.and_then(|s| s.physical_network),
            };
            bus.client(neutron::PORT_UPDATE)
                .to_all()
                .cast::<neutron::PortUpdate>(&args)
                .await?;
            let dhcp = DhcpAgents::of(bus, plugin, &p.network_id).await;
            dhcp.cast::<neutron::PortUpdateEnd>(&payload(json!({"port": port_dict(&p)})))
                .await
        }
        Event::PortDeleted(p) => {
            bus.client(neutron::PORT_DELETE)
                .to_all()
                .cast::<neutron::PortDelete>(&neutron::PortDeleteArgs {
                    port_id: p.id.clone(),
                })
                .await?;
            let fixed: Vec<Value> = p
                .fixed_ips
                .iter()
                .map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address}))
                .collect();
            let dhcp = DhcpAgents::of(bus, plugin, &p.network_id).await;
            dhcp.cast::<neutron::PortDeleteEnd>(&payload(
                json!({"port_id": p.id, "network_id": p.network_id, "fixed_ips": fixed}),
            ))
            .await
        }
        Event::NetworkUpdated(id) => {
            bus.client(neutron::NETWORK_UPDATE)
                .to_all()
                .cast::<neutron::NetworkUpdate>(&neutron::NetworkUpdateArgs {
                    network: json!({"id": id}),
                })
                .await?;
            let dhcp = DhcpAgents::of(bus, plugin, &id).await;
            dhcp.cast::<neutron::NetworkUpdateEnd>(&payload(json!({"network": {"id": id}})))
                .await
        }
        Event::NetworkDeleted(id) => {
            bus.client(neutron::NETWORK_DELETE)
                .to_all()
                .cast::<neutron::NetworkDelete>(&neutron::NetworkDeleteArgs {
                    network_id: id.clone(),
                })
                .await?;
            bus.client(neutron::DHCP_AGENT)
                .to_all()
                .cast::<neutron::NetworkDeleteEnd>(&payload(json!({"network_id": id})))
                .await
        }
        Event::DhcpBindingChanged(host, network_id, bound) => {
            let dhcp = bus.client(neutron::DHCP_AGENT).to_server(&host);
            if bound {
                dhcp.cast::<neutron::NetworkCreateEnd>(&payload(
                    json!({"network": {"id": network_id}}),
                ))
                .await
            } else {
                dhcp.cast::<neutron::NetworkDeleteEnd>(&payload(json!({"network_id": network_id})))
                    .await
            }
        }
        Event::SubnetChanged(network_id, subnet_id) => {
            let dhcp = DhcpAgents::of(bus, plugin, &network_id).await;
            dhcp.cast::<neutron::SubnetUpdateEnd>(&payload(
                json!({"subnet": {"id": subnet_id, "network_id": network_id}}),
            ))
            .await
        }
    }
}

async fn segment_of(plugin: &Plugin, p: &Port) -> Option<neutrino_ml2::store::model::Segment> {
    let level = p.binding_levels.first()?;
    let n = plugin.dhcp_network(&p.network_id).await.ok()??;
    n.network
        .segments
        .into_iter()
        .find(|s| s.id == level.segment_id)
}
