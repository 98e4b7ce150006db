//! The `sim7600-sim` binary and the port-level controls: `--link`, `--control`,
//! `--record`, `unplug`/`plug`, `stall`, `garbage`, and `--help`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Port, WAIT, fresh};
use modem_sim::{SimConfig, Simulator};

const BIN: &str = env!("CARGO_BIN_EXE_sim7600-sim");

/// A running `sim7600-sim`, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + WAIT;
    while !ok() {
        assert!(Instant::now() < end, "waited {WAIT:?} for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Control {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Control {
    fn connect(path: &Path) -> Control {
        let writer = UnixStream::connect(path).unwrap();
        writer.set_read_timeout(Some(WAIT)).unwrap();
        Control {
            reader: BufReader::new(writer.try_clone().unwrap()),
            writer,
        }
    }

    fn send(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
        let mut reply = String::new();
        self.reader.read_line(&mut reply).unwrap();
        reply.trim_end().to_string()
    }
}

fn start_binary(dir: &Path, extra: &[&str]) -> (Running, PathBuf, PathBuf, PathBuf) {
    let link = dir.join("dev/sim7600/ttyUSB2");
    let control = dir.join("control.sock");
    let record = dir.join("transcript.log");
    let mut child = Command::new(BIN)
        .arg("--link")
        .arg(&link)
        .arg("--control")
        .arg(&control)
        .arg("--record")
        .arg(&record)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(
        first.trim_end(),
        link.to_str().unwrap(),
        "stdout names the port first"
    );
    (Running(child), link, control, record)
}

#[test]
fn help_documents_every_control_command() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for word in [
        "--link",
        "--control",
        "--record",
        "--model",
        "--externtone",
        "CONTROL PROTOCOL",
        "call <number> [withheld] [<rings-interval-ms>]",
        "hangup",
        "dtmf <keys>",
        "missed <number>",
        "sms <number> <text>",
        "reset",
        "unplug",
        "plug",
        "stall <ms>",
        "garbage <n>",
        "state",
    ] {
        assert!(help.contains(word), "--help lacks {word:?}");
    }
}

#[test]
fn the_binary_links_the_port_replacing_a_stale_link_and_cleans_up_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("dev/sim7600/ttyUSB2");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/dev/pts/does-not-exist", &link).unwrap();
    let (mut sim, link, control, record) = start_binary(dir.path(), &[]);
    assert!(std::fs::read_link(&link).unwrap().starts_with("/dev/pts/"));
    let mut port = Port::open(&link);
    port.expect("PB DONE\r\n");
    assert_eq!(
        port.at("AT+CGMM"),
        "AT+CGMM\r\r\nSIMCOM_SIM7600G-H\r\n\r\nOK\r\n"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sim.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = sim.0.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link is removed"
    );
    assert!(!control.exists(), "the control socket is removed");
    let transcript = std::fs::read_to_string(record).unwrap();
    assert!(transcript.contains(" host> AT+CGMM\\r"), "{transcript}");
    assert!(
        transcript.contains(" modem> \\r\\nSIMCOM_SIM7600G-H\\r\\n\\r\\nOK\\r\\n")
            || transcript.contains("SIMCOM_SIM7600G-H"),
        "{transcript}"
    );
    // Every line starts with an ISO time stamp.
    assert!(
        transcript
            .lines()
            .all(|l| l.len() > 24 && &l[4..5] == "-" && &l[23..24] == "Z")
    );
}

#[test]
fn the_control_socket_answers_one_line_per_command_and_state_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, link, control, _) = start_binary(dir.path(), &["--model", "EC25"]);
    let mut port = Port::open(&link);
    port.expect("PB DONE\r\n");
    port.at("ATE0");
    port.at("AT+CLIP=1");
    let mut ctl = Control::connect(&control);
    assert_eq!(ctl.send("call +491761234567 withheld 10000"), "ok");
    port.expect("+CLIP: \"\",128,,,,1\r\n");
    assert_eq!(ctl.send("sms +31641600986 two\\nlines"), "ok");
    port.expect("+CMTI: \"SM\",0\r\n");
    port.at("AT+CMGS=23");
    port.send_bytes(b"0011000C919471123254760000AA0AE8329BFD4697D9EC37\x1A");
    port.expect("OK\r\n");
    let reply = ctl.send("state");
    let json: serde_json::Value = serde_json::from_str(reply.strip_prefix("ok ").unwrap()).unwrap();
    assert_eq!(json["identity"]["model"], "EC25");
    assert_eq!(json["plugged"], true);
    assert_eq!(json["link"], link.to_str().unwrap());
    assert_eq!(json["calls"][0]["status"], "incoming");
    assert_eq!(json["calls"][0]["withheld"], true);
    assert_eq!(json["sim"]["messages"][0]["text"], "two\nlines");
    assert_eq!(json["sent"][0]["number"], "+491721234567");
    assert_eq!(json["sent"][0]["text"], "hellohello");
    assert_eq!(json["settings"]["clip"], true);
    assert!(
        json["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "AT+CLIP=1")
    );
    assert!(
        ctl.send("dance")
            .starts_with("error unknown control command")
    );
    assert_eq!(ctl.send("call 123"), "error a call is already in progress");
    assert_eq!(ctl.send("hangup"), "ok");
    assert_eq!(ctl.send("hangup"), "error no call to hang up");
    // A second connection works alongside the first.
    let mut other = Control::connect(&control);
    assert_eq!(other.send("reset"), "ok");
    port.expect("PB DONE\r\n");
}

#[test]
fn unplug_closes_the_port_under_its_holder_and_plug_brings_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyUSB2");
    let sim = Simulator::start(SimConfig {
        link: Some(link.clone()),
        ..SimConfig::default()
    })
    .unwrap();
    let first = sim.pty_path().unwrap();
    assert_eq!(std::fs::read_link(&link).unwrap(), first);
    let mut port = Port::open(&link);
    port.expect("PB DONE\r\n");
    sim.unplug().unwrap();
    let err = port.read_error_within(WAIT);
    assert!(err.is_some(), "the holder sees EOF or EIO");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link is gone"
    );
    assert!(!sim.state().unwrap().plugged);
    assert!(sim.unplug().is_err(), "cannot unplug twice");
    sim.plug().unwrap();
    wait_for("the link to come back", || link.exists());
    let mut port = Port::open(&link);
    port.expect("PB DONE\r\n");
    assert_eq!(port.at("AT"), "AT\r\r\nOK\r\n");
    assert!(sim.pty_path().is_some());
    assert!(sim.plug().is_err(), "cannot plug twice");
}

#[test]
fn a_stalled_modem_answers_nothing_then_recovers() {
    let (sim, mut port) = fresh();
    sim.stall(Duration::from_millis(800)).unwrap();
    assert!(sim.state().unwrap().modem.stalled);
    port.send("AT");
    assert_eq!(port.read_for(Duration::from_millis(200)), "");
    wait_for("the stall to end", || !sim.state().unwrap().modem.stalled);
    assert_eq!(port.at("AT"), "\r\nOK\r\n");
}

#[test]
fn garbage_puts_exactly_n_bytes_on_the_port() {
    let (sim, mut port) = fresh();
    sim.garbage(300).unwrap();
    let mut got = Vec::new();
    let end = Instant::now() + WAIT;
    while got.len() < 300 && Instant::now() < end {
        got.extend(port.read_bytes_for(Duration::from_millis(50)));
    }
    assert_eq!(got.len(), 300);
    assert!(got.iter().any(|&b| b != got[0]), "not all the same byte");
    assert_eq!(port.at("AT"), "\r\nOK\r\n", "the modem still answers");
}

#[test]
fn a_link_over_a_real_file_is_refused_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("precious");
    std::fs::write(&file, "keep me").unwrap();
    let err = Simulator::start(SimConfig {
        link: Some(file.clone()),
        ..SimConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("exists and is not a symlink"), "{err}");
    assert_eq!(std::fs::read_to_string(file).unwrap(), "keep me");
}

/// Which of this process's descriptors point at `device`.
fn own_descriptors_on(device: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == device))
        .count()
}

#[test]
fn the_simulator_itself_never_holds_the_port_so_it_looks_free_when_nobody_uses_it() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let device = sim.pty_path().unwrap();
    assert_eq!(own_descriptors_on(&device), 0);
    let port = Port::open(&device);
    assert_eq!(own_descriptors_on(&device), 1);
    drop(port);
    assert_eq!(own_descriptors_on(&device), 0);
}

#[test]
fn a_host_that_closes_and_reopens_the_port_keeps_talking() {
    let (sim, port) = fresh();
    drop(port);
    // What the modem says while nobody listens waits for the next host.
    sim.sms("111", "while away").unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let mut port = Port::open(&sim.port());
    assert_eq!(
        port.expect("+CMTI: \"SM\",0\r\n"),
        "\r\n+CMTI: \"SM\",0\r\n"
    );
    assert_eq!(port.at("AT"), "\r\nOK\r\n");
    drop(port);
    let mut port = Port::open(&sim.port());
    assert_eq!(port.at("AT+CSQ"), "\r\n+CSQ: 16,99\r\n\r\nOK\r\n");
}

#[test]
fn a_configuration_that_cannot_work_is_refused_with_the_reason() {
    let zero = Simulator::start(SimConfig {
        ring_interval: Duration::ZERO,
        ..SimConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        zero.contains("ring_interval must be at least 1 ms"),
        "{zero}"
    );
    let cvhu = Simulator::start(SimConfig {
        cvhu_default: 2,
        ..SimConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(cvhu.contains("AT+CVHU takes 0 or 1"), "{cvhu}");
}

#[test]
fn ctrl_c_stops_the_binary_as_cleanly_as_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, link, control, _) = start_binary(dir.path(), &[]);
    assert!(control.exists());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sim.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert!(sim.0.wait().unwrap().success());
    assert!(std::fs::symlink_metadata(&link).is_err());
    assert!(!control.exists());
}

#[test]
fn an_over_long_control_line_is_refused_and_the_connection_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(SimConfig {
        control: Some(dir.path().join("ctl")),
        ..SimConfig::default()
    })
    .unwrap();
    let mut ctl = Control::connect(sim.control_socket().unwrap());
    let long = format!(
        "sms 123 {}",
        "x".repeat(modem_sim::control::MAX_CONTROL_LINE)
    );
    assert_eq!(ctl.send(&long), "error the line is longer than 4096 bytes");
    assert!(ctl.send("state").starts_with("ok {"));
    assert_eq!(sim.state().unwrap().modem.sim.used, 0);
}
