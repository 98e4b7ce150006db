//! A client that speaks only bytes to the simulated port, the way a host program does:
//! it opens the tty raw, writes AT lines and waits (with poll, bounded) for bytes.
#![allow(clippy::unwrap_used, dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use modem_sim::{SimConfig, SimHandle, Simulator};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

/// The longest any test waits for an expected reply.
pub const WAIT: Duration = Duration::from_secs(5);

/// A host's side of the port.
pub struct Port {
    file: File,
    buf: Vec<u8>,
}

impl Port {
    /// Opens the port raw, as smsd does (O_NOCTTY, non-blocking).
    pub fn open(path: &Path) -> Port {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc_flags())
            .open(path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let mut t = tcgetattr(&file).unwrap();
        cfmakeraw(&mut t);
        tcsetattr(&file, SetArg::TCSANOW, &t).unwrap();
        Port {
            file,
            buf: Vec::new(),
        }
    }

    /// Writes raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.file.write_all(bytes).unwrap();
    }

    /// Writes `line` and the carriage return that ends an AT command.
    pub fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\r").as_bytes());
    }

    /// Reads whatever arrives within `d` (or until `stop` is true of what was read).
    fn fill(&mut self, d: Duration, stop: impl Fn(&[u8]) -> bool) -> std::io::Result<()> {
        let end = Instant::now() + d;
        while !stop(&self.buf) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
            let ms = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            poll(&mut fds, ms).map_err(std::io::Error::from)?;
            let mut chunk = [0u8; 4096];
            match self.file.read(&mut chunk) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Everything up to and including `needle`, waiting at most [`WAIT`] for it.
    pub fn expect(&mut self, needle: &str) -> String {
        let n = needle.as_bytes().to_vec();
        let found = |b: &[u8]| b.windows(n.len()).any(|w| w == n.as_slice());
        let _ = self.fill(WAIT, found);
        let Some(pos) = self.buf.windows(n.len()).position(|w| w == n.as_slice()) else {
            panic!(
                "waited {WAIT:?} for {needle:?}, got {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let taken: Vec<u8> = self.buf.drain(..pos + n.len()).collect();
        String::from_utf8_lossy(&taken).into_owned()
    }

    /// Sends `line` and returns the reply through its final result (`OK`, `ERROR`,
    /// `+CME ERROR: ..`, `+CMS ERROR: ..`, `NO CARRIER`, or the SMS prompt `> `); what
    /// follows the final result stays for the next read.
    pub fn at(&mut self, line: &str) -> String {
        self.send(line);
        let _ = self.fill(WAIT, |b| final_end(b).is_some());
        let Some(end) = final_end(&self.buf) else {
            panic!(
                "no final result for {line:?} within {WAIT:?}: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let taken: Vec<u8> = self.buf.drain(..end).collect();
        String::from_utf8_lossy(&taken).into_owned()
    }

    /// Everything that arrives within `d`.
    pub fn read_for(&mut self, d: Duration) -> String {
        let _ = self.fill(d, |_| false);
        String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned()
    }

    /// Raw bytes that arrive within `d`.
    pub fn read_bytes_for(&mut self, d: Duration) -> Vec<u8> {
        let _ = self.fill(d, |_| false);
        std::mem::take(&mut self.buf)
    }

    /// Reads until an error or EOF within `d`; the error, if one came.
    pub fn read_error_within(&mut self, d: Duration) -> Option<std::io::Error> {
        self.fill(d, |_| false).err()
    }
}

/// Where the first final result in `b` ends, if one is complete.
fn final_end(b: &[u8]) -> Option<usize> {
    let s = String::from_utf8_lossy(b);
    let fixed = [
        "\r\nOK\r\n",
        "\r\nERROR\r\n",
        "\r\nNO CARRIER\r\n",
        "\r\n> ",
    ]
    .iter()
    .filter_map(|f| s.find(f).map(|i| i + f.len()));
    let coded = ["\r\n+CME ERROR: ", "\r\n+CMS ERROR: "]
        .iter()
        .filter_map(|f| {
            let i = s.find(f)? + f.len();
            s[i..].find("\r\n").map(|j| i + j + 2)
        });
    fixed.chain(coded).min()
}

fn libc_flags() -> i32 {
    nix::fcntl::OFlag::O_NOCTTY.bits() | nix::fcntl::OFlag::O_NONBLOCK.bits()
}

/// A simulator with `config`, and a host that has read the start-up lines and sent ATE0.
pub fn started(config: SimConfig) -> (SimHandle, Port) {
    let sim = Simulator::start(config).unwrap();
    let mut port = Port::open(&sim.port());
    port.expect("PB DONE\r\n");
    assert_eq!(port.at("ATE0"), "ATE0\r\r\nOK\r\n");
    (sim, port)
}

/// [`started`] with the default configuration.
pub fn fresh() -> (SimHandle, Port) {
    started(SimConfig::default())
}
