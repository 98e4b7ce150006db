//! The CLI's scenarios (handoff, detect, status, restore, signals): a config file for the `sim7600` CLI pointing at the rig's port, its smsd
//! (through the rig's start/stop/status scripts, the "custom commands" backend) and a
//! marker folder in the rig; running the CLI; holding the port with `sim7600 hold`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hil_tests::{Rig, Smsd};

pub use super::q;
use super::smsd_backend;

/// How long smsd may take to be back after the lease ends (within 2 s).
pub const BACK_WITHIN: Duration = Duration::from_secs(2);

/// The rig's smsd.conf (`<rig>/smsd/smsd.conf`, written when the scenario prepares
/// smsd): the spool `restore` and the bot serve, never the machine's /etc/smsd.conf.
pub fn smstools_conf(rig: &Rig) -> PathBuf {
    rig.dir().join("smsd/smsd.conf")
}

/// Writes `<rig>/sim7600.toml` for the rig's port with `handoff` (a `[handoff]` table)
/// and short timeouts; returns its path.
pub fn write_config(rig: &Rig, handoff: &str) -> PathBuf {
    let path = rig.dir().join("sim7600.toml");
    // `handoff` may bring a `[bot]` table of its own: the line joins it.
    let conf_line = format!("smstools_conf = {}\n", q(&smstools_conf(rig)));
    let tables = if handoff.contains("[bot]\n") {
        handoff.replacen("[bot]\n", &format!("[bot]\n{conf_line}"), 1)
    } else {
        format!("{handoff}\n[bot]\n{conf_line}")
    };
    let text = format!(
        "port = {}\nmarker_dir = {}\nvoice_config = {}\n\n{tables}\n[timeouts]\ncommand_ms = 25000\nstop_ms = 10000\nstart_ms = 10000\nport_release_ms = 3000\n",
        q(rig.port()),
        q(&marker_dir(rig)),
        q(&rig.dir().join("voice_config.json")),
    );
    std::fs::write(&path, text).unwrap();
    std::fs::write(
        rig.dir().join("voice_config.json"),
        "{\"answer_after_rings\": 3}",
    )
    .unwrap();
    path
}

/// The marker folder the configs name.
pub fn marker_dir(rig: &Rig) -> PathBuf {
    rig.dir().join("run-sim7600")
}

/// The markers now in the rig's marker folder.
pub fn markers(rig: &Rig) -> Vec<PathBuf> {
    match std::fs::read_dir(marker_dir(rig)) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The rig's smsd started through its own start script (a daemon, as an init system
/// would), once it holds the port.
pub fn start_smsd(rig: &mut Rig) -> i32 {
    let port = rig.port().to_path_buf();
    let smsd = rig.smsd().unwrap();
    smsd.start_with_script().unwrap();
    hil_tests::wait::wait_until_port_held(&port, Duration::from_secs(15)).unwrap();
    smsd.pid().unwrap()
}

/// Runs `sim7600 --config CONFIG ARGS...` to its end.
pub fn sim7600(config: &Path, args: &[&str]) -> Output {
    sim7600_with(config, args, |_| {})
}

/// Same, letting the caller adjust the command (PATH, env).
pub fn sim7600_with(config: &Path, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Output {
    let mut cmd = Command::new(hil_tests::sim7600_bin().unwrap());
    cmd.arg("--config").arg(config).args(args);
    adjust(&mut cmd);
    let out = cmd.output().unwrap();
    eprintln!(
        "sim7600 {args:?} -> {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The one JSON object a `--json` command printed.
pub fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A running `sim7600 hold`, once it printed that it holds the port.
#[derive(Debug)]
pub struct Holding {
    pub child: Child,
    pub pid: i32,
    pub line: String,
    lines: mpsc::Receiver<String>,
}

impl Holding {
    /// The lines it printed after "holding ..." (waits until it exits).
    pub fn wait_exit(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        // The reader thread forwards until the pipe's end: bounded, it may lag the exit.
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            rest.push(line);
        }
        (status, rest)
    }
}

/// Starts `sim7600 hold` with `extra` arguments and waits (bounded) for its "holding" line.
pub fn hold(config: &Path, extra: &[&str]) -> Holding {
    let mut child = Command::new(hil_tests::sim7600_bin().unwrap())
        .arg("--config")
        .arg(config)
        .arg("hold")
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout: ChildStdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("sim7600 hold did not report holding the port within 30 s");
        });
    assert!(line.starts_with("holding "), "{line}");
    let pid = child.id() as i32;
    Holding {
        child,
        pid,
        line,
        lines: rx,
    }
}

/// Waits (bounded) until smsd runs again; returns how long that took.
pub fn smsd_back_within(smsd: &Smsd, bound: Duration) -> Duration {
    let started = Instant::now();
    hil_tests::wait::wait_for("smsd to run again", bound, || smsd.pid().map(|_| ())).unwrap();
    started.elapsed()
}

/// A config whose handoff drives the rig's smsd through its scripts.
pub fn commands_config(rig: &mut Rig) -> PathBuf {
    let handoff = smsd_backend(rig.smsd().unwrap());
    write_config(rig, &handoff)
}
