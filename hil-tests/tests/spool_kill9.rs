//! kill -9 of the spool's writer in the middle of receiving and in the middle of sending,
//! then a restart and the real smsd: nothing is lost, nothing is delivered twice, and the
//! one duplicate the docs name (the parts of a file already handed to the modem) is the
//! only one.
//!
//! This test has its own `main` (no libtest harness, `harness = false`): run with the
//! argument `writer`, the same executable is the writer that gets killed, a process of its
//! own holding the port with host-linux's link, as the bot does. Each scenario runs the
//! writer, waits for its "at the point" marker, SIGKILLs it, and checks what is left.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use futures::executor::block_on;
use hil_tests::wait::{wait_for, wait_until_port_free};
use hil_tests::{Rig, SimConfig, SimProfile, with_profile};
use host_linux::platform::link::{Link, open_exclusive, with_link};
use host_linux::spool::SpoolBridge;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const TIMEOUT: Duration = Duration::from_secs(30);
const SENDER: &str = "+31641600986";
const RECIPIENT: &str = "491721234567";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("writer") {
        writer(&args[2..]);
        return;
    }
    // libtest-style filters are not needed; `--list` and friends from cargo are ignored.
    let scenarios: [(&str, fn()); 2] = [
        (
            "kill -9 after an SMS is written to incoming/, before AT+CMGD",
            killed_while_receiving,
        ),
        (
            "kill -9 after part 1 of 3 of a spool file reached the modem",
            killed_while_sending,
        ),
    ];
    // Each scenario runs on the simulator's own way and on a real SIM7600's.
    let profiles = [
        ("simulator", SimProfile::Simulator),
        ("real modem", SimProfile::RealModem),
    ];
    let mut failed = 0;
    for (name, scenario) in scenarios {
        for (profile_name, profile) in profiles {
            match std::panic::catch_unwind(|| with_profile(profile, scenario)) {
                Ok(()) => println!("test {name} ({profile_name}) ... ok"),
                Err(_) => {
                    println!("test {name} ({profile_name}) ... FAILED");
                    failed += 1;
                }
            }
        }
    }
    if failed > 0 {
        println!("test result: FAILED. {failed} failed");
        std::process::exit(1);
    }
    println!(
        "test result: ok. {} passed",
        scenarios.len() * profiles.len()
    );
}

/// The writer process: `writer receive|send CONF PORT MARKER`. It does its work up to the
/// point named, writes MARKER, and waits to be killed.
fn writer(args: &[String]) {
    let [mode, conf, port, marker] = args else {
        panic!("usage: writer receive|send CONF PORT MARKER");
    };
    let (conf, port) = (PathBuf::from(conf), PathBuf::from(port));
    let mut bridge = SpoolBridge::open(&conf, &port, None).unwrap();
    let tty = open_exclusive(&port).unwrap();
    with_link(&tty, &port, |link| {
        match mode.as_str() {
            "receive" => {
                for index in 0..4 {
                    if let Some(stored) = block_on(link.modem.read_sms(index)).unwrap() {
                        // Written into incoming/; AT+CMGD never comes.
                        let done =
                            bridge.receive(index, &stored.pdu_hex, usize::from(stored.tpdu_len));
                        assert!(!done.is_empty());
                    }
                }
            }
            "send" => {
                let mut job = bridge.next_job().unwrap().unwrap();
                job.begin().unwrap();
                let part = job.next_part().unwrap();
                let reference = block_on(link.modem.send_sms_part(part)).unwrap();
                job.part_sent(reference);
                assert!(!job.is_done(), "a three-part file");
            }
            other => panic!("unknown writer mode {other}"),
        }
        std::fs::write(marker, "at the point").unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    })
    .unwrap();
}

/// Starts the writer and SIGKILLs it once it is at its point.
fn run_and_kill(mode: &str, conf: &Path, port: &Path, dir: &Path) {
    let marker = dir.join(format!("{mode}.marker"));
    let mut child: Child = Command::new(std::env::current_exe().unwrap())
        .args(["writer", mode])
        .arg(conf)
        .arg(port)
        .arg(&marker)
        .spawn()
        .unwrap();
    let reached = wait_for("the writer to reach its point", TIMEOUT, || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the writer exited early: {status}");
        }
        marker.exists().then_some(())
    });
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    reached.unwrap();
    wait_until_port_free(port, TIMEOUT).unwrap();
}

/// The restarted writer: reads and deletes what is stored, sends what waits.
fn drain(link: &mut Link<'_>, bridge: &mut SpoolBridge) {
    for index in 0..4 {
        if let Some(stored) = block_on(link.modem.read_sms(index)).unwrap() {
            for slot in bridge.receive(index, &stored.pdu_hex, usize::from(stored.tpdu_len)) {
                block_on(link.modem.delete_sms(slot)).unwrap();
            }
        }
    }
    while let Some(mut job) = bridge.next_job().unwrap() {
        job.begin().unwrap();
        while let Some(part) = job.next_part() {
            let reference = block_on(link.modem.send_sms_part(part)).unwrap();
            job.part_sent(reference);
        }
        bridge.sent(job).unwrap();
    }
}

fn restart_writer(conf: &Path, port: &Path) {
    let mut bridge = SpoolBridge::open(conf, port, None).unwrap();
    let tty = open_exclusive(port).unwrap();
    with_link(&tty, port, |link| drain(link, &mut bridge)).unwrap();
}

fn names_in(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

fn killed_while_receiving() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let port = rig.port().to_path_buf();
    let (conf, incoming, dir) = {
        let s = rig.smsd().unwrap();
        (s.conf(), s.incoming(), s.dir().to_path_buf())
    };
    rig.sim()
        .unwrap()
        .sms(SENDER, "Alarm: smoke in the kitchen")
        .unwrap();
    run_and_kill("receive", &conf, &port, &dir);
    assert_eq!(
        names_in(&incoming, "GSM1.").len(),
        1,
        "written before the kill"
    );
    assert_eq!(
        rig.modem().state().unwrap().modem.sim.used,
        1,
        "not yet deleted"
    );

    restart_writer(&conf, &port);
    assert_eq!(names_in(&incoming, "GSM1.").len(), 1, "not written again");
    assert_eq!(
        rig.modem().state().unwrap().modem.sim.used,
        0,
        "deleted now"
    );
    rig.start_smsd().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        names_in(&incoming, "GSM1.").len(),
        1,
        "smsd delivers nothing again"
    );
}

fn killed_while_sending() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let port = rig.port().to_path_buf();
    let (conf, outgoing, sent, dir) = {
        let s = rig.smsd().unwrap();
        (s.conf(), s.outgoing(), s.sent(), s.dir().to_path_buf())
    };
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(8);
    let text = text.trim_end();
    std::fs::write(outgoing.join("long"), format!("To: {RECIPIENT}\n\n{text}")).unwrap();
    run_and_kill("send", &conf, &port, &dir);
    assert_eq!(rig.modem().state().unwrap().modem.sent_parts.len(), 1);
    assert!(
        names_in(&outgoing, "long").is_empty(),
        "claimed: hidden from smsd"
    );
    assert!(names_in(&sent, "").is_empty());

    restart_writer(&conf, &port);
    let state = rig.modem().state().unwrap();
    // At least once: the whole file again, so part 1 twice; the bound is that one file.
    assert_eq!(
        state.modem.sent_parts.len(),
        1 + 3,
        "{:?}",
        state.modem.sent_parts
    );
    assert_eq!(state.modem.sent.len(), 1, "{:?}", state.modem.sent);
    assert_eq!(state.modem.sent[0].text, text);
    assert_eq!(names_in(&sent, ""), ["long"]);
    assert!(names_in(&outgoing, "").is_empty());

    rig.start_smsd().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let state = rig.modem().state().unwrap();
    assert_eq!(state.modem.sent_parts.len(), 4, "smsd sends nothing again");
}
