//! `sim7600 status` never guesses: a systemctl that fails is shown as an error with its
//! message (never "inactive"), and a user who may not read other processes' descriptors
//! is told so (never "holders: none"); the state is then "unknown", exit status 2.

use crate::support::cli::*;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use hil_tests::{Rig, SimConfig};

/// Exit status of `status` for "unknown".
const EXIT_UNKNOWN: i32 = 2;

/// Writes `<rig>/bin/systemctl` running `body` and returns it.
fn stand_in_systemctl(rig: &Rig, body: &str) -> PathBuf {
    let bin = rig.dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join("systemctl");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn systemctl_config(rig: &Rig, systemctl: &Path) -> PathBuf {
    write_config(
        rig,
        &format!(
            "[handoff]\nbackend = \"systemctl\"\nunit = \"smstools\"\nsystemctl = {}\n",
            q(systemctl)
        ),
    )
}

#[test]
fn a_systemctl_without_systemd_is_an_error_with_its_message_and_the_state_unknown() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    // What systemctl says in a container or under SysV init.
    let systemctl = stand_in_systemctl(
        &rig,
        "echo \"System has not been booted with systemd as init system (PID 1). Can't operate.\" >&2\n\
         echo 'Failed to connect to bus: Host is down' >&2\nexit 1",
    );
    let config = systemctl_config(&rig, &systemctl);

    let out = sim7600(&config, &["status"]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    println!("{text}");
    assert_eq!(out.status.code(), Some(EXIT_UNKNOWN), "{text}");
    let sms_line = text.lines().find(|l| l.starts_with("smstools:")).unwrap();
    assert!(
        sms_line.contains("error:") && sms_line.contains("not been booted with systemd"),
        "{sms_line}"
    );
    assert!(!sms_line.contains("inactive"), "{sms_line}");
    assert!(text.contains("state:     unknown: cannot tell whether smstools is active"));

    let v = json_of(&sim7600(&config, &["status", "--json"]));
    assert_eq!(v["state"]["state"], "unknown", "{v}");
    assert_eq!(v["facts"]["smstools_active"], serde_json::Value::Null);
    assert!(
        v["facts"]["smstools_error"]
            .as_str()
            .unwrap()
            .contains("Host is down"),
        "{v}"
    );
}

#[test]
fn a_unit_systemd_does_not_know_is_an_error_not_inactive() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    // systemctl's answer for a unit that is not installed (it exits 0 for `show`).
    let systemctl = stand_in_systemctl(
        &rig,
        "echo LoadState=not-found\necho ActiveState=inactive\nexit 0",
    );
    let config = systemctl_config(&rig, &systemctl);

    let out = sim7600(&config, &["status", "--json"]);

    assert_eq!(out.status.code(), Some(EXIT_UNKNOWN));
    let v = json_of(&out);
    assert_eq!(v["state"]["state"], "unknown", "{v}");
    assert!(
        v["facts"]["smstools_error"]
            .as_str()
            .unwrap()
            .contains("no unit smstools"),
        "{v}"
    );
}

#[test]
fn an_unprivileged_user_is_told_the_holders_are_unknown_not_none() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this scenario runs status as `nobody` through setpriv while a root smsd holds the \
         port: run the tests as root"
    );
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let smsd_pid = start_smsd(&mut rig);
    let config = commands_config(&mut rig);
    // nobody must reach the config, the scripts and the port's link.
    std::fs::set_permissions(rig.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = hil_tests::sim7600_bin().unwrap();

    let as_nobody = |json: bool| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(&bin)
            .arg("--config")
            .arg(&config)
            .arg("status");
        if json {
            cmd.arg("--json");
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run setpriv (util-linux): {e}"));
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("setpriv:"),
            "setpriv failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };

    let out = as_nobody(false);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    println!("{text}");
    assert_eq!(out.status.code(), Some(EXIT_UNKNOWN), "{text}");
    let holders = text.lines().find(|l| l.starts_with("holders:")).unwrap();
    assert!(
        holders.contains("unknown") && holders.contains("as root"),
        "{holders}"
    );
    assert!(!holders.contains("holders:   none"), "{holders}");
    assert!(
        text.contains("state:     unknown: cannot tell who holds"),
        "{text}"
    );

    let out = as_nobody(true);
    assert_eq!(out.status.code(), Some(EXIT_UNKNOWN));
    let v = json_of(&out);
    assert_eq!(v["state"]["state"], "unknown", "{v}");
    assert!(v["facts"]["holders_hidden"].as_u64().unwrap() > 0, "{v}");
    // smsd runs as root: nobody cannot see it among the holders.
    assert!(
        v["facts"]["holders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["pid"] != smsd_pid),
        "{v}"
    );

    // As root the same facts give the expected state.
    let out = sim7600(&config, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json_of(&out);
    assert_eq!(v["state"]["state"], "voice_bot_stopped", "{v}");
    assert_eq!(v["facts"]["holders_hidden"], 0, "{v}");
}
