//! A vendor's driver, written outside this repository exactly as `sdk/README.md` tells: its
//! `Cargo.toml` (the SDK crates by `git = …`), `.cargo/config.toml`, `driver.toml` and
//! `src/lib.rs` are taken from the README's code blocks, the repository URL replaced by this
//! checkout's committed `HEAD`. It must resolve (neither SDK crate may need anything of the
//! enclosing workspace), build for `wasm32-wasip2`, load, and bind as the README says.
//!
//! What is tested is the committed `HEAD` of this checkout: uncommitted changes to the SDK
//! are not seen (commit first).

use std::path::{Path, PathBuf};
use std::process::Command;

use neutrino_driver_test::{BindResult, Harness, build_driver, fixtures};
use serde_json::json;

/// The fenced code blocks of `text` with their info string (`toml`, `rust`, …).
fn code_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) => current = Some((info.trim().to_string(), String::new())),
            (Some(_), Some(_)) => blocks.extend(current.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

fn block<'a>(blocks: &'a [(String, String)], info: &str, containing: &str) -> &'a str {
    blocks
        .iter()
        .find(|(i, b)| i == info && b.contains(containing))
        .map(|(_, b)| b.as_str())
        .unwrap_or_else(|| panic!("sdk/README.md has no ```{info} block with {containing:?}"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn head_commit(root: &Path) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "HEAD"])
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "this test needs a git checkout of Neutrino: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn a_driver_written_from_the_sdk_readme_outside_the_repository_builds_loads_and_binds() {
    let root = repo_root().canonicalize().unwrap();
    let readme = std::fs::read_to_string(root.join("sdk/README.md")).unwrap();
    let blocks = code_blocks(&readme);
    let upstream = r#"git = "https://github.com/<org>/neutrino", tag = "v0.2.0""#;
    let cargo_toml = block(&blocks, "toml", "[package]");
    assert_eq!(
        cargo_toml.matches(upstream).count(),
        2,
        "the README's Cargo.toml names both SDK crates by git and tag:\n{cargo_toml}"
    );
    let local = format!(
        r#"git = "file://{}", rev = "{}""#,
        root.display(),
        head_commit(&root)
    );
    let vendor = std::env::temp_dir().join(format!("neutrino-vendor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&vendor);
    std::fs::create_dir_all(vendor.join("src")).unwrap();
    std::fs::create_dir_all(vendor.join(".cargo")).unwrap();
    // Outside any workspace, as a vendor's own repository is.
    std::fs::write(
        vendor.join("Cargo.toml"),
        format!("{}\n[workspace]\n", cargo_toml.replace(upstream, &local)),
    )
    .unwrap();
    std::fs::write(
        vendor.join(".cargo/config.toml"),
        block(&blocks, "toml", "[target.wasm32-wasip2]"),
    )
    .unwrap();
    std::fs::write(
        vendor.join("driver.toml"),
        block(&blocks, "toml", "contract = "),
    )
    .unwrap();
    std::fs::write(
        vendor.join("src/lib.rs"),
        block(&blocks, "rust", "export!("),
    )
    .unwrap();

    let built = build_driver(&vendor);
    let _ = std::fs::remove_dir_all(&vendor);
    let wasm = built.unwrap_or_else(|e| panic!("the README's driver does not build: {e}"));
    let driver = Harness::load(&wasm)
        .config("switch", json!("tor-1"))
        .build()
        .await
        .expect("the README's driver loads");
    let port = fixtures::port("p1")
        .host("compute-1")
        .segment(fixtures::vlan("physnet1", 100))
        .build();

    let bound = driver.bind_port(&port).await.unwrap();

    assert_eq!(driver.meta().name, "acme-driver");
    match bound {
        BindResult::Bound(b) => {
            assert_eq!(b.segment_id, "vlan-physnet1-100");
            assert_eq!(b.vif_details["switch"], "tor-1");
        }
        other => panic!("the README's driver should bind a VLAN segment: {other:?}"),
    }
}
