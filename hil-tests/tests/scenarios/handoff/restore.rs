//! Exits no destructor survives: after SIGKILL of a process holding the lease, smsd stays
//! down until `sim7600 restore` (systemd's ExecStopPost) or the next `sim7600` command
//! that touches the port gives it back. A marker whose owner lives is left alone.

use crate::support::cli::*;

use std::process::{Command, Stdio};

use hil_tests::{Rig, SimConfig};

fn hold_then_sigkill(rig: &mut Rig) -> std::path::PathBuf {
    start_smsd(rig);
    let config = commands_config(rig);
    let mut holding = hold(&config, &[]);
    holding.child.kill().unwrap();
    let (status, _) = holding.wait_exit();
    assert_eq!(status.code(), None, "killed by a signal");
    // Nobody gave smsd back: the marker says what to do.
    assert!(!rig.smsd().unwrap().is_running());
    assert_eq!(markers(rig).len(), 1);
    config
}

#[test]
fn after_sigkill_sim7600_restore_gives_smsd_back_and_removes_the_marker() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = hold_then_sigkill(&mut rig);

    let out = sim7600(&config, &["restore", "--json"]);

    assert_eq!(out.status.code(), Some(0));
    let report = json_of(&out);
    assert_eq!(report["outcomes"][0]["outcome"], "restored");
    assert_eq!(report["outcomes"][0]["smstools_restored"], true);
    assert!(rig.smsd().unwrap().is_running());
    assert!(markers(&rig).is_empty());
    // A second restore finds nothing to do.
    let again = sim7600(&config, &["restore"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to restore"));
}

#[test]
fn after_sigkill_the_next_detect_restores_first_and_smsd_runs_afterwards() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = hold_then_sigkill(&mut rig);

    let out = sim7600(&config, &["detect", "--json"]);

    assert_eq!(out.status.code(), Some(0));
    // Restored first, so detect found smsd running and gave it back again.
    assert_eq!(json_of(&out)["smstools_was_active"], true);
    assert!(rig.smsd().unwrap().is_running());
    assert!(markers(&rig).is_empty());
}

#[test]
fn a_marker_whose_owner_lives_is_left_alone_and_its_port_refused() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = commands_config(&mut rig);
    // Another sim7600 holds the lease; it lives.
    let holding = hold(&config, &[]);
    let marker = markers(&rig).pop().unwrap();
    let text = std::fs::read_to_string(&marker).unwrap();

    let restore = sim7600(&config, &["restore", "--json"]);
    assert_eq!(restore.status.code(), Some(0));
    assert_eq!(json_of(&restore)["outcomes"][0]["outcome"], "owner_alive");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        text,
        "marker touched"
    );
    assert!(
        !rig.smsd().unwrap().is_running(),
        "restore gave smsd back under a live owner"
    );

    let detect = sim7600(&config, &["detect", "--json"]);
    assert_eq!(detect.status.code(), Some(3));
    let error = json_of(&detect)["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains(&format!("leased by pid {}", holding.pid)),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), text);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(holding.pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (status, _) = holding.wait_exit();
    assert_eq!(status.code(), Some(0));
    assert!(rig.smsd().unwrap().is_running());
}

#[test]
fn a_marker_naming_a_reused_pid_is_stale() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = hold_then_sigkill(&mut rig);
    // A live process now has the dead owner's pid, with another start time.
    let mut other = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let marker = markers(&rig).pop().unwrap();
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&marker).unwrap()).unwrap();
    json["owner_pid"] = other.id().into();
    std::fs::write(&marker, json.to_string()).unwrap();

    let out = sim7600(&config, &["restore", "--json"]);

    other.kill().unwrap();
    other.wait().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_of(&out)["outcomes"][0]["outcome"], "restored");
    assert!(rig.smsd().unwrap().is_running());
}
