//! Where the workspace's binaries are, for scenarios that run them: `sim7600` of
//! host-linux (the real CLI) and `sim7600-demo` of tools/demo (the README's run command).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::error::RigError;

/// The binary's file name.
pub const SIM7600_BIN_NAME: &str = "sim7600";
/// The demo's file name (package `sim7600-demo`).
pub const DEMO_BIN_NAME: &str = "sim7600-demo";

/// One build at a time, however many tests ask at once.
static BUILD: Mutex<()> = Mutex::new(());

fn profile_dir() -> Option<PathBuf> {
    // A test executable lives in target/<profile>/deps/; binaries in target/<profile>/.
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    let dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent()?
    } else {
        deps
    };
    Some(dir.to_path_buf())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The path of the built `sim7600` binary, next to the test executable in
/// `target/<profile>/`. When it is missing it is built with
/// `$CARGO build -p host-linux --bin sim7600` (with `--release` for a release profile).
pub fn sim7600_bin() -> Result<PathBuf, RigError> {
    workspace_bin("host-linux", SIM7600_BIN_NAME)
}

/// The path of the built `sim7600-demo` binary, found or built as [`sim7600_bin`] is
/// (`$CARGO build -p sim7600-demo --bin sim7600-demo`).
pub fn demo_bin() -> Result<PathBuf, RigError> {
    workspace_bin("sim7600-demo", DEMO_BIN_NAME)
}

fn workspace_bin(package: &str, name: &str) -> Result<PathBuf, RigError> {
    let Some(dir) = profile_dir() else {
        return Err(RigError::Sim7600Binary {
            path: PathBuf::from(name),
            problem: "cannot tell where the test executable is".into(),
        });
    };
    let path = dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    let _one_build = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if path.is_file() {
        return Ok(path);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "-p", package, "--bin", name]);
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let out = cmd.output().map_err(|e| RigError::Sim7600Binary {
        path: path.clone(),
        problem: format!("cannot run {}: {e}", Path::new(&cargo).display()),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        return Err(RigError::Sim7600Binary {
            path,
            problem: format!(
                "`cargo build -p {package} --bin {name}` failed ({}):\n{}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        });
    }
    if path.is_file() {
        Ok(path)
    } else {
        Err(RigError::Sim7600Binary {
            path,
            problem: "the build succeeded but wrote no binary there".into(),
        })
    }
}
