//! The on-disk cache of compiled components.
//!
//! A compiled component is only valid for the exact wasmtime version,
//! engine configuration and host CPU that produced it, so entries are keyed
//! by `sha256(wasm)` and a digest of `Engine::precompile_compatibility_hash`:
//! `<dir>/<wasm sha256>-<engine digest>.cwasm`. A file that fails to load is
//! a miss (and is replaced).

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A compile cache bound to one engine.
pub struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Loaded from the cache.
    Cache,
    /// Compiled now.
    Compiled,
}

impl CompileCache {
    /// A cache in `dir` (created if missing); `None` caches nothing.
    pub fn new(engine: &Engine, dir: Option<&Path>) -> std::io::Result<Self> {
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)?;
        }
        Ok(CompileCache {
            dir: dir.map(Path::to_path_buf),
            engine_key: engine_key(engine),
        })
    }

    /// The digest of the engine's compatibility hash (hex, 16 chars).
    pub fn engine_key(&self) -> &str {
        &self.engine_key
    }

    /// The cache file for a component with this sha256, if caching.
    pub fn path_for(&self, sha256_hex: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{sha256_hex}-{}.cwasm", self.engine_key)))
    }

    /// Load the component from the cache, or compile it and store it.
    /// Blocking: call from `spawn_blocking`.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256_hex: &str,
    ) -> wasmtime::Result<(Component, Source)> {
        let path = self.path_for(sha256_hex);
        if let Some(path) = path.as_deref().filter(|p| p.is_file()) {
            match load(engine, path) {
                Ok(component) => return Ok((component, Source::Cache)),
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    error = %format!("{e:#}"),
                    "cached component does not load; compiling again"
                ),
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Some(path) = path
            && let Err(e) = store(&component, &path)
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the compile cache");
        }
        Ok((component, Source::Compiled))
    }
}

/// Deserialize a cached component.
#[allow(unsafe_code)]
fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be wasmtime output for
    // this engine. Only files this module wrote are here: their names carry
    // the engine key, they are written to a temporary name and renamed into
    // place, and the cache directory belongs to the server (operators must
    // not make it writable by others, see `RuntimeConfig::cache_dir`).
    // wasmtime still checks the header (version, configuration) and fails
    // cleanly on a mismatch, which the caller treats as a miss.
    unsafe { Component::deserialize_file(engine, path) }
}

fn store(component: &Component, path: &Path) -> std::io::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// A short digest of everything that makes compiled code (in)compatible
/// with `engine`.
fn engine_key(engine: &Engine) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}
