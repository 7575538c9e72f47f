//! Builds the in-tree mechanism drivers (`drivers/`) for `wasm32-wasip2`, so that a plain
//! `cargo run -p neutrino-server` serves them. Their directory is compiled into the binary as
//! the default drivers directory (`NEUTRINO_BUILTIN_DRIVERS`).

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("drivers");
    if let Err(e) = neutrino_wasm_build::build_in_tree_drivers(&out) {
        panic!(
            "building the in-tree drivers failed: {e}\n\
             (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)"
        );
    }
    println!("cargo:rustc-env=NEUTRINO_BUILTIN_DRIVERS={}", out.display());
}
