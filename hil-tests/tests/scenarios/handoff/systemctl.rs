//! The systemctl backend, without systemd: a stand-in `systemctl` first on PATH records
//! its arguments and drives the rig's real smsd through its scripts. The machine's own
//! systemctl is never called.

use crate::support::cli::*;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hil_tests::{Rig, SimConfig};

/// Writes `<rig>/bin/systemctl`: logs its arguments to `<rig>/systemctl.log`, maps
/// is-active/stop/start of `smstools` to the smsd scripts, refuses anything else.
fn stand_in_systemctl(rig: &mut Rig) -> (PathBuf, PathBuf) {
    let scripts = rig.smsd().unwrap().scripts().clone();
    let bin = rig.dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = rig.dir().join("systemctl.log");
    let sq = |p: &Path| format!("'{}'", p.display());
    let script = format!(
        "#!/bin/sh\n\
         echo \"$*\" >> {log}\n\
         [ \"$2\" = -- ] && [ \"$3\" = smstools ] || {{ echo \"stand-in: unexpected $*\" >&2; exit 5; }}\n\
         case \"$1\" in\n\
         \x20 is-active) {status} && {{ echo active; exit 0; }}; echo inactive; exit 3 ;;\n\
         \x20 stop) exec {stop} ;;\n\
         \x20 start) exec {start} ;;\n\
         esac\n\
         exit 5\n",
        log = sq(&log),
        status = sq(&scripts.status),
        stop = sq(&scripts.stop),
        start = sq(&scripts.start),
    );
    let path = bin.join("systemctl");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, log)
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn detect_through_systemctl_stops_and_starts_the_unit_by_argv() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let before = start_smsd(&mut rig);
    let (bin, log) = stand_in_systemctl(&mut rig);
    // The default backend: systemctl, unit smstools, systemctl found on PATH.
    let config = write_config(&rig, "");

    let out = sim7600_with(&config, &["detect", "--json"], |c| {
        c.env("PATH", path_with(&bin));
    });

    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_of(&out)["smstools_was_active"], true);
    let calls: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        calls.first().map(String::as_str),
        Some("is-active -- smstools"),
        "{calls:?}"
    );
    let stop = calls.iter().position(|c| c == "stop -- smstools").unwrap();
    let start = calls.iter().position(|c| c == "start -- smstools").unwrap();
    assert!(stop < start, "{calls:?}");
    assert!(
        calls.iter().all(|c| c.ends_with("-- smstools")),
        "{calls:?}"
    );
    let after = rig.smsd().unwrap().pid().expect("smsd runs after detect");
    assert_ne!(before, after);
}

#[test]
fn a_configured_unit_name_is_passed_as_one_argument() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let (bin, log) = stand_in_systemctl(&mut rig);
    let config = write_config(
        &rig,
        "[handoff]\nbackend = \"systemctl\"\nunit = \"smstools@GSM1.service\"\n",
    );

    let out = sim7600_with(&config, &["detect", "--json"], |c| {
        c.env("PATH", path_with(&bin));
    });

    // The stand-in knows only `smstools`: the handoff fails, naming the command, and
    // smsd (never stopped) runs on.
    assert_eq!(out.status.code(), Some(3));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("is-active -- smstools@GSM1.service"),
        "{calls}"
    );
    assert!(rig.smsd().unwrap().is_running());
}

#[test]
fn a_unit_name_that_could_inject_never_reaches_systemctl() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let (bin, log) = stand_in_systemctl(&mut rig);
    let config = write_config(
        &rig,
        "[handoff]\nbackend = \"systemctl\"\nunit = \"smstools; reboot\"\n",
    );

    let out = sim7600_with(&config, &["detect"], |c| {
        c.env("PATH", path_with(&bin));
    });

    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("smstools; reboot") && stderr.contains("';'"),
        "{stderr}"
    );
    assert!(!log.exists(), "systemctl was called");
}
