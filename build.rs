//! Finds the schema migrations: every `migrations/<dialect>/NNNN_name.sql`, in the order of its
//! number, written for each dialect as an array of `include_str!`s into `OUT_DIR`
//! (`sqlite_migrations.rs`, `postgres_migrations.rs`), which the back ends `include!`. The build
//! fails unless the numbers of each dialect run 1, 2, 3… without a gap or a repeat and both
//! dialects have the same files (a migration is written once per dialect, under one name).

use std::fs;
use std::path::{Path, PathBuf};

const DIALECTS: [&str; 2] = ["sqlite", "postgres"];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=build.rs");
    let mut names = Vec::new();
    for dialect in DIALECTS {
        let dir = root.join("migrations").join(dialect);
        println!("cargo:rerun-if-changed={}", dir.display());
        let files = migrations(&dir);
        let list: String = files
            .iter()
            .map(|(_, path)| format!("    include_str!({:?}),\n", path.display().to_string()))
            .collect();
        let code = format!("&[\n{list}]\n");
        fs::write(out.join(format!("{dialect}_migrations.rs")), code).expect("OUT_DIR is writable");
        names.push(files.into_iter().map(|(name, _)| name).collect::<Vec<_>>());
    }
    if names[0] != names[1] {
        panic!(
            "migrations/sqlite and migrations/postgres must hold the same files: {:?} against {:?}",
            names[0], names[1]
        );
    }
}

/// The migrations in `dir`, by number: each file's name and path. Panics (failing the build)
/// on a file that is not `NNNN_name.sql`, or numbers that do not run 1, 2, 3….
fn migrations(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(u32, String, PathBuf)> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_else(|| panic!("{} is not a UTF-8 name", path.display()))
                .to_owned();
            let number = name
                .strip_suffix(".sql")
                .and_then(|stem| stem.split_once('_'))
                .filter(|(n, rest)| n.len() == 4 && !rest.is_empty())
                .and_then(|(n, _)| n.parse::<u32>().ok())
                .unwrap_or_else(|| {
                    panic!("{}: a migration is named NNNN_name.sql", path.display())
                });
            (number, name, path)
        })
        .collect();
    found.sort();
    for (i, (number, name, _)) in found.iter().enumerate() {
        if *number as usize != i + 1 {
            panic!(
                "{}: migration {name} should be number {:04} (numbers run 1, 2, 3… without a gap \
                 or a repeat)",
                dir.display(),
                i + 1
            );
        }
    }
    found
        .into_iter()
        .map(|(_, name, path)| (name, path))
        .collect()
}
