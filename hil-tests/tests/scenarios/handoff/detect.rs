//! `sim7600 detect` on the simulator with the real smsd holding the port: the seed's
//! phase 1. smsd runs before and after, the pause is measured, another modem exits 1 with
//! its identity, a stalled modem exits 2 with smsd back.

use crate::support::cli::*;

use std::time::Duration;

use hil_tests::{Rig, SimConfig};

#[test]
fn detect_finds_the_sim7600_while_smsd_runs_before_and_after_and_measures_the_pause() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let before = start_smsd(&mut rig);
    let config = commands_config(&mut rig);

    let out = sim7600(&config, &["detect", "--json"]);

    assert_eq!(out.status.code(), Some(0));
    let report = json_of(&out);
    assert_eq!(report["verdict"], "sim7600");
    assert_eq!(report["manufacturer"], "SIMCOM INCORPORATED");
    assert_eq!(report["model"], "SIMCOM_SIM7600G-H");
    assert_eq!(report["smstools_was_active"], true);
    let pause = report["pause_ms"].as_u64().unwrap();
    assert!(pause > 0 && pause < 20_000, "pause {pause} ms");
    // smsd was stopped and started again: a new process, holding the port again.
    let smsd = rig.smsd().unwrap();
    let after = smsd.pid().expect("smsd runs after detect");
    assert_ne!(before, after, "smsd was not restarted");
    hil_tests::wait::wait_until_port_held(rig.port(), Duration::from_secs(15)).unwrap();
    assert!(markers(&rig).is_empty(), "{:?}", markers(&rig));
    // The modem saw the probe.
    let state = rig.modem().state().unwrap();
    for cmd in ["AT", "AT+CGMI", "AT+CGMM"] {
        assert!(
            state.modem.commands.iter().any(|c| c == cmd),
            "{cmd} not sent: {:?}",
            state.modem.commands
        );
    }
}

#[test]
fn detect_prints_the_identity_and_pause_for_a_person() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = commands_config(&mut rig);
    let out = sim7600(&config, &["detect"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("SIMCOM INCORPORATED SIMCOM_SIM7600G-H (a SIM7600)"),
        "{text}"
    );
    assert!(text.contains("smstools pause: "), "{text}");
}

#[test]
fn another_modem_exits_1_with_its_identity_and_smsd_back() {
    let mut sim = SimConfig::default();
    sim.identity.manufacturer = "Quectel".into();
    sim.identity.model = "EC25".into();
    let mut rig = Rig::simulated(sim).unwrap();
    start_smsd(&mut rig);
    let config = commands_config(&mut rig);

    let out = sim7600(&config, &["detect"]);

    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Quectel EC25 (not a SIM7600)"), "{text}");
    assert!(rig.smsd().unwrap().is_running());
}

#[test]
fn a_stalled_modem_exits_2_and_smsd_is_back() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = commands_config(&mut rig);
    assert!(
        !rig.modem()
            .stall(Duration::from_secs(60))
            .unwrap()
            .is_skipped()
    );

    let out = sim7600(&config, &["detect", "--json"]);

    assert_eq!(out.status.code(), Some(2));
    let report = json_of(&out);
    assert_eq!(report["verdict"], "no_answer");
    assert!(report["error"].as_str().unwrap().contains("AT"), "{report}");
    assert!(report["pause_ms"].as_u64().is_some(), "{report}");
    assert!(
        rig.smsd().unwrap().is_running(),
        "smsd not back after a stalled modem"
    );
    assert!(markers(&rig).is_empty());
}

#[test]
fn detect_leaves_a_stopped_smsd_stopped() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = commands_config(&mut rig);

    let out = sim7600(&config, &["detect", "--json"]);

    assert_eq!(out.status.code(), Some(0));
    let report = json_of(&out);
    assert_eq!(report["smstools_was_active"], false);
    assert!(report["pause_ms"].is_null());
    assert!(!rig.smsd().unwrap().is_running());
}

#[test]
fn a_port_that_does_not_exist_exits_2_naming_it_with_a_hint_and_smsd_untouched() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let smsd_pid = start_smsd(&mut rig);
    let config = commands_config(&mut rig);
    let missing = rig.dir().join("dev/ttyUSB9");

    let out = sim7600(
        &config,
        &["detect", "--json", "--port", missing.to_str().unwrap()],
    );

    assert_eq!(out.status.code(), Some(2));
    let report = json_of(&out);
    assert_eq!(report["verdict"], "no_answer", "{report}");
    assert!(
        report["error"].as_str().unwrap().contains("ttyUSB9"),
        "{report}"
    );
    let hint = report["hint"].as_str().unwrap();
    assert!(hint.contains("powered") && hint.contains("lsusb"), "{hint}");
    // No modem: smsd was not stopped for it (the same process still runs).
    assert_eq!(rig.smsd().unwrap().pid(), Some(smsd_pid));
    assert!(report["smstools_was_active"].is_null(), "{report}");
}
