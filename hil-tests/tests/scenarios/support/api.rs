//! The API scenarios' bot: a `sim7600 voice-bot --listen ADDR` running on the rig (its
//! smsd driven through the rig's scripts, its queue, call log and markers in the rig's
//! folder, its API on a free loopback port), asked through [`super::http`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hil_tests::Rig;
use serde_json::Value;

pub use super::cli::{markers, sim7600, start_smsd, write_config};
pub use super::{free_addr, q, smsd_backend};

/// How long a bot may take from its start to a running API with the modem initialised.
pub const BOT_READY_WITHIN: Duration = Duration::from_secs(30);

/// The rig's SMS queue folder.
pub fn queue_dir(rig: &Rig) -> PathBuf {
    rig.dir().join("sms-queue")
}

/// The rig's call log.
pub fn call_log(rig: &Rig) -> PathBuf {
    rig.dir().join("calls.jsonl")
}

/// Writes the bot's config (the rig's port, smsd through its scripts, queue, call log;
/// `extra` is appended: more tables) and returns its path.
pub fn bot_config(rig: &mut Rig, extra: &str) -> PathBuf {
    let handoff = smsd_backend(rig.smsd().unwrap());
    let tables = format!(
        "{handoff}\n[sms]\nqueue_dir = {}\n\n[bot]\ncall_log = {}\n\n{extra}\n",
        q(&queue_dir(rig)),
        q(&call_log(rig)),
    );
    write_config(rig, &tables)
}

/// A running `sim7600 voice-bot`. Dropping it kills it (a test that failed early must not
/// leave it behind) and prints its log.
#[derive(Debug)]
pub struct Bot {
    pub child: Option<Child>,
    pub addr: SocketAddr,
    pub log: PathBuf,
    /// The `Authorization` header every request of this handle carries.
    pub authorization: Option<String>,
}

impl Bot {
    /// Starts the bot with `config` listening on `addr`, and waits (bounded) until its API
    /// answers and it holds the port with the modem initialised.
    pub fn start(config: &Path, addr: SocketAddr, log: &Path) -> Bot {
        Self::start_authorized(config, addr, log, None)
    }

    /// [`Bot::start`] for a bot whose API wants `authorization` on every request.
    pub fn start_authorized(
        config: &Path,
        addr: SocketAddr,
        log: &Path,
        authorization: Option<String>,
    ) -> Bot {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(hil_tests::sim7600_bin().unwrap())
            .arg("--config")
            .arg(config)
            .arg("voice-bot")
            .arg("--listen")
            .arg(addr.to_string())
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut bot = Bot {
            child: Some(child),
            addr,
            log: log.to_owned(),
            authorization,
        };
        bot.wait_running();
        bot
    }

    /// Waits until `/status` says the bot runs.
    pub fn wait_running(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the bot exited early ({status}); log:\n{}", self.log_text());
            }
            let authorization = self.authorization.as_deref();
            let status = super::http::json(self.addr, "GET", "/status", None, authorization);
            if let Ok((200, body)) = status {
                if body["bot"]["phase"] == "running" {
                    return;
                }
            }
            assert!(
                started.elapsed() < BOT_READY_WITHIN,
                "the bot was not running within {BOT_READY_WITHIN:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The bot's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// SIGTERM, then its exit status (bounded).
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        super::wait_exit(&mut child, Duration::from_secs(20), "the bot", &self.log)
    }

    /// SIGKILL: no destructor runs.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// A memory figure of the bot from /proc/<pid>/status (`VmHWM`: peak resident set,
    /// `RssAnon`: resident heap and stacks), in KiB.
    pub fn rss_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// What the bot logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A JSON request to this bot (with its `Authorization`), which must be answered; the
    /// status and the JSON.
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let authorization = self.authorization.as_deref();
        super::http::json(self.addr, method, path, body, authorization).unwrap()
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("bot log:\n{}", self.log_text());
        }
    }
}

/// Waits (bounded) until `GET /sms/{id}` reports a finished state; returns the record.
pub fn wait_finished(bot: &Bot, id: &str, bound: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = bot.http("GET", &format!("/sms/{id}"), None);
        assert_eq!(status, 200, "{body}");
        if body["state"] == "sent" || body["state"] == "failed" {
            return body;
        }
        assert!(
            started.elapsed() < bound,
            "SMS {id} still {} after {bound:?}; log:\n{}",
            body["state"],
            bot.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
