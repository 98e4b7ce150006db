//! The log format the journal sees: run the real binary with its stderr in a file, once
//! with `JOURNAL_STREAM` naming that file (as systemd sets it) and once without.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

/// Runs `sim7600 decode <a missing file>` (a fatal error) and returns its stderr.
fn run_failing_command(journal: bool, rust_log: Option<&str>) -> String {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let err_path = dir.path().join("stderr");
    let err = File::create(&err_path).expect("the stderr file");
    let meta = err.metadata().expect("its metadata");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sim7600"));
    cmd.arg("decode")
        .arg(dir.path().join("no-such-capture"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG");
    if journal {
        cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    }
    if let Some(level) = rust_log {
        cmd.env("RUST_LOG", level);
    }
    let status = cmd.status().expect("sim7600 runs");
    assert!(!status.success(), "decode of a missing file must fail");
    std::fs::read_to_string(&err_path).expect("stderr readable")
}

#[test]
fn under_systemd_an_error_carries_priority_3_and_no_timestamp() {
    let out = run_failing_command(true, None);
    let line = out
        .lines()
        .find(|l| l.contains("no-such-capture"))
        .unwrap_or_else(|| {
            panic!("no error line naming the capture in: {out:?}");
        });
    assert!(
        line.starts_with("<3>"),
        "journal priority prefix missing: {line:?}"
    );
    assert!(
        !line.contains("ERROR"),
        "the level is the prefix, not a word: {line:?}"
    );
    assert!(
        !line.contains(&format!("{}-", jiff_year())),
        "the journal stamps the entry; the line has no timestamp: {line:?}"
    );
}

#[test]
fn on_a_terminal_the_line_keeps_its_timestamp_and_level() {
    let out = run_failing_command(false, None);
    let line = out
        .lines()
        .find(|l| l.contains("no-such-capture"))
        .unwrap_or_else(|| panic!("no error line in: {out:?}"));
    assert!(
        !line.starts_with('<'),
        "no priority prefix off the journal: {line:?}"
    );
    assert!(line.contains("ERROR"), "level shown: {line:?}");
}

#[test]
fn a_fatal_error_reaches_stderr_even_with_logging_off() {
    let out = run_failing_command(true, Some("off"));
    assert!(
        out.contains("no-such-capture"),
        "RUST_LOG=off must not silence the error that ends the program: {out:?}"
    );
}

/// This year, as the terminal format's timestamp would start (`2026-...`).
fn jiff_year() -> i16 {
    jiff::Zoned::now().year()
}
