//! What the audio scenarios share: the host's side of the AT port, a simulator with an
//! audio port and an answered call with USB audio on, a WAV writer, a bounded wait.
#![allow(clippy::unwrap_used, dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use host_linux::audio::{AudioConfig, PcmStep};
use modem_sim::{SimConfig, SimHandle, Simulator};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// The longest any step waits.
pub const WAIT: Duration = Duration::from_secs(5);

/// The host's side of the AT port: raw bytes, bounded waits.
pub struct AtPort {
    pub file: File,
    seen: Vec<u8>,
}

impl AtPort {
    pub fn open(path: &Path) -> AtPort {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NOCTTY.bits())
            .open(path)
            .unwrap();
        AtPort {
            file,
            seen: Vec::new(),
        }
    }

    /// Waits for the first of `needles`; returns which one came.
    pub fn expect_any(&mut self, needles: &[&str]) -> usize {
        let end = Instant::now() + WAIT;
        loop {
            let seen = String::from_utf8_lossy(&self.seen).into_owned();
            if let Some(i) = needles.iter().position(|n| seen.contains(n)) {
                self.seen.clear();
                return i;
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "waited {WAIT:?} for {needles:?}, got {seen:?}"
            );
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::try_from(left).unwrap()).unwrap() == 0 {
                continue;
            }
            let mut buf = [0u8; 1024];
            let n = self.file.read(&mut buf).unwrap();
            self.seen.extend_from_slice(&buf[..n]);
        }
    }

    /// Waits until every one of `needles` was seen, in any order, then forgets what was seen.
    pub fn expect_all(&mut self, needles: &[&str]) {
        let end = Instant::now() + WAIT;
        loop {
            let seen = String::from_utf8_lossy(&self.seen).into_owned();
            if needles.iter().all(|n| seen.contains(n)) {
                self.seen.clear();
                return;
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "waited {WAIT:?} for all of {needles:?}, got {seen:?}"
            );
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::try_from(left).unwrap()).unwrap() == 0 {
                continue;
            }
            let mut buf = [0u8; 1024];
            let n = self.file.read(&mut buf).unwrap();
            self.seen.extend_from_slice(&buf[..n]);
        }
    }

    pub fn expect(&mut self, needle: &str) {
        self.expect_any(&[needle]);
    }

    /// Sends `line`; whether the modem answered OK (rather than an error).
    pub fn try_command(&mut self, line: &str) -> bool {
        self.file.write_all(format!("{line}\r").as_bytes()).unwrap();
        self.expect_any(&["OK\r\n", "ERROR"]) == 0
    }

    pub fn command(&mut self, line: &str) {
        self.file.write_all(format!("{line}\r").as_bytes()).unwrap();
        self.expect("OK\r\n");
    }
}

/// A simulator with an audio port; the host has the AT port open with echo off and
/// holds the audio port open.
pub struct Call {
    /// The folder of the links (removed with the call).
    pub dir: tempfile::TempDir,
    pub sim: SimHandle,
    pub at: AtPort,
    pub audio: File,
    /// From VOICE CALL: BEGIN to the OK of AT+CPCMREG=1.
    pub answer_to_audio: Duration,
}

/// The caller rings, the host answers, waits the 100 ms the SIM7600 needs and turns
/// on USB audio, as the bot does on VOICE CALL: BEGIN.
pub fn answered_call(dir: tempfile::TempDir) -> Call {
    let audio_link = dir.path().join("ttyUSB4");
    let sim = Simulator::start(SimConfig {
        link: Some(dir.path().join("ttyUSB2")),
        audio_link: Some(audio_link.clone()),
        behaviour: hil_tests::profile::current().unwrap().behaviour(),
        ..SimConfig::default()
    })
    .unwrap();
    let mut at = AtPort::open(&sim.port());
    at.expect("PB DONE");
    at.command("ATE0");
    let audio = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NOCTTY.bits())
        .open(&audio_link)
        .unwrap();
    sim.call("+491761234567", false, Some(Duration::from_secs(10)))
        .unwrap();
    at.expect("RING");
    at.file.write_all(b"ATA\r").unwrap();
    // BEGIN comes after ATA's OK on the simulator's own way, before it on a real modem's:
    // both are awaited, so no OK of ATA is left to be taken for AT+CPCMREG's.
    at.expect_all(&["VOICE CALL: BEGIN", "OK\r\n"]);
    let answered = Instant::now();
    // When to send AT+CPCMREG=1 is the audio session's call, as it is for the bot.
    let mut activation = AudioConfig::default().activation(answered);
    loop {
        match activation.step(Instant::now()) {
            PcmStep::WaitUntil(t) => {
                std::thread::sleep(t.saturating_duration_since(Instant::now()))
            }
            PcmStep::Send => {
                let ok = at.try_command("AT+CPCMREG=1");
                activation.answered(ok, Instant::now());
            }
            PcmStep::Active => break,
            PcmStep::GaveUp { attempts } => panic!("AT+CPCMREG=1 failed {attempts} times"),
        }
    }
    Call {
        dir,
        sim,
        at,
        audio,
        answer_to_audio: answered.elapsed(),
    }
}

/// A WAV file of a sine: 16-bit PCM, any rate and channel count (a minimal writer, so
/// the rig needs no WAV crate of its own).
pub fn write_sine_wav(path: &Path, rate: u32, channels: u16, hz: f64, seconds: f64) {
    let n = (f64::from(rate) * seconds) as u32;
    let data_len = n * u32::from(channels) * 2;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    b.extend_from_slice(&(channels * 2).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..n {
        let v = 0.5 * (2.0 * std::f64::consts::PI * hz * f64::from(i) / f64::from(rate)).sin();
        for _ in 0..channels {
            b.extend_from_slice(&((v * 32767.0) as i16).to_le_bytes());
        }
    }
    std::fs::write(path, b).unwrap();
}

pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < end, "waited {WAIT:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
