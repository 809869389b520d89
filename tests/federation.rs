//! Federation with real Apollo tools (pinned in tests/federation/package-lock.json): the
//! subgraph SDL composes with the Pulse core stub through @apollo/composition.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/federation")
}

fn core_stub() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/federation/pulse-core.graphql");
    p.exists().then_some(p)
}

/// Installs the pinned npm packages once per test binary (`npm ci` from the lockfile).
fn npm_ready() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        if dir().join("node_modules/@apollo/composition").exists() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir())
            .status()
            .expect("npm must be installed (.ci/run installs nodejs and npm)");
        assert!(status.success(), "npm ci failed");
    });
}

#[test]
fn subgraph_composes_with_the_core_stub() {
    let Some(core) = core_stub() else {
        eprintln!(
            "note: ../shared/federation/pulse-core.graphql not found; composition not checked"
        );
        return;
    };
    npm_ready();
    let sdl = pulse_vsphere::graphql::sdl();
    let tmp =
        std::env::temp_dir().join(format!("pulse-vsphere-sdl-{}.graphql", std::process::id()));
    std::fs::write(&tmp, &sdl).expect("write sdl");
    let out = Command::new("node")
        .arg(dir().join("compose.mjs"))
        .arg(&tmp)
        .arg(&core)
        .output()
        .expect("node must be installed");
    let _ = std::fs::remove_file(&tmp);
    assert!(
        out.status.success(),
        "composition failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
