//! `sim7600 demo` is answered, not run: the demo is its own program (`sim7600-demo`,
//! tools/demo), and `sim7600` carries no simulated modem. Whatever flags follow and
//! whatever the config says, it exits 64 (bad usage) and says where the demo is; the help
//! lists no demo.
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn sim7600_demo_exits_64_and_names_sim7600_demo() {
    for args in [
        &["demo"][..],
        &["demo", "--simulated-smstools", "--rings", "2"],
        &["demo", "--help"],
        &["help", "demo"],
        &["--config", "/nonexistent/sim7600/config.toml", "demo"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sim7600"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(
            stderr.starts_with("sim7600: 'demo' is not a command of sim7600")
                && stderr.contains("cargo run --release -p sim7600-demo"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn the_help_lists_no_demo() {
    let out = Command::new(env!("CARGO_BIN_EXE_sim7600"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("voice-bot"), "{help}");
    assert!(!help.contains("demo"), "{help}");
}
