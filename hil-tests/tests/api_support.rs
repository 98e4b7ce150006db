//! Shared by the API scenarios (included with `#[path]`): a `sim7600 voice-bot` running on
//! the rig (its smsd driven through the rig's scripts, its queue, call log and markers in
//! the rig's folder, its API on a free loopback port), and a minimal HTTP/1.1 client that
//! speaks bytes, so the scenarios see exactly what a `curl` would.
#![allow(dead_code, clippy::unwrap_used)]

#[path = "handoff_support.rs"]
mod handoff;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hil_tests::Rig;
use serde_json::Value;

#[allow(unused_imports)]
pub use handoff::{commands_backend, marker_dir, markers, q, sim7600, start_smsd, write_config};

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
    let handoff = commands_backend(rig.smsd().unwrap());
    let tables = format!(
        "{handoff}\n[sms]\nqueue_dir = {}\n\n[bot]\ncall_log = {}\n\n{extra}\n",
        q(&queue_dir(rig)),
        q(&call_log(rig)),
    );
    write_config(rig, &tables)
}

/// A free loopback address (the port is released again; the bot binds it at once).
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
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
            if let Ok((200, body)) = try_http(self.addr, "GET", "/status", None, authorization) {
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
        wait_exit(&mut child, Duration::from_secs(20), &self.log)
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

    /// `GET`/`POST` against this bot.
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        try_http(self.addr, method, path, body, self.authorization.as_deref()).unwrap()
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

fn wait_exit(child: &mut Child, bound: Duration, log: &Path) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            panic!(
                "the bot did not exit within {bound:?}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One request with `Connection: close`; the status and the JSON body.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    try_http(addr, method, path, body, None).unwrap()
}

/// Raw request bytes → (status, head, body text).
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> std::io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(raw)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, head.to_owned(), body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// A request with optional body and `Authorization` header.
pub fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    authorization: Option<&str>,
) -> std::io::Result<(u16, Value)> {
    let body = body.unwrap_or("");
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, _, text) = exchange(addr, raw.as_bytes())?;
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, value))
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
