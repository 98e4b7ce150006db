//! rig-bench: the rig's own measuring binary (issue 8), printing one table of median and
//! p95 figures measured on the simulator with the real smsd.
//!
//! It owns the detect rows: how long SMS is down while `sim7600 detect` borrows the port,
//! with the command backend (smsd stopped and started through scripts, as an init system
//! would), with the systemctl backend (the default: `systemctl is-active|stop|start --
//! smstools`, here a stand-in `systemctl` that drives the same scripts; the machine's own
//! systemctl is never called, the config names the stand-in by its path) and with the
//! suspend-file backend (smsd keeps running and only closes the port), against the seed's
//! strategy run in the same session on the same rig (stop smstools and wait for it to
//! exit, a fixed 2 s sleep for the port, AT / AT+CGMI / AT+CGMM, start smstools, a fixed
//! 1 s). Runs of the four strategies alternate, so the machine's load falls on all of
//! them alike.
//!
//! What is observed, and how: a watcher thread looks every [`TICK`] at who holds the
//! simulator's port (smsd processes found by name in /proc, their fds read), at two
//! marker files (the command backend's stop and start scripts, which the stand-in
//! systemctl runs too, are wrapped in scripts that touch one after the real stop returned
//! and one before the real start runs) and at the
//! suspend file (the suspend-file backend's
//! start is the removal of our `GSM1:` line). From the transitions it takes:
//! - SMS downtime: smsd lets go of the port -> smsd holds it again;
//! - the stop's tail: smsd let go -> the stop command returned (the init system's part:
//!   the rig's stop script, standing in for `systemctl stop`, follows smsd's pid until it
//!   is gone; the suspend-file backend has no stop command);
//! - our share: smsd stopped -> start issued (what our code spends: noticing that the port
//!   is free, opening it, the probe, closing it, issuing the start), counted from the
//!   later of the release and the stop command's return;
//! - smsd's share: start issued -> smsd holds the port (smsd's own start-up or its suspend
//!   check, which we do not control);
//! - the whole command: spawn -> exit.
//!
//! Every figure has the watcher's resolution (one tick plus one scan of /proc, about
//! 1-3 ms). The table is rows of labelled cells, so rows for the voice bot (start -> ready,
//! SIGTERM -> smsd holding the port, RING -> ATA, POST /sms -> SMS at the simulator, peak
//! RSS, idle CPU) can be added as further row builders.
//!
//! `cargo run -p hil-tests --release --bin rig-bench -- [--runs N]` (N >= 10, default 10).
//! It uses the `sim7600` binary next to itself (target/release/sim7600): build it first
//! with `cargo build -p host-linux --release --bin sim7600` (tools/bench rig does).
#![forbid(unsafe_code)]

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use hil_tests::http::Request;
use hil_tests::{Rig, RigError, SimConfig, sim7600_bin};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::termios::{BaudRate, SetArg, cfmakeraw, cfsetspeed, tcgetattr, tcsetattr};
use nix::unistd::Pid;

/// How often the watcher looks.
const TICK: Duration = Duration::from_millis(1);
/// How long smsd is left alone after it opened the port, so that every run starts with
/// smsd past its own start-up dialogue.
const SETTLE: Duration = Duration::from_millis(1500);
/// The bound on every wait for smsd.
const SMSD_TIMEOUT: Duration = Duration::from_secs(30);
/// The fewest runs per strategy the issue accepts.
const MIN_RUNS: usize = 10;
/// The seed's fixed sleep after stopping smstools, "for port release".
const SEED_PORT_SLEEP: Duration = Duration::from_secs(2);
/// The seed's fixed sleep after starting smstools again.
const SEED_RESTART_SLEEP: Duration = Duration::from_secs(1);
/// How long the bot may take to report `running`.
const BOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the bot's API is asked whether it is ready.
const API_POLL: Duration = Duration::from_millis(2);
/// The ring interval of the benchmark's calls.
const RING_INTERVAL: Duration = Duration::from_millis(300);
/// The seed's init sequence after the probe (SIM7600-PROTOCOL.md, the seed's phase 2).
const SEED_INIT: [&str; 6] = [
    "AT",
    "ATE0",
    "AT+CEXTERNTONE=1",
    "AT+CLIP=1",
    "ATS0=3",
    "AT+CLVL=5",
];
/// The seed's bound on each probe command's reply.
const SEED_REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// What can stop the benchmark; each names the thing and what went wrong.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("rig: {0}")]
    Rig(#[from] RigError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{strategy}: `sim7600 detect` exited with {status}; stderr:\n{stderr}")]
    Detect {
        strategy: &'static str,
        status: String,
        stderr: String,
    },
    #[error("{strategy}: {what} was not observed within {waited:?}")]
    NotObserved {
        strategy: &'static str,
        what: &'static str,
        waited: Duration,
    },
    #[error("voice bot ({backend}): {problem}; its log: {log}")]
    Bot {
        backend: &'static str,
        problem: String,
        log: PathBuf,
    },
    #[error("baseline probe on {port}: {problem}")]
    SeedProbe { port: PathBuf, problem: String },
    #[error("usage: rig-bench [--runs N] (N a whole number >= {MIN_RUNS}); {problem}")]
    Usage { problem: String },
}

fn io<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> BenchError + 'p {
    move |source| BenchError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The strategies compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Commands,
    Systemctl,
    SuspendFile,
    Seed,
}

impl Strategy {
    const ALL: [Strategy; 4] = [
        Strategy::Commands,
        Strategy::Systemctl,
        Strategy::SuspendFile,
        Strategy::Seed,
    ];

    fn name(self) -> &'static str {
        match self {
            Strategy::Commands => "ours: command backend",
            Strategy::Systemctl => "ours: systemctl backend",
            Strategy::SuspendFile => "ours: suspend-file backend",
            Strategy::Seed => "baseline (stop, sleep, restart)",
        }
    }
}

/// One run's figures.
#[derive(Debug, Clone, Copy)]
struct Sample {
    downtime: Duration,
    stop_tail: Option<Duration>,
    our_share: Duration,
    smsd_share: Duration,
    whole: Duration,
}

/// What the watcher saw, each with when it first saw it.
#[derive(Debug, Default)]
struct Seen {
    released: Option<Instant>,
    stop_returned: Option<Instant>,
    start_issued: Option<Instant>,
    held_again: Option<Instant>,
}

/// The watcher thread and what it has seen so far.
struct Watcher {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

/// How the start of smsd shows for a strategy.
#[derive(Debug, Clone)]
enum StartSign {
    /// The wrapped stop script touched the first file when the real stop returned, the
    /// wrapped start script the second before the real start ran.
    Markers { stopped: PathBuf, start: PathBuf },
    /// Our `GSM1:` line left this suspend file (after it had been there).
    SuspendLineGone(PathBuf),
    /// The benchmark issues the start itself and records the moment.
    Recorded,
}

/// Whether an smsd process holds `device` (the resolved port).
fn smsd_holds(device: &Path) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|entry| {
        let dir = entry.path();
        let is_smsd =
            std::fs::read(dir.join("comm")).is_ok_and(|comm| comm.trim_ascii() == b"smsd");
        is_smsd
            && std::fs::read_dir(dir.join("fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == device))
            })
    })
}

fn suspend_line_present(file: &Path) -> bool {
    std::fs::read_to_string(file).is_ok_and(|text| text.lines().any(|l| l.starts_with("GSM1:")))
}

impl Watcher {
    fn start(device: PathBuf, sign: StartSign) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let thread = {
            let stop = Arc::clone(&stop);
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut suspended = false;
                while !stop.load(Ordering::Acquire) {
                    let now = Instant::now();
                    let held = smsd_holds(&device);
                    let stopped =
                        matches!(&sign, StartSign::Markers { stopped, .. } if stopped.exists());
                    let start = match &sign {
                        StartSign::Markers { start, .. } => start.exists(),
                        StartSign::SuspendLineGone(file) => {
                            let present = suspend_line_present(file);
                            suspended |= present;
                            suspended && !present
                        }
                        StartSign::Recorded => false,
                    };
                    {
                        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                        if !held && s.released.is_none() {
                            s.released = Some(now);
                        }
                        if stopped && s.stop_returned.is_none() {
                            s.stop_returned = Some(now);
                        }
                        if start && s.start_issued.is_none() {
                            s.start_issued = Some(now);
                        }
                        if held && s.released.is_some() && s.held_again.is_none() {
                            s.held_again = Some(now);
                        }
                    }
                    std::thread::sleep(TICK);
                }
            })
        };
        Watcher {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn held_again(&self) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .held_again
            .is_some()
    }

    fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The rig, its smsd and the configs of both backends.
struct Bench {
    rig: Rig,
    device: PathBuf,
    sim7600: PathBuf,
    commands_config: PathBuf,
    systemctl_config: PathBuf,
    suspend_config: PathBuf,
    stop_marker: PathBuf,
    start_marker: PathBuf,
    bot_commands_config: BotConfig,
    bot_systemctl_config: BotConfig,
    bot_suspend_config: BotConfig,
}

/// A voice-bot config and what it names.
#[derive(Debug, Clone)]
struct BotConfig {
    path: PathBuf,
    api_port: u16,
    log: PathBuf,
}

impl std::fmt::Debug for Bench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bench")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

fn quoted(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

fn write_file(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(io("cannot write", path))
}

fn write_script(path: &Path, text: &str) -> Result<(), BenchError> {
    write_file(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(io("cannot make executable", path))
}

impl Bench {
    fn new() -> Result<Bench, BenchError> {
        let sim7600 = sim7600_bin()?;
        let mut rig = Rig::simulated(SimConfig {
            ring_interval: RING_INTERVAL,
            ..SimConfig::default()
        })?;
        let dir = rig.dir().to_path_buf();
        let port = rig.port().to_path_buf();
        let device = std::fs::canonicalize(&port).map_err(io("cannot resolve", &port))?;
        let smsd = rig.smsd()?;
        let scripts = smsd.scripts().clone();
        let suspend_file = smsd.suspend_file();
        let pid_file = smsd.pid_file();
        // The bot serves this smsd's spool (never the machine's /etc/smsd.conf).
        let smsd_conf = smsd.conf();

        // The command backend's stop and start, wrapped so that the moment the stop returned
        // and the moment the start is issued show as files.
        let stop_marker = dir.join("stop-returned");
        let wrapped_stop = dir.join("stop-marked");
        write_script(
            &wrapped_stop,
            &format!(
                "#!/bin/sh\n{} \"$@\"\nstatus=$?\n: > {}\nexit $status\n",
                quoted(&scripts.stop),
                quoted(&stop_marker)
            ),
        )?;
        let start_marker = dir.join("start-issued");
        let wrapped_start = dir.join("start-marked");
        write_script(
            &wrapped_start,
            &format!(
                "#!/bin/sh\n: > {}\nexec {} \"$@\"\n",
                quoted(&start_marker),
                quoted(&scripts.start)
            ),
        )?;

        // The systemctl backend's stand-in: `systemctl VERB -- smstools` runs the same
        // wrapped scripts as the command backend (so the same markers show), refuses
        // anything else. The configs name it by its path: the machine's systemctl is never
        // reached.
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).map_err(io("cannot create", &bin))?;
        let systemctl = bin.join("systemctl");
        write_script(
            &systemctl,
            &format!(
                "#!/bin/sh\n\
                 [ \"$2\" = -- ] && [ \"$3\" = smstools ] || {{ echo \"stand-in systemctl: unexpected $*\" >&2; exit 5; }}\n\
                 case \"$1\" in\n\
                 \x20 is-active) {status} >/dev/null && {{ echo active; exit 0; }}; echo inactive; exit 3 ;;\n\
                 \x20 stop) exec {stop} ;;\n\
                 \x20 start) exec {start} ;;\n\
                 esac\n\
                 echo \"stand-in systemctl: unexpected $*\" >&2\n\
                 exit 5\n",
                status = quoted(&scripts.status),
                stop = quoted(&wrapped_stop),
                start = quoted(&wrapped_start),
            ),
        )?;
        let voice_config = dir.join("voice_config.json");
        write_file(&voice_config, "{\"answer_after_rings\": 3}")?;
        let common = format!(
            "port = {}\nmarker_dir = {}\nvoice_config = {}\n",
            quoted(&port),
            quoted(&dir.join("run-sim7600")),
            quoted(&voice_config)
        );
        let timeouts = "[timeouts]\ncommand_ms = 5000\nstop_ms = 10000\nstart_ms = 10000\nport_release_ms = 5000\n";
        let commands_config = dir.join("commands.toml");
        write_file(
            &commands_config,
            &format!(
                "{common}\n[handoff]\nbackend = \"commands\"\nstop = [{}]\nstart = [{}]\nstatus = [{}]\n\n{timeouts}",
                quoted(&wrapped_stop),
                quoted(&wrapped_start),
                quoted(&scripts.status)
            ),
        )?;
        let suspend_handoff = format!(
            "[handoff]\nbackend = \"suspend-file\"\nsuspend_file = {}\nsmsd_pid_file = {}\ndevice = \"GSM1\"\n",
            quoted(&suspend_file),
            quoted(&pid_file)
        );
        let commands_handoff = format!(
            "[handoff]\nbackend = \"commands\"\nstop = [{}]\nstart = [{}]\nstatus = [{}]\n",
            quoted(&wrapped_stop),
            quoted(&wrapped_start),
            quoted(&scripts.status)
        );
        let systemctl_handoff = format!(
            "[handoff]\nbackend = \"systemctl\"\nunit = \"smstools\"\nsystemctl = {}\n",
            quoted(&systemctl)
        );
        let systemctl_config = dir.join("systemctl.toml");
        write_file(
            &systemctl_config,
            &format!("{common}\n{systemctl_handoff}\n{timeouts}"),
        )?;
        let suspend_config = dir.join("suspend.toml");
        write_file(
            &suspend_config,
            &format!("{common}\n{suspend_handoff}\n{timeouts}"),
        )?;
        let bot_config = |name: &str, handoff: &str| -> Result<BotConfig, BenchError> {
            let api_port = free_port()?;
            let path = dir.join(format!("bot-{name}.toml"));
            write_file(
                &path,
                &format!(
                    "{common}\n{handoff}\n{timeouts}\n[bot]\ncall_log = {}\nanswer = \"host\"\nsmstools_conf = {}\n\n[api]\nlisten = \"127.0.0.1:{api_port}\"\n\n[sms]\nqueue_dir = {}\n",
                    quoted(&dir.join(format!("state/calls-{name}.jsonl"))),
                    quoted(&smsd_conf),
                    quoted(&dir.join(format!("state/sms-queue-{name}")))
                ),
            )?;
            Ok(BotConfig {
                path,
                api_port,
                log: dir.join(format!("bot-{name}.log")),
            })
        };
        let bot_commands_config = bot_config("commands", &commands_handoff)?;
        let bot_systemctl_config = bot_config("systemctl", &systemctl_handoff)?;
        let bot_suspend_config = bot_config("suspend", &suspend_handoff)?;
        Ok(Bench {
            rig,
            device,
            sim7600,
            commands_config,
            systemctl_config,
            suspend_config,
            stop_marker,
            start_marker,
            bot_commands_config,
            bot_systemctl_config,
            bot_suspend_config,
        })
    }

    /// smsd running, holding the port, and left alone for [`SETTLE`].
    fn smsd_ready(&mut self) -> Result<(), BenchError> {
        let smsd = self.rig.smsd()?;
        if !smsd.is_running() {
            smsd.start_with_script()?;
        }
        let device = self.device.clone();
        hil_tests::wait::wait_for("smsd to hold the port", SMSD_TIMEOUT, || {
            smsd_holds(&device).then_some(())
        })?;
        std::thread::sleep(SETTLE);
        Ok(())
    }

    fn run(&mut self, strategy: Strategy) -> Result<Sample, BenchError> {
        self.smsd_ready()?;
        let _ = std::fs::remove_file(&self.stop_marker);
        let _ = std::fs::remove_file(&self.start_marker);
        let sign = match strategy {
            Strategy::Commands | Strategy::Systemctl => StartSign::Markers {
                stopped: self.stop_marker.clone(),
                start: self.start_marker.clone(),
            },
            Strategy::SuspendFile => StartSign::SuspendLineGone(self.rig.smsd()?.suspend_file()),
            Strategy::Seed => StartSign::Recorded,
        };
        let watcher = Watcher::start(self.device.clone(), sign);
        let begin = Instant::now();
        let recorded = match strategy {
            Strategy::Commands => {
                self.detect(strategy, &self.commands_config.clone())?;
                None
            }
            Strategy::Systemctl => {
                self.detect(strategy, &self.systemctl_config.clone())?;
                None
            }
            Strategy::SuspendFile => {
                self.detect(strategy, &self.suspend_config.clone())?;
                None
            }
            Strategy::Seed => Some(self.seed_detect()?),
        };
        let whole = begin.elapsed();
        hil_tests::wait::wait_for("smsd to hold the port again", SMSD_TIMEOUT, || {
            watcher.held_again().then_some(())
        })?;
        let seen = watcher.finish();
        let missing = |what| BenchError::NotObserved {
            strategy: strategy.name(),
            what,
            waited: SMSD_TIMEOUT,
        };
        let released = seen
            .released
            .ok_or_else(|| missing("smsd letting go of the port"))?;
        let held_again = seen
            .held_again
            .ok_or_else(|| missing("smsd holding the port again"))?;
        let stop_returned = recorded.map(|(stopped, _)| stopped).or(seen.stop_returned);
        let start_issued = recorded
            .map(|(_, start)| start)
            .or(seen.start_issued)
            .ok_or_else(|| missing("the start of smsd"))?;
        if strategy != Strategy::SuspendFile && stop_returned.is_none() {
            return Err(missing("the stop command's return"));
        }
        let stopped = stop_returned.map_or(released, |s| s.max(released));
        Ok(Sample {
            downtime: held_again.saturating_duration_since(released),
            stop_tail: stop_returned.map(|s| s.saturating_duration_since(released)),
            our_share: start_issued.saturating_duration_since(stopped),
            smsd_share: held_again.saturating_duration_since(start_issued),
            whole,
        })
    }

    fn detect(&self, strategy: Strategy, config: &Path) -> Result<(), BenchError> {
        let out = Command::new(&self.sim7600)
            .arg("--config")
            .arg(config)
            .arg("detect")
            .stdin(Stdio::null())
            .output()
            .map_err(io("cannot run", &self.sim7600))?;
        if !out.status.success() {
            return Err(BenchError::Detect {
                strategy: strategy.name(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(())
    }

    /// The seed's phase 1, as sim7600_detector.py does it; returns when the stop returned
    /// and when it issued the start of smstools.
    fn seed_detect(&mut self) -> Result<(Instant, Instant), BenchError> {
        let scripts = self.rig.smsd()?.scripts().clone();
        run_script(&scripts.stop)?;
        let stopped = Instant::now();
        std::thread::sleep(SEED_PORT_SLEEP);
        let port = self.rig.port().to_path_buf();
        seed_probe(&port)?;
        let start = Instant::now();
        run_script(&scripts.start)?;
        std::thread::sleep(SEED_RESTART_SLEEP);
        Ok((stopped, start))
    }
}

fn run_script(script: &Path) -> Result<(), BenchError> {
    let status = Command::new(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(io("cannot run", script))?;
    if status.success() {
        Ok(())
    } else {
        Err(BenchError::Io {
            action: "script failed",
            path: script.to_path_buf(),
            source: std::io::Error::other(status.to_string()),
        })
    }
}

/// One voice-bot run's figures.
#[derive(Debug, Clone, Copy)]
struct BotSample {
    start_ready: Duration,
    ring_to_ata: Option<Duration>,
    post_to_sms: Option<Duration>,
    sigterm_to_smsd: Duration,
    peak_rss_kib: Option<u64>,
}

/// The bot's CPU use over a window.
#[derive(Debug, Clone, Copy)]
struct CpuFigure {
    idle_percent: f64,
    idle_window: Duration,
    burst_percent: f64,
    burst_window: Duration,
    burst_sms: usize,
    peak_rss_kib: Option<u64>,
}

/// A running `sim7600 voice-bot`; killed if dropped while it runs.
#[derive(Debug)]
struct BotProcess {
    child: std::process::Child,
    pid: i32,
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Bench {
    fn bot_config(&self, strategy: Strategy) -> BotConfig {
        match strategy {
            Strategy::SuspendFile => self.bot_suspend_config.clone(),
            Strategy::Systemctl => self.bot_systemctl_config.clone(),
            Strategy::Commands | Strategy::Seed => self.bot_commands_config.clone(),
        }
    }

    fn bot_error(&self, strategy: Strategy, problem: String) -> BenchError {
        BenchError::Bot {
            backend: strategy.name(),
            problem,
            log: self.bot_config(strategy).log,
        }
    }

    /// Starts the bot and waits until its API reports `running`; returns how long it took.
    fn start_bot(&mut self, strategy: Strategy) -> Result<(BotProcess, Duration), BenchError> {
        let config = self.bot_config(strategy);
        let log = std::fs::File::create(&config.log).map_err(io("cannot create", &config.log))?;
        let begin = Instant::now();
        let child = Command::new(&self.sim7600)
            .arg("--config")
            .arg(&config.path)
            .arg("voice-bot")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(io("cannot run", &self.sim7600))?;
        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        let mut bot = BotProcess { child, pid };
        loop {
            if let Ok(Some(status)) = bot.child.try_wait() {
                return Err(
                    self.bot_error(strategy, format!("exited ({status}) before it was ready"))
                );
            }
            if http(config.api_port, "GET", "/status", None)
                .is_ok_and(|(code, body)| code == 200 && body.contains("\"phase\":\"running\""))
            {
                return Ok((bot, begin.elapsed()));
            }
            if begin.elapsed() > BOT_TIMEOUT {
                return Err(self.bot_error(strategy, format!("not running within {BOT_TIMEOUT:?}")));
            }
            std::thread::sleep(API_POLL);
        }
    }

    fn transcript(&self) -> Vec<TranscriptLine> {
        self.rig
            .transcript()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .map(|text| text.lines().filter_map(TranscriptLine::parse).collect())
            .unwrap_or_default()
    }

    /// Waits (bounded) for a transcript line after `from` that `wanted` accepts.
    fn wait_transcript(
        &self,
        from: usize,
        what: &'static str,
        wanted: impl Fn(&TranscriptLine) -> bool,
    ) -> Result<(usize, Vec<TranscriptLine>), BenchError> {
        Ok(hil_tests::wait::wait_for(what, BOT_TIMEOUT, || {
            let lines = self.transcript();
            let found = lines.iter().skip(from).position(&wanted)?;
            Some((from + found, lines))
        })?)
    }

    /// A call rings until the bot answers: RING (the one answered) -> ATA, from the
    /// simulator's transcript; the caller then hangs up.
    fn ring_to_ata(&self) -> Result<Option<Duration>, BenchError> {
        let from = self.transcript().len();
        if self
            .rig
            .modem()
            .call("+491761234567", false, Some(RING_INTERVAL))?
            .is_skipped()
        {
            return Ok(None);
        }
        let (ata, lines) = self.wait_transcript(from, "the bot's ATA", |l| {
            l.host && l.text.starts_with("ATA\\r")
        })?;
        let ring = lines
            .get(..ata)
            .unwrap_or_default()
            .iter()
            .rev()
            .find(|l| !l.host && l.text.contains("RING"));
        let figure = match (ring, lines.get(ata)) {
            (Some(ring), Some(ata)) => Some(Duration::from_millis(ata.ms.saturating_sub(ring.ms))),
            _ => None,
        };
        let _ = self.rig.modem().hangup()?;
        let after = ata;
        self.wait_transcript(after, "the end of the call", |l| {
            !l.host && l.text.contains("NO CARRIER")
        })?;
        Ok(figure)
    }

    /// POST /sms -> the simulator answers the SMS's `+CMGS` (it took the message).
    fn post_to_sms(&self, strategy: Strategy, n: usize) -> Result<Option<Duration>, BenchError> {
        let config = self.bot_config(strategy);
        let from = self.transcript().len();
        let posted = epoch_ms(SystemTime::now());
        let body = format!("{{\"to\": \"+491721234567\", \"text\": \"rig-bench {n}\"}}");
        let (code, answer) = http(config.api_port, "POST", "/sms", Some(&body))
            .map_err(|e| self.bot_error(strategy, format!("POST /sms: {e}")))?;
        if code != 202 {
            return Err(self.bot_error(strategy, format!("POST /sms answered {code}: {answer}")));
        }
        let (at, lines) = self.wait_transcript(from, "the SMS at the simulator", |l| {
            !l.host && l.text.contains("+CMGS:")
        })?;
        Ok(lines
            .get(at)
            .map(|l| Duration::from_millis(l.ms.saturating_sub(posted))))
    }

    /// SIGTERM -> an smsd holds the port again.
    fn sigterm_to_smsd(
        &self,
        strategy: Strategy,
        mut bot: BotProcess,
    ) -> Result<Duration, BenchError> {
        let watcher = Watcher::start(self.device.clone(), StartSign::Recorded);
        let begin = Instant::now();
        kill(Pid::from_raw(bot.pid), Signal::SIGTERM)
            .map_err(|e| self.bot_error(strategy, format!("SIGTERM: {e}")))?;
        hil_tests::wait::wait_for("smsd to hold the port after SIGTERM", SMSD_TIMEOUT, || {
            watcher.held_again().then_some(())
        })?;
        let seen = watcher.finish();
        let held = seen.held_again.ok_or_else(|| BenchError::NotObserved {
            strategy: strategy.name(),
            what: "smsd holding the port after SIGTERM",
            waited: SMSD_TIMEOUT,
        })?;
        hil_tests::wait::wait_for("the bot to exit", BOT_TIMEOUT, || {
            matches!(bot.child.try_wait(), Ok(Some(_))).then_some(())
        })?;
        Ok(held.saturating_duration_since(begin))
    }

    fn bot_run(&mut self, strategy: Strategy, n: usize) -> Result<BotSample, BenchError> {
        self.smsd_ready()?;
        if strategy == Strategy::Seed {
            return self.seed_bot_run();
        }
        let (bot, start_ready) = self.start_bot(strategy)?;
        let ring_to_ata = self.ring_to_ata()?;
        let post_to_sms = self.post_to_sms(strategy, n)?;
        let peak_rss_kib = peak_rss_kib(bot.pid);
        let sigterm_to_smsd = self.sigterm_to_smsd(strategy, bot)?;
        Ok(BotSample {
            start_ready,
            ring_to_ata,
            post_to_sms,
            sigterm_to_smsd,
            peak_rss_kib,
        })
    }

    /// The seed's phase 2 and 4: stop smstools (waiting for it), 2 s, open, init, ready;
    /// then the exit: close the port, start smstools (then its fixed 1 s, which does not
    /// delay smsd).
    fn seed_bot_run(&mut self) -> Result<BotSample, BenchError> {
        let scripts = self.rig.smsd()?.scripts().clone();
        let port = self.rig.port().to_path_buf();
        let begin = Instant::now();
        run_script(&scripts.stop)?;
        std::thread::sleep(SEED_PORT_SLEEP);
        let mut tty = seed_open(&port)?;
        for command in SEED_INIT {
            seed_command(&mut tty, &port, command, command == "AT+CEXTERNTONE=1")?;
        }
        let start_ready = begin.elapsed();
        let watcher = Watcher::start(self.device.clone(), StartSign::Recorded);
        let exit = Instant::now();
        drop(tty);
        run_script(&scripts.start)?;
        hil_tests::wait::wait_for(
            "smsd to hold the port after the baseline's exit",
            SMSD_TIMEOUT,
            || watcher.held_again().then_some(()),
        )?;
        std::thread::sleep(SEED_RESTART_SLEEP);
        let held = watcher.finish().held_again.ok_or(BenchError::NotObserved {
            strategy: Strategy::Seed.name(),
            what: "smsd holding the port after the baseline's exit",
            waited: SMSD_TIMEOUT,
        })?;
        Ok(BotSample {
            start_ready,
            ring_to_ata: None,
            post_to_sms: None,
            sigterm_to_smsd: held.saturating_duration_since(exit),
            peak_rss_kib: None,
        })
    }

    /// The bot's CPU over `idle` without calls or SMS, then while it sends `burst` SMS.
    fn bot_cpu(&mut self, idle: Duration, burst: usize) -> Result<CpuFigure, BenchError> {
        let strategy = Strategy::Commands;
        self.smsd_ready()?;
        let (bot, _) = self.start_bot(strategy)?;
        let hz = clock_ticks_per_second()?;
        let cpu = |pid: i32| {
            cpu_ticks(pid)
                .ok_or_else(|| self.bot_error(strategy, "its /proc/PID/stat cannot be read".into()))
        };
        // Let start-up work (the first queue scan, the first health check) pass.
        std::thread::sleep(Duration::from_secs(1));
        let (t0, c0) = (Instant::now(), cpu(bot.pid)?);
        std::thread::sleep(idle);
        let (idle_window, c1) = (t0.elapsed(), cpu(bot.pid)?);
        let config = self.bot_config(strategy);
        let from = self.transcript().len();
        let t1 = Instant::now();
        for n in 0..burst {
            let body = format!("{{\"to\": \"+491721234567\", \"text\": \"burst {n}\"}}");
            let (code, answer) = http(config.api_port, "POST", "/sms", Some(&body))
                .map_err(|e| self.bot_error(strategy, format!("POST /sms: {e}")))?;
            if code != 202 {
                return Err(
                    self.bot_error(strategy, format!("POST /sms answered {code}: {answer}"))
                );
            }
        }
        hil_tests::wait::wait_for(
            format!("{burst} SMS at the simulator"),
            Duration::from_secs(300),
            || {
                let sent = self
                    .transcript()
                    .iter()
                    .skip(from)
                    .filter(|l| !l.host && l.text.contains("+CMGS:"))
                    .count();
                (sent >= burst).then_some(())
            },
        )?;
        let (burst_window, c2) = (t1.elapsed(), cpu(bot.pid)?);
        let peak_rss_kib = peak_rss_kib(bot.pid);
        self.sigterm_to_smsd(strategy, bot)?;
        let percent =
            |ticks: u64, window: Duration| ticks as f64 / hz as f64 / window.as_secs_f64() * 100.0;
        Ok(CpuFigure {
            idle_percent: percent(c1.saturating_sub(c0), idle_window),
            idle_window,
            burst_percent: percent(c2.saturating_sub(c1), burst_window),
            burst_window,
            burst_sms: burst,
            peak_rss_kib,
        })
    }
}

/// One line of the simulator's transcript: `2026-11-24T05:37:00.274Z host> ATA\r`.
#[derive(Debug, Clone)]
struct TranscriptLine {
    /// Milliseconds since the Unix epoch (UTC).
    ms: u64,
    /// Written by the host (else by the modem).
    host: bool,
    text: String,
}

impl TranscriptLine {
    fn parse(line: &str) -> Option<TranscriptLine> {
        let (stamp, rest) = line.split_once(' ')?;
        let (direction, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let host = match direction {
            "host>" => true,
            "modem>" => false,
            _ => return None,
        };
        Some(TranscriptLine {
            ms: parse_utc_ms(stamp)?,
            host,
            text: text.to_owned(),
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` as milliseconds since the Unix epoch.
fn parse_utc_ms(stamp: &str) -> Option<u64> {
    let stamp = stamp.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, millis) = time.split_once('.')?;
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs * 1000 + millis.parse::<i64>().ok()?).ok()
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// VmHWM (the peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it start past its ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> Result<u64, BenchError> {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .map_err(io("cannot run", Path::new("getconf")))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| BenchError::Io {
            action: "cannot read the clock tick rate from",
            path: PathBuf::from("getconf CLK_TCK"),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stdout).into_owned()),
        })
}

fn free_port() -> Result<u16, BenchError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io("cannot bind a free port on", Path::new("127.0.0.1")))
}

/// One request to the bot's API through the rig's HTTP client: the status and the body's
/// text.
fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String), RigError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let answer = Request::new(method, addr, path)
        .header("Content-Type", "application/json")
        .body(body.unwrap_or("").as_bytes())
        .send()?;
    Ok((answer.status, answer.body))
}

/// The port as the seed's pyserial opens it: raw, 115200.
fn seed_open(port: &Path) -> Result<std::fs::File, BenchError> {
    let fail = |problem: String| BenchError::SeedProbe {
        port: port.to_path_buf(),
        problem,
    };
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK)
        .open(port)
        .map_err(io("cannot open", port))?;
    let mut termios = tcgetattr(tty.as_fd()).map_err(|e| fail(format!("tcgetattr: {e}")))?;
    cfmakeraw(&mut termios);
    cfsetspeed(&mut termios, BaudRate::B115200).map_err(|e| fail(format!("cfsetspeed: {e}")))?;
    tcsetattr(tty.as_fd(), SetArg::TCSANOW, &termios)
        .map_err(|e| fail(format!("tcsetattr: {e}")))?;
    Ok(tty)
}

/// One command and its reply up to the final code; `ERROR` is accepted where `error_ok`
/// (the seed's AT+CEXTERNTONE, which a SIM7600 may refuse).
fn seed_command(
    tty: &mut std::fs::File,
    port: &Path,
    command: &str,
    error_ok: bool,
) -> Result<String, BenchError> {
    let fail = |problem: String| BenchError::SeedProbe {
        port: port.to_path_buf(),
        problem: format!("{command}: {problem}"),
    };
    tty.write_all(format!("{command}\r").as_bytes())
        .map_err(io("cannot write to", port))?;
    match read_reply(tty, port).map_err(fail)? {
        (text, false) => Ok(text),
        (text, true) if error_ok => Ok(text),
        (text, true) => Err(fail(format!("answered {text:?}"))),
    }
}

/// AT, AT+CGMI, AT+CGMM on a raw 115200 port, each read up to its `OK`: the seed's probe.
fn seed_probe(port: &Path) -> Result<(), BenchError> {
    let mut tty = seed_open(port)?;
    let mut identity = String::new();
    for command in ["AT", "AT+CGMI", "AT+CGMM"] {
        identity.push_str(&seed_command(&mut tty, port, command, false)?);
    }
    if !(identity.contains("SIMCOM") && identity.contains("SIM7600")) {
        return Err(BenchError::SeedProbe {
            port: port.to_path_buf(),
            problem: format!("not a SIM7600: {identity:?}"),
        });
    }
    Ok(())
}

/// The reply up to its final code, and whether that code was an error.
fn read_reply(tty: &mut std::fs::File, port: &Path) -> Result<(String, bool), String> {
    let end = Instant::now() + SEED_REPLY_TIMEOUT;
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let text = String::from_utf8_lossy(&reply);
        if text.contains("\r\nOK\r\n") {
            return Ok((text.into_owned(), false));
        }
        if text.contains("ERROR\r\n") {
            return Ok((text.into_owned(), true));
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no OK within {SEED_REPLY_TIMEOUT:?}, got {text:?}"));
        }
        let wait =
            PollTimeout::try_from(left.as_millis().min(1000) as i32).unwrap_or(PollTimeout::NONE);
        let mut fds = [PollFd::new(tty.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, wait).map_err(|e| format!("poll {}: {e}", port.display()))?;
        match tty.read(&mut buf) {
            Ok(0) => return Err("the port closed".into()),
            Ok(n) => reply.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Median and p95 (nearest rank) of some durations.
#[derive(Debug, Clone, Copy)]
struct Stats {
    median: Duration,
    p95: Duration,
}

fn stats(mut values: Vec<Duration>) -> Option<Stats> {
    values.sort_unstable();
    let n = values.len();
    if n == 0 {
        return None;
    }
    let rank = |q: f64| ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    let median = if n % 2 == 1 {
        values.get(n / 2).copied()?
    } else {
        (values.get(n / 2 - 1).copied()? + values.get(n / 2).copied()?) / 2
    };
    Some(Stats {
        median,
        p95: values.get(rank(0.95)).copied()?,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn cell(s: Option<Stats>) -> String {
    s.map_or_else(
        || "-".into(),
        |s| format!("{} / {}", ms(s.median), ms(s.p95)),
    )
}

/// The printed table's columns: the label, then one cell each.
const COLUMNS: [&str; 8] = [
    "what",
    "ours: commands",
    "ours: systemctl",
    "ours: suspend-file",
    "baseline (stop, 2 s, probe/init, start, 1 s)",
    "baseline / commands",
    "baseline / systemctl",
    "baseline / suspend-file",
];

/// One row of the printed table: a label and one cell per column.
#[derive(Debug)]
struct Row {
    what: String,
    cells: Vec<String>,
}

fn print_table(title: &str, header: &[&str], rows: &[Row]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        let texts = std::iter::once(&row.what).chain(&row.cells);
        for (i, text) in texts.enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(text.chars().count());
            }
        }
    }
    println!("\n{title}");
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.to_vec());
    println!(
        "|{}|",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in rows {
        line(
            std::iter::once(row.what.as_str())
                .chain(row.cells.iter().map(String::as_str))
                .collect(),
        );
    }
}

fn detect_rows(samples: &[(Strategy, Vec<Sample>)]) -> Vec<Row> {
    let of = |strategy: Strategy, pick: fn(&Sample) -> Option<Duration>| {
        samples
            .iter()
            .find(|(s, _)| *s == strategy)
            .and_then(|(_, v)| stats(v.iter().filter_map(pick).collect()))
    };
    // A ratio only where less is our aim (not for smsd's own start-up).
    let row = |what: &str, ratio_wanted: bool, pick: fn(&Sample) -> Option<Duration>| {
        let ours_cmd = of(Strategy::Commands, pick);
        let ours_sctl = of(Strategy::Systemctl, pick);
        let ours_susp = of(Strategy::SuspendFile, pick);
        let seed = of(Strategy::Seed, pick);
        let ratio = |ours: Option<Stats>| match (seed, ours) {
            (Some(seed), Some(ours)) if ratio_wanted && !ours.median.is_zero() => {
                format!(
                    "{:.1}x",
                    seed.median.as_secs_f64() / ours.median.as_secs_f64()
                )
            }
            _ => "-".into(),
        };
        Row {
            what: what.into(),
            cells: vec![
                cell(ours_cmd),
                cell(ours_sctl),
                cell(ours_susp),
                cell(seed),
                ratio(ours_cmd),
                ratio(ours_sctl),
                ratio(ours_susp),
            ],
        }
    };
    vec![
        row(
            "detect: SMS downtime (smsd releases -> holds again)",
            true,
            |s| Some(s.downtime),
        ),
        row(
            "detect: stop's tail (smsd releases -> stop returns)",
            false,
            |s| s.stop_tail,
        ),
        row(
            "detect: our share (smsd stopped -> start issued)",
            true,
            |s| Some(s.our_share),
        ),
        row("detect: smsd's share (start issued -> holds)", false, |s| {
            Some(s.smsd_share)
        }),
        row("detect: whole command (spawn -> exit)", true, |s| {
            Some(s.whole)
        }),
    ]
}

/// The command line.
#[derive(Debug, Clone, Copy)]
struct Options {
    runs: usize,
    idle: Duration,
    burst: usize,
}

fn parse_options() -> Result<Options, BenchError> {
    let mut options = Options {
        runs: MIN_RUNS,
        idle: Duration::from_secs(60),
        burst: 100,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| BenchError::Usage {
            problem: format!("{flag} needs a value"),
        })?;
        let number = value.parse::<usize>().map_err(|_| BenchError::Usage {
            problem: format!("{flag} {value} is not a whole number"),
        })?;
        match flag.as_str() {
            "--runs" if number >= MIN_RUNS => options.runs = number,
            "--runs" => {
                return Err(BenchError::Usage {
                    problem: format!("--runs {number} is fewer than {MIN_RUNS}"),
                });
            }
            "--idle-seconds" => options.idle = Duration::from_secs(number as u64),
            "--burst" => options.burst = number,
            other => {
                return Err(BenchError::Usage {
                    problem: format!("unknown option {other}"),
                });
            }
        }
    }
    Ok(options)
}

fn bot_rows(samples: &[(Strategy, Vec<BotSample>)], cpu: &CpuFigure) -> Vec<Row> {
    let of = |strategy: Strategy, pick: fn(&BotSample) -> Option<Duration>| {
        samples
            .iter()
            .find(|(s, _)| *s == strategy)
            .and_then(|(_, v)| stats(v.iter().filter_map(pick).collect()))
    };
    let row = |what: &str, pick: fn(&BotSample) -> Option<Duration>| {
        let ours_cmd = of(Strategy::Commands, pick);
        let ours_sctl = of(Strategy::Systemctl, pick);
        let ours_susp = of(Strategy::SuspendFile, pick);
        let seed = of(Strategy::Seed, pick);
        let ratio = |ours: Option<Stats>| match (seed, ours) {
            (Some(seed), Some(ours)) if !ours.median.is_zero() => {
                format!(
                    "{:.1}x",
                    seed.median.as_secs_f64() / ours.median.as_secs_f64()
                )
            }
            _ => "-".into(),
        };
        Row {
            what: what.into(),
            cells: vec![
                cell(ours_cmd),
                cell(ours_sctl),
                cell(ours_susp),
                cell(seed),
                ratio(ours_cmd),
                ratio(ours_sctl),
                ratio(ours_susp),
            ],
        }
    };
    let rss = |strategy: Strategy| {
        let kib: Vec<u64> = samples
            .iter()
            .find(|(s, _)| *s == strategy)
            .map(|(_, v)| v.iter().filter_map(|b| b.peak_rss_kib).collect())
            .unwrap_or_default();
        kib_stats(kib).map_or_else(
            || "-".into(),
            |(median, p95)| format!("{} / {} MiB", mib(median), mib(p95)),
        )
    };
    let one = |text: String| {
        let mut cells = vec![text];
        cells.resize(COLUMNS.len() - 1, "-".into());
        Row {
            what: String::new(),
            cells,
        }
    };
    let mut cpu_idle = one(format!(
        "{:.3} % over {:.0} s",
        cpu.idle_percent,
        cpu.idle_window.as_secs_f64()
    ));
    cpu_idle.what = "bot: CPU while idle".into();
    let mut cpu_burst = one(format!(
        "{:.1} % over {:.1} s ({} SMS)",
        cpu.burst_percent,
        cpu.burst_window.as_secs_f64(),
        cpu.burst_sms
    ));
    cpu_burst.what = format!("bot: CPU while sending {} SMS", cpu.burst_sms);
    let mut burst_rss = one(cpu
        .peak_rss_kib
        .map_or_else(|| "-".into(), |k| format!("{} MiB", mib(k))));
    burst_rss.what = format!("bot: peak RSS after {} SMS", cpu.burst_sms);
    vec![
        row("bot: start -> ready (spawn -> API says running)", |s| {
            Some(s.start_ready)
        }),
        row("bot: SIGTERM -> smsd holds the port again", |s| {
            Some(s.sigterm_to_smsd)
        }),
        row("bot: RING -> ATA (the bot answers on ring 3)", |s| {
            s.ring_to_ata
        }),
        row("bot: POST /sms -> +CMGS at the simulator", |s| {
            s.post_to_sms
        }),
        Row {
            what: "bot: peak RSS (VmHWM after a call and an SMS)".into(),
            cells: vec![
                rss(Strategy::Commands),
                rss(Strategy::Systemctl),
                rss(Strategy::SuspendFile),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        },
        burst_rss,
        cpu_idle,
        cpu_burst,
    ]
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Median (the lower one for an even count) and p95 (nearest rank) of some sizes.
fn kib_stats(mut values: Vec<u64>) -> Option<(u64, u64)> {
    values.sort_unstable();
    let n = values.len();
    let median = values.get(n.checked_sub(1)? / 2).copied()?;
    let p95 = values
        .get(((0.95 * n as f64).ceil() as usize).clamp(1, n) - 1)
        .copied()?;
    Some((median, p95))
}

fn run() -> Result<(), BenchError> {
    let options = parse_options()?;
    let runs = options.runs;
    let mut bench = Bench::new()?;
    println!(
        "rig-bench: {runs} runs per strategy on the simulator ({}) with the real smsd; sim7600 = {}",
        bench.rig.port().display(),
        bench.sim7600.display()
    );
    let mut detect: Vec<(Strategy, Vec<Sample>)> =
        Strategy::ALL.iter().map(|s| (*s, Vec::new())).collect();
    for round in 1..=runs {
        for (strategy, list) in detect.iter_mut() {
            let sample = bench.run(*strategy)?;
            println!(
                "detect {round:2} {:28} downtime {:>8} ms  stop's tail {:>7} ms  our share {:>8} ms  smsd's share {:>8} ms  whole {:>8} ms",
                strategy.name(),
                ms(sample.downtime),
                sample.stop_tail.map_or_else(|| "-".into(), ms),
                ms(sample.our_share),
                ms(sample.smsd_share),
                ms(sample.whole)
            );
            list.push(sample);
        }
    }
    let mut bot: Vec<(Strategy, Vec<BotSample>)> =
        Strategy::ALL.iter().map(|s| (*s, Vec::new())).collect();
    for round in 1..=runs {
        for (strategy, list) in bot.iter_mut() {
            let sample = bench.bot_run(*strategy, round)?;
            let opt = |d: Option<Duration>| d.map_or_else(|| "-".into(), ms);
            println!(
                "bot    {round:2} {:28} start->ready {:>8} ms  SIGTERM->smsd {:>8} ms  RING->ATA {:>7} ms  POST->SMS {:>7} ms  peak RSS {} KiB",
                strategy.name(),
                ms(sample.start_ready),
                ms(sample.sigterm_to_smsd),
                opt(sample.ring_to_ata),
                opt(sample.post_to_sms),
                sample
                    .peak_rss_kib
                    .map_or_else(|| "-".into(), |k| k.to_string())
            );
            list.push(sample);
        }
    }
    println!(
        "bot CPU: {:?} idle, then {} SMS (command backend)",
        options.idle, options.burst
    );
    let cpu = bench.bot_cpu(options.idle, options.burst)?;
    let mut rows = detect_rows(&detect);
    rows.extend(bot_rows(&bot, &cpu));
    print_table(
        &format!("median / p95 in ms over {runs} runs each (p95 by nearest rank)"),
        &COLUMNS,
        &rows,
    );
    if let Ok(smsd) = bench.rig.smsd() {
        smsd.stop()?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rig-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
