//! The fault matrix (issue 8, item 5): every way the real `sim7600 voice-bot` can be hurt
//! while it shares the simulated modem with the real smsd, one row each, each row on its
//! own rig. Every row checks that smstools runs afterwards and holds the port again (and
//! how long that took from the fault), and where the bot's API is up it counts the SMS
//! queued through `POST /sms` before and during the fault: each must reach the simulator
//! exactly once, or still be durably queued (then a second start of the bot must send it),
//! or be reported failed with a reason. Every row runs even when another fails; the suite
//! prints one summary table at the end and fails if any row failed.

use crate::support::cli as handoff;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::bot::{Bot, BotFiles, BotSetup, RING, smsd_backend, write_config};
use hil_tests::{Rig, SimConfig};
use nix::sys::signal::Signal;
use serde_json::Value;

/// Where every SMS of the matrix goes.
const RECIPIENT: &str = "+491721234567";
/// How long smsd may take to hold the port again after a fault before the row fails.
const SMSD_BACK_WITHIN: Duration = Duration::from_secs(15);
/// How long a bot may take to exit by itself or after a signal.
const EXIT_WITHIN: Duration = Duration::from_secs(20);
/// How long one SMS may take to reach the simulator.
const SENT_WITHIN: Duration = Duration::from_secs(15);
/// Size of the tmpfs the full-disk row puts the SMS queue on.
const FULL_DISK_SIZE: &str = "256k";

/// What one row found.
#[derive(Debug, Default)]
struct Outcome {
    /// smsd's main process runs at the end of the row.
    smstools_running: bool,
    /// How long from the fault until smsd held the port again (`None`: it never let go).
    back_after: Option<Duration>,
    /// The SMS queued through the API, or `None` when the row has no API to queue through.
    sms: Option<Tally>,
    notes: Vec<String>,
}

/// Where the row's accepted SMS ended up.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    accepted: usize,
    sent_once: usize,
    still_queued: usize,
    failed_with_reason: usize,
    lost: usize,
    sent_twice: usize,
    /// Of `sent_once`: sent by the bot's next start (they were queued across the fault).
    sent_after_restart: usize,
}

/// The SMS one row accepted through the API: id and (unique) text.
#[derive(Debug, Default)]
struct Ledger {
    row: &'static str,
    accepted: Vec<(String, String)>,
}

impl Ledger {
    fn new(row: &'static str) -> Ledger {
        Ledger {
            row,
            accepted: Vec::new(),
        }
    }

    /// POST /sms with a text unique to this row and `label`; must be accepted (202).
    fn post(&mut self, bot: &Bot, label: &str) -> String {
        let text = format!("fault matrix: {} / {label}", self.row);
        let (code, body) = bot.post_sms(RECIPIENT, &text);
        assert_eq!(code, 202, "POST /sms ({label}) not accepted: {body}");
        let id = body["id"].as_str().unwrap().to_owned();
        self.accepted.push((id.clone(), text));
        id
    }

    /// Counts where each accepted SMS is: on air (the simulator's sent list, by text), in
    /// the queue folder as queued/sending, or in done/ as failed with an error.
    fn tally(&self, rig: &Rig, queue: &Path) -> Tally {
        let on_air = rig.sim().unwrap().state().unwrap().modem.sent;
        let mut t = Tally {
            accepted: self.accepted.len(),
            ..Tally::default()
        };
        for (id, text) in &self.accepted {
            let times = on_air
                .iter()
                .filter(|m| m.number == RECIPIENT && &m.text == text)
                .count();
            let record = |folder: &str| -> Option<Value> {
                let raw =
                    std::fs::read_to_string(queue.join(folder).join(format!("{id}.json"))).ok()?;
                serde_json::from_str(&raw).ok()
            };
            match times {
                1 => t.sent_once += 1,
                0 => match (record("done"), record("active")) {
                    (Some(r), _)
                        if r["state"] == "failed"
                            && r["error"].as_str().is_some_and(|e| !e.is_empty()) =>
                    {
                        t.failed_with_reason += 1
                    }
                    (None, Some(r)) if r["state"] == "queued" || r["state"] == "sending" => {
                        t.still_queued += 1
                    }
                    _ => t.lost += 1,
                },
                _ => t.sent_twice += 1,
            }
        }
        t
    }
}

/// One row's rig: the simulator, the real smsd (started as a daemon through its script,
/// holding the port) and the bot's config driving that smsd.
struct Fixture {
    rig: Rig,
    files: BotFiles,
}

impl Fixture {
    /// `answer_after_rings` 0: the modem never answers, so a call rings until the caller
    /// hangs up, and the bot holds SMS back meanwhile (a message certainly still queued).
    fn new(bot_lines: &str, answer_after_rings: u8) -> Fixture {
        let mut rig = Rig::simulated(SimConfig {
            ring_interval: RING,
            ..SimConfig::default()
        })
        .unwrap();
        handoff::start_smsd(&mut rig);
        let handoff = smsd_backend(rig.smsd().unwrap());
        let files = write_config(
            &rig,
            &BotSetup {
                answer_after_rings,
                bot: bot_lines.to_owned(),
                handoff,
            },
        );
        Fixture { rig, files }
    }

    fn smsd_running(&mut self) -> bool {
        self.rig.smsd().unwrap().is_running()
    }

    /// Waits (bounded) until an smsd process holds the port; the time since `since`.
    /// The bot never got the port: the same smsd process still holds it.
    fn assert_smsd_untouched(&mut self, smsd_pid: Option<i32>) {
        assert_eq!(
            self.rig.smsd().unwrap().pid(),
            smsd_pid,
            "the same smsd, untouched"
        );
        assert!(smsd_holds(self.rig.port()), "smsd kept the port throughout");
    }

    fn smsd_holds_port_since(&self, since: Instant) -> Duration {
        hil_tests::wait::wait_for("smsd to hold the port again", SMSD_BACK_WITHIN, || {
            smsd_holds(self.rig.port()).then_some(())
        })
        .unwrap();
        since.elapsed()
    }

    /// Runs the bot to its own end (it is expected not to get running); its status and log.
    fn run_bot_to_failure(&self) -> (ExitStatus, String) {
        let log = self.files.dir.join("bot-failing.log");
        let mut child = Command::new(hil_tests::sim7600_bin().unwrap())
            .arg("--config")
            .arg(&self.files.config)
            .arg("voice-bot")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let status = hil_tests::wait::wait_for("the bot to give up", EXIT_WITHIN, || {
            child.try_wait().unwrap()
        })
        .unwrap_or_else(|e| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{e}; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        (status, std::fs::read_to_string(&log).unwrap_or_default())
    }

    /// The end of a row that queued SMS: smsd held the port again `back` after the fault,
    /// the row's `note`, then where its SMS ended up and whether smstools runs.
    fn outcome(&mut self, back: Duration, note: &str, ledger: &Ledger) -> Outcome {
        let mut notes = vec![note.to_owned()];
        let sms = Some(self.settle_sms(ledger, &mut notes));
        Outcome {
            smstools_running: self.smsd_running(),
            back_after: Some(back),
            sms,
            notes,
        }
    }

    /// Counts the ledger; when some SMS are still queued, starts the bot again (as systemd's
    /// Restart= would), waits for each to be sent, stops it with SIGTERM and counts again.
    /// Fails the row on any lost or doubled SMS.
    fn settle_sms(&mut self, ledger: &Ledger, notes: &mut Vec<String>) -> Tally {
        let first = ledger.tally(&self.rig, &self.files.queue);
        let mut tally = if first.still_queued > 0 {
            notes.push(format!(
                "{} still queued after the fault: sent by the next start",
                first.still_queued
            ));
            let mut bot = Bot::start(&self.files);
            for (id, _) in &ledger.accepted {
                let (code, body) = bot.http("GET", &format!("/sms/{id}"), None);
                assert_eq!(code, 200, "{body}");
                if body["state"] == "queued" || body["state"] == "sending" {
                    bot.wait_sms(id, "sent", SENT_WITHIN);
                }
            }
            let status = bot.stop_with(Signal::SIGTERM, EXIT_WITHIN);
            assert_eq!(status.code(), Some(0), "the draining bot's exit");
            self.smsd_holds_port_since(Instant::now());
            ledger.tally(&self.rig, &self.files.queue)
        } else {
            first
        };
        tally.sent_after_restart = first.still_queued;
        assert_eq!(tally.lost, 0, "SMS lost: {tally:?}");
        assert_eq!(tally.sent_twice, 0, "SMS sent twice: {tally:?}");
        assert_eq!(tally.still_queued, 0, "SMS still queued: {tally:?}");
        tally
    }
}

/// Whether a process named smsd holds `port`.
fn smsd_holds(port: &Path) -> bool {
    hil_tests::wait::holders_of(port).into_iter().any(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "smsd")
    })
}

/// A call rings (never answered: the row's modem answers after 0 rings, i.e. never) and an
/// SMS is posted: the bot holds it back while the call rings, so it is certainly still in
/// the queue when the fault comes.
fn held_back_by_a_ringing_call(rig: &Rig, bot: &mut Bot, ledger: &mut Ledger) -> String {
    rig.sim().unwrap().call("+4930123456", false, None).unwrap();
    bot.wait_status("a ringing call", Duration::from_secs(10), |s| {
        s["current_call"]["state"] == "ringing"
    });
    let id = ledger.post(bot, "held back by a ringing call");
    // Two more rings: had the bot been going to send it, it would have started.
    std::thread::sleep(RING * 2);
    let (code, body) = bot.http("GET", &format!("/sms/{id}"), None);
    assert_eq!(
        (code, &body["state"]),
        (200, &Value::from("queued")),
        "{body}"
    );
    id
}

/// A signal ends the bot with an SMS sent before it and one held back by a ringing call:
/// smsd is back, the bot exits 0, and its next start sends the held-back one, once.
fn row_signal(signal: Signal, row: &'static str) -> Outcome {
    row_signal_after(signal, row, false)
}

/// SIGHUP reloads the bot's configuration and is no fault: the bot keeps the port through
/// it, and the SIGTERM after gives the port back as usual.
fn row_hangup() -> Outcome {
    let mut o = row_signal_after(Signal::SIGTERM, "SIGHUP", true);
    o.notes.insert(0, "SIGHUP: reloaded, kept the port".into());
    o
}

fn row_signal_after(signal: Signal, row: &'static str, reload_first: bool) -> Outcome {
    let mut f = Fixture::new("", 0);
    let mut ledger = Ledger::new(row);
    let mut bot = Bot::start(&f.files);
    if reload_first {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(bot.pid), Signal::SIGHUP).unwrap();
        hil_tests::wait::wait_for("the reload", EXIT_WITHIN, || {
            bot.log_text().contains("reload applied").then_some(())
        })
        .unwrap();
        assert!(
            bot.child.try_wait().unwrap().is_none(),
            "SIGHUP ended the bot"
        );
        assert_eq!(hil_tests::wait::holders_of(f.rig.port()), vec![bot.pid]);
    }
    assert!(
        !f.smsd_running(),
        "smsd still runs while the bot holds the port"
    );
    let before = ledger.post(&bot, "before");
    bot.wait_sms(&before, "sent", SENT_WITHIN);
    held_back_by_a_ringing_call(&f.rig, &mut bot, &mut ledger);
    let fault = Instant::now();
    let status = bot.stop_with(signal, EXIT_WITHIN);
    assert_eq!(status.code(), Some(0), "exit after {signal}");
    let back = f.smsd_holds_port_since(fault);
    f.rig.sim().unwrap().hangup().unwrap();
    f.outcome(back, "exit 0", &ledger)
}

/// `sim7600 hold --panic-after 300` (the lease's diagnostic; the bot takes the port through
/// the same lease, so unwinding releases it the same way).
fn row_panic() -> Outcome {
    let mut f = Fixture::new("", 2);
    // Its stderr (the panic message and backtrace) goes to a file: it is expected here, and
    // inherited it would land in the suite's output uncaptured.
    let log = f.files.dir.join("hold-panic.log");
    let mut child = KillOnDrop(
        Command::new(hil_tests::sim7600_bin().unwrap())
            .arg("--config")
            .arg(&f.files.config)
            .args(["hold", "--panic-after", "300"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.0.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let panics_at = Instant::now() + Duration::from_millis(300);
    assert!(first.starts_with("holding "), "hold printed {first:?}");
    assert!(!f.smsd_running(), "smsd still runs while hold has the port");
    let status =
        hil_tests::wait::wait_for("hold to panic", EXIT_WITHIN, || child.0.try_wait().unwrap())
            .unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        status.code(),
        Some(101),
        "a panic exits with 101; stderr:\n{stderr}"
    );
    assert!(stderr.contains("panicked"), "stderr:\n{stderr}");
    let back = f.smsd_holds_port_since(panics_at);
    assert!(handoff::markers(&f.rig).is_empty(), "restore marker left");
    Outcome {
        smstools_running: f.smsd_running(),
        back_after: Some(back),
        sms: None,
        notes: vec!["`hold` has no API: no SMS in flight; exit 101".into()],
    }
}

/// kill -9: nothing gives smsd back until `sim7600 restore` (systemd's ExecStopPost).
fn row_sigkill_restore() -> Outcome {
    let mut f = Fixture::new("", 0);
    let mut ledger = Ledger::new("SIGKILL + restore");
    let mut bot = Bot::start(&f.files);
    let before = ledger.post(&bot, "before");
    bot.wait_sms(&before, "sent", SENT_WITHIN);
    held_back_by_a_ringing_call(&f.rig, &mut bot, &mut ledger);
    bot.stop_with(Signal::SIGKILL, EXIT_WITHIN);
    f.rig.sim().unwrap().hangup().unwrap();
    assert!(!f.smsd_running(), "nothing could have restarted smsd yet");
    assert_eq!(handoff::markers(&f.rig).len(), 1, "the restore marker");
    let restore = Instant::now();
    let out = handoff::sim7600(&f.files.config, &["restore"]);
    assert!(out.status.success(), "sim7600 restore: {out:?}");
    let back = f.smsd_holds_port_since(restore);
    assert!(handoff::markers(&f.rig).is_empty(), "restore marker left");
    f.outcome(back, "time from `sim7600 restore`", &ledger)
}

/// The modem vanishes and does not come back within reopen_timeout_s: exit 5.
fn row_unplugged() -> Outcome {
    let mut f = Fixture::new("reopen_timeout_s = 2", 2);
    let mut ledger = Ledger::new("unplugged");
    let mut bot = Bot::start(&f.files);
    let before = ledger.post(&bot, "before");
    bot.wait_sms(&before, "sent", SENT_WITHIN);
    f.rig.sim().unwrap().unplug().unwrap();
    bot.wait_status("the bot to notice", Duration::from_secs(10), |s| {
        s["phase"] == "reconnecting"
    });
    ledger.post(&bot, "while unplugged");
    let status = bot.wait_exit(EXIT_WITHIN);
    assert_eq!(status.code(), Some(5), "a modem gone for good");
    assert!(f.smsd_running(), "smsd started again after the bot gave up");
    // smsd retries the missing device every second; plugging the modem back is when it
    // can hold the port again.
    let plugged = Instant::now();
    f.rig.sim().unwrap().plug().unwrap();
    let back = f.smsd_holds_port_since(plugged);
    f.outcome(
        back,
        "exit 5; smsd ran at once, time from the plug-in",
        &ledger,
    )
}

/// The bot recovers from a fault on its own, an SMS posted during the fault is sent, and a
/// SIGTERM afterwards gives smsd the port.
fn row_recovers(row: &'static str, bot_lines: &str, fault: impl FnOnce(&Rig, &mut Bot)) -> Outcome {
    let mut f = Fixture::new(bot_lines, 2);
    let mut ledger = Ledger::new(row);
    let mut bot = Bot::start(&f.files);
    let before = ledger.post(&bot, "before");
    bot.wait_sms(&before, "sent", SENT_WITHIN);
    fault(&f.rig, &mut bot);
    let during = ledger.post(&bot, "during");
    bot.wait_sms(&during, "sent", SENT_WITHIN);
    bot.wait_phase("running", Duration::from_secs(15));
    assert!(
        !f.smsd_running(),
        "smsd stays stopped while the bot recovers"
    );
    let term = Instant::now();
    let status = bot.stop_with(Signal::SIGTERM, EXIT_WITHIN);
    assert_eq!(status.code(), Some(0));
    let back = f.smsd_holds_port_since(term);
    f.outcome(back, "bot recovered; time from the SIGTERM after", &ledger)
}

fn row_stalled() -> Outcome {
    row_recovers(
        "stalled",
        "health_interval_s = 1\nhealth_failures = 1\nreopen_timeout_s = 30",
        |rig, bot| {
            rig.sim().unwrap().stall(Duration::from_secs(3)).unwrap();
            bot.wait_status(
                "the bot to notice the silence",
                Duration::from_secs(10),
                |s| s["phase"] == "reconnecting",
            );
        },
    )
}

fn row_garbage() -> Outcome {
    row_recovers("garbage", "", |rig, _| {
        rig.sim().unwrap().garbage(4096).unwrap();
    })
}

fn row_reset() -> Outcome {
    row_recovers("reset", "", |rig, bot| {
        rig.sim().unwrap().reset().unwrap();
        bot.wait_status("the re-init after RDY", Duration::from_secs(15), |s| {
            s["modem_resets"] == 1
        });
    })
}

/// A process that is not smsd holds the port when the bot starts: exit 3 naming it.
fn row_foreign_holder() -> Outcome {
    let mut f = Fixture::new("", 2);
    let port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(f.rig.port())
        .unwrap();
    let foreign = KillOnDrop(Command::new("sleep").arg("60").stdin(port).spawn().unwrap());
    let foreign_pid = foreign.0.id();
    let (status, log) = f.run_bot_to_failure();
    let gave_up = Instant::now();
    assert_eq!(status.code(), Some(3), "log:\n{log}");
    assert!(
        log.contains(&format!("pid {foreign_pid}")),
        "the error names the holder (pid {foreign_pid}); log:\n{log}"
    );
    let back = f.smsd_holds_port_since(gave_up);
    Outcome {
        smstools_running: f.smsd_running(),
        back_after: Some(back),
        sms: None,
        notes: vec!["exit 3 naming the holder; API never up; time from the exit".into()],
    }
}

/// A child process killed when the row ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// smstools' stop command fails: the bot refuses to start and smsd is never touched.
fn row_refusing_stop() -> Outcome {
    let mut f = Fixture::new("", 2);
    let scripts = f.rig.smsd().unwrap().scripts().clone();
    let handoff = format!(
        "[handoff]\nbackend = \"commands\"\nstop = [\"sh\", \"-c\", \"echo smstools refuses to stop >&2; exit 1\"]\nstart = [{}]\nstatus = [{}]\n",
        handoff::q(&scripts.start),
        handoff::q(&scripts.status)
    );
    f.files = write_config(
        &f.rig,
        &BotSetup {
            answer_after_rings: 2,
            bot: String::new(),
            handoff,
        },
    );
    let smsd_pid = f.rig.smsd().unwrap().pid();
    let (status, log) = f.run_bot_to_failure();
    assert_eq!(status.code(), Some(3), "log:\n{log}");
    assert!(
        log.contains("refuses to stop"),
        "the error quotes the stop command's output; log:\n{log}"
    );
    f.assert_smsd_untouched(smsd_pid);
    Outcome {
        smstools_running: f.smsd_running(),
        back_after: None,
        sms: None,
        notes: vec!["exit 3 quoting the stop command; smsd never let go".into()],
    }
}

/// A config the bot refuses: exit 78 naming the key, smsd never touched.
fn row_invalid_config() -> Outcome {
    let mut f = Fixture::new("volume = 9", 2);
    let smsd_pid = f.rig.smsd().unwrap().pid();
    let (status, log) = f.run_bot_to_failure();
    assert_eq!(status.code(), Some(78), "log:\n{log}");
    assert!(
        log.contains("volume"),
        "the error names the key; log:\n{log}"
    );
    f.assert_smsd_untouched(smsd_pid);
    Outcome {
        smstools_running: f.smsd_running(),
        back_after: None,
        sms: None,
        notes: vec!["exit 78 naming `volume`; smsd never let go".into()],
    }
}

/// A tmpfs mounted for one row, unmounted (lazily, so a late reader cannot block it) when
/// dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the full-disk row needs a small tmpfs: `mount -t tmpfs -o size={size} tmpfs {}` \
             failed ({}): run the suite as root (CI does), or in a container with CAP_SYS_ADMIN",
            at.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` with one file until it says ENOSPC.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 4096];
    loop {
        match file.write_all(&block) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    path
}

/// Whether any record (or temporary file) in the queue folder holds `text`.
fn queue_mentions(queue: &Path, text: &str) -> bool {
    ["active", "done"].iter().any(|folder| {
        std::fs::read_dir(queue.join(folder))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|c| c.contains(text)))
    })
}

/// The SMS queue's filesystem is full: POST /sms must refuse, not accept and lose.
fn row_full_disk() -> Outcome {
    let mut f = Fixture::new("", 0);
    let mount = Mount::tmpfs(&f.files.queue, FULL_DISK_SIZE);
    let mut ledger = Ledger::new("full disk");
    let mut bot = Bot::start(&f.files);
    let before = ledger.post(&bot, "before");
    bot.wait_sms(&before, "sent", SENT_WITHIN);
    let held = held_back_by_a_ringing_call(&f.rig, &mut bot, &mut ledger);
    let filler = fill(&mount.0);
    let (code, body) = bot.post_sms(RECIPIENT, "fault matrix: full disk / refused");
    assert_ne!(code, 202, "accepted onto a full disk: {body}");
    assert!(
        matches!(code, 500 | 503 | 507),
        "a full queue disk must refuse the SMS, got {code}: {body}"
    );
    let error = body["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        ["space", "full"]
            .iter()
            .any(|w| error.to_lowercase().contains(w)),
        "the refusal says the disk is full: {body}"
    );
    // The call ends while the disk is full: the bot must record the held-back SMS as
    // `sending` before it goes out, cannot, and must neither send it unrecorded nor drop it.
    f.rig.sim().unwrap().hangup().unwrap();
    bot.wait_status("the call's end", Duration::from_secs(10), |s| {
        s["current_call"].is_null()
    });
    std::thread::sleep(Duration::from_secs(1));
    let on_air_while_full = f.rig.sim().unwrap().state().unwrap().modem.sent.len();
    std::fs::remove_file(&filler).unwrap();
    let after = ledger.post(&bot, "after space is back");
    bot.wait_sms(&after, "sent", SENT_WITHIN);
    let (_, held_state) = bot.http("GET", &format!("/sms/{held}"), None);
    let term = Instant::now();
    let status = bot.stop_with(Signal::SIGTERM, EXIT_WITHIN);
    assert_eq!(status.code(), Some(0));
    let back = f.smsd_holds_port_since(term);
    let mut o = Outcome {
        back_after: Some(back),
        ..Outcome::default()
    };
    o.notes.push(format!(
        "while full, {} SMS went out after the first; the one held back by a call then {}",
        on_air_while_full.saturating_sub(1),
        held_state["state"]
    ));
    // The path in the error is the rig's; the reason is the end of it.
    let reason = error.rsplit(": ").next().unwrap_or_default();
    o.notes.push(format!(
        "POST /sms refused with {code} ({reason}), 202 again once freed"
    ));
    o.sms = Some(f.settle_sms(&ledger, &mut o.notes));
    let refused = "fault matrix: full disk / refused";
    let on_air = f.rig.sim().unwrap().state().unwrap().modem.sent;
    assert!(
        on_air.iter().all(|m| m.text != refused),
        "the refused SMS went out: {on_air:?}"
    );
    assert!(
        !queue_mentions(&f.files.queue, refused),
        "the refused SMS left a record in the queue"
    );
    o.smstools_running = f.smsd_running();
    drop(mount);
    o
}

/// One row of the matrix.
struct Row {
    name: &'static str,
    fault: &'static str,
    run: fn() -> Outcome,
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "SIGINT",
            fault: "kill -INT the bot",
            run: || row_signal(Signal::SIGINT, "SIGINT"),
        },
        Row {
            name: "SIGTERM",
            fault: "kill -TERM the bot",
            run: || row_signal(Signal::SIGTERM, "SIGTERM"),
        },
        Row {
            name: "SIGHUP",
            fault: "kill -HUP the bot (a reload), then kill -TERM",
            run: row_hangup,
        },
        Row {
            name: "SIGQUIT",
            fault: "kill -QUIT the bot",
            run: || row_signal(Signal::SIGQUIT, "SIGQUIT"),
        },
        Row {
            name: "panic",
            fault: "hold --panic-after 300",
            run: row_panic,
        },
        Row {
            name: "SIGKILL+restore",
            fault: "kill -9, then sim7600 restore",
            run: row_sigkill_restore,
        },
        Row {
            name: "unplugged",
            fault: "modem gone for good (2 s)",
            run: row_unplugged,
        },
        Row {
            name: "stalled",
            fault: "modem silent for 3 s",
            run: row_stalled,
        },
        Row {
            name: "garbage",
            fault: "4096 random bytes",
            run: row_garbage,
        },
        Row {
            name: "reset",
            fault: "modem restarts (RDY)",
            run: row_reset,
        },
        Row {
            name: "foreign holder",
            fault: "another process holds the port",
            run: row_foreign_holder,
        },
        Row {
            name: "stop refused",
            fault: "smstools' stop command fails",
            run: row_refusing_stop,
        },
        Row {
            name: "invalid config",
            fault: "[bot] volume = 9",
            run: row_invalid_config,
        },
        Row {
            name: "full disk",
            fault: "SMS queue on a full tmpfs",
            run: row_full_disk,
        },
    ]
}

/// A row's result: its outcome, or why it failed.
type RowResult = Result<Outcome, String>;

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// `text` on one line (whitespace runs collapsed, `|` escaped), at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = flat.replace('|', "\\|");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{} ...", &flat[..cut]),
        None => flat,
    }
}

fn sms_cell(o: &Outcome) -> String {
    match o.sms {
        None => "n/a (no API)".into(),
        Some(t) => format!(
            "{} of {} ({} sent once, {} of them by the next start; {} failed with a reason; {} twice)",
            t.lost + t.still_queued,
            t.accepted,
            t.sent_once,
            t.sent_after_restart,
            t.failed_with_reason,
            t.sent_twice
        ),
    }
}

fn summary(rows: &[Row], results: &[(RowResult, Duration)]) -> String {
    let mut out = String::from(
        "\nfault matrix: sim7600 voice-bot on the simulator with the real smsd\n\
         | row | fault | smstools running afterwards | SMS lost | smsd holds the port again after | row time | notes |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (row, (result, took)) in rows.iter().zip(results) {
        let line = match result {
            Ok(o) => format!(
                "| {} | {} | {} | {} | {} | {:.1} s | {} |\n",
                row.name,
                row.fault,
                if o.smstools_running { "yes" } else { "NO" },
                sms_cell(o),
                o.back_after
                    .map(|d| format!("{} ms", d.as_millis()))
                    .unwrap_or_else(|| "never let go".into()),
                took.as_secs_f64(),
                o.notes.join("; ")
            ),
            Err(why) => format!(
                "| {} | {} | ? | ? | ? | {:.1} s | FAILED: {} |\n",
                row.name,
                row.fault,
                took.as_secs_f64(),
                one_line(why, 200)
            ),
        };
        out.push_str(&line);
    }
    out
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(every_fault_leaves_smstools_running_and_no_sms_lost,);

fn every_fault_leaves_smstools_running_and_no_sms_lost() {
    let started = Instant::now();
    let rows = rows();
    // One row after another: each row's timings are its own, not its neighbours' load.
    let results: Vec<(RowResult, Duration)> = rows
        .iter()
        .map(|row| {
            let t = Instant::now();
            let result = std::panic::catch_unwind(row.run)
                .map_err(panic_text)
                .and_then(|o| {
                    if o.smstools_running {
                        Ok(o)
                    } else {
                        Err("smstools is not running after the row".into())
                    }
                });
            (result, t.elapsed())
        })
        .collect();
    let table = summary(&rows, &results);
    // Straight to the process's stdout: the test harness captures print!, and this table
    // is the suite's report whether it passes or fails.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "{table}({} rows in {:.1} s)",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    let _ = stdout.flush();
    let failed: Vec<String> = rows
        .iter()
        .zip(&results)
        .filter_map(|(r, (result, _))| match result {
            Err(why) => Some(format!("{}: {why}", r.name)),
            Ok(_) => None,
        })
        .collect();
    assert!(failed.is_empty(), "failed rows:\n{}", failed.join("\n"));
}
