//! The spool bridge between two real smsd runs, with host-linux's own port link and
//! modem-core's driver standing in for the voice bot's writer: SMS that arrive while the
//! "bot" holds the port land in smsd's incoming folder once, a file dropped into outgoing/
//! is sent once and lands in sent/ with smsd's headers, and smsd, back on the port,
//! delivers and sends nothing again. Also the bot killed between writing a message and
//! deleting it from the SIM.

use std::time::Duration;

use futures::executor::block_on;
use hil_tests::smsd::incoming_files;
use hil_tests::wait::{wait_for, wait_until_port_free};
use hil_tests::{Rig, SimConfig, SpoolFile};
use host_linux::platform::link::{Link, open_exclusive, with_link};
use host_linux::spool::SpoolBridge;

const TIMEOUT: Duration = Duration::from_secs(30);
const SENDER: &str = "+31641600986";

/// What the bot's writer does for stored messages: read each slot, hand it to the
/// bridge, delete what the bridge says was delivered. `delete: false` is a bot killed
/// after writing the files and before AT+CMGD.
fn read_stored(link: &mut Link<'_>, bridge: &mut SpoolBridge, slots: &[u16], delete: bool) {
    for &index in slots {
        let Some(stored) = block_on(link.modem.read_sms(index)).unwrap() else {
            continue;
        };
        let done = bridge.receive(index, &stored.pdu_hex, usize::from(stored.tpdu_len));
        if delete {
            for slot in done {
                block_on(link.modem.delete_sms(slot)).unwrap();
            }
        }
    }
}

fn stored_slots(rig: &Rig) -> Vec<u16> {
    rig.modem()
        .state()
        .unwrap()
        .modem
        .sim
        .messages
        .iter()
        .map(|m| u16::try_from(m.index).unwrap())
        .collect()
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    sms_in_and_out_while_the_bot_holds_the_port_happen_once_and_smsd_repeats_nothing,
    a_bot_killed_before_deleting_a_delivered_sms_does_not_deliver_it_twice_when_it_restarts,
    with_smsd_suspended_its_main_process_and_the_bot_never_take_the_same_file,
);

fn sms_in_and_out_while_the_bot_holds_the_port_happen_once_and_smsd_repeats_nothing() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let port = rig.port().to_path_buf();
    rig.start_smsd().unwrap();
    // The bot takes the port: smsd stops, and an SMS is already waiting on the SIM.
    rig.smsd().unwrap().stop().unwrap();
    wait_until_port_free(&port, TIMEOUT).unwrap();
    rig.sim()
        .unwrap()
        .sms(SENDER, "Stored before the bot")
        .unwrap();
    let (conf, incoming, outgoing, sent) = {
        let s = rig.smsd().unwrap();
        (s.conf(), s.incoming(), s.outgoing(), s.sent())
    };
    let identity = rig.modem().state().unwrap().modem.identity;

    let mut bridge = SpoolBridge::open(&conf, &port, None).unwrap();
    assert_eq!(bridge.modem_name(), "GSM1");
    bridge.set_identity(Some(identity.imsi.clone()), Some(identity.imei.clone()));
    let tty = open_exclusive(&port).unwrap();
    with_link(&tty, &port, |link| {
        read_stored(link, &mut bridge, &stored_slots(&rig), true);
        // One more arrives while the bot runs, and a program drops a file for smsd.
        rig.sim()
            .unwrap()
            .sms(SENDER, "Arrived during a call")
            .unwrap();
        read_stored(link, &mut bridge, &stored_slots(&rig), true);
        std::fs::write(
            outgoing.join(".alarm"),
            "To: 491721234567\n\nAlarm: door open\n",
        )
        .unwrap();
        std::fs::rename(outgoing.join(".alarm"), outgoing.join("alarm")).unwrap();
        let mut job = bridge.next_job().unwrap().unwrap();
        job.begin().unwrap();
        while let Some(part) = job.next_part() {
            let reference = block_on(link.modem.send_sms_part(part)).unwrap();
            job.part_sent(reference);
        }
        bridge.sent(job).unwrap();
    })
    .unwrap();
    drop(tty);
    bridge.release_port();

    let files = incoming_files(&incoming);
    assert_eq!(files.len(), 2, "{files:?}");
    let mut texts: Vec<String> = files
        .iter()
        .map(|p| SpoolFile::read(p).unwrap())
        .inspect(|f| {
            assert_eq!(f.header("From"), Some("31641600986"));
            assert_eq!(f.header("Modem"), Some("GSM1"));
            assert!(f.header("Sent").is_some());
        })
        .map(|f| f.text)
        .collect();
    texts.sort();
    assert_eq!(texts, ["Arrived during a call", "Stored before the bot"]);
    assert_eq!(
        rig.modem().state().unwrap().modem.sim.used,
        0,
        "deleted once written"
    );
    let sent_file = SpoolFile::read(&sent.join("alarm")).unwrap();
    assert_eq!(sent_file.header("Modem"), Some("GSM1"));
    assert_eq!(sent_file.header("IMEI"), Some(identity.imei.as_str()));
    assert!(sent_file.header("Sent").is_some() && sent_file.header("Sending_time").is_some());
    assert!(!outgoing.join("alarm").exists());

    // smsd back on the port: nothing is delivered or sent a second time.
    rig.start_smsd().unwrap();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(incoming_files(&incoming).len(), 2);
    let state = rig.modem().state().unwrap();
    assert_eq!(state.modem.sent.len(), 1, "{:?}", state.modem.sent);
    assert_eq!(state.modem.sent[0].text, "Alarm: door open");
    assert_eq!(state.modem.sent[0].number, "+491721234567");
}

fn a_bot_killed_before_deleting_a_delivered_sms_does_not_deliver_it_twice_when_it_restarts() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let port = rig.port().to_path_buf();
    let (conf, incoming) = {
        let s = rig.smsd().unwrap();
        (s.conf(), s.incoming())
    };
    rig.sim().unwrap().sms(SENDER, "Only once please").unwrap();
    let tty = open_exclusive(&port).unwrap();
    with_link(&tty, &port, |link| {
        // First bot: writes the file, dies before AT+CMGD.
        let mut first = SpoolBridge::open(&conf, &port, None).unwrap();
        read_stored(link, &mut first, &stored_slots(&rig), false);
        drop(first);
        assert_eq!(incoming_files(&incoming).len(), 1);
        assert_eq!(rig.modem().state().unwrap().modem.sim.used, 1);
        // Second bot: reads the slot again, recognises it, deletes it.
        let mut second = SpoolBridge::open(&conf, &port, None).unwrap();
        read_stored(link, &mut second, &stored_slots(&rig), true);
    })
    .unwrap();
    drop(tty);
    assert_eq!(incoming_files(&incoming).len(), 1);
    assert_eq!(rig.modem().state().unwrap().modem.sim.used, 0);

    // And smsd afterwards has nothing left to deliver.
    rig.start_smsd().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(incoming_files(&incoming).len(), 1);
}

fn with_smsd_suspended_its_main_process_and_the_bot_never_take_the_same_file() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let port = rig.port().to_path_buf();
    let smsd = rig.start_smsd().unwrap();
    let pid = smsd.pid().unwrap();
    let (conf, outgoing, sent, suspend) = (
        smsd.conf(),
        smsd.outgoing(),
        smsd.sent(),
        smsd.suspend_file(),
    );
    // The suspend-file handoff: smsd's modem process lets the port go, its main process
    // keeps moving outgoing files to checked/.
    std::fs::write(&suspend, "GSM1: voice bot\n").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    wait_until_port_free(&port, TIMEOUT).unwrap();
    let identity = rig.modem().state().unwrap().modem.identity;
    let mut bridge = SpoolBridge::open(&conf, &port, None).unwrap();
    bridge.set_identity(Some(identity.imsi), Some(identity.imei));
    let names: Vec<String> = (0..8).map(|i| format!("msg{i}")).collect();
    let tty = open_exclusive(&port).unwrap();
    with_link(&tty, &port, |link| {
        for name in names.iter().take(4) {
            std::fs::write(outgoing.join(name), format!("To: 491721234567\n\n{name}")).unwrap();
        }
        // smsd's main process moves some of them to checked/ (it does while suspended);
        // the other four arrive while the bot is taking files.
        let checked = rig.smsd().unwrap().checked();
        wait_for(
            "smsd's main process to move a file to checked/",
            TIMEOUT,
            || (std::fs::read_dir(&checked).unwrap().count() > 0).then_some(()),
        )
        .unwrap();
        for name in names.iter().skip(4) {
            std::fs::write(outgoing.join(name), format!("To: 491721234567\n\n{name}")).unwrap();
        }
        // Take files as they appear (in outgoing/ or, moved by smsd, in checked/) until
        // all eight were sent.
        let mut done = 0;
        wait_for("the bot to send every file", TIMEOUT, || {
            bridge
                .dirty_flag()
                .store(true, std::sync::atomic::Ordering::Release);
            while let Some(mut job) = bridge.next_job().unwrap() {
                job.begin().unwrap();
                while let Some(part) = job.next_part() {
                    let reference = block_on(link.modem.send_sms_part(part)).unwrap();
                    job.part_sent(reference);
                }
                bridge.sent(job).unwrap();
                done += 1;
            }
            (done == names.len()).then_some(())
        })
        .unwrap();
    })
    .unwrap();
    drop(tty);
    for name in &names {
        assert!(sent.join(name).exists(), "{name} not in sent/");
    }
    // smsd resumes: it sends none of them again.
    std::fs::write(&suspend, "").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    hil_tests::wait::wait_until_port_held(&port, TIMEOUT).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let state = rig.modem().state().unwrap();
    let mut texts: Vec<String> = state.modem.sent.iter().map(|s| s.text.clone()).collect();
    texts.sort();
    assert_eq!(texts, names, "each file sent exactly once");
    let moved = rig.smsd().unwrap().log().matches("/checked\n").count();
    assert!(moved >= 1, "the bot took files from checked/ too");
}
