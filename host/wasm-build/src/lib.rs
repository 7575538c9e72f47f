//! Builds guest driver workspaces (`drivers/`, `tests/drivers/`,
//! `examples/hello-driver`) for `wasm32-wasip2`, from a build script or a
//! test.
//!
//! It runs `cargo build --release --target wasm32-wasip2` in the guest
//! workspace with its own target directory (`<target>/wasm`, so the outer
//! build's lock is never contended and guest dependencies are compiled once
//! for all guest workspaces), with the environment of the outer build
//! removed (rustflags, target, jobserver, wrappers: they describe the host
//! build, not the guest one), then copies every `.wasm` and its `driver.toml`
//! to an output directory. This is the pattern of wasmtime's
//! `crates/test-programs/artifacts/build.rs`.
//!
//! Two entry points:
//! - [`build_in_tree_drivers`] for `host/server/build.rs`: builds `drivers/`
//!   and prints `cargo:rerun-if-changed` lines for the guest sources, the SDK
//!   and the WIT contract.
//! - [`toolchain::ensure_target`], which a build script calls first: it installs the
//!   `wasm32-wasip2` target with rustup when the toolchain lacks it, or says in one line what
//!   to install.
//! - [`build_guest_workspace`] for anything else (tests build the hostile
//!   drivers lazily, once per test binary, with it).

pub mod toolchain;

use serde::Deserialize;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The guest target triple.
pub const TARGET: &str = "wasm32-wasip2";

/// The Neutrino repository root (this crate lives in `host/wasm-build`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where guest builds put their target directory: `<target>/wasm`, where
/// `<target>` is `CARGO_TARGET_DIR`, else the target directory the running
/// executable (a test or a build script) was built into, else the
/// repository's `target/`.
pub fn guest_target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("wasm");
    }
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .map(Path::to_path_buf)
    });
    from_exe
        .unwrap_or_else(|| repo_root().join("target"))
        .join("wasm")
}

/// What to build and how.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Build only these packages (`-p`); empty builds the whole workspace.
    pub packages: Vec<String>,
    /// Cargo features to enable (`--features`).
    pub features: Vec<String>,
    /// Appended to the output file names: `versioned` + `-v2` gives
    /// `versioned-v2.wasm`.
    pub suffix: String,
    /// The target directory; `None` means [`guest_target_dir`].
    pub target_dir: Option<PathBuf>,
    /// Print `cargo:rerun-if-changed` lines (set this in build scripts).
    pub cargo_directives: bool,
}

/// A built driver, copied to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestArtifact {
    /// The package name, plus the suffix (e.g. `openvswitch`).
    pub name: String,
    /// `<out_dir>/<name>.wasm`.
    pub wasm: PathBuf,
    /// `<out_dir>/<name>.toml`, a copy of the package's `driver.toml`, if it
    /// has one.
    pub manifest: Option<PathBuf>,
}

/// Why a guest build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Running cargo or copying files failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `cargo build` or `cargo metadata` exited with an error.
    #[error(
        "`{command}` failed in {workspace} ({status}); is the `wasm32-wasip2` target installed (`rustup target add wasm32-wasip2`)?\n{stderr}"
    )]
    Cargo {
        /// The command line.
        command: String,
        /// The guest workspace.
        workspace: PathBuf,
        /// The exit status.
        status: std::process::ExitStatus,
        /// The end of cargo's stderr.
        stderr: String,
    },
    /// `cargo metadata` printed something unexpected.
    #[error("cannot read `cargo metadata` of {workspace}: {message}")]
    Metadata {
        /// The guest workspace.
        workspace: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A package named in [`BuildOptions::packages`] is not in the workspace.
    #[error("package `{package}` is not a driver (cdylib) in {workspace}")]
    UnknownPackage {
        /// The guest workspace.
        workspace: PathBuf,
        /// The package name.
        package: String,
    },
}

/// Build the in-tree drivers (`drivers/`) and copy them to `out_dir` as
/// `<name>.wasm` + `<name>.toml`. Meant for a build script: it prints
/// `cargo:rerun-if-changed` lines.
///
/// ```ignore
/// // host/server/build.rs
/// fn main() {
///     let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("drivers");
///     neutrino_wasm_build::build_in_tree_drivers(&out).expect("building drivers/");
///     println!("cargo:rustc-env=NEUTRINO_DRIVERS_DIR={}", out.display());
/// }
/// ```
pub fn build_in_tree_drivers(out_dir: &Path) -> Result<Vec<GuestArtifact>, BuildError> {
    let options = BuildOptions {
        cargo_directives: true,
        ..BuildOptions::default()
    };
    build_guest_workspace(&repo_root().join("drivers"), out_dir, &options)
}

/// Build the guest workspace at `manifest_dir` for `wasm32-wasip2` (release)
/// and copy each driver's `.wasm` and `driver.toml` to `out_dir`.
pub fn build_guest_workspace(
    manifest_dir: &Path,
    out_dir: &Path,
    options: &BuildOptions,
) -> Result<Vec<GuestArtifact>, BuildError> {
    let manifest_path = manifest_dir.join("Cargo.toml");
    let packages = driver_packages(manifest_dir, &manifest_path, &options.packages)?;
    if options.cargo_directives {
        print_rerun_directives(manifest_dir, &packages);
    }

    let target_dir = options.target_dir.clone().unwrap_or_else(guest_target_dir);
    let mut cmd = cargo();
    // From the guest workspace, so its `.cargo/config.toml` applies.
    cmd.current_dir(manifest_dir)
        .arg("build")
        .arg("--release")
        .arg("--quiet")
        .arg(format!("--target={TARGET}"))
        .arg("--manifest-path")
        .arg(&manifest_path)
        .arg("--target-dir")
        .arg(&target_dir);
    for package in &options.packages {
        cmd.arg("-p").arg(package);
    }
    if !options.features.is_empty() {
        cmd.arg("--features").arg(options.features.join(","));
    }
    run(cmd, manifest_dir)?;

    std::fs::create_dir_all(out_dir).map_err(|source| BuildError::Io {
        what: format!("creating {}", out_dir.display()),
        source,
    })?;
    let built = target_dir.join(TARGET).join("release");
    packages
        .iter()
        .map(|p| p.copy_to(&built, out_dir, &options.suffix))
        .collect()
}

/// A driver package of a guest workspace.
struct Package {
    name: String,
    /// The cdylib target's name (the `.wasm` is named after it).
    target: String,
    dir: PathBuf,
}

impl Package {
    fn copy_to(
        &self,
        built: &Path,
        out_dir: &Path,
        suffix: &str,
    ) -> Result<GuestArtifact, BuildError> {
        let name = format!("{}{suffix}", self.name);
        let from = built.join(format!("{}.wasm", self.target.replace('-', "_")));
        let wasm = out_dir.join(format!("{name}.wasm"));
        copy(&from, &wasm)?;
        let toml = self.dir.join("driver.toml");
        let manifest = if toml.is_file() {
            let to = out_dir.join(format!("{name}.toml"));
            copy(&toml, &to)?;
            Some(to)
        } else {
            None
        };
        Ok(GuestArtifact {
            name,
            wasm,
            manifest,
        })
    }
}

fn copy(from: &Path, to: &Path) -> Result<(), BuildError> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|source| BuildError::Io {
            what: format!("copying {} to {}", from.display(), to.display()),
            source,
        })
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetadataPackage>,
}

#[derive(Deserialize)]
struct MetadataPackage {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<MetadataTarget>,
}

#[derive(Deserialize)]
struct MetadataTarget {
    name: String,
    crate_types: Vec<String>,
}

/// The cdylib packages of the workspace (only `wanted` ones, if given).
fn driver_packages(
    workspace: &Path,
    manifest_path: &Path,
    wanted: &[String],
) -> Result<Vec<Package>, BuildError> {
    let mut cmd = cargo();
    cmd.args([
        "metadata",
        "--no-deps",
        "--format-version=1",
        "--manifest-path",
    ])
    .arg(manifest_path);
    let stdout = run(cmd, workspace)?;
    let metadata: Metadata = serde_json::from_slice(&stdout).map_err(|e| BuildError::Metadata {
        workspace: workspace.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut packages: Vec<Package> = metadata
        .packages
        .into_iter()
        .filter(|p| wanted.is_empty() || wanted.contains(&p.name))
        .filter_map(|p| {
            let target = p
                .targets
                .into_iter()
                .find(|t| t.crate_types.iter().any(|c| c == "cdylib"))?;
            Some(Package {
                name: p.name,
                target: target.name,
                dir: p.manifest_path.parent()?.to_path_buf(),
            })
        })
        .collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(missing) = wanted
        .iter()
        .find(|w| !packages.iter().any(|p| &p.name == *w))
    {
        return Err(BuildError::UnknownPackage {
            workspace: workspace.to_path_buf(),
            package: missing.clone(),
        });
    }
    Ok(packages)
}

fn print_rerun_directives(workspace: &Path, packages: &[Package]) {
    let root = repo_root();
    let mut paths = vec![
        workspace.join("Cargo.toml"),
        workspace.join("Cargo.lock"),
        root.join("sdk/neutrino-driver/Cargo.toml"),
        root.join("sdk/neutrino-driver/src"),
        root.join("wit"),
    ];
    for p in packages {
        paths.push(p.dir.join("Cargo.toml"));
        paths.push(p.dir.join("src"));
        paths.push(p.dir.join("wit"));
        if let Ok(entries) = std::fs::read_dir(&p.dir) {
            paths.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|f| {
                        f.extension() == Some(OsStr::new("toml"))
                            && f.file_name() != Some(OsStr::new("Cargo.toml"))
                    }),
            );
        }
    }
    for path in paths.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// A `cargo` command with the outer build's environment removed.
fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if leaks_from_outer_build(key) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Environment variables that describe the outer (host) build and would
/// break or pollute the guest build: flags for the host target, the outer
/// target directory, the jobserver, clippy's rustc wrapper, and the variables
/// cargo sets for build scripts.
fn leaks_from_outer_build(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "MAKEFLAGS",
        "MFLAGS",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "RUSTC_LINKER",
    ];
    // `CARGO_*` configures cargo itself: keep the ones about where cargo and
    // the registry live and how to reach them, drop the rest
    // (CARGO_ENCODED_RUSTFLAGS, CARGO_TARGET_DIR, CARGO_BUILD_TARGET,
    // CARGO_MAKEFLAGS, CARGO_CFG_*, CARGO_FEATURE_*, CARGO_PKG_*, ...).
    const KEEP_CARGO: &[&str] = &[
        "CARGO_HOME",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTR",
        "CARGO_TERM_",
    ];
    if EXACT.contains(&key) || key.starts_with("DEP_") {
        return true;
    }
    key.starts_with("CARGO_") && !KEEP_CARGO.iter().any(|k| key.starts_with(k))
}

/// Run `cmd`; its stdout on success, a [`BuildError::Cargo`] with the end of
/// its stderr on failure.
fn run(mut cmd: Command, workspace: &Path) -> Result<Vec<u8>, BuildError> {
    let command = format!("{cmd:?}");
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BuildError::Io {
            what: format!("running {command}"),
            source,
        })?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let mut tail = String::new();
    for line in &lines[lines.len().saturating_sub(60)..] {
        let _ = writeln!(tail, "{line}");
    }
    Err(BuildError::Cargo {
        command,
        workspace: workspace.to_path_buf(),
        status: output.status,
        stderr: tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_build_variables_are_removed_and_cargo_home_is_kept() {
        for key in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_MAKEFLAGS",
            "CARGO_CFG_TARGET_OS",
            "CARGO_FEATURE_STD",
            "RUSTC_WORKSPACE_WRAPPER",
            "DEP_Z_INCLUDE",
        ] {
            assert!(leaks_from_outer_build(key), "{key} should be removed");
        }
        for key in [
            "CARGO_HOME",
            "CARGO_NET_OFFLINE",
            "CARGO_REGISTRIES_X_INDEX",
            "PATH",
            "RUSTUP_TOOLCHAIN",
        ] {
            assert!(!leaks_from_outer_build(key), "{key} should be kept");
        }
    }

    #[test]
    fn the_guest_target_dir_is_inside_a_cargo_target_dir() {
        let dir = guest_target_dir();
        assert!(dir.ends_with("wasm"), "{}", dir.display());
        assert!(
            dir.parent()
                .is_some_and(|t| t.join("CACHEDIR.TAG").is_file())
        );
    }
}
