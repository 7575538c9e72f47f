//! Background work on drivers: following changes other servers made (polling the database's
//! driver table) and, when enabled, loading drivers dropped into the drivers directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use neutrino_ml2::mech::MechanismManager;
use neutrino_ml2::mech::registry::LoadRequest;
use notify::{EventKind, RecursiveMode, Watcher};
use sha2::Digest;
use tokio::task::JoinHandle;

/// Poll the database every `interval` and apply driver changes made elsewhere.
pub fn follow(mech: Arc<MechanismManager>, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = mech.reconcile().await {
                tracing::warn!(error = %e, "cannot check for driver changes made by other servers");
            }
        }
    })
}

/// Load or upgrade `<name>` from `<dir>/<name>.wasm` when that file appears or changes.
pub fn watch_directory(
    mech: Arc<MechanismManager>,
    dir: PathBuf,
) -> notify::Result<(JoinHandle<()>, notify::RecommendedWatcher)> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_))
        {
            for p in event.paths {
                if p.extension().is_some_and(|e| e == "wasm") {
                    let _ = tx.send(p);
                }
            }
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    let task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            // Let the writer finish: collect events for a moment, then load each file once.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut paths = vec![first];
            while let Ok(p) = rx.try_recv() {
                paths.push(p);
            }
            paths.sort();
            paths.dedup();
            for p in paths {
                load_file(&mech, &p).await;
            }
        }
    });
    Ok((task, watcher))
}

async fn load_file(mech: &MechanismManager, path: &Path) {
    let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(String::from) else {
        return;
    };
    let Ok(wasm) = std::fs::read(path) else {
        return;
    };
    let sha = hex::encode(sha2::Sha256::digest(&wasm));
    if mech.info(&name).is_some_and(|d| d.sha256 == sha) {
        return;
    }
    let manifest = std::fs::read_to_string(path.with_extension("toml")).ok();
    let request = LoadRequest {
        name: name.clone(),
        wasm: Some(wasm),
        manifest,
        settings: None,
        position: None,
        by: "drivers-directory".into(),
    };
    match mech.load(request).await {
        Ok(d) => {
            tracing::info!(driver = %name, version = %d.version, "loaded from the drivers directory")
        }
        Err(e) => {
            tracing::error!(driver = %name, error = %e, "cannot load from the drivers directory")
        }
    }
}
