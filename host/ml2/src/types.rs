//! Type drivers: the segment types a network can have (`flat`, `vlan`, `vxlan`, `geneve`,
//! `gre`, `local`, and networking-midonet's `midonet` and `uplink`), how provider segments are
//! validated and reserved, how project networks get a segment, and the MTU each type leaves
//! for tenants.

use std::collections::BTreeMap;

use neutrino_store::Conn as AnyConnection;
use neutrino_store::model::Segment;
use neutrino_store::segments;

use crate::error::{Error, Result};

/// A requested segment: the `provider:*` attributes (any of them may be missing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderSpec {
    /// `provider:network_type`.
    pub network_type: Option<String>,
    /// `provider:physical_network`.
    pub physical_network: Option<String>,
    /// `provider:segmentation_id`.
    pub segmentation_id: Option<i64>,
}

/// An inclusive range of segmentation ids.
pub type IdRange = (i64, i64);

/// ML2 type-driver settings (Neutron's `[ml2]` and `[ml2_type_*]` options).
#[derive(Debug, Clone)]
pub struct TypeConfig {
    /// Enabled type drivers.
    pub type_drivers: Vec<String>,
    /// Types tried, in order, for project networks.
    pub tenant_network_types: Vec<String>,
    /// Physical networks allowed for flat networks (`*` = any).
    pub flat_networks: Vec<String>,
    /// VLAN ranges per physical network (an empty list = provider networks only).
    pub network_vlan_ranges: BTreeMap<String, Vec<IdRange>>,
    /// VXLAN VNI ranges for project networks.
    pub vxlan_vni_ranges: Vec<IdRange>,
    /// Geneve VNI ranges for project networks.
    pub geneve_vni_ranges: Vec<IdRange>,
    /// GRE tunnel id ranges for project networks.
    pub gre_tunnel_id_ranges: Vec<IdRange>,
    /// MTU of the physical network.
    pub global_physnet_mtu: i64,
    /// Path MTU for tunnels (0 = global_physnet_mtu).
    pub path_mtu: i64,
    /// MTU per physical network.
    pub physical_network_mtus: BTreeMap<String, i64>,
    /// Geneve header size.
    pub geneve_max_header_size: i64,
}

impl Default for TypeConfig {
    fn default() -> Self {
        let mut vlan = BTreeMap::new();
        vlan.insert("physnet1".to_string(), vec![(1, 4094)]);
        TypeConfig {
            type_drivers: ["flat", "vlan", "vxlan", "geneve", "gre", "local"]
                .map(String::from)
                .to_vec(),
            tenant_network_types: vec!["vxlan".into()],
            flat_networks: vec!["physnet1".into()],
            network_vlan_ranges: vlan,
            vxlan_vni_ranges: vec![(1, 65535)],
            geneve_vni_ranges: vec![(1, 65535)],
            gre_tunnel_id_ranges: vec![(1, 65535)],
            global_physnet_mtu: 1500,
            path_mtu: 0,
            physical_network_mtus: BTreeMap::new(),
            geneve_max_header_size: 30,
        }
    }
}

/// Parse Neutron's `physnet:min:max` / `physnet` VLAN range syntax.
pub fn parse_vlan_ranges(
    items: &[String],
) -> std::result::Result<BTreeMap<String, Vec<IdRange>>, String> {
    let mut out: BTreeMap<String, Vec<IdRange>> = BTreeMap::new();
    for item in items {
        let parts: Vec<&str> = item.split(':').collect();
        match parts.as_slice() {
            [physnet] if !physnet.is_empty() => {
                out.entry(physnet.to_string()).or_default().push((1, 4094));
            }
            [physnet, min, max] if !physnet.is_empty() => {
                let range = parse_range(&format!("{min}:{max}"), 1, 4094)?;
                out.entry(physnet.to_string()).or_default().push(range);
            }
            _ => return Err(format!("`{item}` is not physnet or physnet:min:max")),
        }
    }
    Ok(out)
}

/// Parse `min:max` within `[lo, hi]`.
pub fn parse_range(item: &str, lo: i64, hi: i64) -> std::result::Result<IdRange, String> {
    let (a, b) = item
        .split_once(':')
        .ok_or_else(|| format!("`{item}` is not min:max"))?;
    let a: i64 = a
        .trim()
        .parse()
        .map_err(|_| format!("`{item}`: `{a}` is not a number"))?;
    let b: i64 = b
        .trim()
        .parse()
        .map_err(|_| format!("`{item}`: `{b}` is not a number"))?;
    if a < lo || b > hi || a > b {
        return Err(format!("`{item}` must satisfy {lo} <= min <= max <= {hi}"));
    }
    Ok((a, b))
}

/// The type manager: validates, reserves, allocates and releases segments.
#[derive(Debug, Clone)]
pub struct TypeManager {
    config: TypeConfig,
}

const TUNNELS: [&str; 3] = ["vxlan", "geneve", "gre"];

/// networking-midonet's type drivers (`type_midonet.py`, `type_uplink.py`): segments with
/// nothing but their type (no physical network, no segmentation id, nothing reserved),
/// for networks MidoNet implements (`midonet`) and its uplinks to the outside (`uplink`).
pub const MIDONET_TYPES: [&str; 2] = ["midonet", "uplink"];

fn max_id(network_type: &str) -> i64 {
    match network_type {
        "vlan" => 4094,
        "gre" => u32::MAX as i64,
        _ => (1 << 24) - 1,
    }
}

impl TypeManager {
    /// A manager for these settings.
    pub fn new(config: TypeConfig) -> TypeManager {
        TypeManager { config }
    }

    /// The settings.
    pub fn config(&self) -> &TypeConfig {
        &self.config
    }

    /// Check a fully or partially specified provider segment (Neutron's
    /// `validate_provider_segment`), filling nothing in.
    pub fn validate(&self, spec: &ProviderSpec) -> Result<()> {
        let Some(network_type) = spec.network_type.as_deref() else {
            return Err(Error::invalid_input("network_type required"));
        };
        if !self.config.type_drivers.iter().any(|t| t == network_type) {
            return Err(Error::invalid_input(format!(
                "network_type value '{network_type}' not supported"
            )));
        }
        let physnet = spec.physical_network.as_deref();
        match network_type {
            "local" => {
                if physnet.is_some() {
                    return Err(Error::invalid_input(
                        "physical_network 'local' prohibited for local provider network",
                    ));
                }
                if spec.segmentation_id.is_some() {
                    return Err(Error::invalid_input(
                        "segmentation_id prohibited for local provider network",
                    ));
                }
            }
            "flat" => {
                if spec.segmentation_id.is_some() {
                    return Err(Error::invalid_input(
                        "segmentation_id prohibited for flat provider network",
                    ));
                }
                let Some(p) = physnet else {
                    return Err(Error::invalid_input(
                        "physical_network required for flat provider network",
                    ));
                };
                let allowed = &self.config.flat_networks;
                if !allowed.iter().any(|a| a == "*" || a == p) {
                    return Err(Error::invalid_input(format!(
                        "physical_network '{p}' unknown for flat provider network"
                    )));
                }
            }
            "vlan" => {
                if let Some(p) = physnet {
                    if !self.config.network_vlan_ranges.contains_key(p) {
                        return Err(Error::invalid_input(format!(
                            "physical_network '{p}' unknown for VLAN provider network"
                        )));
                    }
                } else if spec.segmentation_id.is_some() {
                    return Err(Error::invalid_input(
                        "segmentation_id requires physical_network for VLAN provider network",
                    ));
                }
                if let Some(id) = spec.segmentation_id
                    && !(1..=4094).contains(&id)
                {
                    return Err(Error::invalid_input(format!(
                        "segmentation_id {id} out of range (1 through 4094)"
                    )));
                }
            }
            t if MIDONET_TYPES.contains(&t) => {
                if physnet.is_some() {
                    return Err(Error::invalid_input(format!(
                        "physical_network prohibited for {t} provider network"
                    )));
                }
                if spec.segmentation_id.is_some() {
                    return Err(Error::invalid_input(format!(
                        "segmentation_id prohibited for {t} provider network"
                    )));
                }
            }
            t if TUNNELS.contains(&t) => {
                if physnet.is_some() {
                    return Err(Error::invalid_input(format!(
                        "provider:physical_network specified for {} network",
                        t.to_uppercase()
                    )));
                }
                if let Some(id) = spec.segmentation_id {
                    let max = max_id(t);
                    if !(1..=max).contains(&id) {
                        return Err(Error::invalid_input(format!(
                            "{} ID {id} out of range (1 through {max})",
                            t.to_uppercase()
                        )));
                    }
                }
            }
            other => {
                return Err(Error::invalid_input(format!(
                    "network_type value '{other}' not supported"
                )));
            }
        }
        Ok(())
    }

    /// Reserve a provider segment inside the transaction, choosing an id when it is only
    /// partially specified.
    pub async fn reserve(
        &self,
        conn: &mut AnyConnection,
        network_id: &str,
        spec: &ProviderSpec,
    ) -> Result<(String, Option<String>, Option<i64>)> {
        self.validate(spec)?;
        let network_type = spec.network_type.clone().unwrap_or_default();
        match network_type.as_str() {
            t if t == "local" || MIDONET_TYPES.contains(&t) => Ok((network_type, None, None)),
            "flat" => {
                let physnet = spec.physical_network.clone().unwrap_or_default();
                if !segments::reserve(conn, "flat", &physnet, 0, network_id).await? {
                    return Err(Error::conflict(
                        "FlatNetworkInUse",
                        format!(
                            "Unable to create the flat network. Physical network {physnet} is in use."
                        ),
                    ));
                }
                Ok((network_type, Some(physnet), None))
            }
            "vlan" => match (&spec.physical_network, spec.segmentation_id) {
                (Some(physnet), Some(id)) => {
                    if !segments::reserve(conn, "vlan", physnet, id, network_id).await? {
                        return Err(Error::conflict(
                            "VlanIdInUse",
                            format!(
                                "Unable to create the network. The VLAN {id} on physical network {physnet} is in use."
                            ),
                        ));
                    }
                    Ok((network_type, Some(physnet.clone()), Some(id)))
                }
                (physnet, _) => self
                    .allocate_vlan(conn, network_id, physnet.as_deref())
                    .await?
                    .ok_or_else(no_network_available),
            },
            t => match spec.segmentation_id {
                Some(id) => {
                    if !segments::reserve(conn, t, "", id, network_id).await? {
                        return Err(Error::conflict(
                            "TunnelIdInUse",
                            format!("Unable to create the network. The tunnel ID {id} is in use."),
                        ));
                    }
                    Ok((network_type, None, Some(id)))
                }
                None => self
                    .allocate_tunnel(conn, network_id, t)
                    .await?
                    .ok_or_else(no_network_available),
            },
        }
    }

    /// Allocate a segment for a project network from the first tenant type with room.
    pub async fn allocate_tenant(
        &self,
        conn: &mut AnyConnection,
        network_id: &str,
    ) -> Result<(String, Option<String>, Option<i64>)> {
        for t in &self.config.tenant_network_types {
            let found = match t.as_str() {
                "local" | "midonet" | "uplink" => Some((t.clone(), None, None)),
                "vlan" => self.allocate_vlan(conn, network_id, None).await?,
                "flat" => None,
                t => self.allocate_tunnel(conn, network_id, t).await?,
            };
            if let Some(seg) = found {
                return Ok(seg);
            }
        }
        Err(no_network_available())
    }

    async fn allocate_vlan(
        &self,
        conn: &mut AnyConnection,
        network_id: &str,
        physnet: Option<&str>,
    ) -> Result<Option<(String, Option<String>, Option<i64>)>> {
        for (p, ranges) in &self.config.network_vlan_ranges {
            if physnet.is_some_and(|want| want != p) {
                continue;
            }
            if let Some(id) = allocate_from(conn, "vlan", p, ranges, network_id).await? {
                return Ok(Some(("vlan".into(), Some(p.clone()), Some(id))));
            }
        }
        Ok(None)
    }

    async fn allocate_tunnel(
        &self,
        conn: &mut AnyConnection,
        network_id: &str,
        network_type: &str,
    ) -> Result<Option<(String, Option<String>, Option<i64>)>> {
        let ranges = match network_type {
            "vxlan" => &self.config.vxlan_vni_ranges,
            "geneve" => &self.config.geneve_vni_ranges,
            "gre" => &self.config.gre_tunnel_id_ranges,
            _ => return Ok(None),
        };
        Ok(allocate_from(conn, network_type, "", ranges, network_id)
            .await?
            .map(|id| (network_type.to_string(), None, Some(id))))
    }

    /// Release a segment's id.
    pub async fn release(&self, conn: &mut AnyConnection, segment: &Segment) -> Result<()> {
        match segment.network_type.as_str() {
            t if t == "local" || MIDONET_TYPES.contains(&t) => Ok(()),
            "flat" => Ok(segments::release(
                conn,
                "flat",
                segment.physical_network.as_deref().unwrap_or(""),
                0,
            )
            .await?),
            t => {
                if let Some(id) = segment.segmentation_id {
                    segments::release(
                        conn,
                        t,
                        segment.physical_network.as_deref().unwrap_or(""),
                        id,
                    )
                    .await?;
                }
                Ok(())
            }
        }
    }

    /// The MTU a segment leaves for instances.
    pub fn mtu(&self, network_type: &str, physical_network: Option<&str>) -> i64 {
        let c = &self.config;
        let tunnel_base = if c.path_mtu > 0 {
            c.path_mtu.min(c.global_physnet_mtu)
        } else {
            c.global_physnet_mtu
        };
        match network_type {
            "flat" | "vlan" => {
                let phys = physical_network
                    .and_then(|p| c.physical_network_mtus.get(p).copied())
                    .unwrap_or(c.global_physnet_mtu);
                phys.min(c.global_physnet_mtu)
            }
            "vxlan" => tunnel_base - 20 - 30,
            "gre" => tunnel_base - 20 - 22,
            "geneve" => tunnel_base - 20 - c.geneve_max_header_size,
            _ => c.global_physnet_mtu,
        }
    }
}

fn no_network_available() -> Error {
    Error::neutron(
        "NoNetworkAvailable",
        503,
        "Unable to create the network. No tenant network is available for allocation.",
    )
}

async fn allocate_from(
    conn: &mut AnyConnection,
    network_type: &str,
    physnet: &str,
    ranges: &[IdRange],
    network_id: &str,
) -> Result<Option<i64>> {
    for &(min, max) in ranges {
        for _ in 0..32 {
            let Some(id) = segments::lowest_free(conn, network_type, physnet, min, max).await?
            else {
                break;
            };
            if id > max {
                break;
            }
            if segments::reserve(conn, network_type, physnet, id, network_id).await? {
                return Ok(Some(id));
            }
        }
    }
    Ok(None)
}
