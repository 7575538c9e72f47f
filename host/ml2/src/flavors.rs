//! Service flavors and service profiles (`flavors`), and the configured service providers
//! (`service-type`), as Neutron's flavors plugin keeps them.
//!
//! A flavor names a service type (`L3_ROUTER_NAT`, …); operators bind service profiles to
//! it, each naming the driver of a configured provider (or carrying only `metainfo`).
//! Flavors and profiles are admin-managed; anyone may list flavors, only admins profiles.

use neutrino_store::flavors::{self as store, Flavor, ServiceProfile};
use neutrino_store::query::ListQuery;
use neutrino_store::{Conn, StoreError};

use crate::checks::{admin_only, has_role};
use crate::error::{Error, Result};
use crate::networks::marker_error;
use crate::{Plugin, RequestContext};

/// One `[service_providers] service_provider` entry:
/// `<service_type>:<name>:<driver>[:default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProvider {
    /// Service type (`L3_ROUTER_NAT`, `VPN`, …).
    pub service_type: String,
    /// Provider name (lower case, as Neutron normalises it).
    pub name: String,
    /// Driver (a class path in Neutron; any text here).
    pub driver: String,
    /// The default provider of its service type.
    pub default: bool,
}

/// The L3 providers Neutron's L3 router plugin always adds after the configured ones
/// (`_LegacyPlusProviderConfiguration`): (name, driver, supports distributed, requires it,
/// supports ha, requires it).
pub const L3_PROVIDERS: [(&str, &str, [bool; 4]); 4] = [
    (
        "dvrha",
        "neutron.services.l3_router.service_providers.dvrha.DvrHaDriver",
        [true, true, true, true],
    ),
    (
        "dvr",
        "neutron.services.l3_router.service_providers.dvr.DvrDriver",
        [true, true, false, false],
    ),
    (
        "ha",
        "neutron.services.l3_router.service_providers.ha.HaDriver",
        [false, false, true, true],
    ),
    (
        "single_node",
        "neutron.services.l3_router.service_providers.single_node.SingleNodeDriver",
        [false, false, false, false],
    ),
];

/// Add [`L3_PROVIDERS`] to configured providers, each unless its name (for
/// `L3_ROUTER_NAT`) or its driver is taken already, as Neutron does.
pub fn with_l3_providers(mut providers: Vec<ServiceProvider>) -> Vec<ServiceProvider> {
    for (name, driver, _) in L3_PROVIDERS {
        let taken = providers
            .iter()
            .any(|p| p.driver == driver || (p.service_type == "L3_ROUTER_NAT" && p.name == name));
        if !taken {
            providers.push(ServiceProvider {
                service_type: "L3_ROUTER_NAT".into(),
                name: name.into(),
                driver: driver.into(),
                default: false,
            });
        }
    }
    providers
}

/// Whether one of [`L3_PROVIDERS`]' drivers accepts `distributed` / `ha` set to `flag`
/// (Neutron's `_FeatureFlag.is_compatible`); `None` for other drivers.
pub fn l3_driver_accepts(driver: &str, ha: bool, flag: bool) -> Option<bool> {
    let (_, _, f) = L3_PROVIDERS.iter().find(|(_, d, _)| *d == driver)?;
    let (supports, requires) = if ha { (f[2], f[3]) } else { (f[0], f[1]) };
    Some(flag == requires || (flag && supports))
}

/// Parse `service_provider` entries with Neutron's rules: the format, names of at most 255
/// characters, a driver used by one provider only, one provider per type and name, and at
/// most one default per type.
pub fn parse_service_providers(
    entries: &[String],
) -> std::result::Result<Vec<ServiceProvider>, String> {
    let mut out: Vec<ServiceProvider> = Vec::new();
    for entry in entries {
        let parts: Vec<&str> = entry.split(':').collect();
        if parts.len() < 3 || parts.len() > 4 || parts[..3].iter().any(|p| p.is_empty()) {
            return Err(format!(
                "invalid service provider format '{entry}': use <service_type>:<name>:<driver>[:default]"
            ));
        }
        let default = match parts.get(3) {
            None | Some(&"") => false,
            Some(&"default") => true,
            Some(_) => {
                return Err(format!(
                    "invalid provider format '{entry}': the last part should be 'default' or empty"
                ));
            }
        };
        if parts[1].chars().count() > 255 {
            return Err(format!(
                "provider name {} is limited to 255 characters",
                parts[1]
            ));
        }
        let p = ServiceProvider {
            service_type: parts[0].to_string(),
            name: parts[1].to_lowercase(),
            driver: parts[2].to_string(),
            default,
        };
        if out.iter().any(|o| o.driver == p.driver) {
            return Err(format!(
                "driver {} is not unique across providers",
                p.driver
            ));
        }
        if p.default
            && out
                .iter()
                .any(|o| o.service_type == p.service_type && o.default)
        {
            return Err(format!(
                "multiple default providers for service {}",
                p.service_type
            ));
        }
        if out
            .iter()
            .any(|o| o.service_type == p.service_type && o.name == p.name)
        {
            return Err(format!(
                "multiple providers named {} for service {}",
                p.name, p.service_type
            ));
        }
        out.push(p);
    }
    Ok(out)
}

/// A validated flavor create request.
#[derive(Debug, Clone, Default)]
pub struct FlavorCreate {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Service type (checked by the caller against the loaded service plugins).
    pub service_type: String,
    /// Usable.
    pub enabled: bool,
    /// Profiles to bind at once.
    pub service_profiles: Vec<String>,
}

/// A validated flavor update (`None` keeps the value).
#[derive(Debug, Clone, Default)]
pub struct FlavorUpdate {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Usable.
    pub enabled: Option<bool>,
    /// The complete new set of bound profiles.
    pub service_profiles: Option<Vec<String>>,
}

/// A validated service profile create request.
#[derive(Debug, Clone, Default)]
pub struct ProfileCreate {
    /// Description.
    pub description: String,
    /// Driver (empty: none).
    pub driver: String,
    /// Usable.
    pub enabled: bool,
    /// Free-form text.
    pub metainfo: String,
}

/// A validated service profile update (`None` keeps the value).
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    /// Description.
    pub description: Option<String>,
    /// Driver.
    pub driver: Option<String>,
    /// Usable.
    pub enabled: Option<bool>,
    /// Free-form text.
    pub metainfo: Option<String>,
}

pub(crate) fn flavor_not_found(id: &str) -> Error {
    Error::neutron(
        "FlavorNotFound",
        404,
        format!("Flavor {id} could not be found."),
    )
}

fn profile_not_found(id: &str) -> Error {
    Error::neutron(
        "ServiceProfileNotFound",
        404,
        format!("Service Profile {id} could not be found."),
    )
}

fn profile_in_use(id: &str) -> Error {
    Error::conflict(
        "ServiceProfileInUse",
        format!("Service Profile {id} is used by some service instance."),
    )
}

fn binding_not_found(profile: &str, flavor: &str) -> Error {
    Error::neutron(
        "FlavorServiceProfileBindingNotFound",
        404,
        format!("Service Profile {profile} is not associated with flavor {flavor}."),
    )
}

fn driver_not_found(driver: &str) -> Error {
    Error::neutron(
        "ServiceProfileDriverNotFound",
        404,
        format!("Service Profile driver {driver} could not be found."),
    )
}

impl Plugin {
    /// The configured service providers (`[service_providers] service_provider`).
    pub fn service_providers(&self) -> &[ServiceProvider] {
        &self.core().service_providers
    }

    fn check_driver(&self, driver: &str) -> Result<()> {
        if self.service_providers().iter().any(|p| p.driver == driver) {
            Ok(())
        } else {
            Err(driver_not_found(driver))
        }
    }

    /// Bind profiles to a flavor inside a transaction (each must exist).
    async fn bind_profiles(&self, tx: &mut Conn, flavor_id: &str, ids: &[String]) -> Result<()> {
        for p in ids {
            if store::get_profile(tx, p).await?.is_none() {
                return Err(profile_not_found(p));
            }
            store::bind(tx, flavor_id, p).await.map_err(|e| match e {
                StoreError::ForeignKey(_) => profile_not_found(p),
                other => other.into(),
            })?;
        }
        Ok(())
    }

    /// Create a flavor (admin).
    pub async fn create_flavor(&self, ctx: &RequestContext, r: FlavorCreate) -> Result<Flavor> {
        admin_only(ctx, "create_flavor")?;
        let plugin = self.clone();
        crate::in_tx!(self.store(), |tx| {
            let mut f = Flavor {
                id: uuid::Uuid::new_v4().to_string(),
                name: r.name.clone(),
                description: r.description.clone(),
                service_type: r.service_type.clone(),
                enabled: r.enabled,
                service_profiles: Vec::new(),
            };
            store::insert_flavor(tx, &f).await?;
            plugin.bind_profiles(tx, &f.id, &r.service_profiles).await?;
            let mut ids = r.service_profiles.clone();
            ids.sort();
            ids.dedup();
            f.service_profiles = ids;
            Ok::<_, Error>(f)
        })
    }

    /// Show a flavor (anyone with a role).
    pub async fn get_flavor(&self, ctx: &RequestContext, id: &str) -> Result<Flavor> {
        if !has_role(ctx, "reader") {
            return Err(flavor_not_found(id));
        }
        let mut conn = self.read().await?;
        store::get_flavor(&mut conn, id)
            .await?
            .ok_or_else(|| flavor_not_found(id))
    }

    /// List flavors.
    pub async fn list_flavors(&self, ctx: &RequestContext, q: ListQuery) -> Result<Vec<Flavor>> {
        if !has_role(ctx, "reader") {
            return Ok(Vec::new());
        }
        let mut conn = self.read().await?;
        store::list_flavors(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Flavor"))
    }

    /// Update a flavor (admin); its service type never changes.
    pub async fn update_flavor(
        &self,
        ctx: &RequestContext,
        id: &str,
        u: FlavorUpdate,
    ) -> Result<Flavor> {
        admin_only(ctx, "update_flavor")?;
        let plugin = self.clone();
        let id = id.to_string();
        crate::in_tx!(self.store(), |tx| {
            store::lock(tx, "flavors", &id).await?;
            let mut f = store::get_flavor(tx, &id)
                .await?
                .ok_or_else(|| flavor_not_found(&id))?;
            if let Some(v) = &u.name {
                f.name = v.clone();
            }
            if let Some(v) = &u.description {
                f.description = v.clone();
            }
            if let Some(v) = u.enabled {
                f.enabled = v;
            }
            store::update_flavor(tx, &f).await?;
            if let Some(wanted) = &u.service_profiles {
                for old in &f.service_profiles {
                    if !wanted.contains(old) {
                        store::unbind(tx, &id, old).await?;
                    }
                }
                let new: Vec<String> = wanted
                    .iter()
                    .filter(|p| !f.service_profiles.contains(p))
                    .cloned()
                    .collect();
                plugin.bind_profiles(tx, &id, &new).await?;
                let mut ids = wanted.clone();
                ids.sort();
                ids.dedup();
                f.service_profiles = ids;
            }
            Ok::<_, Error>(f)
        })
    }

    /// Delete a flavor (admin); its profile bindings go with it.
    pub async fn delete_flavor(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        admin_only(ctx, "delete_flavor")?;
        let id = id.to_string();
        crate::in_tx!(self.store(), |tx| {
            let deleted = store::delete_flavor(tx, &id).await.map_err(|e| match e {
                // Something (a router) still uses it.
                StoreError::ForeignKey(_) => Error::conflict(
                    "FlavorInUse",
                    format!("Flavor {id} is used by some service instance."),
                ),
                other => other.into(),
            })?;
            if !deleted {
                return Err(flavor_not_found(&id));
            }
            Ok::<_, Error>(())
        })
    }

    /// Create a service profile (admin): it needs a driver of a configured provider, or
    /// `metainfo`.
    pub async fn create_service_profile(
        &self,
        ctx: &RequestContext,
        r: ProfileCreate,
    ) -> Result<ServiceProfile> {
        admin_only(ctx, "create_service_profile")?;
        if !r.driver.is_empty() {
            self.check_driver(&r.driver)?;
        } else if r.metainfo.is_empty() {
            return Err(Error::neutron(
                "ServiceProfileEmpty",
                400,
                "Service Profile needs either a driver or metainfo.",
            ));
        }
        let p = ServiceProfile {
            id: uuid::Uuid::new_v4().to_string(),
            description: r.description,
            driver: r.driver,
            enabled: r.enabled,
            metainfo: r.metainfo,
        };
        crate::in_tx!(self.store(), |tx| {
            store::insert_profile(tx, &p).await?;
            Ok::<_, Error>(p.clone())
        })
    }

    /// Show a service profile (admin; hidden from others).
    pub async fn get_service_profile(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<ServiceProfile> {
        if !ctx.is_admin {
            return Err(profile_not_found(id));
        }
        let mut conn = self.read().await?;
        store::get_profile(&mut conn, id)
            .await?
            .ok_or_else(|| profile_not_found(id))
    }

    /// List service profiles (admins; empty for others).
    pub async fn list_service_profiles(
        &self,
        ctx: &RequestContext,
        q: ListQuery,
    ) -> Result<Vec<ServiceProfile>> {
        if !ctx.is_admin {
            return Ok(Vec::new());
        }
        let mut conn = self.read().await?;
        store::list_profiles(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Service profile"))
    }

    /// Update a service profile (admin) that no flavor uses.
    pub async fn update_service_profile(
        &self,
        ctx: &RequestContext,
        id: &str,
        u: ProfileUpdate,
    ) -> Result<ServiceProfile> {
        admin_only(ctx, "update_service_profile")?;
        if let Some(d) = u.driver.as_deref().filter(|d| !d.is_empty()) {
            self.check_driver(d)?;
        }
        let id = id.to_string();
        crate::in_tx!(self.store(), |tx| {
            store::lock(tx, "service_profiles", &id).await?;
            let mut p = store::get_profile(tx, &id)
                .await?
                .ok_or_else(|| profile_not_found(&id))?;
            if store::profile_in_use(tx, &id).await? {
                return Err(profile_in_use(&id));
            }
            if let Some(v) = &u.description {
                p.description = v.clone();
            }
            if let Some(v) = &u.driver {
                p.driver = v.clone();
            }
            if let Some(v) = u.enabled {
                p.enabled = v;
            }
            if let Some(v) = &u.metainfo {
                p.metainfo = v.clone();
            }
            store::update_profile(tx, &p).await?;
            Ok::<_, Error>(p)
        })
    }

    /// Delete a service profile (admin) that no flavor uses.
    pub async fn delete_service_profile(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        admin_only(ctx, "delete_service_profile")?;
        let id = id.to_string();
        crate::in_tx!(self.store(), |tx| {
            store::lock(tx, "service_profiles", &id).await?;
            if store::get_profile(tx, &id).await?.is_none() {
                return Err(profile_not_found(&id));
            }
            if store::profile_in_use(tx, &id).await? {
                return Err(profile_in_use(&id));
            }
            store::delete_profile(tx, &id).await.map_err(|e| match e {
                StoreError::ForeignKey(_) => profile_in_use(&id),
                other => other.into(),
            })?;
            Ok::<_, Error>(())
        })
    }

    /// Bind a service profile to a flavor (admin); 409 when they are bound already.
    pub async fn associate_flavor_profile(
        &self,
        ctx: &RequestContext,
        flavor_id: &str,
        profile_id: &str,
    ) -> Result<()> {
        admin_only(ctx, "create_flavor_service_profile")?;
        let (flavor_id, profile_id) = (flavor_id.to_string(), profile_id.to_string());
        crate::in_tx!(self.store(), |tx| {
            if store::get_flavor(tx, &flavor_id).await?.is_none() {
                return Err(flavor_not_found(&flavor_id));
            }
            if store::get_profile(tx, &profile_id).await?.is_none() {
                return Err(profile_not_found(&profile_id));
            }
            let inserted = store::bind(tx, &flavor_id, &profile_id)
                .await
                .map_err(|e| match e {
                    StoreError::ForeignKey(_) => profile_not_found(&profile_id),
                    other => other.into(),
                })?;
            if !inserted {
                return Err(Error::conflict(
                    "FlavorServiceProfileBindingExists",
                    format!(
                        "Service Profile {profile_id} is already associated with flavor {flavor_id}."
                    ),
                ));
            }
            Ok::<_, Error>(())
        })
    }

    /// Unbind a service profile from a flavor (admin).
    pub async fn disassociate_flavor_profile(
        &self,
        ctx: &RequestContext,
        flavor_id: &str,
        profile_id: &str,
    ) -> Result<()> {
        admin_only(ctx, "delete_flavor_service_profile")?;
        let (flavor_id, profile_id) = (flavor_id.to_string(), profile_id.to_string());
        crate::in_tx!(self.store(), |tx| {
            if !store::unbind(tx, &flavor_id, &profile_id).await? {
                return Err(binding_not_found(&profile_id, &flavor_id));
            }
            Ok::<_, Error>(())
        })
    }

    /// Whether a profile is bound to a flavor (404 when not).
    pub async fn get_flavor_profile(
        &self,
        ctx: &RequestContext,
        flavor_id: &str,
        profile_id: &str,
    ) -> Result<()> {
        if !has_role(ctx, "reader") {
            return Err(binding_not_found(profile_id, flavor_id));
        }
        let mut conn = self.read().await?;
        if store::bound(&mut conn, flavor_id, profile_id).await? {
            Ok(())
        } else {
            Err(binding_not_found(profile_id, flavor_id))
        }
    }

    /// The provider a flavor leads to: the driver of its first bound profile and the
    /// provider configured with that driver (`next_providers`).
    pub async fn flavor_next_provider(
        &self,
        ctx: &RequestContext,
        flavor_id: &str,
    ) -> Result<(String, String)> {
        let flavor = self.get_flavor(ctx, flavor_id).await?;
        let Some(first) = flavor.service_profiles.first() else {
            return Err(binding_not_found("", flavor_id));
        };
        let mut conn = self.read().await?;
        let profile = store::get_profile(&mut conn, first)
            .await?
            .ok_or_else(|| profile_not_found(first))?;
        if !profile.enabled {
            return Err(Error::neutron(
                "ServiceProfileDisabled",
                503,
                "Service Profile is not enabled.",
            ));
        }
        let provider = self
            .service_providers()
            .iter()
            .find(|p| p.driver == profile.driver)
            .ok_or_else(|| driver_not_found(&profile.driver))?;
        Ok((profile.driver, provider.name.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entries: &[&str]) -> std::result::Result<Vec<ServiceProvider>, String> {
        parse_service_providers(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn providers_are_parsed_with_neutrons_format() {
        let p = parse(&[
            "L3_ROUTER_NAT:Single_Node:drv.single:default",
            "VPN:x:drv.vpn:",
        ])
        .unwrap();
        assert_eq!(p[0].name, "single_node", "names are lower-cased");
        assert!(p[0].default && !p[1].default);
    }

    #[test]
    fn malformed_and_conflicting_providers_are_refused() {
        assert!(parse(&["L3_ROUTER_NAT:x"]).is_err());
        assert!(parse(&["L3_ROUTER_NAT:x:d:yes"]).is_err());
        assert!(
            parse(&["A:x:d", "B:y:d"]).is_err(),
            "one driver, two providers"
        );
        assert!(parse(&["A:x:d1:default", "A:y:d2:default"]).is_err());
        assert!(parse(&["A:x:d1", "A:X:d2"]).is_err(), "same name twice");
        assert!(parse(&["A:x:d1:default", "B:y:d2:default"]).is_ok());
    }
}
