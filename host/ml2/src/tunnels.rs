//! Tunnel endpoints (Neutron's `TunnelRpcCallbackMixin.tunnel_sync`): an L2 agent that
//! terminates tunnels reports its address (`tunnel_ip`, its `local_ip`), type and host; the
//! endpoint is recorded, replacing what the host or the address had before, and the agent
//! learns every endpoint of the type. The server tells the other agents (`tunnel_update`,
//! and `tunnel_delete` for a host's old address); this module only keeps the records.

use neutrino_store::tunnels::{self, Endpoint};

use crate::Plugin;
use crate::error::{Error, Result};

/// What a `tunnel_sync` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSync {
    /// Every endpoint of the type, the new one included, by address.
    pub endpoints: Vec<Endpoint>,
    /// The address the host had before, when it changed (other agents drop its tunnels).
    pub replaced: Option<String>,
}

impl Plugin {
    /// Record `tunnel_ip` as `host`'s endpoint for `tunnel_type` and list all endpoints.
    pub async fn tunnel_sync(
        &self,
        tunnel_ip: &str,
        tunnel_type: &str,
        host: Option<&str>,
    ) -> Result<TunnelSync> {
        if tunnel_ip.is_empty() {
            return Err(Error::invalid_input(
                "Tunnel IP value needed by the ML2 plugin",
            ));
        }
        let ip: std::net::IpAddr = tunnel_ip.parse().map_err(|_| {
            Error::invalid_input(format!("'{tunnel_ip}' is not a valid IP address"))
        })?;
        if !ip.is_ipv4() {
            return Err(Error::invalid_input(format!(
                "Tunnel IP version does not match ML2 overlay_ip_version: 4, host: {}, \
                 tunnel_ip: {tunnel_ip}",
                host.unwrap_or_default()
            )));
        }
        if tunnel_type.is_empty() {
            return Err(Error::invalid_input(
                "Network type value needed by the ML2 plugin",
            ));
        }
        let enabled = self
            .types()
            .config()
            .type_drivers
            .iter()
            .any(|t| t == tunnel_type);
        if !enabled || tunnels::table(tunnel_type).is_none() {
            return Err(Error::invalid_input(format!(
                "Network type value {tunnel_type} not supported, host: {} with tunnel IP: \
                 {tunnel_ip}",
                host.unwrap_or("legacy mode (no host provided by agent)")
            )));
        }
        let ip = ip.to_string();
        let host = host.filter(|h| !h.is_empty()).map(str::to_string);
        let ty = tunnel_type.to_string();
        crate::in_tx!(self.store(), |tx| {
            tunnels::lock(tx, &ty).await?;
            let mut replaced = None;
            if let Some(h) = &host {
                let by_host = tunnels::by_host(tx, &ty, h).await?;
                let by_ip = tunnels::by_ip(tx, &ty, &ip).await?;
                match (&by_ip, &by_host) {
                    // Already recorded as it is.
                    (Some(e), _) if e.host.as_deref() == Some(h.as_str()) => {}
                    // The address was another host's (or no host's): it is this host's now,
                    // and this host's old address goes.
                    (Some(e), _) => {
                        tracing::info!(ip = %ip, from = ?e.host, to = %h, "tunnel IP moves to another host");
                        tunnels::delete(tx, &ty, &ip, Some(h)).await?;
                    }
                    // The host's address changed: the old one is stale everywhere.
                    (None, Some(old)) => {
                        replaced = Some(old.ip_address.clone());
                        tunnels::delete(tx, &ty, &old.ip_address, None).await?;
                    }
                    (None, None) => {}
                }
            }
            let have = tunnels::by_ip(tx, &ty, &ip).await?;
            if have.is_none() && !tunnels::insert(tx, &ty, &ip, host.as_deref()).await? {
                // Another agent recorded this address or host meanwhile: look again.
                return Err(Error::Store(neutrino_store::StoreError::Retry(
                    "tunnel endpoint recorded concurrently".into(),
                )));
            }
            let endpoints = tunnels::list(tx, &ty).await?;
            Ok::<_, Error>(TunnelSync {
                endpoints,
                replaced,
            })
        })
    }
}
