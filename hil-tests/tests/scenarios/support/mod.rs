//! What the scenarios share.
//! - [`cli`]: a config for the `sim7600` CLI on the rig's port and smsd, running the CLI,
//!   holding the port with `sim7600 hold`.
//! - [`bot`]: `sim7600 voice-bot` with its API port in its config, its files in the rig,
//!   bounded waits on what its API reports.
//! - [`api`]: `sim7600 voice-bot --listen ADDR` for the API scenarios, with the rig's smsd
//!   behind its handoff.
//! - [`http`]: every request of the scenarios, through the rig's one HTTP client.
//! - [`web`]: small HTTP servers standing in for the web services the bot calls
//!   (webhook and status-callback receivers, a TwiML web app).
//! - [`audio`]: the host's side of the AT port, an answered call with USB audio, WAVs.
//! - [`mqtt`]: a real mosquitto and a recording MQTT client.
//!
//! And here: what several of them need (TOML quoting, the smsd backend, free ports, the
//! wait for a process's exit).

pub mod api;
pub mod audio;
pub mod bot;
pub mod cli;
pub mod http;
pub mod mqtt;
pub mod web;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use hil_tests::Smsd;

/// TOML quoting for a path.
pub fn q(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// The `[handoff]` table that drives the rig's real smsd through its scripts (the
/// "custom commands" backend).
pub fn smsd_backend(smsd: &Smsd) -> String {
    let s = smsd.scripts();
    format!(
        "[handoff]\nbackend = \"commands\"\nstop = [{}]\nstart = [{}]\nstatus = [{}]\n",
        q(&s.stop),
        q(&s.start),
        q(&s.status)
    )
}

/// A free loopback address (the port is released again; whoever is given it binds it at
/// once).
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    free_addr().port()
}

/// Waits (bounded) until `child` exits; its status. Past `within`, kills it and panics
/// saying `what` did not exit, with `log` (what it logged).
pub fn wait_exit(child: &mut Child, within: Duration, what: &str, log: &Path) -> ExitStatus {
    let end = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not exit within {within:?}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
