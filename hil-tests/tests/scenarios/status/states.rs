//! `sim7600 status` against the real smsd: the seed's expected states from what it sees
//! (no systemd here: the bot's state comes from the restore markers), the port's holders
//! as `lsof` would list them, and "inconsistent" with the reason and the remedy.

use crate::support::cli::*;

use hil_tests::{Rig, SimConfig};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[test]
fn smsd_serving_the_modem_is_voice_bot_stopped_with_smsd_as_holder() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = commands_config(&mut rig);

    let out = sim7600(&config, &["status", "--json"]);

    assert_eq!(out.status.code(), Some(0));
    let v = json_of(&out);
    assert_eq!(v["state"]["state"], "voice_bot_stopped", "{v}");
    assert_eq!(v["facts"]["smstools_active"], true);
    assert_eq!(v["facts"]["bot"], "inactive");
    let holders = v["facts"]["holders"].as_array().unwrap();
    assert!(
        !holders.is_empty() && holders.iter().all(|h| h["command"] == "smsd"),
        "{holders:?}"
    );
}

#[test]
fn a_holding_sim7600_is_voice_bot_active_and_the_only_holder() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = commands_config(&mut rig);
    let holding = hold(&config, &[]);

    let out = sim7600(&config, &["status", "--json"]);

    let v = json_of(&out);
    kill(Pid::from_raw(holding.pid), Signal::SIGTERM).unwrap();
    holding.wait_exit();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["state"]["state"], "voice_bot_active", "{v}");
    assert_eq!(v["facts"]["smstools_active"], false);
    assert_eq!(v["facts"]["bot_evidence"], "marker");
    assert_eq!(v["facts"]["holders"][0]["command"], "sim7600");
    assert_eq!(v["facts"]["markers"][0]["owner_alive"], true);
}

#[test]
fn a_killed_holder_is_inconsistent_and_status_says_to_restore() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = commands_config(&mut rig);
    let mut holding = hold(&config, &[]);
    holding.child.kill().unwrap();
    let pid = holding.pid;
    holding.wait_exit();

    let out = sim7600(&config, &["status"]);

    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("pid {pid}")) && text.contains("run `sim7600 restore`"),
        "{text}"
    );
    // Status is read-only: the marker is still there, smsd still down.
    assert_eq!(markers(&rig).len(), 1);
    assert!(!rig.smsd().unwrap().is_running());
}

#[test]
fn an_unplugged_modem_with_smsd_stopped_is_idle() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = commands_config(&mut rig);
    assert!(!rig.modem().unplug().unwrap().is_skipped());
    hil_tests::wait::wait_for(
        "the port to vanish",
        std::time::Duration::from_secs(5),
        || (!rig.port().exists()).then_some(()),
    )
    .unwrap();

    let out = sim7600(&config, &["status", "--json"]);

    assert_eq!(out.status.code(), Some(0));
    let v = json_of(&out);
    assert_eq!(v["state"]["state"], "idle", "{v}");
    assert_eq!(v["facts"]["port_present"], false);
}

#[test]
fn the_status_for_a_person_lists_each_fact_on_its_line() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = commands_config(&mut rig);
    let out = sim7600(&config, &["status"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for label in [
        "port:",
        "smstools:  active",
        "voice bot: inactive",
        "holders:   pid",
        "markers:   none",
        "state:     voice bot stopped",
    ] {
        assert!(text.contains(label), "{label:?} missing in:\n{text}");
    }
}
