//! The uWebSockets peer and reference load generator, built at bench time by
//! `scripts/bench/build-uws.sh` from the sources vendored in the crates.io crate
//! `libuwebsockets-sys` 0.0.10 (never committed here).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The two binaries build-uws.sh produces.
#[derive(Clone, Debug)]
pub struct UwsBinaries {
    pub load_test: PathBuf,
    pub uws_echo: PathBuf,
}

impl UwsBinaries {
    /// The binaries in `dir`, if both are there.
    pub fn in_dir(dir: &Path) -> Option<Self> {
        let b = UwsBinaries {
            load_test: dir.join("load_test"),
            uws_echo: dir.join("uws_echo"),
        };
        (b.load_test.is_file() && b.uws_echo.is_file()).then_some(b)
    }
}

/// `scripts/bench/build-uws.sh` of this source tree.
pub fn build_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench/build-uws.sh")
}

/// Runs build-uws.sh (idempotent: quick when already built) and returns the binaries.
/// The script's progress lines go to this process's stderr (stdout stays clean for reports).
pub fn ensure_built(script: &Path, out_dir: &Path) -> Result<UwsBinaries, String> {
    if !script.is_file() {
        return UwsBinaries::in_dir(out_dir).ok_or_else(|| {
            format!(
                "{} not found and no prebuilt binaries in {}",
                script.display(),
                out_dir.display()
            )
        });
    }
    let out = Command::new("bash")
        .arg(script)
        .arg(out_dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        eprintln!("{line}");
    }
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        return Err(format!(
            "{} failed ({}):\n{}",
            script.display(),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    UwsBinaries::in_dir(out_dir).ok_or_else(|| {
        format!(
            "{} ran but {} lacks the binaries",
            script.display(),
            out_dir.display()
        )
    })
}
