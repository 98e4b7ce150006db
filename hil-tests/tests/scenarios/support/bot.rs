//! The voice-bot scenarios' bot: a config for `sim7600 voice-bot` on the rig's port (its
//! API's port in it), the bot as a child process with its log in the rig, its API asked
//! through [`super::http`], and bounded waits on what the API reports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hil_tests::{Rig, RigError, SimConfig};
use serde_json::Value;

pub use super::{free_port, q, smsd_backend};

/// How long the bot may take to own the port and initialise the modem.
pub const START_WITHIN: Duration = Duration::from_secs(30);
/// RING interval of the scenarios' calls: a ring every 300 ms keeps tests short.
pub const RING: Duration = Duration::from_millis(300);

/// A simulated rig whose calls ring every [`RING`].
pub fn rig() -> Rig {
    Rig::simulated(SimConfig {
        ring_interval: RING,
        ..SimConfig::default()
    })
    .unwrap()
}

/// A rig of `config` whose simulator has an audio port too (linked in a folder of its
/// own, which lives as long as the rig). The rig drops first: its simulator removes the
/// link.
pub fn audio_rig_with(config: SimConfig) -> (Rig, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::simulated(SimConfig {
        audio_link: Some(dir.path().join("ttyUSB4")),
        ..config
    })
    .unwrap();
    (rig, dir)
}

/// [`audio_rig_with`] calls that ring every [`RING`].
pub fn audio_rig() -> (Rig, tempfile::TempDir) {
    audio_rig_with(SimConfig {
        ring_interval: RING,
        ..SimConfig::default()
    })
}

/// A bot on an [`audio_rig`] that answers on the first ring with call audio on the
/// simulator's audio port, the stand-in smstools ([`flag_backend`]) and `extra` (more
/// tables) in its config; started.
pub fn audio_bot(rig: &Rig, extra: &str) -> Bot {
    let files = write_config(
        rig,
        &BotSetup {
            answer_after_rings: 1,
            bot: String::new(),
            handoff: flag_backend(rig),
        },
    );
    let audio_port = rig.sim().unwrap().audio_link().unwrap().to_path_buf();
    let mut text = std::fs::read_to_string(&files.config).unwrap();
    text.push_str(&format!(
        "\n[audio]\nenabled = true\nport = {}\n\n{extra}\n",
        q(&audio_port)
    ));
    std::fs::write(&files.config, text).unwrap();
    Bot::start(&files)
}

/// A stand-in smstools for scenarios about the bot alone: "running" while a flag file
/// exists (it starts out running).
pub fn flag_backend(rig: &Rig) -> String {
    let flag = smstools_flag(rig);
    std::fs::write(&flag, "").unwrap();
    format!(
        "[handoff]\nbackend = \"commands\"\nstop = [\"rm\", \"-f\", {f}]\nstart = [\"touch\", {f}]\nstatus = [\"test\", \"-e\", {f}]\n",
        f = q(&flag)
    )
}

/// The stand-in smstools' flag file.
pub fn smstools_flag(rig: &Rig) -> PathBuf {
    rig.dir().join("smstools.running")
}

/// The bot's settings for one scenario.
#[derive(Debug, Clone)]
pub struct BotSetup {
    /// The seed's `answer_after_rings`.
    pub answer_after_rings: u8,
    /// Extra lines for the `[bot]` table.
    pub bot: String,
    /// The `[handoff]` table.
    pub handoff: String,
}

/// A bot scenario's files and the API's port.
#[derive(Debug)]
pub struct BotFiles {
    /// The config.
    pub config: PathBuf,
    /// The API's port.
    pub api_port: u16,
    /// The call log.
    pub call_log: PathBuf,
    /// The SMS queue folder.
    pub queue: PathBuf,
    /// Where each run's stderr goes (`bot-<n>.log`).
    pub dir: PathBuf,
}

/// Writes `<rig>/voice-bot.toml` and `<rig>/voice_config.json` for `setup`.
pub fn write_config(rig: &Rig, setup: &BotSetup) -> BotFiles {
    let dir = rig.dir().to_path_buf();
    let api_port = free_port();
    let call_log = dir.join("state/calls.jsonl");
    let queue = dir.join("state/sms-queue");
    let voice = dir.join("voice_config.json");
    std::fs::write(
        &voice,
        format!("{{\"answer_after_rings\": {}}}", setup.answer_after_rings),
    )
    .unwrap();
    let config = dir.join("voice-bot.toml");
    let text = format!(
        "port = {port}\nmarker_dir = {markers}\nvoice_config = {voice}\n\n{handoff}\n\
         [timeouts]\ncommand_ms = 25000\nstop_ms = 10000\nstart_ms = 10000\nport_release_ms = 3000\n\n\
         [bot]\ncall_log = {log}\nsmstools_conf = {smsd_conf}\n{bot}\n\n[api]\nlisten = \"127.0.0.1:{api_port}\"\n\n\
         [sms]\nqueue_dir = {queue}\n",
        port = q(rig.port()),
        markers = q(&dir.join("run-sim7600")),
        voice = q(&voice),
        handoff = setup.handoff,
        log = q(&call_log),
        // The rig's smsd (written when the scenario prepares it; absent: no spool), never
        // the machine's /etc/smsd.conf.
        smsd_conf = q(&dir.join("smsd/smsd.conf")),
        bot = setup.bot,
        queue = q(&queue),
    );
    std::fs::write(&config, text).unwrap();
    BotFiles {
        config,
        api_port,
        call_log,
        queue,
        dir,
    }
}

/// A running `sim7600 voice-bot`. Dropping it kills it (SIGKILL) if it still runs.
#[derive(Debug)]
pub struct Bot {
    pub child: Child,
    pub pid: i32,
    pub api_port: u16,
    pub log: PathBuf,
}

impl Drop for Bot {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            eprintln!("bot log:\n{}", self.log_text());
        }
    }
}

impl Bot {
    /// Starts the bot and waits (bounded) until its API says it runs.
    pub fn start(files: &BotFiles) -> Bot {
        Bot::start_with(files, &[])
    }

    /// Starts the bot as systemd would with `Type=notify` and `WatchdogSec=`: the notify
    /// socket and the watchdog period in its environment, `WATCHDOG_PID` its own pid
    /// (a shell sets it to `$$`, then `exec`s the bot under the same pid).
    pub fn start_under_systemd(files: &BotFiles, notify_socket: &Path, watchdog: Duration) -> Bot {
        Bot::start_with(
            files,
            &[
                ("NOTIFY_SOCKET", notify_socket.display().to_string()),
                ("WATCHDOG_USEC", watchdog.as_micros().to_string()),
            ],
        )
    }

    /// Starts the bot without waiting for anything (a scenario that watches its start).
    pub fn spawn(files: &BotFiles) -> Bot {
        Bot::spawn_with(files, &[])
    }

    fn start_with(files: &BotFiles, env: &[(&str, String)]) -> Bot {
        let mut bot = Bot::spawn_with(files, env);
        bot.wait_phase("running", START_WITHIN);
        bot
    }

    /// Starts the bot with `env` added, without waiting for anything.
    pub fn spawn_with(files: &BotFiles, env: &[(&str, String)]) -> Bot {
        Bot::spawn_after(files, "", env)
    }

    /// Starts the bot with `env` added from a shell that runs `setup` first (`umask 077
    /// && `, as a unit's `UMask=` would), without waiting for anything.
    pub fn spawn_after(files: &BotFiles, setup: &str, env: &[(&str, String)]) -> Bot {
        let n = std::fs::read_dir(&files.dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("bot-"))
            .count();
        let log = files.dir.join(format!("bot-{n}.log"));
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("{setup}WATCHDOG_PID=$$ exec \"$0\" \"$@\""))
            .arg(hil_tests::sim7600_bin().unwrap())
            .arg("--config")
            .arg(&files.config)
            .arg("voice-bot")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        Bot {
            child,
            pid,
            api_port: files.api_port,
            log,
        }
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The API's address.
    pub fn addr(&self) -> SocketAddr {
        super::http::loopback(self.api_port)
    }

    /// A JSON request to the bot's API; the status and the JSON.
    pub fn try_http(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, Value), RigError> {
        super::http::json(self.addr(), method, path, body, None)
    }

    /// [`Bot::try_http`], which must be answered.
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.try_http(method, path, body).unwrap()
    }

    /// GET /status's `bot` object, `None` while the API does not answer.
    pub fn status(&self) -> Option<Value> {
        let (code, body) = self.try_http("GET", "/status", None).ok()?;
        (code == 200).then(|| body["bot"].clone())
    }

    /// Waits until the bot's phase is `phase`; panics with the log if it exits first.
    pub fn wait_phase(&mut self, phase: &str, within: Duration) {
        self.wait_status(&format!("phase {phase}"), within, |s| s["phase"] == phase);
    }

    /// Waits until `check` holds for the bot's status.
    pub fn wait_status(
        &mut self,
        what: &str,
        within: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the bot exited ({status}) before {what}; log:\n{}",
                    self.log_text()
                );
            }
            if let Some(s) = self.status() {
                if check(&s) {
                    return s;
                }
            }
            if Instant::now() >= end {
                panic!(
                    "no {what} within {within:?}; status {:?}; log:\n{}",
                    self.status(),
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` and waits (bounded) for the exit.
    pub fn stop_with(mut self, signal: nix::sys::signal::Signal, within: Duration) -> ExitStatus {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), signal).unwrap();
        let what = format!("the bot, sent {signal},");
        let status = super::wait_exit(&mut self.child, within, &what, &self.log);
        eprintln!("bot log:\n{}", self.log_text());
        status
    }

    /// Waits (bounded) for the bot to exit by itself.
    pub fn wait_exit(mut self, within: Duration) -> ExitStatus {
        let status = super::wait_exit(&mut self.child, within, "the bot", &self.log);
        eprintln!("bot log:\n{}", self.log_text());
        status
    }

    /// POST /sms; returns the status and the body.
    pub fn post_sms(&self, to: &str, text: &str) -> (u16, Value) {
        let body = serde_json::json!({ "to": to, "text": text }).to_string();
        self.http("POST", "/sms", Some(&body))
    }

    /// Waits until GET /sms/{id} says `state`; returns the record.
    pub fn wait_sms(&mut self, id: &str, state: &str, within: Duration) -> Value {
        let end = Instant::now() + within;
        loop {
            let (code, body) = self.http("GET", &format!("/sms/{id}"), None);
            assert_eq!(code, 200, "{body}");
            if body["state"] == state {
                return body;
            }
            if Instant::now() >= end {
                panic!(
                    "SMS {id} not {state} within {within:?}: {body}; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GET /calls?limit=N.
    pub fn calls(&self, limit: usize) -> Vec<Value> {
        let (code, body) = self.http("GET", &format!("/calls?limit={limit}"), None);
        assert_eq!(code, 200, "{body}");
        body["calls"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the call log holds `n` calls; returns them, newest first.
    pub fn wait_calls(&self, n: usize, within: Duration) -> Vec<Value> {
        hil_tests::wait::wait_for(format!("{n} calls in the log"), within, || {
            let calls = self.calls(100);
            (calls.len() >= n).then_some(calls)
        })
        .unwrap_or_else(|e| panic!("{e}; log:\n{}", self.log_text()))
    }
}

/// `sim7600 restore` with the bot's config, as systemd's `ExecStopPost=` runs it after a
/// kill; panics unless it exits 0. Its stderr (the log).
pub fn restore(files: &BotFiles) -> String {
    let out = Command::new(hil_tests::sim7600_bin().unwrap())
        .arg("--config")
        .arg(&files.config)
        .arg("restore")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{out:?}");
    stderr
}

/// The host's command lines in the simulator's transcript, in order.
pub fn host_commands(transcript: &Path) -> Vec<String> {
    std::fs::read_to_string(transcript)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(" host> ").map(|(_, c)| c.to_owned()))
        .collect()
}
