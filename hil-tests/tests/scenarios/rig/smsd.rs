//! The rig with the real smsd from Debian's smstools on the simulator: both directions of
//! SMS, the generated start/stop/status scripts, the suspend file, and cleanup.

use std::time::Duration;

use hil_tests::wait::{
    holders_of, process_alive, wait_for, wait_until_port_free, wait_until_port_held,
};
use hil_tests::{Rig, SimConfig};

const SMS_TIMEOUT: Duration = Duration::from_secs(20);

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    smsd_sends_a_dropped_file_and_receives_a_delivered_sms_through_the_simulator,
    a_long_message_from_smsd_arrives_as_concatenated_parts_joined_by_the_simulator,
    smsd_decodes_the_simulators_ucs2_and_joins_its_concatenated_parts,
);

fn smsd_sends_a_dropped_file_and_receives_a_delivered_sms_through_the_simulator() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let smsd = rig.start_smsd().unwrap();
    smsd.queue_sms("greeting", "491721234567", "Hello from smsd")
        .unwrap();

    // Outgoing: the file leaves for sent/, and the simulator decoded number and text.
    let sent_file = smsd.wait_for_sent("greeting", SMS_TIMEOUT).unwrap();
    assert_eq!(sent_file.header("Modem"), Some("GSM1"));
    assert_eq!(sent_file.header("IMEI"), Some("351602000330570"));
    let state = rig.modem().state().unwrap();
    assert_eq!(state.modem.sent.len(), 1, "{:?}", state.modem.sent);
    assert_eq!(state.modem.sent[0].number, "+491721234567");
    assert_eq!(state.modem.sent[0].text, "Hello from smsd");

    // Incoming: a delivered SMS lands in incoming/ with the right From and text.
    rig.sim()
        .unwrap()
        .sms("+31641600986", "How are you?")
        .unwrap();
    let (got, file) = rig.smsd().unwrap().wait_for_incoming(SMS_TIMEOUT).unwrap();
    assert!(
        got.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("GSM1.")
    );
    assert_eq!(file.header("From"), Some("31641600986"));
    assert_eq!(
        file.header("From_TOA"),
        Some("91 international, ISDN/telephone")
    );
    assert_eq!(file.header("From_SMSC"), Some("31624000000"));
    assert_eq!(file.header("Length"), Some("12"));
    assert_eq!(file.text, "How are you?");
    // smsd deletes it from the SIM once it has saved it.
    wait_for("smsd to delete the SMS from the SIM", SMS_TIMEOUT, || {
        let state = rig.modem().state().unwrap();
        (state.modem.sim.used == 0).then_some(())
    })
    .unwrap();
    let state = rig.modem().state().unwrap();
    assert!(state.modem.commands.iter().any(|c| c == "AT+CMGD=0"));
}

fn a_long_message_from_smsd_arrives_as_concatenated_parts_joined_by_the_simulator() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let smsd = rig.start_smsd().unwrap();
    let text: String = "The quick brown fox jumps over the lazy dog. ".repeat(5);
    let text = text.trim_end().to_string();
    smsd.queue_sms("long", "+4915112345678", &text).unwrap();
    smsd.wait_for_sent("long", SMS_TIMEOUT).unwrap();
    let state = rig.modem().state().unwrap();
    assert!(
        state.modem.sent_parts.len() >= 2,
        "{:?}",
        state.modem.sent_parts
    );
    assert_eq!(state.modem.sent.len(), 1);
    assert_eq!(state.modem.sent[0].number, "+4915112345678");
    assert_eq!(state.modem.sent[0].text, text);
}

#[test]
fn the_generated_scripts_start_report_and_stop_smsd_like_an_init_script() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let port = rig.port().to_path_buf();
    let smsd = rig.smsd().unwrap();
    let scripts = smsd.scripts().clone();
    assert_eq!(smsd.script_status().unwrap(), 3, "not running yet");

    let start = std::process::Command::new(&scripts.start).status().unwrap();
    assert!(start.success());
    assert_eq!(smsd.script_status().unwrap(), 0);
    let pid = smsd.pid().unwrap();
    wait_until_port_held(&port, Duration::from_secs(15)).unwrap();
    // Starting again while it runs changes nothing.
    assert!(
        std::process::Command::new(&scripts.start)
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(smsd.pid(), Some(pid));

    // stop returns only once smsd has exited, and with it its modem process: the port is free.
    let stop = std::process::Command::new(&scripts.stop).status().unwrap();
    assert!(stop.success());
    assert!(!process_alive(pid));
    assert_eq!(holders_of(&port), Vec::<i32>::new());
    assert_eq!(smsd.script_status().unwrap(), 3);
    assert!(
        std::process::Command::new(&scripts.stop)
            .status()
            .unwrap()
            .success(),
        "stopping a stopped smsd is fine"
    );
}

#[test]
fn a_line_in_the_suspend_file_makes_smsd_release_the_port_and_removing_it_takes_it_back() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let port = rig.port().to_path_buf();
    let smsd = rig.start_smsd().unwrap();
    let pid = smsd.pid().unwrap();
    std::fs::write(smsd.suspend_file(), "GSM1: voice bot\n").unwrap();
    // SIGCONT makes smsd look at the file at once instead of within delaytime.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    wait_until_port_free(&port, Duration::from_secs(15)).unwrap();
    assert!(smsd.is_running(), "suspended, not stopped");
    std::fs::write(smsd.suspend_file(), "").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    wait_until_port_held(&port, Duration::from_secs(15)).unwrap();
    wait_for(
        "smsd to log the end of the suspend",
        Duration::from_secs(10),
        || smsd.log().contains("Suspend ended").then_some(()),
    )
    .unwrap();
}

#[test]
fn dropping_the_rig_stops_smsd_and_removes_the_simulated_port() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let port = rig.port().to_path_buf();
    let dir = rig.dir().to_path_buf();
    let pid = rig.start_smsd().unwrap().pid().unwrap();
    drop(rig);
    assert!(!process_alive(pid), "smsd {pid} outlived the rig");
    assert!(std::fs::symlink_metadata(&port).is_err());
    assert!(!dir.exists());
}

#[test]
fn smsd_started_by_script_is_stopped_when_the_rig_is_dropped_too() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let smsd = rig.smsd().unwrap();
    smsd.start_with_script().unwrap();
    let pid = smsd.pid().unwrap();
    drop(rig);
    assert!(
        !process_alive(pid),
        "daemonised smsd {pid} outlived the rig"
    );
}

#[test]
fn unplugging_the_simulated_modem_under_smsd_gives_the_io_errors_of_a_vanished_usb_port() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    rig.start_smsd().unwrap();
    rig.sim().unwrap().unplug().unwrap();
    let smsd = rig.smsd().unwrap();
    wait_for("smsd to log the lost port", SMS_TIMEOUT, || {
        let log = smsd.log();
        (log.contains("error 5") || log.contains("Input/output error")).then_some(())
    })
    .unwrap();
    assert!(smsd.is_running(), "smsd neither reopens nor exits");
}

fn smsd_decodes_the_simulators_ucs2_and_joins_its_concatenated_parts() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    rig.start_smsd().unwrap();
    rig.sim()
        .unwrap()
        .sms("+4915112345678", "Grüße aus Köln 😀")
        .unwrap();
    let (first, file) = rig.smsd().unwrap().wait_for_incoming(SMS_TIMEOUT).unwrap();
    assert_eq!(file.header("Alphabet"), Some("UCS2"));
    assert_eq!(file.text, "Grüße aus Köln 😀");
    std::fs::remove_file(first).unwrap();

    let long = "abcdefghij".repeat(20);
    rig.sim().unwrap().sms("+4915112345678", &long).unwrap();
    let (_, file) = rig.smsd().unwrap().wait_for_incoming(SMS_TIMEOUT).unwrap();
    assert_eq!(file.header("Length"), Some("200"));
    assert_eq!(file.text, long);
}
