//! The lease's failure paths with the real smsd: a foreign holder of the port is refused
//! with its pid and smsd is given back; a smstools that will not stop (its stop command
//! fails, or it claims success and keeps running) is left exactly as it was.

use crate::support::cli::*;

use std::fs::File;
use std::process::{Command, Stdio};

use hil_tests::{Rig, SimConfig};

#[test]
fn a_foreign_holder_is_refused_with_its_pid_and_smsd_is_restored() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = commands_config(&mut rig);
    // minicom left open on the port, as far as the lease can tell.
    let mut foreign = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::from(File::open(rig.port()).unwrap()))
        .spawn()
        .unwrap();

    let out = sim7600(&config, &["detect", "--json"]);

    let pid = foreign.id();
    foreign.kill().unwrap();
    foreign.wait().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let error = json_of(&out)["error"].as_str().unwrap().to_owned();
    assert!(error.contains(&format!("pid {pid} (sleep)")), "{error}");
    assert!(error.contains("is held by"), "{error}");
    assert!(
        rig.smsd().unwrap().is_running(),
        "smsd not restored after the refusal"
    );
    assert!(markers(&rig).is_empty());
}

#[test]
fn a_stop_command_that_fails_leaves_smsd_running_as_it_was() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let before = start_smsd(&mut rig);
    let scripts = rig.smsd().unwrap().scripts().clone();
    let handoff = format!(
        "[handoff]\nbackend = \"commands\"\nstop = [\"sh\", \"-c\", \"echo smsd refuses to stop >&2; exit 1\"]\nstart = [{}]\nstatus = [{}]\n",
        q(&scripts.start),
        q(&scripts.status)
    );
    let config = write_config(&rig, &handoff);

    let out = sim7600(&config, &["detect", "--json"]);

    assert_eq!(out.status.code(), Some(3));
    let error = json_of(&out)["error"].as_str().unwrap().to_owned();
    assert!(error.contains("smsd refuses to stop"), "{error}");
    assert!(error.contains("sh -c"), "{error}");
    assert_eq!(rig.smsd().unwrap().pid(), Some(before), "smsd was touched");
    assert!(markers(&rig).is_empty());
}

#[test]
fn a_smstools_that_claims_to_stop_but_keeps_running_is_left_as_it_was() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let before = start_smsd(&mut rig);
    let scripts = rig.smsd().unwrap().scripts().clone();
    let handoff = format!(
        "[handoff]\nbackend = \"commands\"\nstop = [\"true\"]\nstart = [{}]\nstatus = [{}]\n",
        q(&scripts.start),
        q(&scripts.status)
    );
    let config = write_config(&rig, &handoff).to_path_buf();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("stop_ms = 10000", "stop_ms = 500");
    std::fs::write(&config, text).unwrap();

    let out = sim7600(&config, &["detect", "--json"]);

    assert_eq!(out.status.code(), Some(3));
    let error = json_of(&out)["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("still active 500 ms after it was stopped"),
        "{error}"
    );
    assert_eq!(rig.smsd().unwrap().pid(), Some(before));
    assert!(markers(&rig).is_empty());
}

#[test]
fn a_bad_config_is_refused_at_start_naming_the_file_and_key() {
    let rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = write_config(
        &rig,
        "[handoff]\nbackend = \"commands\"\nstop = [\"true\"]\nstart = [\"true\"]\nstatus = [\"true\"]\nrestart = [\"x\"]\n",
    );

    let out = sim7600(&config, &["detect"]);

    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&*config.to_string_lossy()) && stderr.contains("restart"),
        "{stderr}"
    );
}
