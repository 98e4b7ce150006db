//! kill -9 of the spool's writer in the middle of receiving and in the middle of sending,
//! then a restart and the real smsd: nothing is lost, nothing is delivered twice, and the
//! one duplicate the docs name (the parts of a file already handed to the modem) is the
//! only one.
//!
//! The writer that gets killed is a process of its own holding the port with host-linux's
//! link, as the bot does: the scenario runs this test binary again, filtered to the same
//! test, with [`WRITER_ENV`] naming what to do; that run plays the writer, writes its "at
//! the point" marker and waits to be killed. The scenario SIGKILLs it and checks what is
//! left.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::executor::block_on;
use hil_tests::wait::{wait_for, wait_until_port_free};
use hil_tests::{Rig, SimConfig};
use host_linux::platform::link::{Link, open_exclusive, with_link};
use host_linux::spool::SpoolBridge;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const TIMEOUT: Duration = Duration::from_secs(30);
const SENDER: &str = "+31641600986";
const RECIPIENT: &str = "491721234567";

/// Set in the writer's environment: `MODE\tCONF\tPORT\tMARKER` (tab-separated).
const WRITER_ENV: &str = "HIL_SPOOL_KILL9_WRITER";

// Each runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(killed_while_receiving, killed_while_sending);

/// In the writer's run of this binary: plays the writer (and never returns).
fn writer_if_asked() {
    if let Ok(args) = std::env::var(WRITER_ENV) {
        let args: Vec<String> = args.split('\t').map(str::to_owned).collect();
        writer(&args);
    }
}

/// The writer process: `receive|send CONF PORT MARKER`. It does its work up to the point
/// named, writes MARKER, and waits to be killed.
fn writer(args: &[String]) -> ! {
    let [mode, conf, port, marker] = args else {
        panic!("{WRITER_ENV}: want MODE, CONF, PORT and MARKER, got {args:?}");
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
    unreachable!("the writer waits in its loop until it is killed")
}

/// Starts the writer and SIGKILLs it once it is at its point.
fn run_and_kill(mode: &str, conf: &Path, port: &Path, dir: &Path) {
    let marker = dir.join(format!("{mode}.marker"));
    // This very test, alone, in a second run of this binary (libtest names the thread
    // after the test).
    let test = std::thread::current().name().unwrap().to_owned();
    let args = [
        mode,
        &conf.display().to_string(),
        &port.display().to_string(),
        &marker.display().to_string(),
    ]
    .join("\t");
    let mut child: Child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test, "--test-threads=1", "--nocapture"])
        .env(WRITER_ENV, args)
        .stdout(Stdio::null())
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
    writer_if_asked();
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
    writer_if_asked();
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
