//! The suspend-file backend with the real smsd: smsd keeps running, closes the port while
//! our `GSM1:` line is in its suspend file (SIGCONT makes it look at once), and reopens
//! it when the line is gone; other lines in the file stay.

use crate::support::cli::*;

use std::time::Duration;

use hil_tests::{Rig, SimConfig};

fn suspend_config(rig: &mut Rig) -> std::path::PathBuf {
    let smsd = rig.smsd().unwrap();
    let handoff = format!(
        "[handoff]\nbackend = \"suspend-file\"\nsuspend_file = {}\nsmsd_pid_file = {}\ndevice = \"GSM1\"\n",
        q(&smsd.suspend_file()),
        q(&smsd.pid_file())
    );
    write_config(rig, &handoff)
}

#[test]
fn detect_suspends_smsd_without_stopping_it_and_keeps_other_lines() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let pid = start_smsd(&mut rig);
    let suspend_file = rig.smsd().unwrap().suspend_file();
    std::fs::write(&suspend_file, "GSM2: maintenance by someone else\n").unwrap();
    let config = suspend_config(&mut rig);

    let out = sim7600(&config, &["detect", "--json"]);

    assert_eq!(out.status.code(), Some(0));
    let report = json_of(&out);
    assert_eq!(report["smstools_was_active"], true);
    assert!(report["pause_ms"].as_u64().is_some());
    assert_eq!(
        rig.smsd().unwrap().pid(),
        Some(pid),
        "smsd was restarted, not suspended"
    );
    assert_eq!(
        std::fs::read_to_string(&suspend_file).unwrap(),
        "GSM2: maintenance by someone else\n"
    );
    // smsd reopens the port once the line is gone.
    hil_tests::wait::wait_until_port_held(rig.port(), Duration::from_secs(15)).unwrap();
    let log = rig.smsd().unwrap().log();
    assert!(log.contains("Suspend started"), "{log}");
    hil_tests::wait::wait_for(
        "smsd to log the end of the suspend",
        Duration::from_secs(15),
        || {
            rig.smsd()
                .unwrap()
                .log()
                .contains("Suspend ended")
                .then_some(())
        },
    )
    .unwrap();
}

#[test]
fn hold_keeps_our_line_in_the_suspend_file_until_released() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let pid = start_smsd(&mut rig);
    let suspend_file = rig.smsd().unwrap().suspend_file();
    let config = suspend_config(&mut rig);

    let holding = hold(&config, &[]);
    let line = format!("GSM1: sim7600 (pid {}) holds the port\n", holding.pid);
    assert_eq!(std::fs::read_to_string(&suspend_file).unwrap(), line);
    // The port is ours: smsd (still running) does not hold it.
    let holders = hil_tests::wait::holders_of(rig.port());
    assert_eq!(holders, vec![holding.pid], "{holders:?}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(holding.pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (status, _) = holding.wait_exit();
    assert_eq!(status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&suspend_file).unwrap(), "");
    assert_eq!(rig.smsd().unwrap().pid(), Some(pid));
    hil_tests::wait::wait_until_port_held(rig.port(), Duration::from_secs(15)).unwrap();
}
