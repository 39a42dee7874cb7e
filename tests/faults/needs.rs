//! What a fault test needs from the machine: root (to mount a tmpfs), or a
//! program such as PostgreSQL's `initdb`. Where it is missing the test says
//! so and passes, except in CI (`CI=true`), where a skipped fault test
//! would hide a regression: there it fails.

use std::path::{Path, PathBuf};

/// `Some(())` when the test may go on; `None` after printing why it is
/// skipped. Panics in CI.
pub fn or_skip(test: &str, missing: Option<String>) -> Option<()> {
    let Some(missing) = missing else {
        return Some(());
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {missing} (required in CI)");
    }
    eprintln!("skipping {test}: {missing}");
    None
}

/// Whether this process runs as root.
pub fn root() -> Option<String> {
    let uid = std::process::Command::new("id").arg("-u").output().ok()?;
    (String::from_utf8_lossy(&uid.stdout).trim() != "0").then(|| "it must run as root".to_owned())
}

/// The newest PostgreSQL server binaries (`initdb`, `pg_ctl`).
pub fn postgres_bin() -> Result<PathBuf, String> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "PostgreSQL is not installed in /usr/lib/postgresql".to_owned())?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|bin| version_of(bin));
    found
        .pop()
        .ok_or_else(|| "no initdb and pg_ctl under /usr/lib/postgresql/*/bin".to_owned())
}

fn version_of(bin: &Path) -> u32 {
    bin.parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .unwrap_or(0)
}
