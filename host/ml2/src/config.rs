//! Settings of the core plugin (the `[DEFAULT]` options of Neutron that shape resources).

/// Core plugin settings.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Base MAC address: the first three octets (and the fourth when not `00`) are kept.
    pub base_mac: [u8; 6],
    /// Whether CIDRs may overlap between networks (they never may within one network).
    pub allow_overlapping_ips: bool,
    /// MTU of the underlying physical network.
    pub global_physnet_mtu: i64,
    /// Maximum DNS servers per subnet.
    pub max_dns_nameservers: usize,
    /// Maximum host routes per subnet.
    pub max_subnet_host_routes: usize,
    /// Maximum fixed IPs per port.
    pub max_fixed_ips_per_port: usize,
    /// `dhcp_agents_per_network`: DHCP agents scheduled to serve each network.
    pub dhcp_agents_per_network: usize,
    /// `allow_automatic_dhcp_failover`: networks leave DHCP agents that stopped reporting
    /// for live ones.
    pub allow_automatic_dhcp_failover: bool,
    /// Default quota limits.
    pub quotas: crate::quotas::QuotaConfig,
    /// `[service_providers] service_provider`, parsed.
    pub service_providers: Vec<crate::flavors::ServiceProvider>,
    /// L3 settings.
    pub l3: crate::l3::L3Config,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            base_mac: [0xfa, 0x16, 0x3e, 0, 0, 0],
            allow_overlapping_ips: true,
            global_physnet_mtu: 1500,
            max_dns_nameservers: 5,
            max_subnet_host_routes: 20,
            max_fixed_ips_per_port: 5,
            dhcp_agents_per_network: 1,
            allow_automatic_dhcp_failover: true,
            quotas: crate::quotas::QuotaConfig::default(),
            service_providers: Vec::new(),
            l3: crate::l3::L3Config::default(),
        }
    }
}

/// Parse a MAC like `fa:16:3e:00:00:00`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return None;
        }
        mac[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}
