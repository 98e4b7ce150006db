//! No SMS gap (issue 7), through the real `sim7600 voice-bot` with the real smsd on the
//! simulator: while the bot holds the port it stands in for smsd on smsd's own folders.
//! An SMS stored before the bot started and one arriving while it runs land once in
//! smsd's incoming/ (and as `sms_received` events), a file dropped into outgoing/ is sent
//! once and moved to sent/ with smsd's headers beside an SMS of the bot's own API, a long
//! message whose parts come out of order is one file, one whose part never comes is given
//! up after the expiry as smsd gives it up; smsd, back on the port, repeats nothing. And
//! bots killed with SIGKILL in the middle: between two parts of a spool file (`sim7600
//! restore` puts the file back, smsd sends it whole: one part twice, the documented
//! at-least-once bound), and between writing a received SMS into
//! incoming/ and deleting it from the SIM (`sim7600 restore` deletes it, smsd does not
//! deliver it again).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use crate::support::bot::{Bot, BotFiles, BotSetup, restore, rig, smsd_backend, write_config};
use hil_tests::smsd::incoming_files;
use hil_tests::wait::{wait_for, wait_until_port_free, wait_until_port_held};
use hil_tests::{Rig, SpoolFile};
use nix::sys::signal::Signal;

const WITHIN: Duration = Duration::from_secs(20);
const ALARM: &str = "+31641600986";
const FRIEND: &str = "+491761234567";

fn wait_incoming(bot: &Bot, dir: &Path, n: usize) -> Vec<SpoolFile> {
    wait_for(format!("{n} files in {}", dir.display()), WITHIN, || {
        let files = incoming_files(dir);
        (files.len() >= n).then(|| {
            files
                .iter()
                .map(|p| SpoolFile::read(p).unwrap())
                .collect::<Vec<_>>()
        })
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()))
}

/// Drops a message file into `outgoing` the way programs do (write hidden, rename).
fn drop_outgoing(outgoing: &Path, name: &str, text: &str) {
    let tmp = outgoing.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, outgoing.join(name)).unwrap();
}

fn sim_used(rig: &Rig) -> usize {
    rig.modem().state().unwrap().modem.sim.used
}

/// Waits until the SIM holds nothing (the bot deletes a slot after its file is written).
fn wait_sim_empty(rig: &Rig, bot: &Bot) {
    wait_for("the SIM emptied", WITHIN, || {
        (sim_used(rig) == 0).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
}

/// smsd running on the rig, then stopped: the port is free and the SIM can be filled
/// without anybody reading it.
fn smsd_prepared_and_stopped(rig: &mut Rig) {
    let port = rig.port().to_path_buf();
    rig.start_smsd().unwrap();
    rig.smsd().unwrap().stop().unwrap();
    wait_until_port_free(&port, WITHIN).unwrap();
}

fn bot_files(rig: &mut Rig, bot: &str) -> BotFiles {
    let setup = BotSetup {
        answer_after_rings: 3,
        bot: bot.to_owned(),
        handoff: smsd_backend(rig.smsd().unwrap()),
    };
    write_config(rig, &setup)
}

/// smsd back on the port for a few of its check cycles (delaytime 1 s in the rig).
fn smsd_runs_a_while(rig: &mut Rig) {
    let port = rig.port().to_path_buf();
    let smsd = rig.smsd().unwrap();
    if smsd.pid().is_none() {
        smsd.start_with_script().unwrap();
    }
    wait_until_port_held(&port, WITHIN).unwrap();
    std::thread::sleep(Duration::from_secs(4));
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    sms_in_and_out_while_the_bot_runs_happen_once_and_smsd_repeats_nothing,
    a_long_sms_whose_parts_come_out_of_order_is_one_file_and_a_missing_part_is_given_up,
    parts_still_missing_when_the_bot_stops_are_left_on_the_sim_for_smsd,
    a_bot_killed_between_two_parts_of_a_spool_file_leaves_it_to_smsd_whole_after_restore,
    a_bot_killed_between_writing_an_sms_and_deleting_it_leaves_no_second_copy_after_restore,
    a_modem_silent_while_the_sim_is_read_still_gets_its_sms_delivered_once_it_answers,
    a_message_announced_without_its_place_is_found_by_a_storage_scan,
);

fn sms_in_and_out_while_the_bot_runs_happen_once_and_smsd_repeats_nothing() {
    let mut rig = rig();
    smsd_prepared_and_stopped(&mut rig);
    let (incoming, outgoing, sent) = {
        let s = rig.smsd().unwrap();
        (s.incoming(), s.outgoing(), s.sent())
    };
    rig.sim()
        .unwrap()
        .sms(ALARM, "Stored before the bot")
        .unwrap();
    let identity = rig.modem().state().unwrap().modem.identity;

    let files = bot_files(&mut rig, "");
    let mut bot = Bot::start(&files);
    let first = wait_incoming(&bot, &incoming, 1);
    assert_eq!(first[0].text, "Stored before the bot");
    rig.sim()
        .unwrap()
        .sms(FRIEND, "Ärger? Nein, nur ein Test 👍")
        .unwrap();
    let both = wait_incoming(&bot, &incoming, 2);
    let by_sender = |digits: &str| {
        both.iter()
            .find(|f| f.header("From") == Some(digits))
            .unwrap_or_else(|| panic!("no file from {digits}"))
    };
    let stored = by_sender("31641600986");
    let during = by_sender("491761234567");
    assert_eq!(during.text, "Ärger? Nein, nur ein Test 👍");
    assert_eq!(during.header("Alphabet"), Some("UCS2"));
    for f in [stored, during] {
        assert_eq!(f.header("Modem"), Some("GSM1"));
        assert_eq!(f.header("IMSI"), Some(identity.imsi.as_str()));
        assert_eq!(f.header("IMEI"), Some(identity.imei.as_str()));
        assert!(f.header("Sent").is_some() && f.header("Received").is_some());
    }
    let status = bot.wait_status("2 SMS received", WITHIN, |s| s["sms_received"] == 2);
    assert_eq!(status["sms_received"], 2);
    assert_eq!(sim_used(&rig), 0, "deleted from the SIM once in incoming/");

    // Two doors, one writer: a file for smsd and an SMS of the bot's own API.
    drop_outgoing(&outgoing, "alarm", "To: 491721234567\n\nAlarm: door open\n");
    let (code, body) = bot.post_sms("+491721234567", "Through the API");
    assert_eq!(code, 202, "{body}");
    let sent_file = wait_for("sent/alarm", WITHIN, || {
        SpoolFile::read(&sent.join("alarm")).ok()
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    bot.wait_sms(body["id"].as_str().unwrap(), "sent", WITHIN);
    assert_eq!(sent_file.header("To"), Some("491721234567"));
    assert_eq!(sent_file.header("Modem"), Some("GSM1"));
    assert_eq!(sent_file.header("IMSI"), Some(identity.imsi.as_str()));
    assert!(sent_file.header("Sent").is_some() && sent_file.header("Sending_time").is_some());
    assert!(!outgoing.join("alarm").exists());

    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");

    // smsd back on the port: nothing delivered or sent a second time.
    smsd_runs_a_while(&mut rig);
    assert_eq!(incoming_files(&incoming).len(), 2);
    let state = rig.modem().state().unwrap();
    let mut texts: Vec<&str> = state.modem.sent.iter().map(|s| s.text.as_str()).collect();
    texts.sort();
    assert_eq!(texts, ["Alarm: door open", "Through the API"]);
}

/// 400 characters: three GSM 7-bit parts.
fn long_text() -> String {
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(&format!("line {i:03}, "));
    }
    text.truncate(400);
    text
}

fn a_long_sms_whose_parts_come_out_of_order_is_one_file_and_a_missing_part_is_given_up() {
    let mut rig = rig();
    smsd_prepared_and_stopped(&mut rig);
    let incoming = rig.smsd().unwrap().incoming();
    let files = bot_files(&mut rig, "sms_parts_expiry_s = 2");
    let mut bot = Bot::start(&files);

    let text = long_text();
    rig.sim()
        .unwrap()
        .sms_parts(ALARM, &[3, 1, 2], &text)
        .unwrap();
    let whole = wait_incoming(&bot, &incoming, 1);
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].text, text);
    assert_eq!(whole[0].header("Incomplete"), None);
    wait_sim_empty(&rig, &bot);

    // Part 2 never comes: after the expiry each part that came is a file of its own,
    // marked as smsd marks it, and its slot is freed.
    rig.sim()
        .unwrap()
        .sms_parts(FRIEND, &[1, 3], &text)
        .unwrap();
    let all = wait_incoming(&bot, &incoming, 3);
    let parts: Vec<&SpoolFile> = all
        .iter()
        .filter(|f| f.header("Incomplete") == Some("yes"))
        .collect();
    assert_eq!(parts.len(), 2, "{all:?}");
    for p in &parts {
        assert_eq!(p.header("From"), Some("491761234567"));
        assert!(p.header("UDH-DATA").is_some(), "{p:?}");
        assert!(text.contains(p.text.as_str()), "{:?}", p.text);
    }
    assert!(parts.iter().any(|p| text.starts_with(p.text.as_str())));
    assert!(parts.iter().any(|p| text.ends_with(p.text.as_str())));
    wait_sim_empty(&rig, &bot);
    bot.wait_status("3 SMS received", WITHIN, |s| s["sms_received"] == 3);
    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");

    smsd_runs_a_while(&mut rig);
    assert_eq!(incoming_files(&incoming).len(), 3, "smsd repeats nothing");
}

fn parts_still_missing_when_the_bot_stops_are_left_on_the_sim_for_smsd() {
    let mut rig = rig();
    smsd_prepared_and_stopped(&mut rig);
    let incoming = rig.smsd().unwrap().incoming();
    let files = bot_files(&mut rig, "");
    let bot = Bot::start(&files);
    let text = long_text();
    rig.sim().unwrap().sms_parts(ALARM, &[1, 3], &text).unwrap();
    wait_for("the bot reading both parts", WITHIN, || {
        let sim = rig.modem().state().ok()?.modem.sim;
        (sim.messages.len() == 2 && sim.messages.iter().all(|m| m.status == "REC READ"))
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");
    assert!(
        incoming_files(&incoming).is_empty(),
        "nothing delivered half"
    );
    assert_eq!(sim_used(&rig), 2, "both parts still on the SIM for smsd");
}

/// Two GSM 7-bit parts (161 to 306 characters).
const TWO_PARTS: &str = "Alarm: window open in the garden shed. The sensor reported it at night, \
and it is still open now. Please check the shed, close the window and reset the alarm panel \
by the door. Thank you!!";

fn a_bot_killed_between_two_parts_of_a_spool_file_leaves_it_to_smsd_whole_after_restore() {
    assert!(
        (161..=306).contains(&TWO_PARTS.chars().count()),
        "two parts"
    );
    let mut rig = rig();
    let port = rig.port().to_path_buf();
    rig.start_smsd().unwrap();
    let (outgoing, sent) = {
        let s = rig.smsd().unwrap();
        (s.outgoing(), s.sent())
    };
    let files = bot_files(&mut rig, "");
    let mut bot = Bot::start(&files);
    // The first part goes out; the modem loses the second AT+CMGS and stalls, so the bot
    // waits for its prompt with the file claimed, and is killed there.
    rig.sim()
        .unwrap()
        .stall_on("AT+CMGS", Duration::from_secs(4), 1)
        .unwrap();
    drop_outgoing(
        &outgoing,
        "alarm",
        &format!("To: 491721234567\n\n{TWO_PARTS}"),
    );
    wait_for("the bot's second part stalling the modem", WITHIN, || {
        rig.modem().state().ok()?.modem.stalled.then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    let claim = outgoing.join(".alarm.sim7600-sending");
    assert!(claim.exists(), "claimed, hidden from smsd");
    assert!(!outgoing.join("alarm").exists());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(bot.pid), Signal::SIGKILL).unwrap();
    let status = bot.child.wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    wait_until_port_free(&port, WITHIN).unwrap();
    let parts_on_air = |rig: &Rig| {
        rig.modem()
            .state()
            .unwrap()
            .modem
            .sent_parts
            .iter()
            .filter(|p| p.number == "+491721234567")
            .count()
    };
    assert_eq!(parts_on_air(&rig), 1, "the bot's first part");
    wait_for("the stall to end", WITHIN, || {
        (!rig.modem().state().ok()?.modem.stalled).then_some(())
    })
    .unwrap();

    // systemd's ExecStopPost: restore puts the file back before smsd starts.
    let stderr = restore(&files);
    assert!(!claim.exists(), "{stderr}");
    assert!(stderr.contains("after an unclean stop"), "{stderr}");
    // smsd (restarted by restore) sends the whole file: the at-least-once window of
    // docs/operations.md, bounded by the parts of this one file.
    let sent_file = wait_for("smsd sending alarm", WITHIN, || {
        SpoolFile::read(&sent.join("alarm")).ok()
    })
    .unwrap_or_else(|e| panic!("{e}; smsd log:\n{}", rig.smsd().unwrap().log()));
    assert_eq!(sent_file.text, TWO_PARTS);
    std::thread::sleep(Duration::from_secs(2));
    let state = rig.modem().state().unwrap();
    let whole: Vec<_> = state
        .modem
        .sent
        .iter()
        .filter(|m| m.text == TWO_PARTS)
        .collect();
    assert_eq!(whole.len(), 1, "{:?}", state.modem.sent);
    assert_eq!(parts_on_air(&rig), 3, "one part twice, no more");
    assert!(!outgoing.join("alarm").exists());
}

fn a_bot_killed_between_writing_an_sms_and_deleting_it_leaves_no_second_copy_after_restore() {
    let mut rig = rig();
    let port = rig.port().to_path_buf();
    rig.start_smsd().unwrap();
    let incoming = rig.smsd().unwrap().incoming();
    let files = bot_files(&mut rig, "");
    let bot = Bot::start(&files);
    // The bot's AT+CMGD after the file is written is lost: the modem stalls, the bot
    // waits for its answer, and is killed there.
    let sim = rig.sim().unwrap();
    sim.stall_on("AT+CMGD", Duration::from_secs(3), 0).unwrap();
    sim.sms(ALARM, "Smoke detector: kitchen").unwrap();
    let written = wait_incoming(&bot, &incoming, 1);
    assert_eq!(written[0].text, "Smoke detector: kitchen");
    wait_for("the bot's AT+CMGD stalling the modem", WITHIN, || {
        rig.modem().state().ok()?.modem.stalled.then_some(())
    })
    .unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(bot.pid), Signal::SIGKILL).unwrap();
    wait_until_port_free(&port, WITHIN).unwrap();
    assert_eq!(sim_used(&rig), 1, "the SMS is still on the SIM");
    wait_for("the stall to end", WITHIN, || {
        (!rig.modem().state().ok()?.modem.stalled).then_some(())
    })
    .unwrap();
    drop(bot);

    let stderr = restore(&files);
    assert!(stderr.contains("delivered before as GSM1."), "{stderr}");
    assert_eq!(sim_used(&rig), 0, "{stderr}");
    // smsd, started by restore, finds nothing to deliver again.
    smsd_runs_a_while(&mut rig);
    assert_eq!(incoming_files(&incoming).len(), 1);
}

fn a_modem_silent_while_the_sim_is_read_still_gets_its_sms_delivered_once_it_answers() {
    let mut rig = rig();
    smsd_prepared_and_stopped(&mut rig);
    let incoming = rig.smsd().unwrap().incoming();
    rig.sim().unwrap().sms(ALARM, "Read me later").unwrap();
    // The first AT+CMGR is lost and the modem says nothing for 6 s: the read times out.
    rig.sim()
        .unwrap()
        .stall_on("AT+CMGR", Duration::from_secs(6), 0)
        .unwrap();
    let files = bot_files(&mut rig, "health_interval_s = 1\nhealth_failures = 10");
    let mut bot = Bot::start(&files);
    let delivered = wait_for("the SMS in incoming/", Duration::from_secs(40), || {
        let files = incoming_files(&incoming);
        (files.len() == 1).then(|| SpoolFile::read(&files[0]).unwrap())
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    assert_eq!(delivered.text, "Read me later");
    assert!(
        bot.log_text()
            .contains("the SIM is read again once the modem answers"),
        "{}",
        bot.log_text()
    );
    wait_sim_empty(&rig, &bot);
    bot.wait_phase("running", WITHIN);
    assert_eq!(incoming_files(&incoming).len(), 1);
}

#[test]
fn an_smsd_conf_the_bot_cannot_use_stops_its_start_with_78_and_smsd_untouched() {
    let mut rig = rig();
    let port = rig.port().to_path_buf();
    rig.start_smsd().unwrap();
    let (conf, pid) = {
        let s = rig.smsd().unwrap();
        (s.conf(), s.pid())
    };
    let files = bot_files(&mut rig, "");
    // smsd read its configuration when it started; the file is broken since.
    std::fs::write(
        &conf,
        "devices = GSM1\nincoming = /var/spool/sms/incoming\nnot a setting\n",
    )
    .unwrap();
    let out = std::process::Command::new(hil_tests::sim7600_bin().unwrap())
        .arg("--config")
        .arg(&files.config)
        .arg("voice-bot")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains(&conf.display().to_string()) && stderr.contains("line 3"),
        "{stderr}"
    );
    assert!(stderr.contains("spool = false"), "{stderr}");
    assert_eq!(rig.smsd().unwrap().pid(), pid, "smsd was not stopped");
    wait_until_port_held(&port, WITHIN).unwrap();
}

/// A modem that announces a new SMS without its place (`+CMTI: ,-1`, as a SIMCom modem of
/// the same family does): the bot scans the storage and delivers the message once.
fn a_message_announced_without_its_place_is_found_by_a_storage_scan() {
    let mut behaviour = hil_tests::profile::current().unwrap().behaviour();
    behaviour.unlocated_cmti = true;
    let mut rig = Rig::simulated(hil_tests::SimConfig {
        behaviour,
        ..hil_tests::SimConfig::default()
    })
    .unwrap();
    smsd_prepared_and_stopped(&mut rig);
    let incoming = rig.smsd().unwrap().incoming();
    let files = bot_files(&mut rig, "");
    let bot = Bot::start(&files);
    // The scan at the bot's start is over (the storage is empty): only a scan the notice
    // starts can find the message.
    wait_for("the first storage scan", WITHIN, || {
        bot.log_text().contains("SIM storage ").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    rig.sim()
        .unwrap()
        .sms(FRIEND, "Where am I stored?")
        .unwrap();
    let got = wait_incoming(&bot, &incoming, 1);
    assert_eq!(got[0].text, "Where am I stored?");
    wait_sim_empty(&rig, &bot);
    assert!(
        bot.log_text()
            .contains("place not given: scanning the storage"),
        "{}",
        bot.log_text()
    );
}
