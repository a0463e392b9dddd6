//! End to end in a real browser: `hybi serve` answers a plain GET with its demo page, and
//! Debian's chromium (headless, driven by playwright-core through `tests/browser/demo_test.js`)
//! connects with the page's WebSocket, sends, sees the echoes and closes. The screenshots stay
//! in `<target dir>/browser-test/<engine>/` (`demo.png`, `demo-closed.png`), one run per
//! engine of `hybi serve` (tokio, reactor).
//!
//! chromium, node and playwright-core come from scripts/install-test-deps.sh; a missing one
//! fails the test.

mod common;
#[path = "common/eco.rs"]
mod eco;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{deps_root, repo_root};
use eco::{require_program, spawn, Listening};

/// `<target dir>/browser-test`: the test binary is `<target dir>/<profile>/deps/browser-…`.
fn artefact_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test binary lives in <target>/<profile>/deps");
    target.join("browser-test")
}

fn require_playwright() {
    let modules = deps_root().join("node").join("node_modules");
    let probe = Command::new("node")
        .arg("-e")
        .arg("require.resolve('playwright-core', { paths: [process.argv[1]] })")
        .arg(&modules)
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "playwright-core is missing from {}: {}\nrun scripts/install-test-deps.sh (as root)",
            modules.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("node is missing ({e})\nrun scripts/install-test-deps.sh (as root)"),
    }
}

#[test]
fn demo_page_in_chromium() {
    demo_page_in_chromium_on("tokio");
}

/// The same page and WebSocket, served by the reactor engine (`--engine reactor`).
#[test]
fn demo_page_in_chromium_on_the_reactor() {
    demo_page_in_chromium_on("reactor");
}

fn demo_page_in_chromium_on(engine: &str) {
    require_program("node", &["--version"]);
    require_program("chromium", &["--version"]);
    require_playwright();

    let server = Listening::hybi(&["--engine", engine]);
    let dir = artefact_dir().join(engine);
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(dir.join("demo.png"));
    let _ = std::fs::remove_file(dir.join("demo-closed.png"));
    let url = format!("http://127.0.0.1:{}/", server.port);
    let mut cmd = Command::new("node");
    cmd.arg(repo_root().join("tests/browser/demo_test.js"))
        .arg(&url)
        .arg(&dir);
    let out = spawn(format!("demo_test.js {url}"), cmd, None).finish(Duration::from_secs(180));
    let all_passed = out
        .lines()
        .iter()
        .any(|l| l.starts_with("passed ") && l.ends_with(" failed 0"));
    if !out.success() || !all_passed {
        panic!(
            "the browser test failed:\n{}\n{}",
            out.describe(),
            server.log()
        );
    }
    for name in ["demo.png", "demo-closed.png"] {
        let png = std::fs::read(dir.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "{name} is not a real screenshot ({} bytes)",
            png.len()
        );
    }
    eprintln!("screenshots in {}", dir.display());
}
