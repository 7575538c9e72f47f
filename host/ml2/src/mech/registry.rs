//! Managing drivers while the server runs: load at start-up, load or upgrade, configure,
//! roll back, enable, disable, remove, and follow changes made by other servers.
//!
//! Every change is prepared completely first (compiled or taken from the compile cache,
//! contract and capabilities checked, `initialize` passed with the new settings); only then is
//! it written to the database and swapped in. A failed change leaves the serving version alone
//! and is recorded in the driver's history. Changes are stored in the database, so a restart
//! comes back with the same drivers, and other servers sharing it follow within seconds
//! ([`MechanismManager::reconcile`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use neutrino_runtime::{
    DriverSettings, DriverSlot, LoadError, PreparedDriver, Runtime, StatsSnapshot,
};
use neutrino_store::drivers::{self as db, DriverEvent, DriverRow, DriverVersion};

use super::{Entry, MechanismManager};
use crate::error::{Error, Result};

/// What an operator asks to load.
#[derive(Debug, Clone, Default)]
pub struct LoadRequest {
    /// Driver name (must match the manifest's).
    pub name: String,
    /// The component; `None` keeps the serving version's (configuration-only change).
    pub wasm: Option<Vec<u8>>,
    /// `driver.toml`, when given beside the component.
    pub manifest: Option<String>,
    /// Operator settings; `None` keeps the current ones (or the configured defaults).
    pub settings: Option<DriverSettings>,
    /// Call order; `None` keeps it (or appends).
    pub position: Option<i64>,
    /// Who asks (project id).
    pub by: String,
}

/// A driver as the management API shows it.
#[derive(Debug, Clone)]
pub struct DriverInfo {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// sha256 of the component.
    pub sha256: String,
    /// Contract.
    pub contract: String,
    /// Description from the manifest.
    pub description: String,
    /// `enabled` / `disabled`.
    pub enabled: bool,
    /// Call order.
    pub position: i64,
    /// Capabilities granted.
    pub capabilities: Vec<String>,
    /// Failure policy.
    pub failure_policy: String,
    /// Version id in the database.
    pub version_id: String,
    /// Version a rollback returns to.
    pub previous_version: Option<String>,
    /// Whether the serving code came from the compile cache.
    pub compiled_from_cache: bool,
    /// Time from bytes to serving, in ms.
    pub prepare_ms: f64,
    /// Counters across versions.
    pub stats: StatsSnapshot,
    /// Operator settings in force.
    pub settings: DriverSettings,
    /// Its hooks in quarantine, with the fault that put them there (see
    /// [`super::quarantine`]).
    pub quarantined: BTreeMap<String, String>,
    /// Whether its postcommit hooks are journaled (manifest `journal`).
    pub journal: bool,
    /// Seconds between `periodic` calls, when it has them.
    pub periodic_interval: Option<u64>,
    /// The hooks its manifest says it implements (`None`: all).
    pub hooks: Option<Vec<String>>,
}

/// One line of a driver's history.
#[derive(Debug, Clone)]
pub struct HistoryItem {
    /// When.
    pub at: String,
    /// What happened.
    pub action: String,
    /// Version concerned (`version (sha256 prefix)`).
    pub version: Option<String>,
    /// Version row id.
    pub version_id: Option<String>,
    /// Who.
    pub by: String,
    /// Details.
    pub detail: String,
}

fn load_error(e: LoadError) -> Error {
    Error::neutron("DriverLoadError", 400, e.to_string())
}

pub(crate) fn not_found(name: &str) -> Error {
    Error::neutron(
        "MechanismDriverNotFound",
        404,
        format!("Mechanism driver {name} could not be found."),
    )
}

fn generation() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl MechanismManager {
    async fn runtime(&self) -> Result<&Runtime> {
        self.runtime
            .get_or_try_init(|| async { Runtime::new(self.runtime_config.clone()) })
            .await
            .map_err(|e| Error::neutron("DriverRuntimeError", 500, e.to_string()))
    }

    /// The operator's configured settings for a driver (or the defaults).
    pub fn configured_settings(&self, name: &str) -> DriverSettings {
        self.config.settings.get(name).cloned().unwrap_or_default()
    }

    async fn prepare(
        &self,
        wasm: &[u8],
        manifest: Option<&str>,
        settings: DriverSettings,
    ) -> Result<Arc<PreparedDriver>> {
        let host = self.db_host();
        self.runtime()
            .await?
            .prepare_with_host(wasm, manifest, settings, &host)
            .await
            .map_err(load_error)
    }

    fn replace_entry(&self, new: Option<Entry>, name: &str) {
        let mut list: Vec<Arc<Entry>> = self
            .entries
            .load()
            .iter()
            .filter(|e| e.name != name)
            .cloned()
            .collect();
        if let Some(e) = new {
            list.push(Arc::new(e));
        }
        list.sort_by(|a, b| a.position.cmp(&b.position).then(a.name.cmp(&b.name)));
        self.entries.store(Arc::new(list));
    }

    fn entry(&self, name: &str) -> Option<Arc<Entry>> {
        self.entries.load().iter().find(|e| e.name == name).cloned()
    }

    async fn note_failure(&self, name: &str, by: &str, detail: &str) {
        tracing::warn!(
            driver = name,
            by,
            reason = detail,
            "driver change refused; the serving version (if any) is unchanged"
        );
        let event = DriverEvent {
            name: name.to_string(),
            action: "failed".into(),
            version_id: None,
            detail: detail.to_string(),
            at: neutrino_store::now_precise(),
            by_project: by.to_string(),
        };
        if let Ok(mut tx) = self.store.begin().await
            && db::log_event(&mut tx, &event).await.is_ok()
        {
            let _ = tx.commit().await;
        }
    }

    /// Load a new driver, upgrade one, or change its settings, in one atomic swap.
    pub async fn load(&self, req: LoadRequest) -> Result<DriverInfo> {
        let _guard = self.ops.lock().await;
        match self.load_locked(&req).await {
            Ok(info) => Ok(info),
            Err(e) => {
                self.note_failure(&req.name, &req.by, &e.to_string()).await;
                Err(e)
            }
        }
    }

    async fn load_locked(&self, req: &LoadRequest) -> Result<DriverInfo> {
        let mut conn = self.store.begin().await?;
        let existing = db::get(&mut conn, &req.name).await?;
        let current_version = match &existing {
            Some(row) => db::get_version(&mut conn, &row.current_version_id).await?,
            None => None,
        };
        drop(conn);
        let (wasm, manifest) = match (&req.wasm, &current_version) {
            (Some(w), _) => (w.clone(), req.manifest.clone()),
            (None, Some(v)) => (v.wasm.clone(), req.manifest.clone().or(v.manifest.clone())),
            (None, None) => {
                return Err(Error::bad_request(format!(
                    "Mechanism driver {} is not loaded: upload its .wasm",
                    req.name
                )));
            }
        };
        let settings = match (&req.settings, &current_version) {
            (Some(s), Some(v)) => {
                // `****` sent back (what `GET` shows for a secret) keeps the stored value.
                let mut s = s.clone();
                if let Some(previous) = self.version_settings(v).await? {
                    s.keep_masked_from(&previous);
                }
                s
            }
            (Some(s), None) => s.clone(),
            (None, Some(v)) => self
                .version_settings(v)
                .await?
                .unwrap_or_else(|| self.configured_settings(&req.name)),
            (None, None) => self.configured_settings(&req.name),
        };
        let prepared = self
            .prepare(&wasm, manifest.as_deref(), settings.clone())
            .await?;
        let meta = prepared.meta().clone();
        if meta.name != req.name {
            return Err(Error::bad_request(format!(
                "The uploaded component is driver `{}`, not `{}`: load it under its own name",
                meta.name, req.name
            )));
        }
        let now = neutrino_store::now_precise();
        let version = DriverVersion {
            id: uuid::Uuid::new_v4().to_string(),
            name: req.name.clone(),
            version: meta.version.clone(),
            sha256: meta.sha256.clone(),
            contract: meta.contract.clone(),
            size: wasm.len() as i64,
            wasm,
            manifest,
            // Secrets are stored once per driver (`driver_secrets`), not with each version.
            settings: serde_json::to_string(&settings.masked(&meta.secrets)).unwrap_or_default(),
            created_at: now.clone(),
            created_by: req.by.clone(),
        };
        let position = match (req.position, &existing) {
            (Some(p), _) => p,
            (None, Some(row)) => row.position,
            (None, None) => {
                self.entries
                    .load()
                    .iter()
                    .map(|e| e.position)
                    .max()
                    .unwrap_or(0)
                    + 10
            }
        };
        let row = DriverRow {
            name: req.name.clone(),
            position,
            enabled: existing.as_ref().map(|r| r.enabled).unwrap_or(true),
            current_version_id: version.id.clone(),
            previous_version_id: existing.as_ref().map(|r| r.current_version_id.clone()),
            generation: generation(),
            updated_at: now.clone(),
        };
        let action = match (&existing, req.wasm.is_some(), &current_version) {
            (None, _, _) => "load",
            (Some(_), true, Some(v)) if is_older(&meta.version, &v.version) => "downgrade",
            (Some(_), true, _) => "upgrade",
            (Some(_), false, _) => "configure",
        };
        let detail = match (action, &current_version) {
            ("downgrade", Some(v)) => format!(
                "{} ({}) replaces the newer {}",
                meta.version,
                &meta.sha256[..12],
                v.version
            ),
            _ => format!("{} ({})", meta.version, &meta.sha256[..12]),
        };
        let secrets = serde_json::to_string(&settings.secret_values(&meta.secrets).config)
            .unwrap_or_else(|_| "{}".into());
        let mut tx = self.store.begin().await?;
        db::insert_version(&mut tx, &version).await?;
        db::secrets_set(&mut tx, &req.name, &secrets).await?;
        db::upsert(&mut tx, &row).await?;
        db::log_event(
            &mut tx,
            &DriverEvent {
                name: req.name.clone(),
                action: action.into(),
                version_id: Some(version.id.clone()),
                detail,
                at: now,
                by_project: req.by.clone(),
            },
        )
        .await?;
        let pruned = self.prune_versions(&mut tx, &row).await?;
        tx.commit()
            .await
            .map_err(neutrino_store::StoreError::classify)?;
        self.install(&row, prepared, settings);
        tracing::info!(driver = %req.name, version = %meta.version, action, from_cache = meta.compiled_from_cache, pruned, "driver serving");
        self.remember_fingerprint().await;
        self.info(&req.name).ok_or_else(|| not_found(&req.name))
    }

    /// Delete stored versions of `row`'s driver beyond the serving one, its rollback target
    /// and the newest `keep_versions` others (`[drivers] keep_versions`), in the caller's
    /// transaction. Their history lines stay (the version then shows by id only).
    async fn prune_versions(&self, tx: &mut neutrino_store::Tx, row: &DriverRow) -> Result<u64> {
        let versions = db::versions_of(tx, &row.name).await?;
        let mut keep: Vec<String> = vec![row.current_version_id.clone()];
        keep.extend(row.previous_version_id.clone());
        keep.extend(
            versions
                .iter()
                .rev()
                .filter(|v| !keep.contains(&v.id))
                .take(self.config.keep_versions)
                .map(|v| v.id.clone())
                .collect::<Vec<_>>(),
        );
        Ok(db::prune_versions(tx, &row.name, &keep).await?)
    }

    /// A stored version's settings with the driver's secrets put back (versions keep `****`
    /// in their place; `driver_secrets` has the latest values). `None` if unreadable.
    async fn version_settings(&self, version: &DriverVersion) -> Result<Option<DriverSettings>> {
        let Ok(mut settings) = serde_json::from_str::<DriverSettings>(&version.settings) else {
            return Ok(None);
        };
        let mut conn = self
            .store
            .reader()
            .acquire()
            .await
            .map_err(|e| Error::Store(neutrino_store::StoreError::classify(e)))?;
        if let Some(text) = db::secrets_get(&mut conn, &version.name).await?
            && let Ok(config) = serde_json::from_str(&text)
        {
            let secrets = DriverSettings {
                config,
                ..DriverSettings::default()
            };
            settings.keep_masked_from(&secrets);
        }
        Ok(Some(settings))
    }

    /// Put a prepared version in service for `row` (swapping the slot if the driver is known).
    fn install(&self, row: &DriverRow, prepared: Arc<PreparedDriver>, settings: DriverSettings) {
        let slot = match self.entry(&row.name) {
            Some(e) => {
                e.slot.swap(prepared);
                e.slot.clone()
            }
            None => Arc::new(DriverSlot::new(prepared)),
        };
        self.replace_entry(
            Some(Entry {
                name: row.name.clone(),
                position: row.position,
                enabled: row.enabled,
                slot,
                version_id: row.current_version_id.clone(),
                generation: row.generation.clone(),
                previous_version_id: row.previous_version_id.clone(),
                settings,
            }),
            &row.name,
        );
    }

    /// Go back to the version that served before the current one.
    pub async fn rollback(&self, name: &str, by: &str) -> Result<DriverInfo> {
        let _guard = self.ops.lock().await;
        let result = async {
            let mut tx = self.store.begin().await?;
            let row = db::get(&mut tx, name)
                .await?
                .ok_or_else(|| not_found(name))?;
            let previous = row.previous_version_id.clone().ok_or_else(|| {
                Error::conflict(
                    "DriverRollbackUnavailable",
                    format!("Mechanism driver {name} has no previous version to roll back to."),
                )
            })?;
            let version = db::get_version(&mut tx, &previous)
                .await?
                .ok_or_else(|| not_found(name))?;
            drop(tx);
            let settings = self.version_settings(&version).await?.unwrap_or_default();
            let prepared = self
                .prepare(&version.wasm, version.manifest.as_deref(), settings.clone())
                .await?;
            let new_row = DriverRow {
                current_version_id: previous.clone(),
                previous_version_id: Some(row.current_version_id.clone()),
                generation: generation(),
                updated_at: neutrino_store::now_precise(),
                ..row
            };
            let mut tx = self.store.begin().await?;
            db::upsert(&mut tx, &new_row).await?;
            db::log_event(
                &mut tx,
                &DriverEvent {
                    name: name.to_string(),
                    action: "rollback".into(),
                    version_id: Some(previous),
                    detail: format!("{} ({})", version.version, &version.sha256[..12]),
                    at: neutrino_store::now_precise(),
                    by_project: by.to_string(),
                },
            )
            .await?;
            tx.commit()
                .await
                .map_err(neutrino_store::StoreError::classify)?;
            self.install(&new_row, prepared, settings);
            self.remember_fingerprint().await;
            self.info(name).ok_or_else(|| not_found(name))
        }
        .await;
        if let Err(e) = &result
            && !matches!(e, Error::Neutron { status: 404, .. })
        {
            self.note_failure(name, by, &e.to_string()).await;
        }
        result
    }

    /// Enable or disable a driver (a disabled driver is not called).
    pub async fn set_enabled(&self, name: &str, enabled: bool, by: &str) -> Result<DriverInfo> {
        let _guard = self.ops.lock().await;
        let mut tx = self.store.begin().await?;
        let row = db::get(&mut tx, name)
            .await?
            .ok_or_else(|| not_found(name))?;
        let new_row = DriverRow {
            enabled,
            generation: generation(),
            updated_at: neutrino_store::now_precise(),
            ..row
        };
        db::upsert(&mut tx, &new_row).await?;
        db::log_event(
            &mut tx,
            &DriverEvent {
                name: name.to_string(),
                action: if enabled { "enable" } else { "disable" }.into(),
                version_id: Some(new_row.current_version_id.clone()),
                detail: String::new(),
                at: neutrino_store::now_precise(),
                by_project: by.to_string(),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(neutrino_store::StoreError::classify)?;
        if let Some(e) = self.entry(name) {
            self.replace_entry(
                Some(Entry {
                    name: e.name.clone(),
                    position: e.position,
                    enabled,
                    slot: e.slot.clone(),
                    version_id: e.version_id.clone(),
                    generation: new_row.generation.clone(),
                    previous_version_id: e.previous_version_id.clone(),
                    settings: e.settings.clone(),
                }),
                name,
            );
        }
        self.remember_fingerprint().await;
        self.info(name).ok_or_else(|| not_found(name))
    }

    /// Remove a driver from the list (its versions, history and state stay in the database).
    pub async fn remove(&self, name: &str, by: &str) -> Result<()> {
        let _guard = self.ops.lock().await;
        let mut tx = self.store.begin().await?;
        if !db::delete(&mut tx, name).await? {
            return Err(not_found(name));
        }
        db::log_event(
            &mut tx,
            &DriverEvent {
                name: name.to_string(),
                action: "remove".into(),
                version_id: None,
                detail: String::new(),
                at: neutrino_store::now_precise(),
                by_project: by.to_string(),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(neutrino_store::StoreError::classify)?;
        self.replace_entry(None, name);
        self.remember_fingerprint().await;
        Ok(())
    }

    /// What the management API shows for a loaded driver.
    pub fn info(&self, name: &str) -> Option<DriverInfo> {
        let e = self.entry(name)?;
        let current = e.slot.current();
        let meta = current.meta();
        Some(DriverInfo {
            name: e.name.clone(),
            version: meta.version.clone(),
            sha256: meta.sha256.clone(),
            contract: meta.contract.clone(),
            description: meta.description.clone(),
            enabled: e.enabled,
            position: e.position,
            capabilities: meta
                .capabilities
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            failure_policy: format!("{:?}", meta.failure_policy).to_lowercase(),
            version_id: e.version_id.clone(),
            previous_version: e.previous_version_id.clone(),
            compiled_from_cache: meta.compiled_from_cache,
            prepare_ms: meta.prepare_duration.as_secs_f64() * 1000.0,
            stats: e.slot.stats(),
            settings: e.settings.masked(&meta.secrets),
            quarantined: self.quarantined(&e.name, &meta.sha256),
            journal: meta.journal,
            periodic_interval: meta.periodic_interval.map(|d| d.as_secs()),
            hooks: meta.hooks.clone(),
        })
    }

    /// Every loaded driver, in call order.
    pub fn list(&self) -> Vec<DriverInfo> {
        self.entries
            .load()
            .iter()
            .filter_map(|e| self.info(&e.name))
            .collect()
    }

    /// A driver's versions and actions, oldest first.
    pub async fn history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let mut conn = self
            .store
            .reader()
            .acquire()
            .await
            .map_err(|e| Error::Store(neutrino_store::StoreError::classify(e)))?;
        let versions = db::versions_of(&mut conn, name).await?;
        let events = db::events_of(&mut conn, name).await?;
        if versions.is_empty() && events.is_empty() {
            return Err(not_found(name));
        }
        Ok(events
            .into_iter()
            .map(|ev| {
                let v = ev
                    .version_id
                    .as_ref()
                    .and_then(|id| versions.iter().find(|v| &v.id == id));
                HistoryItem {
                    at: ev.at,
                    action: ev.action,
                    version: v.map(|v| {
                        format!("{} ({})", v.version, &v.sha256[..12.min(v.sha256.len())])
                    }),
                    version_id: ev.version_id,
                    by: ev.by_project,
                    detail: ev.detail,
                }
            })
            .collect())
    }

    async fn remember_fingerprint(&self) {
        if let Ok(mut conn) = self.store.reader().acquire().await
            && let Ok(fp) = db::fingerprint(&mut conn).await
        {
            *self.fingerprint.lock().unwrap_or_else(|p| p.into_inner()) = fp;
        }
    }

    /// Bring the in-memory list in line with the database: drivers loaded, upgraded, rolled
    /// back, toggled or removed by another server. Cheap when nothing changed.
    pub async fn reconcile(&self) -> Result<()> {
        let mut conn = self
            .store
            .reader()
            .acquire()
            .await
            .map_err(|e| Error::Store(neutrino_store::StoreError::classify(e)))?;
        let fp = db::fingerprint(&mut conn).await?;
        if *self.fingerprint.lock().unwrap_or_else(|p| p.into_inner()) == fp {
            return Ok(());
        }
        let _guard = self.ops.lock().await;
        let rows = db::list(&mut conn).await?;
        drop(conn);
        for row in &rows {
            let known = self.entry(&row.name);
            if known
                .as_ref()
                .is_some_and(|e| e.generation == row.generation)
            {
                continue;
            }
            let same_version = known
                .as_ref()
                .is_some_and(|e| e.version_id == row.current_version_id);
            if same_version {
                let e = known.expect("checked");
                self.replace_entry(
                    Some(Entry {
                        name: e.name.clone(),
                        position: row.position,
                        enabled: row.enabled,
                        slot: e.slot.clone(),
                        version_id: e.version_id.clone(),
                        generation: row.generation.clone(),
                        previous_version_id: row.previous_version_id.clone(),
                        settings: e.settings.clone(),
                    }),
                    &row.name,
                );
                continue;
            }
            let mut conn = self
                .store
                .reader()
                .acquire()
                .await
                .map_err(|e| Error::Store(neutrino_store::StoreError::classify(e)))?;
            let Some(version) = db::get_version(&mut conn, &row.current_version_id).await? else {
                continue;
            };
            let settings = self.version_settings(&version).await?.unwrap_or_default();
            match self
                .prepare(&version.wasm, version.manifest.as_deref(), settings.clone())
                .await
            {
                Ok(prepared) => {
                    self.install(row, prepared, settings);
                    tracing::info!(driver = %row.name, version = %version.version, "followed a driver change made elsewhere");
                }
                Err(e) => {
                    tracing::error!(driver = %row.name, error = %e, "cannot follow a driver change made elsewhere")
                }
            }
        }
        for e in self.entries().iter() {
            if !rows.iter().any(|r| r.name == e.name) {
                self.replace_entry(None, &e.name);
                tracing::info!(driver = %e.name, "driver removed elsewhere");
            }
        }
        *self.fingerprint.lock().unwrap_or_else(|p| p.into_inner()) = fp;
        Ok(())
    }

    /// Start-up: serve the drivers the database lists, then load the configured ones it does
    /// not know yet from the drivers directory.
    pub async fn start(&self) -> Result<()> {
        self.reconcile().await?;
        let known: Vec<String> = {
            let mut conn = self
                .store
                .reader()
                .acquire()
                .await
                .map_err(|e| Error::Store(neutrino_store::StoreError::classify(e)))?;
            db::list(&mut conn)
                .await?
                .into_iter()
                .map(|r| r.name)
                .collect()
        };
        for (i, name) in self.config.mechanism_drivers.clone().iter().enumerate() {
            if known.contains(name) {
                continue;
            }
            let dir = self.config.directory.clone().ok_or_else(|| {
                Error::neutron(
                    "DriverLoadError",
                    500,
                    format!(
                        "mechanism driver `{name}` is configured but no drivers directory is set"
                    ),
                )
            })?;
            let wasm_path = dir.join(format!("{name}.wasm"));
            let wasm = std::fs::read(&wasm_path).map_err(|e| {
                Error::neutron(
                    "DriverLoadError",
                    500,
                    format!(
                        "mechanism driver `{name}` is configured but {} cannot be read: {e}",
                        wasm_path.display()
                    ),
                )
            })?;
            let manifest = std::fs::read_to_string(dir.join(format!("{name}.toml"))).ok();
            self.load(LoadRequest {
                name: name.clone(),
                wasm: Some(wasm),
                manifest,
                settings: Some(self.configured_settings(name)),
                position: Some((i as i64 + 1) * 10),
                by: "neutrino-server".into(),
            })
            .await?;
        }
        Ok(())
    }
}

/// Whether version `a` is older than `b`: dotted numeric parts compared as numbers (`0.10.0`
/// is newer than `0.9.1`), a pre-release (`1.0.0-rc1`) older than its release; versions that
/// are not of this form are never called older.
fn is_older(a: &str, b: &str) -> bool {
    fn parse(v: &str) -> Option<(Vec<u64>, bool)> {
        let v = v.trim().trim_start_matches('v');
        let (core, pre) = match v.split_once(['-', '+']) {
            Some((c, rest)) => (c, v[c.len()..].starts_with('-') && !rest.is_empty()),
            None => (v, false),
        };
        let parts = core
            .split('.')
            .map(|p| p.parse::<u64>().ok())
            .collect::<Option<Vec<_>>>()?;
        Some((parts, pre))
    }
    let (Some((pa, pre_a)), Some((pb, pre_b))) = (parse(a), parse(b)) else {
        return false;
    };
    let len = pa.len().max(pb.len());
    let pad = |p: &[u64]| {
        let mut p = p.to_vec();
        p.resize(len, 0);
        p
    };
    match pad(&pa).cmp(&pad(&pb)) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => pre_a && !pre_b,
    }
}

#[cfg(test)]
mod tests {
    use super::is_older;

    #[test]
    fn versions_compare_numerically_with_pre_releases_first() {
        assert!(is_older("0.1.0", "0.2.0"));
        assert!(is_older("0.9.1", "0.10.0"));
        assert!(is_older("1.0.0-rc1", "1.0.0"));
        assert!(is_older("1.2", "1.2.1"));
        assert!(!is_older("0.2.0", "0.2.0"));
        assert!(!is_older("0.3.0", "0.2.9"));
        assert!(!is_older("1.0.0", "1.0.0-rc1"));
        assert!(!is_older("banana", "0.1.0"));
        assert!(!is_older("0.1.0", "nightly"));
    }
}
