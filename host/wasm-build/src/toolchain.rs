//! Making sure the Rust toolchain can build for `wasm32-wasip2` before a guest build starts.
//!
//! `rust-toolchain.toml` lists the target, but rustup adds listed targets only when it
//! installs the toolchain itself: a machine where the pinned version is already there (for
//! example as a linked toolchain) builds the host and then fails in the guest build with
//! `can't find crate for std`. So a build script first asks the compiler for its sysroot and
//! looks for `lib/rustlib/wasm32-wasip2` in it. If the target is missing and rustup is on
//! `PATH`, it installs the target into the toolchain that sysroot belongs to (the directory a
//! linked toolchain points at is itself a rustup toolchain, named after the directory);
//! without rustup, the error is one line saying what to install.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::TARGET;

/// What [`ensure_target`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetStatus {
    /// The sysroot already has the target's standard library.
    Present,
    /// It did not; rustup installed it into this toolchain.
    Installed {
        /// The rustup toolchain name given to `rustup target add --toolchain`.
        toolchain: String,
    },
}

/// The target is missing and could not be installed. Its message is one line that says what
/// to install.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MissingTarget {
    /// The compiler could not be asked for its sysroot.
    #[error("cannot run `{rustc} --print sysroot` to look for the {TARGET} target: {reason}")]
    NoSysroot {
        /// The compiler command.
        rustc: String,
        /// Why.
        reason: String,
    },
    /// No rustup on `PATH`.
    #[error(
        "the Rust standard library for {TARGET} is not installed in {sysroot}: install it (with rustup: `rustup target add {TARGET}`; otherwise your distribution's rust-std package for {TARGET}) and build again"
    )]
    NoRustup {
        /// The compiler's sysroot.
        sysroot: String,
    },
    /// rustup was there but could not add the target.
    #[error(
        "the Rust standard library for {TARGET} is not installed in {sysroot} and `rustup target add --toolchain {toolchain} {TARGET}` failed ({reason}): install it and build again"
    )]
    RustupFailed {
        /// The compiler's sysroot.
        sysroot: String,
        /// The toolchain rustup was asked to change.
        toolchain: String,
        /// rustup's last line of output, or its exit status.
        reason: String,
    },
}

/// Whether `sysroot` holds the standard library for [`TARGET`].
pub fn has_target(sysroot: &Path) -> bool {
    sysroot
        .join("lib/rustlib")
        .join(TARGET)
        .join("lib")
        .is_dir()
}

/// The rustup toolchain a sysroot belongs to: rustup keeps each toolchain in a directory
/// named after it (`$RUSTUP_HOME/toolchains/<name>`), and a linked toolchain's sysroot is the
/// directory it links to, so its name is the one rustup can add targets to.
pub fn toolchain_of(sysroot: &Path) -> Option<String> {
    let name = sysroot.file_name()?.to_str()?;
    let parent = sysroot.parent()?.file_name()?;
    (parent == "toolchains").then(|| name.to_string())
}

/// Find `program` in `path` (a `PATH` value).
pub fn find_in_path(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Make sure the toolchain `rustc` belongs to can build for [`TARGET`]: look in its sysroot,
/// and if the target is missing, install it with the `rustup` found in `path`.
pub fn ensure_target(rustc: &OsStr, path: Option<&OsStr>) -> Result<TargetStatus, MissingTarget> {
    let sysroot = sysroot(rustc)?;
    if has_target(&sysroot) {
        return Ok(TargetStatus::Present);
    }
    let shown = sysroot.display().to_string();
    let Some(rustup) = find_in_path("rustup", path) else {
        return Err(MissingTarget::NoRustup { sysroot: shown });
    };
    // The toolchain the sysroot belongs to; failing that, the one rustup says is active
    // here (what `rustup target add` without `--toolchain` would change).
    let toolchain = toolchain_of(&sysroot)
        .or_else(|| std::env::var("RUSTUP_TOOLCHAIN").ok())
        .unwrap_or_default();
    let mut cmd = Command::new(&rustup);
    cmd.arg("target").arg("add");
    if !toolchain.is_empty() {
        cmd.arg("--toolchain").arg(&toolchain);
    }
    cmd.arg(TARGET).stdin(Stdio::null());
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    let failed = |reason: String| MissingTarget::RustupFailed {
        sysroot: shown.clone(),
        toolchain: toolchain.clone(),
        reason,
    };
    let output = cmd
        .output()
        .map_err(|e| failed(format!("cannot run {}: {e}", rustup.display())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(str::trim)
            .map(String::from)
            .unwrap_or_else(|| output.status.to_string());
        return Err(failed(last));
    }
    if !has_target(&sysroot) {
        return Err(failed(format!(
            "it succeeded but {} still has no lib/rustlib/{TARGET}",
            sysroot.display()
        )));
    }
    Ok(TargetStatus::Installed { toolchain })
}

/// The compiler's sysroot (`rustc --print sysroot`).
fn sysroot(rustc: &OsStr) -> Result<PathBuf, MissingTarget> {
    let no_sysroot = |reason: String| MissingTarget::NoSysroot {
        rustc: rustc.to_string_lossy().into_owned(),
        reason,
    };
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| no_sysroot(e.to_string()))?;
    if !output.status.success() {
        return Err(no_sysroot(output.status.to_string()));
    }
    let text = String::from_utf8(output.stdout).map_err(|e| no_sysroot(e.to_string()))?;
    Ok(PathBuf::from(text.trim()))
}

/// The compiler a build script should ask: `RUSTC` (cargo sets it), else `rustc`.
pub fn rustc_from_env() -> OsString {
    std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A scratch directory with a fake toolchain: `<dir>/toolchains/<name>` as the sysroot, a
    /// `rustc` that prints it, and optionally a `rustup` that records its arguments and
    /// installs the target (or fails).
    struct Fake {
        dir: PathBuf,
        sysroot: PathBuf,
        bin: PathBuf,
        /// One fake at a time: a script written while another test forks can be inherited
        /// open for writing by that child, and running it then fails with "Text file busy".
        _serial: std::sync::MutexGuard<'static, ()>,
    }

    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    impl Fake {
        fn new(test: &str, toolchain: &str) -> Fake {
            let serial = SERIAL
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let dir = std::env::temp_dir()
                .join(format!("neutrino-wasm-build-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let sysroot = dir.join("toolchains").join(toolchain);
            let bin = dir.join("bin");
            std::fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/lib"))
                .unwrap();
            std::fs::create_dir_all(&bin).unwrap();
            let fake = Fake {
                dir,
                sysroot,
                bin,
                _serial: serial,
            };
            fake.script("rustc", &format!("echo '{}'", fake.sysroot.display()));
            fake
        }

        fn script(&self, name: &str, body: &str) {
            let path = self.bin.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        /// A rustup that writes its arguments to `rustup.args` and, if `works`, creates the
        /// target's directory in the sysroot.
        fn rustup(&self, works: bool) {
            let args = self.dir.join("rustup.args");
            let body = if works {
                format!(
                    "echo \"$@\" > '{}'\n/bin/mkdir -p '{}/lib/rustlib/{TARGET}/lib'",
                    args.display(),
                    self.sysroot.display()
                )
            } else {
                format!(
                    "echo \"$@\" > '{}'\necho 'error: toolchain is a custom toolchain' >&2\nexit 1",
                    args.display()
                )
            };
            self.script("rustup", &body);
        }

        fn rustup_args(&self) -> Option<String> {
            std::fs::read_to_string(self.dir.join("rustup.args"))
                .ok()
                .map(|s| s.trim().to_string())
        }

        fn ensure(&self) -> Result<TargetStatus, MissingTarget> {
            ensure_target(
                self.bin.join("rustc").as_os_str(),
                Some(self.bin.as_os_str()),
            )
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn a_sysroot_with_the_target_needs_nothing_and_rustup_is_not_run() {
        let fake = Fake::new("present", "stable-x86_64-unknown-linux-gnu");
        std::fs::create_dir_all(fake.sysroot.join("lib/rustlib").join(TARGET).join("lib")).unwrap();
        fake.rustup(true);
        assert_eq!(fake.ensure(), Ok(TargetStatus::Present));
        assert_eq!(fake.rustup_args(), None, "rustup was run");
    }

    #[test]
    fn a_missing_target_is_installed_into_the_toolchain_the_sysroot_belongs_to() {
        // A linked `1.95.0` toolchain resolves to the sysroot of `stable-…`: that is the
        // toolchain rustup can add targets to.
        let fake = Fake::new("install", "stable-x86_64-unknown-linux-gnu");
        fake.rustup(true);
        assert_eq!(
            fake.ensure(),
            Ok(TargetStatus::Installed {
                toolchain: "stable-x86_64-unknown-linux-gnu".into()
            })
        );
        assert_eq!(
            fake.rustup_args().as_deref(),
            Some("target add --toolchain stable-x86_64-unknown-linux-gnu wasm32-wasip2")
        );
        assert!(has_target(&fake.sysroot));
    }

    #[test]
    fn without_rustup_the_error_is_one_line_saying_what_to_install() {
        let fake = Fake::new("no-rustup", "1.95.0");
        let err = fake.ensure().unwrap_err();
        assert!(matches!(err, MissingTarget::NoRustup { .. }), "{err:?}");
        let line = err.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("rustup target add wasm32-wasip2"), "{line}");
        assert!(line.contains(&fake.sysroot.display().to_string()), "{line}");
    }

    #[test]
    fn a_failing_rustup_is_reported_with_its_last_line() {
        let fake = Fake::new("rustup-fails", "my-linked");
        fake.rustup(false);
        let err = fake.ensure().unwrap_err();
        let line = err.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.contains("error: toolchain is a custom toolchain"),
            "{line}"
        );
        assert!(line.contains("--toolchain my-linked"), "{line}");
    }

    #[test]
    fn only_directories_under_toolchains_name_a_rustup_toolchain() {
        assert_eq!(
            toolchain_of(Path::new(
                "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu"
            )),
            Some("stable-x86_64-unknown-linux-gnu".into())
        );
        assert_eq!(toolchain_of(Path::new("/usr")), None);
        assert_eq!(toolchain_of(Path::new("/opt/rust/1.95")), None);
    }
}
