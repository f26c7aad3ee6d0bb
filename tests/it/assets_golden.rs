//! Golden tests: a broken asset file in, the exact error messages out.
//!
//! Each folder under `tests/golden/assets/` holds replacement asset files and `expected.txt`.
//! The case's files are laid over the repository's `assets/`, parsed, and every error is compared
//! line by line. Refresh the expectations with `UPDATE_GOLDEN=1 cargo test --test it golden`.

use std::path::Path;
use std::process::Command;

use dominion_sim::config::Assets;

use crate::support::{dominion_bin, repo_asset_files, write_assets};

fn golden_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/assets")
}

fn case_files(case: &Path) -> dominion_sim::config::AssetFiles {
    let mut files = repo_asset_files();
    for entry in std::fs::read_dir(case).expect("case folder") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".toml") {
            files.insert(name, std::fs::read_to_string(&path).expect("case file"));
        }
    }
    files
}

#[test]
fn golden_asset_errors() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(golden_root())
        .expect("golden folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 8,
        "expected at least 8 golden cases, found {}",
        cases.len()
    );
    let mut mismatches = Vec::new();
    for case in &cases {
        let actual = match Assets::parse(&case_files(case)) {
            Ok(_) => "(valid)".to_owned(),
            Err(errors) => errors.to_string(),
        };
        let expected_path = case.join("expected.txt");
        if update {
            std::fs::write(&expected_path, format!("{actual}\n")).expect("write expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "{} is missing; run with UPDATE_GOLDEN=1",
                expected_path.display()
            )
        });
        if expected.trim_end() != actual {
            mismatches.push(format!(
                "case {}:\n--- expected\n{}\n--- actual\n{}",
                case.file_name().unwrap().to_string_lossy(),
                expected.trim_end(),
                actual
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn repository_assets_are_valid() {
    let assets = Assets::parse(&repo_asset_files()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((assets.map.width, assets.map.height), (1200, 1200));
    assert_eq!(assets.world.tick_hz, 10);
}

#[test]
fn check_assets_cli_reports_errors_and_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let case = golden_root().join("every_error_reported");
    write_assets(dir.path(), &case_files(&case));
    let out = Command::new(dominion_bin())
        .args(["check-assets", dir.path().to_str().unwrap()])
        .output()
        .expect("run dominion check-assets");
    assert_eq!(out.status.code(), Some(1), "invalid assets must exit 1");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected = std::fs::read_to_string(case.join("expected.txt")).expect("expected.txt");
    assert_eq!(stdout.trim_end(), expected.trim_end());

    let out = Command::new(dominion_bin())
        .args([
            "check-assets",
            crate::support::repo_assets().to_str().unwrap(),
        ])
        .output()
        .expect("run dominion check-assets");
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one-line summary, got: {stdout}");
    assert!(stdout.contains("ok: 1200x1200 map"), "{stdout}");

    let missing = dir.path().join("nope");
    let out = Command::new(dominion_bin())
        .args(["check-assets", missing.to_str().unwrap()])
        .output()
        .expect("run dominion check-assets");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("assets folder not found"));
}

#[test]
fn a_missing_file_is_named() {
    let mut files = repo_asset_files();
    files.remove("marches.toml");
    let err = Assets::parse(&files).expect_err("missing file must fail");
    assert_eq!(
        err.to_string(),
        "marches.toml:0: (file): file is missing from the assets folder"
    );
}
