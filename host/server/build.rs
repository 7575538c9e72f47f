//! Builds the in-tree mechanism drivers (`drivers/`) for `wasm32-wasip2`, so that a plain
//! `cargo run -p neutrino-server` serves them. Their directory is compiled into the binary as
//! the default drivers directory (`NEUTRINO_BUILTIN_DRIVERS`).
//!
//! The toolchain must have the `wasm32-wasip2` standard library: when it does not, rustup
//! (if there is one) installs it, and otherwise the build stops with one line saying what to
//! install.

use std::path::PathBuf;

use neutrino_wasm_build::toolchain::{self, TargetStatus};

fn main() {
    let path = std::env::var_os("PATH");
    match toolchain::ensure_target(&toolchain::rustc_from_env(), path.as_deref()) {
        Ok(TargetStatus::Present) => {}
        Ok(TargetStatus::Installed { toolchain }) => println!(
            "cargo::warning=installed the {} target into the Rust toolchain {toolchain} \
             (rustup target add) to build the in-tree drivers",
            neutrino_wasm_build::TARGET
        ),
        Err(missing) => {
            println!("cargo::error={missing}");
            return;
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("drivers");
    if let Err(e) = neutrino_wasm_build::build_in_tree_drivers(&out) {
        panic!("building the in-tree drivers failed: {e}");
    }
    println!("cargo:rustc-env=NEUTRINO_BUILTIN_DRIVERS={}", out.display());
}
