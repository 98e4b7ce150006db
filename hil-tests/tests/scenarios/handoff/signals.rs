//! A process holding the lease (`sim7600 hold`) ends by SIGINT, SIGTERM, SIGHUP, SIGQUIT
//! or a panic: each time smsd runs again within 2 s and the restore marker is gone. A
//! second SIGINT during the shutdown does not cut the restore short.

use crate::support::cli::*;

use std::time::{Duration, Instant};

use hil_tests::{Rig, SimConfig};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn signal_ends_the_hold_and_smsd_is_back(signal: Signal) {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = commands_config(&mut rig);
    let holding = hold(&config, &[]);
    assert!(
        holding.line.contains("smstools was active: true"),
        "{}",
        holding.line
    );
    assert!(
        !rig.smsd().unwrap().is_running(),
        "smsd still runs while the port is held"
    );
    assert_eq!(markers(&rig).len(), 1);

    kill(Pid::from_raw(holding.pid), signal).unwrap();
    let took = smsd_back_within(rig.smsd().unwrap(), BACK_WITHIN);

    let (status, lines) = holding.wait_exit();
    assert_eq!(status.code(), Some(0), "hold ended by {signal}: {status:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("released ")),
        "{lines:?}"
    );
    assert!(markers(&rig).is_empty(), "{:?}", markers(&rig));
    eprintln!("{signal}: smsd back after {took:?}");
}

#[test]
fn sigint_gives_smsd_back_within_2_s() {
    signal_ends_the_hold_and_smsd_is_back(Signal::SIGINT);
}

#[test]
fn sigterm_gives_smsd_back_within_2_s() {
    signal_ends_the_hold_and_smsd_is_back(Signal::SIGTERM);
}

#[test]
fn sighup_gives_smsd_back_within_2_s() {
    signal_ends_the_hold_and_smsd_is_back(Signal::SIGHUP);
}

#[test]
fn sigquit_gives_smsd_back_within_2_s() {
    signal_ends_the_hold_and_smsd_is_back(Signal::SIGQUIT);
}

#[test]
fn a_second_sigint_during_the_shutdown_does_not_skip_the_restore() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    // A start script that takes a while: the second Ctrl-C lands while it runs.
    let scripts = rig.smsd().unwrap().scripts().clone();
    let slow_start = rig.dir().join("slow-start");
    std::fs::write(
        &slow_start,
        format!(
            "#!/bin/sh\nsleep 0.5\nexec {}\n",
            q(&scripts.start).replace('"', "'")
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &slow_start,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let handoff = format!(
        "[handoff]\nbackend = \"commands\"\nstop = [{}]\nstart = [{}]\nstatus = [{}]\n",
        q(&scripts.stop),
        q(&slow_start),
        q(&scripts.status)
    );
    let config = write_config(&rig, &handoff);
    let holding = hold(&config, &[]);
    assert!(!rig.smsd().unwrap().is_running());

    kill(Pid::from_raw(holding.pid), Signal::SIGINT).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    kill(Pid::from_raw(holding.pid), Signal::SIGINT).unwrap();

    smsd_back_within(rig.smsd().unwrap(), BACK_WITHIN);
    let (status, _) = holding.wait_exit();
    assert_eq!(status.code(), Some(0));
    assert!(markers(&rig).is_empty());
}

#[test]
fn a_panic_while_holding_the_lease_gives_smsd_back_within_2_s() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = commands_config(&mut rig);
    let holding = hold(&config, &["--panic-after", "300"]);
    let panics_at = Instant::now() + Duration::from_millis(300);
    assert!(!rig.smsd().unwrap().is_running());

    let pid = holding.pid;
    let (status, _) = holding.wait_exit();
    assert_eq!(status.code(), Some(101), "a panic exits with 101");
    let after_panic = Instant::now().saturating_duration_since(panics_at);
    assert!(after_panic < BACK_WITHIN, "unwinding took {after_panic:?}");
    assert!(
        rig.smsd().unwrap().is_running(),
        "smsd not back after the panic of pid {pid}"
    );
    assert!(markers(&rig).is_empty());
}
