//! api-bench: the voice bot's HTTP API under idle and slow connections, measured against a
//! live `sim7600 voice-bot` on the simulator (loopback only, bounded in time).
//!
//! It holds `--idle` connections that never send a byte (reopening any the bot closes,
//! so that many are open throughout) and `--slow` connections that send a request's head
//! one byte a second (a new one replacing each the bot closes), and meanwhile asks `GET
//! /status` every [`PROBE_EVERY`] on a fresh connection. Every second it prints the
//! bot's thread count and resident set and the `/status` latency of that second; at the
//! end the latency's p50 / p95 / p99 / max over the run, the thread count's range, the peak
//! resident set, and how long the slow connections lived before the bot closed them
//! (the head timeout, `[api] header_timeout_s`).
//!
//! `cargo run -p hil-tests --release --bin api-bench -- [--idle 300] [--slow 50]
//! [--seconds 30] [--sim7600 PATH]`. It runs the `sim7600` next to itself
//! (target/release/sim7600: `cargo build -p host-linux --release --bin sim7600` first)
//! unless `--sim7600` names another build.
#![forbid(unsafe_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hil_tests::{Rig, SimConfig, sim7600_bin};

/// How often `/status` is asked.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// How long the bot may take to report `running`.
const BOT_TIMEOUT: Duration = Duration::from_secs(30);
/// The bound on one `/status`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The slow clients' request head, sent one byte a second.
const SLOW_HEAD: &[u8] =
    b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: abcdefghijklmnopqrstuvwxyz\r\n\r\n";

#[derive(Debug)]
struct Options {
    idle: usize,
    slow: usize,
    seconds: u64,
    sim7600: Option<PathBuf>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        idle: 300,
        slow: 50,
        seconds: 30,
        sim7600: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} {value:?} is not a whole number"))
        };
        match flag.as_str() {
            "--idle" => options.idle = usize::try_from(number()?.min(2000)).unwrap_or(2000),
            "--slow" => options.slow = usize::try_from(number()?.min(500)).unwrap_or(500),
            "--seconds" => options.seconds = number()?.clamp(5, 600),
            "--sim7600" => options.sim7600 = Some(PathBuf::from(value)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn q(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// `GET /status` on a fresh connection: the status code and how long the answer took.
fn status(addr: SocketAddr) -> std::io::Result<(u16, Duration, String)> {
    let asked = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
    s.set_read_timeout(Some(PROBE_TIMEOUT))?;
    s.write_all(
        format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let took = asked.elapsed();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, took, text))
}

/// A figure of /proc/<pid>/status (`Threads`, `VmRSS`, `VmHWM`).
fn proc_status(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Whether the peer closed `s` (a read of 0 or an error other than "nothing yet").
fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut byte = [0u8; 64];
    match s.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

fn open_nonblocking(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Seen {
    idle_closed: AtomicUsize,
    slow_lifetimes: Mutex<Vec<Duration>>,
    /// Slow clients whose head was complete before the bot closed them (the timeout did
    /// not act).
    slow_completed: AtomicUsize,
}

/// Holds `n` idle connections until `stop`, reopening those the bot closes.
fn idle_clients(addr: SocketAddr, n: usize, seen: Arc<Seen>, stop: Arc<AtomicBool>) {
    let mut held: Vec<Option<TcpStream>> = (0..n).map(|_| open_nonblocking(addr)).collect();
    while !stop.load(Ordering::Relaxed) {
        for slot in &mut held {
            let gone = match slot {
                Some(s) => closed_by_peer(s),
                None => true,
            };
            if gone {
                if slot.is_some() {
                    seen.idle_closed.fetch_add(1, Ordering::Relaxed);
                }
                *slot = open_nonblocking(addr);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Keeps `n` connections sending [`SLOW_HEAD`] one byte a second until `stop`.
fn slow_clients(addr: SocketAddr, n: usize, seen: Arc<Seen>, stop: Arc<AtomicBool>) {
    let mut clients: Vec<Option<(TcpStream, Instant, usize)>> = (0..n)
        .map(|_| open_nonblocking(addr).map(|s| (s, Instant::now(), 0)))
        .collect();
    while !stop.load(Ordering::Relaxed) {
        for slot in &mut clients {
            let done = match slot {
                Some((s, since, sent)) => {
                    let wrote =
                        *sent < SLOW_HEAD.len() && s.write_all(&SLOW_HEAD[*sent..=*sent]).is_ok();
                    if wrote {
                        *sent += 1;
                    }
                    if closed_by_peer(s) || (!wrote && *sent < SLOW_HEAD.len()) {
                        if *sent >= SLOW_HEAD.len() {
                            seen.slow_completed.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Ok(mut lifetimes) = seen.slow_lifetimes.lock() {
                            lifetimes.push(since.elapsed());
                        }
                        true
                    } else {
                        false
                    }
                }
                None => true,
            };
            if done {
                *slot = open_nonblocking(addr).map(|s| (s, Instant::now(), 0));
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

struct Bot {
    child: Child,
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX)),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run() -> Result<(), String> {
    let options = parse_options().map_err(|e| {
        format!("{e}\nusage: api-bench [--idle N] [--slow N] [--seconds S] [--sim7600 PATH]")
    })?;
    let sim7600 = match &options.sim7600 {
        Some(p) => p.clone(),
        None => sim7600_bin().map_err(|e| e.to_string())?,
    };
    let mut rig = Rig::simulated(SimConfig::default()).map_err(|e| e.to_string())?;
    let scripts = rig.smsd().map_err(|e| e.to_string())?.scripts().clone();
    let port = free_port().map_err(|e| e.to_string())?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let dir = rig.dir().to_path_buf();
    let config = dir.join("api-bench.toml");
    let text = format!(
        "port = {}\nmarker_dir = {}\nvoice_config = {}\n\n\
         [handoff]\nbackend = \"commands\"\nstop = [{}]\nstart = [{}]\nstatus = [{}]\n\n\
         [bot]\nsmstools_conf = {}\ncall_log = {}\n\n[sms]\nqueue_dir = {}\n\n\
         [api]\nlisten = \"{addr}\"\n",
        q(rig.port()),
        q(&dir.join("markers")),
        q(&dir.join("voice_config.json")),
        q(&scripts.stop),
        q(&scripts.start),
        q(&scripts.status),
        q(&dir.join("smsd/smsd.conf")),
        q(&dir.join("calls.jsonl")),
        q(&dir.join("sms-queue")),
    );
    std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
    let log_path = dir.join("bot.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let child = Command::new(&sim7600)
        .arg("--config")
        .arg(&config)
        .arg("voice-bot")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", sim7600.display()))?;
    let pid = child.id();
    let bot = Bot { child };
    let started = Instant::now();
    loop {
        if let Ok((200, _, body)) = status(addr) {
            if body.contains("\"phase\":\"running\"") {
                break;
            }
        }
        if started.elapsed() > BOT_TIMEOUT {
            return Err(format!(
                "the bot was not running within {BOT_TIMEOUT:?}; its log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let threads_before = proc_status(pid, "Threads").unwrap_or(0);
    let rss_before = proc_status(pid, "VmRSS").unwrap_or(0);
    println!(
        "api-bench: {} on {addr} (pid {pid}): {} idle + {} slow connections for {} s; \
         before: {threads_before} threads, RSS {rss_before} KiB",
        sim7600.display(),
        options.idle,
        options.slow,
        options.seconds
    );

    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let idle = {
        let (seen, stop, n) = (Arc::clone(&seen), Arc::clone(&stop), options.idle);
        std::thread::spawn(move || idle_clients(addr, n, seen, stop))
    };
    let slow = {
        let (seen, stop, n) = (Arc::clone(&seen), Arc::clone(&stop), options.slow);
        std::thread::spawn(move || slow_clients(addr, n, seen, stop))
    };

    let mut all = Vec::new();
    let mut failures = 0usize;
    let mut not_200 = 0usize;
    let mut threads_seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(options.seconds);
    let mut second = 0;
    println!("  s  threads  RSS KiB  /status p50 ms  p99 ms  max ms  n  idle closed  slow closed");
    while Instant::now() < end {
        second += 1;
        let tick_end = Instant::now() + Duration::from_secs(1);
        let mut this = Vec::new();
        while Instant::now() < tick_end {
            match status(addr) {
                Ok((200, took, _)) => this.push(took),
                Ok((_, took, _)) => {
                    not_200 += 1;
                    this.push(took);
                }
                Err(_) => failures += 1,
            }
            std::thread::sleep(PROBE_EVERY);
        }
        let threads = proc_status(pid, "Threads").unwrap_or(0);
        threads_seen.push(threads);
        this.sort();
        println!(
            "{second:3}  {threads:7}  {:7}  {:>14}  {:>6}  {:>6}  {:2}  {:11}  {:11}",
            proc_status(pid, "VmRSS").unwrap_or(0),
            ms(percentile(&this, 50.0)),
            ms(percentile(&this, 99.0)),
            ms(this.last().copied().unwrap_or_default()),
            this.len(),
            seen.idle_closed.load(Ordering::Relaxed),
            seen.slow_lifetimes.lock().map_or(0, |l| l.len()),
        );
        all.extend(this);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = idle.join();
    let _ = slow.join();
    all.sort();
    let mut lifetimes = seen
        .slow_lifetimes
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    lifetimes.sort();
    println!(
        "/status: {} answers, p50 {} ms, p95 {} ms, p99 {} ms, max {} ms; {not_200} not 200, {failures} failed",
        all.len(),
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 95.0)),
        ms(percentile(&all, 99.0)),
        ms(all.last().copied().unwrap_or_default())
    );
    println!(
        "threads: {threads_before} before, {}..={} under load; peak RSS (VmHWM) {} KiB",
        threads_seen.iter().min().copied().unwrap_or(0),
        threads_seen.iter().max().copied().unwrap_or(0),
        proc_status(pid, "VmHWM").unwrap_or(0)
    );
    if lifetimes.is_empty() {
        println!(
            "slow connections: none was closed by the bot within {} s",
            options.seconds
        );
    } else {
        println!(
            "slow connections closed by the bot: {}, after {} / {} / {} s (min / median / max); {} had sent their whole head",
            lifetimes.len(),
            secs(lifetimes[0]),
            secs(percentile(&lifetimes, 50.0)),
            secs(lifetimes[lifetimes.len() - 1]),
            seen.slow_completed.load(Ordering::Relaxed)
        );
    }
    println!(
        "idle connections closed by the bot (and reopened): {}",
        seen.idle_closed.load(Ordering::Relaxed)
    );
    drop(bot);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("api-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
