//! [`Runtime`] turns driver bytes into a checked, initialized
//! [`PreparedDriver`], whose methods call the driver's hooks.
//!
//! The load pipeline ([`Runtime::prepare`]), each step with its own
//! [`LoadError`]:
//! 1. manifest: embedded section and/or `driver.toml`, which must agree;
//! 2. contract version in the manifest is supported;
//! 3. settings: destinations parse, limits are sane;
//! 4. compile, or load from the compile cache (blocking pool);
//! 5. the exported `neutrino:ml2/mechanism@X.Y.Z` is a supported version
//!    (and the manifest says the same family);
//! 6. every import is a granted capability or harmless WASI;
//! 7. link against the family's bindings (`InstancePre`);
//! 8. the driver's own `initialize` passes.

use crate::abi::{DriverPre, Linkers};
use crate::cache::{CompileCache, Source};
use crate::call::{self, Op, Outcome};
use crate::capability::{self, CapabilitySet};
use crate::config::{DriverSettings, FailurePolicy, Limits, RuntimeConfig};
use crate::contract::{self, Family};
use crate::engine;
use crate::error::{CallError, LoadError, RuntimeError};
use crate::imports::DriverEnv;
use crate::limits::{MAX_ERROR_MESSAGE, Refusal, truncate, validate_bind};
use crate::manifest::{self, Manifest};
use crate::net::{Allowlist, HttpTransport, HyperTransport};
use crate::services::{HostServices, NoServices};
use crate::stats::{DriverStats, StatsSnapshot};
use crate::types::{
    BindResult, Hook, NetworkContext, PortContext, SecurityGroupContext, SecurityGroupRuleContext,
    SubnetContext,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The driver runtime: one engine, its linkers and compile cache.
/// Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linkers: Linkers,
    cache: CompileCache,
    transport: Arc<dyn HttpTransport>,
    max_memory_bytes: u64,
    epoch_tick: Duration,
}

/// What is known about a prepared driver.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverMeta {
    /// The driver's name (from its manifest).
    pub name: String,
    /// Its version (from its manifest).
    pub version: String,
    /// Its description.
    pub description: String,
    /// sha256 of the `.wasm`, hex.
    pub sha256: String,
    /// Size of the `.wasm` in bytes.
    pub size: usize,
    /// The contract version it was built for (`neutrino:ml2@0.1.0`, from
    /// its exports).
    pub contract: String,
    /// The capabilities it was granted: manifest ∩ operator grants.
    pub capabilities: CapabilitySet,
    /// Whether compiled code came from the cache.
    pub compiled_from_cache: bool,
    /// Time spent compiling or loading from the cache.
    pub compile_duration: Duration,
    /// Time from bytes to ready, including `initialize`.
    pub prepare_duration: Duration,
    /// What ML2 should do when a call faults.
    pub failure_policy: FailurePolicy,
    /// Configuration keys its manifest declares secret.
    pub secrets: Vec<String>,
    /// Its postcommit hooks are journaled (manifest `journal = true`).
    pub journal: bool,
    /// How often the host calls its `periodic` export: the manifest's
    /// `periodic_interval`, if the component exports `periodic` (else `None`).
    pub periodic_interval: Option<Duration>,
    /// The hooks its manifest says it implements (`None`: all).
    pub hooks: Option<Vec<String>>,
}

impl DriverMeta {
    /// Whether the host calls hook `name` (`create_port_precommit`, …) of this version.
    pub fn implements(&self, name: &str) -> bool {
        self.hooks
            .as_ref()
            .is_none_or(|hooks| hooks.iter().any(|h| h == name))
    }

    /// `version (sha256 prefix)`, the label stats use per version.
    pub fn version_label(&self) -> String {
        format!(
            "{} ({})",
            self.version,
            &self.sha256[..12.min(self.sha256.len())]
        )
    }
}

/// A driver ready to be called: compiled, checked, linked, initialized.
/// Every call runs in a fresh instance.
pub struct PreparedDriver {
    pub(crate) meta: DriverMeta,
    pub(crate) engine: Engine,
    pub(crate) pre: DriverPre,
    pub(crate) family: Family,
    pub(crate) env: Arc<DriverEnv>,
    pub(crate) limits: Limits,
    pub(crate) memory_bytes: usize,
    pub(crate) epoch_tick: Duration,
    pub(crate) permits: tokio::sync::Semaphore,
    stats: DriverStats,
    version_label: String,
}

impl std::fmt::Debug for PreparedDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedDriver")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Create the engine, the epoch ticker, the linkers and the cache.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let engine = engine::build(&config)?;
        engine::start_ticker(&engine, config.epoch_tick)?;
        let linkers = Linkers::new(&engine).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let cache = CompileCache::new(&engine, config.cache_dir.as_deref()).map_err(|source| {
            RuntimeError::CacheDir {
                path: config.cache_dir.clone().unwrap_or_default(),
                source,
            }
        })?;
        let transport: Arc<dyn HttpTransport> = match config.http {
            Some(t) => t,
            None => Arc::new(HyperTransport::new().map_err(RuntimeError::Http)?),
        };
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linkers,
                cache,
                transport,
                max_memory_bytes: config.max_memory_bytes,
                epoch_tick: config.epoch_tick,
            }),
        })
    }

    /// The contract versions this host runs, e.g. `["0.1.x"]`.
    pub fn supported_contracts() -> Vec<String> {
        Family::SUPPORTED.iter().map(|f| f.pattern()).collect()
    }

    /// The key of this engine's entries in the compile cache.
    pub fn engine_key(&self) -> &str {
        self.inner.cache.engine_key()
    }

    /// Load a driver: check, compile (or load from cache), link and run its
    /// `initialize` (without host services: state and agents fail as
    /// unavailable there). See the module docs for the steps.
    pub async fn prepare(
        &self,
        wasm: &[u8],
        manifest_toml: Option<&str>,
        settings: DriverSettings,
    ) -> Result<Arc<PreparedDriver>, LoadError> {
        let host: Arc<dyn HostServices> = Arc::new(NoServices);
        self.prepare_with_host(wasm, manifest_toml, settings, &host)
            .await
    }

    /// Like [`prepare`](Self::prepare), with host services for
    /// `initialize`.
    pub async fn prepare_with_host(
        &self,
        wasm: &[u8],
        manifest_toml: Option<&str>,
        settings: DriverSettings,
        host: &Arc<dyn HostServices>,
    ) -> Result<Arc<PreparedDriver>, LoadError> {
        let started = Instant::now();
        let sha256 = hex::encode(Sha256::digest(wasm));

        // 1-2. Manifest and its contract.
        let file = manifest_toml.map(Manifest::parse).transpose()?;
        let embedded = manifest::embedded(wasm, file.as_ref().map(|m| m.name.as_str()))?;
        let manifest = manifest::reconcile(embedded, file)?;
        let name = manifest.name.clone();
        let declared =
            contract::parse_contract_id(&manifest.contract).ok_or_else(|| LoadError::Manifest {
                driver: Some(name.clone()),
                message: format!("invalid contract {:?}", manifest.contract),
            })?;
        let family = Family::of(declared).ok_or_else(|| LoadError::UnsupportedContract {
            driver: name.clone(),
            found: declared.to_string(),
            supported: contract::supported_description(),
        })?;

        // 3. Settings.
        let settings_error = |message: String| LoadError::Settings {
            driver: name.clone(),
            message,
        };
        // The operator's `http.allow`, plus the origins of the URLs the driver's own
        // configuration names at the manifest's `destinations`.
        // Origins whose certificate the configuration says not to verify (`tls_verify`)
        // come first, so they are found before an explicit `allow` of the same origin.
        let named = crate::net::destinations::from_config(
            &settings.config,
            &manifest.destinations,
            &manifest.tls_verify,
        )
        .map_err(settings_error)?;
        let (verified, unverified): (Vec<_>, Vec<_>) =
            named.into_iter().partition(|n| n.verify_tls);
        let mut allowed = settings.http.allow.clone();
        allowed.extend(verified.into_iter().map(|n| n.origin));
        let mut allowlist = Allowlist::parse(&allowed).map_err(settings_error)?;
        let unverified: Vec<String> = unverified.into_iter().map(|n| n.origin).collect();
        if !unverified.is_empty() {
            tracing::warn!(driver = %name, origins = ?unverified, "certificate verification is off for these destinations");
        }
        allowlist
            .prepend_unverified(&unverified)
            .map_err(settings_error)?;
        let limits = settings.limits.clone();
        if limits.max_concurrent_calls == 0 {
            return Err(settings_error(
                "max_concurrent_calls must be at least 1".into(),
            ));
        }
        let mut memory_bytes = limits.memory_mib.saturating_mul(1 << 20);
        if memory_bytes > self.inner.max_memory_bytes {
            tracing::warn!(driver = %name, "memory limit of {} MiB lowered to the runtime's maximum of {} MiB", limits.memory_mib, self.inner.max_memory_bytes >> 20);
            memory_bytes = self.inner.max_memory_bytes;
        }

        // 4. Compile or load from cache, off the async workers.
        let compile_started = Instant::now();
        let inner = self.inner.clone();
        let bytes = wasm.to_vec();
        let key = sha256.clone();
        let compiled = tokio::task::spawn_blocking(move || {
            inner.cache.load_or_compile(&inner.engine, &bytes, &key)
        })
        .await
        .map_err(|e| LoadError::Compile {
            driver: name.clone(),
            message: format!("the compile task failed: {e}"),
        })?;
        let (component, source) = compiled.map_err(|e| LoadError::Compile {
            driver: name.clone(),
            message: format!("{e:#}"),
        })?;
        let compile_duration = compile_started.elapsed();

        // 5. The exported contract version.
        let found = exported_contract(&self.inner.engine, &component, &name)?;
        if Family::of(found) != Some(family) {
            return Err(LoadError::UnsupportedContract {
                driver: name.clone(),
                found: found.to_string(),
                supported: contract::supported_description(),
            });
        }

        // 6. Imports against capabilities.
        let granted = manifest.capabilities.intersection(settings.grants);
        let component_type = component.component_type();
        let imports: Vec<&str> = component_type
            .imports(&self.inner.engine)
            .map(|(n, _)| n)
            .collect();
        capability::check_imports(
            &name,
            family,
            imports,
            manifest.capabilities,
            settings.grants,
        )?;

        // 7. Link.
        let pre = DriverPre::new(&self.inner.linkers, family, &component).map_err(|e| {
            LoadError::Link {
                driver: name.clone(),
                message: format!("{e:#}"),
            }
        })?;

        let meta = DriverMeta {
            name: name.clone(),
            version: manifest.version.clone(),
            description: manifest.description.clone(),
            sha256,
            size: wasm.len(),
            contract: format!("{}@{found}", contract::PACKAGE),
            capabilities: granted,
            compiled_from_cache: source == Source::Cache,
            compile_duration,
            prepare_duration: Duration::ZERO,
            failure_policy: settings.failure_policy,
            secrets: manifest.secrets.clone(),
            journal: manifest.journal,
            hooks: manifest.hooks.clone(),
            periodic_interval: match (manifest.periodic_interval, pre.has_periodic()) {
                (Some(secs), true) => Some(Duration::from_secs(secs)),
                (Some(_), false) => {
                    tracing::warn!(driver = %name, "periodic_interval is set but the component does not export `periodic`: never called");
                    None
                }
                (None, _) => None,
            },
        };
        let env = Arc::new(DriverEnv {
            name: name.clone(),
            config: settings.config,
            allowlist,
            http: settings.http,
            transport: self.inner.transport.clone(),
            session: Default::default(),
        });
        let mut driver = PreparedDriver {
            version_label: meta.version_label(),
            meta,
            engine: self.inner.engine.clone(),
            pre,
            family,
            env,
            permits: tokio::sync::Semaphore::new(limits.max_concurrent_calls),
            memory_bytes: usize::try_from(memory_bytes).unwrap_or(usize::MAX),
            limits,
            epoch_tick: self.inner.epoch_tick,
            stats: DriverStats::default(),
        };

        // 8. The driver's own initialize.
        driver
            .call_unit(Op::Initialize, host)
            .await
            .map_err(|source| LoadError::Initialize {
                driver: name.clone(),
                source: Box::new(source),
            })?;
        driver.meta.prepare_duration = started.elapsed();
        tracing::info!(
            driver = %name,
            version = %driver.meta.version,
            sha256 = %driver.meta.sha256,
            from_cache = driver.meta.compiled_from_cache,
            ?compile_duration,
            prepare_duration = ?driver.meta.prepare_duration,
            "driver prepared"
        );
        Ok(Arc::new(driver))
    }
}

/// The contract version of the component's `neutrino:ml2/mechanism` export.
fn exported_contract(
    engine: &Engine,
    component: &Component,
    driver: &str,
) -> Result<contract::Version, LoadError> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(n, _)| n).collect();
    exports
        .iter()
        .find_map(|e| contract::parse_mechanism_export(e))
        .ok_or_else(|| LoadError::NotADriver {
            driver: driver.to_string(),
            exports: if exports.is_empty() {
                "(none)".into()
            } else {
                exports.join(", ")
            },
        })
}

impl PreparedDriver {
    /// What is known about the driver.
    pub fn meta(&self) -> &DriverMeta {
        &self.meta
    }

    /// The contract family it was built for.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Whether it exports the optional `periodic` interface (0.2).
    pub fn has_periodic(&self) -> bool {
        self.pre.has_periodic()
    }

    /// Call its `periodic` export (an `Ok` no-op when it has none).
    pub async fn call_periodic(&self, host: &Arc<dyn HostServices>) -> Result<(), CallError> {
        if !self.has_periodic() {
            return Ok(());
        }
        self.call_unit(Op::Periodic, host).await
    }

    /// Whether its contract has the security group hooks (0.2 and later).
    pub fn has_security_group_hooks(&self) -> bool {
        self.family != Family::V0_1
    }

    /// Call a security group hook (an `Ok` no-op for 0.1 drivers).
    pub async fn call_security_group(
        &self,
        hook: Hook,
        ctx: &SecurityGroupContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        if !self.has_security_group_hooks() {
            return Ok(());
        }
        self.call_unit(Op::SecurityGroup(hook, ctx), host).await
    }

    /// Call a security group rule hook (an `Ok` no-op for 0.1 drivers).
    pub async fn call_security_group_rule(
        &self,
        hook: Hook,
        ctx: &SecurityGroupRuleContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        if !self.has_security_group_hooks() {
            return Ok(());
        }
        self.call_unit(Op::SecurityGroupRule(hook, ctx), host).await
    }

    /// This version's counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Call a network hook.
    pub async fn call_network(
        &self,
        hook: Hook,
        ctx: &NetworkContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        self.call_unit(Op::Network(hook, ctx), host).await
    }

    /// Call a subnet hook.
    pub async fn call_subnet(
        &self,
        hook: Hook,
        ctx: &SubnetContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        self.call_unit(Op::Subnet(hook, ctx), host).await
    }

    /// Call a port hook.
    pub async fn call_port(
        &self,
        hook: Hook,
        ctx: &PortContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        self.call_unit(Op::Port(hook, ctx), host).await
    }

    /// Ask the driver to bind the port at this level. The result is
    /// validated: the segment was offered, `vif_details` is a JSON object
    /// within limits.
    pub async fn bind_port(
        &self,
        ctx: &PortContext,
        host: &Arc<dyn HostServices>,
    ) -> Result<BindResult, CallError> {
        self.bind_port_recorded(ctx, host, None).await
    }

    /// Benchmark support, not for production: `n` calls of a port hook in
    /// one reused instance; returns their total time.
    #[doc(hidden)]
    pub async fn bench_reused_instance(
        &self,
        hook: Hook,
        ctx: &PortContext,
        n: usize,
    ) -> Result<Duration, String> {
        call::bench_reused_instance(self, Op::Port(hook, ctx), n).await
    }

    /// Benchmark support, not for production: the mean time of a fresh
    /// port hook call's phases (store, instantiate, call, drop) over `n`
    /// calls.
    #[doc(hidden)]
    pub async fn bench_phases(
        &self,
        hook: Hook,
        ctx: &PortContext,
        n: usize,
    ) -> Result<[Duration; 4], String> {
        call::bench_phases(self, Op::Port(hook, ctx), n).await
    }

    pub(crate) async fn call_unit(
        &self,
        op: Op<'_>,
        host: &Arc<dyn HostServices>,
    ) -> Result<(), CallError> {
        self.call_unit_recorded(op, host, None).await
    }

    pub(crate) async fn call_unit_recorded(
        &self,
        op: Op<'_>,
        host: &Arc<dyn HostServices>,
        also: Option<&DriverStats>,
    ) -> Result<(), CallError> {
        if op.is_hook() && !self.meta.implements(op.name()) {
            // Not among the manifest's `hooks`: as if it returned at once.
            return Ok(());
        }
        let started = Instant::now();
        let result = match call::invoke(self, op, host.clone()).await {
            Ok(Outcome::Done(Ok(()))) => Ok(()),
            Ok(Outcome::Done(Err(refusal))) => Err(self.refused(op, refusal)),
            Ok(Outcome::Bind(_)) => Err(self.invalid(op, "bind result from a hook".into())),
            Err(e) => Err(e),
        };
        self.record(&result, started.elapsed(), also);
        result
    }

    pub(crate) async fn bind_port_recorded(
        &self,
        ctx: &PortContext,
        host: &Arc<dyn HostServices>,
        also: Option<&DriverStats>,
    ) -> Result<BindResult, CallError> {
        let started = Instant::now();
        let op = Op::BindPort(ctx);
        let result = match call::invoke(self, op, host.clone()).await {
            Ok(Outcome::Bind(Ok(raw))) => validate_bind(raw, ctx).map_err(|m| self.invalid(op, m)),
            Ok(Outcome::Bind(Err(refusal))) => Err(self.refused(op, refusal)),
            Ok(Outcome::Done(_)) => Err(self.invalid(op, "no bind result".into())),
            Err(e) => Err(e),
        };
        self.record(&result, started.elapsed(), also);
        result
    }

    fn record<T>(
        &self,
        result: &Result<T, CallError>,
        elapsed: Duration,
        also: Option<&DriverStats>,
    ) {
        self.stats.record(result, elapsed, &self.version_label);
        if let Some(stats) = also {
            stats.record(result, elapsed, &self.version_label);
        }
    }

    fn refused(&self, op: Op<'_>, refusal: Refusal) -> CallError {
        CallError::Driver {
            driver: self.meta.name.clone(),
            hook: op.name(),
            kind: refusal.kind,
            message: truncate(refusal.message, MAX_ERROR_MESSAGE),
        }
    }

    fn invalid(&self, op: Op<'_>, message: String) -> CallError {
        CallError::Invalid {
            driver: self.meta.name.clone(),
            hook: op.name(),
            message,
        }
    }
}
