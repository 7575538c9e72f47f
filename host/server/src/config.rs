//! Server configuration: a TOML file (`--config FILE`) overlaid with `NEUTRINO_*`
//! environment variables. A bad value stops start-up with a message naming the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use neutrino_ml2::CoreConfig;
use neutrino_ml2::types::{self, TypeConfig};
use serde::Deserialize;

/// The whole configuration, as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on (`NEUTRINO_BIND`).
    pub bind: String,
    /// `sqlite:FILE` or `postgres://…` (`NEUTRINO_DATABASE_URL`).
    pub database_url: String,
    /// `noauth` (`NEUTRINO_AUTH`).
    pub auth: String,
    /// Project of callers without identity headers (`NEUTRINO_DEFAULT_PROJECT_ID`).
    pub default_project_id: String,
    /// Upper bound on page sizes; -1 = unlimited.
    pub pagination_max_limit: i64,
    /// Base MAC for generated addresses.
    pub base_mac: String,
    /// Whether subnets of different networks may overlap.
    pub allow_overlapping_ips: bool,
    /// MTU of the physical network.
    pub global_physnet_mtu: i64,
    /// Maximum DNS servers per subnet.
    pub max_dns_nameservers: usize,
    /// Maximum host routes per subnet.
    pub max_subnet_host_routes: usize,
    /// Maximum fixed IPs per port.
    pub max_fixed_ips_per_port: usize,
    /// `dhcp_agents_per_network`: DHCP agents scheduled to serve each network.
    pub dhcp_agents_per_network: usize,
    /// `allow_automatic_dhcp_failover`: move networks off DHCP agents that stopped
    /// reporting (checked every `agent_down_time / 2`).
    pub allow_automatic_dhcp_failover: bool,
    /// `enable_snat_by_default`: SNAT of a router gateway that does not say.
    pub enable_snat_by_default: bool,
    /// `router_distributed`: `distributed` of a router that does not say.
    pub router_distributed: bool,
    /// `l3_ha`: `ha` of a router that does not say.
    pub l3_ha: bool,
    /// `max_routes`: deprecated and ignored, as in Neutron 2026.2 (the `router_route` quota,
    /// `[quotas] quota_router_route`, limits extra routes per router); a value other than 30
    /// is warned about at start-up.
    pub max_routes: usize,
    /// Longest request line or header line (`Name: value`) accepted, in bytes (Neutron's
    /// `max_header_line`, 16384); a longer one is a 400.
    pub max_header_line: usize,
    /// `[oslo_middleware]`: the request body limit.
    pub oslo_middleware: OsloMiddlewareSection,
    /// ML2 settings.
    pub ml2: Ml2Section,
    /// Mechanism driver machinery.
    pub drivers: DriversSection,
    /// `[service_providers]`: providers of advanced services, for flavors.
    pub service_providers: ServiceProvidersSection,
    /// `[oslo_policy]`: the operator's policy file.
    pub oslo_policy: OsloPolicySection,
    /// `[keystone_authtoken]`: Keystone, with `auth = "keystone"`.
    pub keystone_authtoken: KeystoneSection,
    /// `[quotas]`: default limits per project (Neutron's `[QUOTAS]`).
    pub quotas: QuotasSection,
    /// The agents' message bus: empty or `memory://` (in-process), or
    /// `amqp://user:pass@host:port/vhost` (`NEUTRINO_TRANSPORT_URL`).
    pub transport_url: String,
    /// This server's host name on the bus (`NEUTRINO_HOST`; default: the machine's).
    pub host: String,
    /// `[agent]`: agent roles to run inside the server, on its bus (the quick start).
    pub agent: AgentSection,
}

/// `[agent]`: agent roles run inside `neutrino-server` (none by default), with the same
/// settings as `neutrino-agent`'s.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSection {
    /// `linuxbridge` or `openvswitch`, `dhcp`.
    pub roles: Vec<String>,
    /// The agents' host (default: the server's `host`).
    pub host: Option<String>,
    /// Where the DHCP agent keeps its files (default `/var/lib/neutrino`).
    pub state_path: Option<String>,
    /// How the DHCP agent plugs its ports (`interface_driver`; default: follows the L2 role).
    pub interface_driver: Option<neutrino_agent::plug::InterfaceDriver>,
    /// `[agent.ovs]`: `integration_bridge`, `datapath_type`, `local_ip`, … for the
    /// `openvswitch` role.
    pub ovs: neutrino_agent::plug::OvsConfig,
    /// `tunnel_types` of the `openvswitch` role (needs `[agent.ovs] local_ip`).
    pub tunnel_types: Vec<String>,
}

/// `[quotas]`, with Neutron's `[QUOTAS]` option names and defaults; -1 is unlimited.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotasSection {
    /// Networks per project.
    pub quota_network: i64,
    /// Subnets per project.
    pub quota_subnet: i64,
    /// Ports per project.
    pub quota_port: i64,
    /// Security groups per project.
    pub quota_security_group: i64,
    /// Security group rules per project.
    pub quota_security_group_rule: i64,
    /// RBAC policies per project.
    pub quota_rbac_policy: i64,
    /// Routers per project.
    pub quota_router: i64,
    /// Floating IPs per project.
    pub quota_floatingip: i64,
    /// Extra routes per router (Neutron counts them per router, not per project).
    pub quota_router_route: i64,
    /// Default of the resources without an option of their own (subnet pools).
    pub default_quota: i64,
}

impl Default for QuotasSection {
    fn default() -> Self {
        QuotasSection {
            quota_network: 100,
            quota_subnet: 100,
            quota_port: 500,
            quota_security_group: 10,
            quota_security_group_rule: 100,
            quota_rbac_policy: 10,
            quota_router: 10,
            quota_floatingip: 50,
            quota_router_route: 30,
            default_quota: -1,
        }
    }
}

/// `[keystone_authtoken]`, with keystonemiddleware's option names; each key also comes from
/// `NEUTRINO_KEYSTONE_<KEY>` (e.g. `NEUTRINO_KEYSTONE_AUTH_URL`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeystoneSection {
    /// Sent to clients in `WWW-Authenticate` (default: `auth_url`).
    pub www_authenticate_uri: String,
    /// Keystone's URL (`http://host:5000` or `…/v3`).
    pub auth_url: String,
    /// Always `password` (the only plugin).
    pub auth_type: String,
    /// The network service's user.
    pub username: String,
    /// Its password.
    pub password: String,
    /// Its project.
    pub project_name: String,
    /// Domain of the user.
    pub user_domain_name: String,
    /// Domain of the project.
    pub project_domain_name: String,
    /// Seconds a validated token is cached (-1: not cached).
    pub token_cache_time: i64,
    /// Roles one of which a service token must carry.
    pub service_token_roles: Vec<String>,
    /// Refuse service tokens without those roles.
    pub service_token_roles_required: bool,
    /// Timeout of a call to Keystone, in seconds.
    pub http_connect_timeout: u64,
}

impl Default for KeystoneSection {
    fn default() -> Self {
        KeystoneSection {
            www_authenticate_uri: String::new(),
            auth_url: String::new(),
            auth_type: "password".into(),
            username: String::new(),
            password: String::new(),
            project_name: String::new(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            token_cache_time: 300,
            service_token_roles: vec!["service".into()],
            service_token_roles_required: true,
            http_connect_timeout: 10,
        }
    }
}

/// `[oslo_middleware]`, as oslo.middleware names it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OsloMiddlewareSection {
    /// Largest request body accepted, in bytes (oslo.middleware's default, 114688); a larger
    /// one is a 413. Driver uploads have their own limit (64 MiB).
    pub max_request_body_size: u64,
    /// Whether to trust a proxy's `Forwarded` / `X-Forwarded-Host` / `X-Forwarded-Prefix`
    /// for the links the server writes (pagination).
    pub enable_proxy_headers_parsing: bool,
}

impl Default for OsloMiddlewareSection {
    fn default() -> Self {
        OsloMiddlewareSection {
            max_request_body_size: 114_688,
            enable_proxy_headers_parsing: false,
        }
    }
}

/// `[oslo_policy]`, as oslo.policy names it.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OsloPolicySection {
    /// A YAML (or JSON) file of rules overriding Neutron's defaults
    /// (`NEUTRINO_POLICY_FILE`). Unset: the defaults alone.
    pub policy_file: Option<String>,
}

/// `[service_providers]`, as in Neutron.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceProvidersSection {
    /// `<service_type>:<name>:<driver>[:default]` entries.
    pub service_provider: Vec<String>,
}

/// `[drivers]`: where driver files live, the compile cache, and per-driver settings.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DriversSection {
    /// Directory of `<name>.wasm` / `<name>.toml` files (default: the in-tree drivers built
    /// with the server).
    pub directory: Option<String>,
    /// Where compiled drivers are cached (default `.neutrino-cache` in the working directory).
    pub cache_dir: Option<String>,
    /// Load or upgrade a driver when its `.wasm` appears or changes in `directory`.
    pub watch: bool,
    /// How often to look for driver changes made by other servers sharing the database, in
    /// milliseconds (default 2000; 0 disables).
    pub sync_interval_ms: Option<u64>,
    /// How many stored versions of each driver to keep besides the serving one and its
    /// rollback target (default 5); older ones are deleted when a new version is stored.
    pub keep_versions: Option<usize>,
    /// Operator settings per driver name (configuration, grants, HTTP destinations, limits,
    /// failure policy).
    pub settings: BTreeMap<String, neutrino_runtime::DriverSettings>,
}

/// `[ml2]`: type drivers and their ranges.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ml2Section {
    /// Enabled type drivers.
    pub type_drivers: Vec<String>,
    /// Types for project networks, in order of preference.
    pub tenant_network_types: Vec<String>,
    /// Physical networks allowed for flat networks (`*` = any).
    pub flat_networks: Vec<String>,
    /// `physnet` or `physnet:min:max`.
    pub network_vlan_ranges: Vec<String>,
    /// `min:max` VXLAN VNI ranges.
    pub vxlan_vni_ranges: Vec<String>,
    /// `min:max` Geneve VNI ranges.
    pub geneve_vni_ranges: Vec<String>,
    /// `min:max` GRE tunnel id ranges.
    pub gre_tunnel_id_ranges: Vec<String>,
    /// Path MTU for tunnels (0 = global_physnet_mtu).
    pub path_mtu: i64,
    /// MTU per physical network.
    pub physical_network_mtus: BTreeMap<String, i64>,
    /// Geneve header size.
    pub geneve_max_header_size: i64,
    /// Mechanism drivers loaded at start-up, in call order.
    pub mechanism_drivers: Vec<String>,
    /// ML2 extension drivers that are on (Neutron's names); unset: all of them.
    pub extension_drivers: Option<Vec<String>>,
}

impl Default for Ml2Section {
    fn default() -> Self {
        let t = TypeConfig::default();
        Ml2Section {
            type_drivers: t.type_drivers,
            tenant_network_types: t.tenant_network_types,
            flat_networks: t.flat_networks,
            network_vlan_ranges: vec!["physnet1".into()],
            vxlan_vni_ranges: vec!["1:65535".into()],
            geneve_vni_ranges: vec!["1:65535".into()],
            gre_tunnel_id_ranges: vec!["1:65535".into()],
            path_mtu: 0,
            physical_network_mtus: BTreeMap::new(),
            geneve_max_header_size: 30,
            mechanism_drivers: vec!["openvswitch".into(), "linuxbridge".into()],
            extension_drivers: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let core = CoreConfig::default();
        Config {
            bind: "0.0.0.0:9696".into(),
            database_url: "sqlite:neutrino.sqlite".into(),
            auth: "noauth".into(),
            default_project_id: "admin".into(),
            pagination_max_limit: -1,
            base_mac: "fa:16:3e:00:00:00".into(),
            allow_overlapping_ips: core.allow_overlapping_ips,
            global_physnet_mtu: core.global_physnet_mtu,
            max_dns_nameservers: core.max_dns_nameservers,
            max_subnet_host_routes: core.max_subnet_host_routes,
            max_fixed_ips_per_port: core.max_fixed_ips_per_port,
            dhcp_agents_per_network: core.dhcp_agents_per_network,
            allow_automatic_dhcp_failover: core.allow_automatic_dhcp_failover,
            enable_snat_by_default: core.l3.enable_snat_by_default,
            router_distributed: core.l3.router_distributed,
            l3_ha: core.l3.l3_ha,
            max_routes: 30,
            max_header_line: 16_384,
            oslo_middleware: OsloMiddlewareSection::default(),
            ml2: Ml2Section::default(),
            drivers: DriversSection::default(),
            oslo_policy: OsloPolicySection::default(),
            keystone_authtoken: KeystoneSection::default(),
            quotas: QuotasSection::default(),
            service_providers: ServiceProvidersSection::default(),
            transport_url: String::new(),
            host: default_host(),
            agent: AgentSection::default(),
        }
    }
}

/// The machine's host name (Neutron's `host` default), `localhost` if unknown.
pub fn default_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A configuration error that names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (names the key).
        message: String,
    },
    /// A value is wrong.
    #[error("configuration key `{key}`: {message}")]
    Invalid {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The checked settings the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub bind: SocketAddr,
    /// Database URL.
    pub database_url: String,
    /// Core plugin settings.
    pub core: CoreConfig,
    /// Type driver settings.
    pub types: TypeConfig,
    /// API settings.
    pub api: neutrino_api::ApiConfig,
    /// Mechanism drivers.
    pub mech: neutrino_ml2::mech::MechConfig,
    /// Watch the drivers directory.
    pub watch_drivers: bool,
    /// Follow driver changes made by other servers this often.
    pub driver_sync_interval: Option<std::time::Duration>,
    /// Neutron's policy with the operator's overrides.
    pub policy: std::sync::Arc<neutrino_policy::Policy>,
    /// Keystone, when `auth = "keystone"`.
    pub keystone: Option<neutrino_api::keystone::KeystoneConfig>,
    /// The agents' message bus (`transport_url`).
    pub transport_url: String,
    /// This server's host name on the bus.
    pub host: String,
    /// Agent roles to run in this process, if any.
    pub agent: Option<neutrino_agent::AgentConfig>,
}

impl Config {
    /// Read `path` (if any), then apply the environment.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        if let Some(v) = env("NEUTRINO_BIND") {
            config.bind = v;
        }
        if let Some(v) = env("NEUTRINO_DATABASE_URL") {
            config.database_url = v;
        }
        if let Some(v) = env("NEUTRINO_TRANSPORT_URL") {
            config.transport_url = v;
        }
        if let Some(v) = env("NEUTRINO_HOST") {
            config.host = v;
        }
        if let Some(v) = env("NEUTRINO_AUTH") {
            config.auth = v;
        }
        if let Some(v) = env("NEUTRINO_DEFAULT_PROJECT_ID") {
            config.default_project_id = v;
        }
        if let Some(v) = env("NEUTRINO_POLICY_FILE") {
            config.oslo_policy.policy_file = Some(v);
        }
        let k = &mut config.keystone_authtoken;
        for (name, slot) in [
            ("WWW_AUTHENTICATE_URI", &mut k.www_authenticate_uri),
            ("AUTH_URL", &mut k.auth_url),
            ("AUTH_TYPE", &mut k.auth_type),
            ("USERNAME", &mut k.username),
            ("PASSWORD", &mut k.password),
            ("PROJECT_NAME", &mut k.project_name),
            ("USER_DOMAIN_NAME", &mut k.user_domain_name),
            ("PROJECT_DOMAIN_NAME", &mut k.project_domain_name),
        ] {
            if let Some(v) = env(&format!("NEUTRINO_KEYSTONE_{name}")) {
                *slot = v;
            }
        }
        if let Some(v) = env("NEUTRINO_KEYSTONE_TOKEN_CACHE_TIME") {
            k.token_cache_time = v.trim().parse().map_err(|_| ConfigError::Invalid {
                key: "keystone_authtoken.token_cache_time".into(),
                message: format!("'{v}' (NEUTRINO_KEYSTONE_TOKEN_CACHE_TIME) is not an integer"),
            })?;
        }
        if let Some(v) = env("NEUTRINO_KEYSTONE_SERVICE_TOKEN_ROLES") {
            k.service_token_roles = v
                .split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect();
        }
        if let Some(v) = env("NEUTRINO_KEYSTONE_SERVICE_TOKEN_ROLES_REQUIRED") {
            k.service_token_roles_required = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "keystone_authtoken.service_token_roles_required".into(),
                        message: format!("'{v}' is not true or false"),
                    });
                }
            };
        }
        Ok(config)
    }

    /// Check every value and build the settings.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let bind: SocketAddr = self.bind.parse().map_err(|_| {
            invalid(
                "bind",
                format!("'{}' is not an address like 0.0.0.0:9696", self.bind),
            )
        })?;
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                format!(
                    "'{}' must start with sqlite: or postgres://",
                    self.database_url
                ),
            ));
        }
        let keystone = match self.auth.as_str() {
            "noauth" => None,
            "keystone" => Some(self.keystone()?),
            other => {
                return Err(invalid(
                    "auth",
                    format!("'{other}' is not supported; use noauth or keystone"),
                ));
            }
        };
        let t = self.transport_url.trim();
        if !(t.is_empty()
            || t.starts_with("memory:")
            || t.starts_with("amqp://")
            || t.starts_with("rabbit://"))
        {
            return Err(invalid(
                "transport_url",
                "must be memory:// or amqp://user:pass@host:port/vhost",
            ));
        }
        if self.host.is_empty() {
            return Err(invalid("host", "must not be empty"));
        }
        if self.default_project_id.is_empty() {
            return Err(invalid("default_project_id", "must not be empty"));
        }
        let base_mac = neutrino_ml2::config::parse_mac(&self.base_mac).ok_or_else(|| {
            invalid(
                "base_mac",
                format!("'{}' is not a MAC address", self.base_mac),
            )
        })?;
        if base_mac[0] & 1 == 1 {
            return Err(invalid("base_mac", "must be a unicast address"));
        }
        if self.max_routes != 30 {
            tracing::warn!(
                max_routes = self.max_routes,
                "max_routes is deprecated and ignored (as in Neutron 2026.2): set \
                 [quotas] quota_router_route instead"
            );
        }
        if self.dhcp_agents_per_network == 0 {
            return Err(invalid("dhcp_agents_per_network", "must be at least 1"));
        }
        if !(68..=65535).contains(&self.global_physnet_mtu) {
            return Err(invalid(
                "global_physnet_mtu",
                "must be between 68 and 65535",
            ));
        }
        let q = &self.quotas;
        let mut quotas = neutrino_ml2::quotas::QuotaConfig::default();
        for (key, resource, value) in [
            ("quota_network", "network", q.quota_network),
            ("quota_subnet", "subnet", q.quota_subnet),
            ("quota_port", "port", q.quota_port),
            (
                "quota_security_group",
                "security_group",
                q.quota_security_group,
            ),
            (
                "quota_security_group_rule",
                "security_group_rule",
                q.quota_security_group_rule,
            ),
            ("quota_rbac_policy", "rbac_policy", q.quota_rbac_policy),
            ("quota_router", "router", q.quota_router),
            ("quota_floatingip", "floatingip", q.quota_floatingip),
            ("quota_router_route", "router_route", q.quota_router_route),
        ] {
            if value < -1 {
                return Err(invalid(
                    &format!("quotas.{key}"),
                    "must be -1 (unlimited) or more",
                ));
            }
            if quotas.defaults.contains_key(resource) {
                quotas.defaults.insert(resource.to_string(), value);
            }
        }
        for (resource, limit) in quotas.defaults.iter_mut() {
            if !neutrino_ml2::quotas::has_option(resource) {
                *limit = q.default_quota.max(-1);
            }
        }
        let core = CoreConfig {
            quotas,
            base_mac,
            allow_overlapping_ips: self.allow_overlapping_ips,
            global_physnet_mtu: self.global_physnet_mtu,
            max_dns_nameservers: self.max_dns_nameservers,
            max_subnet_host_routes: self.max_subnet_host_routes,
            max_fixed_ips_per_port: self.max_fixed_ips_per_port,
            dhcp_agents_per_network: self.dhcp_agents_per_network,
            allow_automatic_dhcp_failover: self.allow_automatic_dhcp_failover,
            l3: neutrino_ml2::l3::L3Config {
                enable_snat_by_default: self.enable_snat_by_default,
                router_distributed: self.router_distributed,
                l3_ha: self.l3_ha,
            },
            service_providers: neutrino_ml2::flavors::with_l3_providers(
                neutrino_ml2::flavors::parse_service_providers(
                    &self.service_providers.service_provider,
                )
                .map_err(|e| invalid("service_providers.service_provider", e))?,
            ),
        };
        let m = &self.ml2;
        const KNOWN: [&str; 8] = [
            "flat", "vlan", "vxlan", "geneve", "gre", "local", "midonet", "uplink",
        ];
        for t in &m.type_drivers {
            if !KNOWN.contains(&t.as_str()) {
                return Err(invalid(
                    "ml2.type_drivers",
                    format!("unknown type driver '{t}' (known: {})", KNOWN.join(", ")),
                ));
            }
        }
        for t in &m.tenant_network_types {
            if !m.type_drivers.contains(t) {
                return Err(invalid(
                    "ml2.tenant_network_types",
                    format!("'{t}' is not in ml2.type_drivers"),
                ));
            }
        }
        let ranges =
            |key: &str, items: &[String], max: i64| -> Result<Vec<types::IdRange>, ConfigError> {
                items
                    .iter()
                    .map(|i| types::parse_range(i, 1, max).map_err(|e| invalid(key, e)))
                    .collect()
            };
        let types = TypeConfig {
            type_drivers: m.type_drivers.clone(),
            tenant_network_types: m.tenant_network_types.clone(),
            flat_networks: m.flat_networks.clone(),
            network_vlan_ranges: types::parse_vlan_ranges(&m.network_vlan_ranges)
                .map_err(|e| invalid("ml2.network_vlan_ranges", e))?,
            vxlan_vni_ranges: ranges("ml2.vxlan_vni_ranges", &m.vxlan_vni_ranges, (1 << 24) - 1)?,
            geneve_vni_ranges: ranges(
                "ml2.geneve_vni_ranges",
                &m.geneve_vni_ranges,
                (1 << 24) - 1,
            )?,
            gre_tunnel_id_ranges: ranges(
                "ml2.gre_tunnel_id_ranges",
                &m.gre_tunnel_id_ranges,
                u32::MAX as i64,
            )?,
            global_physnet_mtu: self.global_physnet_mtu,
            path_mtu: m.path_mtu,
            physical_network_mtus: m.physical_network_mtus.clone(),
            geneve_max_header_size: m.geneve_max_header_size,
        };
        let api = neutrino_api::ApiConfig {
            default_project_id: self.default_project_id.clone(),
            pagination_max_limit: (self.pagination_max_limit > 0)
                .then_some(self.pagination_max_limit as u64),
            edge: neutrino_api::edge::EdgeLimits {
                max_request_body_size: self.oslo_middleware.max_request_body_size,
                max_header_line: self.max_header_line,
                ..neutrino_api::edge::EdgeLimits::default()
            },
            enable_proxy_headers_parsing: self.oslo_middleware.enable_proxy_headers_parsing,
            extension_drivers: neutrino_api::ext_drivers::ExtensionDrivers::only(
                m.extension_drivers.as_deref(),
            )
            .map_err(|e| invalid("ml2.extension_drivers", e.to_string()))?,
        };
        if self.max_header_line < 1024 {
            return Err(invalid(
                "max_header_line",
                format!(
                    "'{}' is too small - must be at least '1024'",
                    self.max_header_line
                ),
            ));
        }
        for name in &m.mechanism_drivers {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    "ml2.mechanism_drivers",
                    format!("'{name}' is not a driver name (letters, digits, - and _)"),
                ));
            }
        }
        let directory = self
            .drivers
            .directory
            .clone()
            .map(std::path::PathBuf::from)
            .or_else(|| option_env!("NEUTRINO_BUILTIN_DRIVERS").map(std::path::PathBuf::from));
        if let Some(dir) = &directory
            && !m.mechanism_drivers.is_empty()
            && !dir.is_dir()
        {
            return Err(invalid(
                "drivers.directory",
                format!("{} is not a directory", dir.display()),
            ));
        }
        if self.drivers.watch && directory.is_none() {
            return Err(invalid("drivers.watch", "needs drivers.directory"));
        }
        let mech = neutrino_ml2::mech::MechConfig {
            mechanism_drivers: m.mechanism_drivers.clone(),
            directory,
            cache_dir: Some(std::path::PathBuf::from(
                self.drivers
                    .cache_dir
                    .clone()
                    .unwrap_or_else(|| ".neutrino-cache".into()),
            )),
            settings: self.drivers.settings.clone(),
            keep_versions: self
                .drivers
                .keep_versions
                .unwrap_or(neutrino_ml2::mech::DEFAULT_KEEP_VERSIONS),
        };
        let policy = match &self.oslo_policy.policy_file {
            Some(path) => neutrino_policy::file::load(Path::new(path))
                .map_err(|e| invalid("oslo_policy.policy_file", e.to_string()))?,
            None => neutrino_policy::Policy::defaults(),
        };
        let interval = self.drivers.sync_interval_ms.unwrap_or(2000);
        Ok(Settings {
            bind,
            database_url: self.database_url.clone(),
            core,
            types,
            api,
            mech,
            watch_drivers: self.drivers.watch,
            driver_sync_interval: (interval > 0)
                .then(|| std::time::Duration::from_millis(interval)),
            policy: std::sync::Arc::new(policy),
            keystone,
            transport_url: self.transport_url.clone(),
            host: self.host.clone(),
            agent: self.agent_config()?,
        })
    }

    fn agent_config(&self) -> Result<Option<neutrino_agent::AgentConfig>, ConfigError> {
        let a = &self.agent;
        if a.roles.is_empty() {
            return Ok(None);
        }
        let mut config = neutrino_agent::AgentConfig {
            roles: a.roles.clone(),
            host: a.host.clone().unwrap_or_else(|| self.host.clone()),
            transport_url: self.transport_url.clone(),
            interface_driver: a.interface_driver.clone(),
            ovs: a.ovs.clone(),
            agent: neutrino_agent::L2AgentConfig {
                tunnel_types: a.tunnel_types.clone(),
            },
            ..neutrino_agent::AgentConfig::default()
        };
        if let Some(p) = &a.state_path {
            config.state_path = p.into();
        }
        config
            .check()
            .map_err(|e| invalid("agent.roles", e.to_string()))?;
        Ok(Some(config))
    }

    fn keystone(&self) -> Result<neutrino_api::keystone::KeystoneConfig, ConfigError> {
        let k = &self.keystone_authtoken;
        let key = |name: &str| format!("keystone_authtoken.{name}");
        if !(k.auth_url.starts_with("http://") || k.auth_url.starts_with("https://")) {
            return Err(invalid(
                &key("auth_url"),
                format!(
                    "'{}' is not an http:// URL of Keystone (set it, or NEUTRINO_KEYSTONE_AUTH_URL)",
                    k.auth_url
                ),
            ));
        }
        if k.auth_url.starts_with("https://") {
            return Err(invalid(
                &key("auth_url"),
                "https is not supported yet: put Keystone's plain-HTTP internal endpoint here",
            ));
        }
        if k.auth_type != "password" {
            return Err(invalid(
                &key("auth_type"),
                format!("'{}' is not supported; use password", k.auth_type),
            ));
        }
        for (name, v) in [
            ("username", &k.username),
            ("password", &k.password),
            ("project_name", &k.project_name),
        ] {
            if v.is_empty() {
                return Err(invalid(&key(name), "must be set with auth = \"keystone\""));
            }
        }
        if k.token_cache_time < -1 {
            return Err(invalid(&key("token_cache_time"), "must be -1 or more"));
        }
        Ok(neutrino_api::keystone::KeystoneConfig {
            www_authenticate_uri: k.www_authenticate_uri.clone(),
            auth_url: k.auth_url.clone(),
            username: k.username.clone(),
            password: k.password.clone(),
            project_name: k.project_name.clone(),
            user_domain_name: k.user_domain_name.clone(),
            project_domain_name: k.project_domain_name.clone(),
            token_cache_time: k.token_cache_time,
            service_token_roles: k.service_token_roles.clone(),
            service_token_roles_required: k.service_token_roles_required,
            http_timeout: std::time::Duration::from_secs(k.http_connect_timeout.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_are_valid() {
        let s = Config::load(None, &no_env).unwrap().settings().unwrap();
        assert_eq!(s.bind.port(), 9696);
        assert!(s.database_url.starts_with("sqlite:"));
    }

    #[test]
    fn environment_overrides_the_file_defaults() {
        let env = |k: &str| (k == "NEUTRINO_BIND").then(|| "127.0.0.1:1234".to_string());
        let s = Config::load(None, &env).unwrap().settings().unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:1234");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let c = Config {
            base_mac: "zz".into(),
            ..Config::default()
        };
        let err = c.settings().unwrap_err().to_string();
        assert!(err.contains("`base_mac`"), "{err}");
        let c = Config {
            bind: "nowhere".into(),
            ..Config::default()
        };
        assert!(c.settings().unwrap_err().to_string().contains("`bind`"));
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("neutrino-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "bnd = \"1.2.3.4:5\"\n").unwrap();
        let err = Config::load(Some(&path), &no_env).unwrap_err().to_string();
        assert!(err.contains("bnd"), "{err}");
    }

    #[test]
    fn the_in_process_open_vswitch_agent_gets_its_tunnel_settings() {
        let c: Config = toml::from_str(
            "[agent]\nroles = [\"openvswitch\"]\ntunnel_types = [\"vxlan\"]\n\
             [agent.ovs]\nlocal_ip = \"192.0.2.11\"\ntunnel_bridge = \"br-tun2\"\n",
        )
        .unwrap();
        let a = c.settings().unwrap().agent.unwrap();
        assert_eq!(a.agent.tunnel_types, ["vxlan"]);
        assert_eq!(a.ovs.local_ip.as_deref(), Some("192.0.2.11"));
        assert_eq!(a.ovs.tunnel_bridge, "br-tun2");
        assert_eq!(a.ovs.int_peer_patch_port, "patch-tun", "Neutron's default");
    }

    #[test]
    fn service_providers_are_read_from_their_section() {
        let c: Config = toml::from_str(
            "[service_providers]\nservice_provider = [\"L3_ROUTER_NAT:ha:drv.ha:default\"]\n",
        )
        .unwrap();
        let s = c.settings().unwrap();
        assert_eq!(s.core.service_providers[0].name, "ha");
        let bad = Config {
            service_providers: ServiceProvidersSection {
                service_provider: vec!["L3_ROUTER_NAT:ha".into()],
            },
            ..Config::default()
        };
        let err = bad.settings().unwrap_err().to_string();
        assert!(
            err.contains("`service_providers.service_provider`"),
            "{err}"
        );
    }
}
