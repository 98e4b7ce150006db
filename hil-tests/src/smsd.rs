//! A real smsd from Debian's smstools, hermetic: its own config, pid file, info file, log,
//! spool folders and suspend file in a folder of the rig, running as the current user.
//! This module owns that smsd: it starts it (as a child of the test, or through the
//! generated `start` script as a daemon, the way an init system would), stops it and
//! waits until it has gone, and writes the `start`/`stop`/`status` scripts that a handoff
//! "custom command" backend runs. Whatever it started is stopped when it is dropped.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::error::RigError;
use crate::wait::{process_alive, wait_for, wait_for_file_named, wait_until_exited};

/// The modem's name in smsd.conf (`devices = GSM1`), which names incoming files and the
/// suspend line (`GSM1: <reason>`).
pub const DEVICE_NAME: &str = "GSM1";
/// How long `stop` waits for smsd to exit after SIGTERM before it uses SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `start` waits for smsd to write its pid file.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What to tell a person whose machine has no smsd.
pub const INSTALL_HINT: &str = "install Debian's smstools: apt-get install smstools";

/// The smsd binary: the first `smsd` on PATH, else /usr/sbin/smsd.
///
/// # Panics
/// When neither exists, with [`INSTALL_HINT`]: the rig never skips for a missing smsd.
pub fn smsd_path() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("smsd"))
            .find(|p| p.is_file())
    });
    let path = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/smsd"));
    assert!(
        path.is_file(),
        "smsd not found on PATH nor at /usr/sbin/smsd: {INSTALL_HINT}"
    );
    path
}

/// The generated control scripts (run them directly: argv, no shell needed by callers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsdScripts {
    /// Starts smsd as a daemon, returns once its pid file names a live process; exits 0
    /// at once when it already runs.
    pub start: PathBuf,
    /// SIGTERM, then waits until smsd has exited (and with it its modem process, which
    /// closes the port); exits 0 when it was not running.
    pub stop: PathBuf,
    /// Exits 0 when smsd runs, 3 when it does not (as LSB init scripts do).
    pub status: PathBuf,
}

/// One hermetic smsd.
#[derive(Debug)]
pub struct Smsd {
    dir: PathBuf,
    port: PathBuf,
    binary: PathBuf,
    child: Option<Child>,
    scripts: SmsdScripts,
    /// More modems beside GSM1: (device name, port).
    more: Vec<(String, PathBuf)>,
}

fn write(path: &Path, text: &str) -> Result<(), RigError> {
    std::fs::write(path, text).map_err(RigError::io("cannot write", path))
}

impl Smsd {
    /// Writes the config, folders and scripts of an smsd for `port` into `dir` (created),
    /// without starting it.
    ///
    /// # Panics
    /// When smsd is not installed (see [`smsd_path`]).
    pub fn prepare(dir: &Path, port: &Path) -> Result<Smsd, RigError> {
        let binary = smsd_path();
        for sub in ["", "outgoing", "checked", "failed", "incoming", "sent"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(RigError::io("cannot create", &d))?;
        }
        let scripts = SmsdScripts {
            start: dir.join("start"),
            stop: dir.join("stop"),
            status: dir.join("status"),
        };
        let smsd = Smsd {
            dir: dir.to_path_buf(),
            port: port.to_path_buf(),
            binary,
            child: None,
            scripts,
            more: Vec::new(),
        };
        write(&smsd.conf(), &smsd.config_text())?;
        smsd.write_scripts()?;
        Ok(smsd)
    }

    /// Adds a modem `name` on `port` (`devices = GSM1, <name>`), rewriting the config;
    /// call before starting smsd.
    pub fn add_device(&mut self, name: &str, port: &Path) -> Result<(), RigError> {
        self.more.push((name.to_owned(), port.to_path_buf()));
        write(&self.conf(), &self.config_text())
    }

    /// The folder everything of this smsd lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// smsd.conf.
    pub fn conf(&self) -> PathBuf {
        self.dir.join("smsd.conf")
    }
    /// The pid file (`-p`).
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("smsd.pid")
    }
    /// The info file (`-i`).
    pub fn info_file(&self) -> PathBuf {
        self.dir.join("smsd.working")
    }
    /// The log (loglevel 7: every AT command).
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("smsd.log")
    }
    /// The suspend file (`suspend =`): a line `GSM1: <reason>` makes smsd close the port.
    pub fn suspend_file(&self) -> PathBuf {
        self.dir.join("suspend")
    }
    /// outgoing/: drop a message file here to send it.
    pub fn outgoing(&self) -> PathBuf {
        self.dir.join("outgoing")
    }
    /// incoming/: received messages.
    pub fn incoming(&self) -> PathBuf {
        self.dir.join("incoming")
    }
    /// sent/: messages sent.
    pub fn sent(&self) -> PathBuf {
        self.dir.join("sent")
    }
    /// failed/: messages that could not be sent.
    pub fn failed(&self) -> PathBuf {
        self.dir.join("failed")
    }
    /// checked/: messages waiting for the modem.
    pub fn checked(&self) -> PathBuf {
        self.dir.join("checked")
    }
    /// The port this smsd uses.
    pub fn port(&self) -> &Path {
        &self.port
    }
    /// The generated start/stop/status scripts.
    pub fn scripts(&self) -> &SmsdScripts {
        &self.scripts
    }

    /// Rewrites smsd.conf with `global` lines added before the modem's section and
    /// `modem` lines added to it (a user's own keys: `eventhandler`, `report`, `init2`,
    /// ...). Takes effect at smsd's next start.
    pub fn add_config(&self, global: &str, modem: &str) -> Result<(), RigError> {
        let base = self.config_text();
        let section = format!("[{DEVICE_NAME}]\n");
        let text = match base.split_once(&section) {
            Some((head, tail)) => format!("{head}{global}\n{section}{tail}{modem}\n"),
            None => format!("{base}{global}\n{modem}\n"),
        };
        write(&self.conf(), &text)
    }

    /// The log so far (empty when there is none yet).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    fn config_text(&self) -> String {
        let d = self.dir.display();
        // SMSTOOLS.md "A fast smsd for tests", plus the suspend file. No `user =`/`group =`:
        // smsd then runs as whoever starts it (root included) and never switches user.
        let names: String = self.more.iter().map(|(n, _)| format!(", {n}")).collect();
        let sections: String = self
            .more
            .iter()
            .map(|(n, p)| {
                format!(
                    "\n[{n}]\ndevice = {}\nincoming = yes\nbaudrate = 115200\nmemory_start = 0\n\
                     device_open_retries = -1\ndevice_open_errorsleeptime = 1\n",
                    p.display()
                )
            })
            .collect();
        format!(
            "devices = {DEVICE_NAME}{names}\n\
             outgoing = {d}/outgoing\n\
             checked = {d}/checked\n\
             failed = {d}/failed\n\
             incoming = {d}/incoming\n\
             sent = {d}/sent\n\
             logfile = {d}/smsd.log\n\
             loglevel = 7\n\
             delaytime = 1\n\
             delaytime_mainprocess = 1\n\
             errorsleeptime = 1\n\
             blocktime = 10\n\
             suspend = {d}/suspend\n\
             \n\
             [{DEVICE_NAME}]\n\
             device = {port}\n\
             incoming = yes\n\
             baudrate = 115200\n\
             memory_start = 0\n\
             device_open_retries = -1\n\
             device_open_errorsleeptime = 1\n{sections}",
            port = self.port.display()
        )
    }

    fn write_scripts(&self) -> Result<(), RigError> {
        let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
        let common = format!(
            "#!/bin/sh\n\
             # Generated by hil-tests for the smsd configured in {conf}.\n\
             PIDFILE={pid}\n\
             pid_alive() {{\n\
             \x20   [ -r /proc/\"$1\"/stat ] || return 1\n\
             \x20   # A zombie has exited; it only waits to be reaped.\n\
             \x20   state=$(sed 's/.*) //' /proc/\"$1\"/stat | cut -d' ' -f1)\n\
             \x20   [ \"$state\" != Z ] && [ \"$state\" != X ]\n\
             }}\n\
             alive() {{\n\
             \x20   pid=$(cat \"$PIDFILE\" 2>/dev/null) || return 1\n\
             \x20   [ -n \"$pid\" ] && pid_alive \"$pid\"\n\
             }}\n",
            conf = self.conf().display(),
            pid = q(&self.pid_file()),
        );
        let start = format!(
            "{common}\
             alive && exit 0\n\
             rm -f \"$PIDFILE\"\n\
             {bin} -c {conf} -p \"$PIDFILE\" -i {info} >>{out} 2>&1 </dev/null || exit 1\n\
             i=0\n\
             while ! alive; do\n\
             \x20   i=$((i + 1))\n\
             \x20   [ $i -gt {tries} ] && {{ echo \"smsd did not start; see {log}\" >&2; exit 1; }}\n\
             \x20   sleep 0.05\n\
             done\n\
             exit 0\n",
            bin = q(&self.binary),
            conf = q(&self.conf()),
            info = q(&self.info_file()),
            out = q(&self.dir.join("smsd.out")),
            log = self.log_file().display(),
            tries = START_TIMEOUT.as_millis() / 50,
        );
        let stop = format!(
            "{common}\
             alive || exit 0\n\
             kill -TERM \"$pid\" 2>/dev/null\n\
             # Follow the process, not the pid file: smsd removes that before it is gone.\n\
             i=0\n\
             while pid_alive \"$pid\"; do\n\
             \x20   i=$((i + 1))\n\
             \x20   if [ $i -gt {tries} ]; then\n\
             \x20       echo \"smsd $pid ignored SIGTERM for {secs} s; killing it\" >&2\n\
             \x20       kill -KILL -- -\"$pid\" \"$pid\" 2>/dev/null\n\
             \x20       exit 1\n\
             \x20   fi\n\
             \x20   sleep 0.05\n\
             done\n\
             exit 0\n",
            tries = STOP_TIMEOUT.as_millis() / 50,
            secs = STOP_TIMEOUT.as_secs(),
        );
        let status = format!("{common}alive && exit 0\nexit 3\n");
        for (path, text) in [
            (&self.scripts.start, start),
            (&self.scripts.stop, stop),
            (&self.scripts.status, status),
        ] {
            write(path, &text)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                .map_err(RigError::io("cannot make executable", path))?;
        }
        Ok(())
    }

    fn fail(&self, problem: impl Into<String>) -> RigError {
        RigError::Smsd {
            conf: self.conf(),
            problem: problem.into(),
        }
    }

    /// The pid of the running smsd main process, if it runs.
    pub fn pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        process_alive(pid).then_some(pid)
    }

    /// Whether smsd runs (however it was started).
    pub fn is_running(&self) -> bool {
        self.pid().is_some()
    }

    /// Starts smsd as a child of this process (`-t`: in the foreground, in its own process
    /// group so that stopping it also reaches its modem process), and waits for its pid
    /// file. Does nothing when it already runs.
    pub fn start(&mut self) -> Result<(), RigError> {
        self.reap();
        if self.is_running() {
            return Ok(());
        }
        let _ = std::fs::remove_file(self.pid_file());
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("smsd.out"))
            .map_err(RigError::io("cannot open", self.dir.join("smsd.out")))?;
        let err = out
            .try_clone()
            .map_err(RigError::io("cannot open", self.dir.join("smsd.out")))?;
        let child = Command::new(&self.binary)
            .arg("-t")
            .arg("-c")
            .arg(self.conf())
            .arg("-p")
            .arg(self.pid_file())
            .arg("-i")
            .arg(self.info_file())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| self.fail(format!("cannot run {}: {e}", self.binary.display())))?;
        self.child = Some(child);
        wait_for("smsd to write its pid file", START_TIMEOUT, || {
            self.pid().map(|_| ())
        })
        .map_err(|e| self.fail(format!("{e}; log:\n{}", self.log())))
    }

    /// Starts smsd through the generated `start` script, as a daemon.
    pub fn start_with_script(&mut self) -> Result<(), RigError> {
        run_script(&self.scripts.start).map_err(|p| self.fail(p))
    }

    /// Stops smsd (however it was started) and waits until it and its modem process have
    /// exited. Does nothing when it does not run.
    pub fn stop(&mut self) -> Result<(), RigError> {
        if let Some(pid) = self.pid() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            self.reap_while_waiting(pid, STOP_TIMEOUT).or_else(|_| {
                // smsd leads its own process group (daemon: setsid; child: process_group).
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                self.reap_while_waiting(pid, Duration::from_secs(2))
                    .map_err(|e| {
                        self.fail(format!("did not exit after SIGTERM and SIGKILL: {e}"))
                    })?;
                Err(self.fail(format!("ignored SIGTERM for {STOP_TIMEOUT:?}; killed")))
            })?;
        }
        self.reap();
        Ok(())
    }

    /// The status of the generated `status` script (0 running, 3 not).
    pub fn script_status(&self) -> Result<i32, RigError> {
        let status = run_written_script(|| Command::new(&self.scripts.status).status())
            .map_err(RigError::io("cannot run", &self.scripts.status))?;
        status
            .code()
            .ok_or_else(|| self.fail("the status script was killed by a signal"))
    }

    fn reap_while_waiting(&mut self, pid: i32, timeout: Duration) -> Result<(), RigError> {
        let is_child = self.child.as_ref().is_some_and(|c| c.id() as i32 == pid);
        if is_child {
            let result = wait_for(format!("smsd {pid} to exit"), timeout, || {
                self.child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                    .map(|_| ())
            });
            if result.is_ok() {
                self.child = None;
            }
            result
        } else {
            wait_until_exited(pid, timeout)
        }
    }

    fn reap(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if c.try_wait().ok().flatten().is_some() {
                self.child = None;
            }
        }
    }

    /// The received messages in incoming/ (`GSM1.*`, no `.LOCK`), sorted by name.
    pub fn incoming_files(&self) -> Vec<PathBuf> {
        incoming_files(&self.incoming())
    }

    /// Waits for a received message in incoming/ (a complete `GSM1.*` file; smsd also
    /// keeps the parts of unfinished concatenated messages there, in `GSM1-concatenated`).
    pub fn wait_for_incoming(&self, timeout: Duration) -> Result<(PathBuf, SpoolFile), RigError> {
        let prefix = format!("{DEVICE_NAME}.");
        let path = wait_for_file_named(&self.incoming(), timeout, |n| n.starts_with(&prefix))?;
        let file = SpoolFile::read(&path)?;
        Ok((path, file))
    }

    /// Waits until the message queued as `name` has been sent (it is in sent/).
    pub fn wait_for_sent(&self, name: &str, timeout: Duration) -> Result<SpoolFile, RigError> {
        let path = wait_for_file_named(&self.sent(), timeout, |n| n == name)?;
        SpoolFile::read(&path)
    }

    /// Writes a message for `to` into outgoing/ the way a program hands smsd a message:
    /// written under a hidden name, then renamed, so smsd never reads half a file.
    pub fn queue_sms(&self, name: &str, to: &str, text: &str) -> Result<PathBuf, RigError> {
        let tmp = self.outgoing().join(format!(".{name}"));
        let path = self.outgoing().join(name);
        write(&tmp, &format!("To: {to}\n\n{text}\n"))?;
        std::fs::rename(&tmp, &path).map_err(RigError::io("cannot rename into", &path))?;
        Ok(path)
    }
}

/// Runs one of the rig's scripts (`run`: its spawn), again while the kernel says the file is
/// busy. The scripts are written when the rig starts; a child that another test thread forks
/// while one of them is open for writing keeps a copy of that descriptor until it execs, and
/// until then running the script fails with ETXTBSY ("Text file busy"). That lasts as long as
/// a fork and an exec, so a second is ample.
fn run_written_script<T>(mut run: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match run() {
            Err(e)
                if e.kind() == std::io::ErrorKind::ExecutableFileBusy
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn run_script(path: &Path) -> Result<(), String> {
    let out = run_written_script(|| Command::new(path).output())
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}): {}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Drop for Smsd {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("hil-tests: {e}");
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A parsed smsd spool file: headers in order, then the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolFile {
    /// `Name: value` headers in file order.
    pub headers: Vec<(String, String)>,
    /// The text after the blank line, decoded by its `Alphabet:` header (UCS2: UTF-16
    /// big-endian; ISO or GSM: ISO-8859-15; otherwise UTF-8, or Latin-1 if not UTF-8).
    pub text: String,
    /// The text's bytes as they are in the file.
    pub body: Vec<u8>,
}

/// ISO-8859-15 differs from Latin-1 in eight places.
fn iso_8859_15(b: u8) -> char {
    match b {
        0xA4 => '€',
        0xA6 => 'Š',
        0xA8 => 'š',
        0xB4 => 'Ž',
        0xB8 => 'ž',
        0xBC => 'Œ',
        0xBD => 'œ',
        0xBE => 'Ÿ',
        _ => char::from(b),
    }
}

impl SpoolFile {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<SpoolFile, RigError> {
        let raw = std::fs::read(path).map_err(RigError::io("cannot read", path))?;
        let split = raw.windows(2).position(|w| w == b"\n\n");
        let (head, body) = match split {
            Some(i) => (raw.get(..i).unwrap_or(&[]), raw.get(i + 2..).unwrap_or(&[])),
            None => (raw.as_slice(), &[][..]),
        };
        let headers: Vec<(String, String)> = head
            .split(|&b| b == b'\n')
            .map(|l| l.iter().map(|&b| iso_8859_15(b)).collect::<String>())
            .filter_map(|l| {
                l.split_once(':')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            })
            .collect();
        let alphabet = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Alphabet"))
            .map(|(_, v)| v.to_ascii_uppercase());
        let text = match alphabet.as_deref() {
            Some("UCS2" | "UCS-2" | "UNICODE") => {
                let units: Vec<u16> = body
                    .chunks(2)
                    .map(|p| {
                        u16::from_be_bytes([
                            p.first().copied().unwrap_or(0),
                            p.get(1).copied().unwrap_or(0),
                        ])
                    })
                    .collect();
                String::from_utf16_lossy(&units)
            }
            Some("ISO" | "GSM" | "ISO-8859-15") => body.iter().map(|&b| iso_8859_15(b)).collect(),
            _ => match std::str::from_utf8(body) {
                Ok(s) => s.to_string(),
                Err(_) => body.iter().map(|&b| char::from(b)).collect(),
            },
        };
        Ok(SpoolFile {
            headers,
            text,
            body: body.to_vec(),
        })
    }

    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The received messages in an incoming folder `dir` (`GSM1.*` files, not their `.LOCK`s),
/// sorted by name; none when the folder cannot be read.
pub fn incoming_files(dir: &Path) -> Vec<PathBuf> {
    let prefix = format!("{DEVICE_NAME}.");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        n.starts_with(&prefix) && !n.ends_with(".LOCK")
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incoming_file_as_smstools_writes_it_parses_into_headers_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("GSM1.abc");
        std::fs::write(
            &path,
            "From: 31641600986\nFrom_TOA: 91 international, ISDN/telephone\n\
             Sent: 02-08-26 19:37:41\nAlphabet: ISO\nLength: 12\n\nHow are you?",
        )
        .unwrap();
        let f = SpoolFile::read(&path).unwrap();
        assert_eq!(f.header("from"), Some("31641600986"));
        assert_eq!(f.header("Sent"), Some("02-08-26 19:37:41"));
        assert_eq!(f.header("Subject"), None);
        assert_eq!(f.text, "How are you?");
    }

    #[test]
    fn text_is_decoded_by_the_alphabet_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("GSM1.x");
        std::fs::write(&path, b"From: 1\nAlphabet: ISO\n\nGr\xFC\xDFe \xA4").unwrap();
        assert_eq!(SpoolFile::read(&path).unwrap().text, "Grüße €");
        std::fs::write(
            &path,
            b"From: 1\nAlphabet: UCS2\n\n\x00G\x00r\xD8\x3D\xDE\x00",
        )
        .unwrap();
        assert_eq!(SpoolFile::read(&path).unwrap().text, "Gr😀");
        std::fs::write(&path, "To: 1\n\nGrüße\n").unwrap();
        assert_eq!(SpoolFile::read(&path).unwrap().text, "Grüße\n");
    }

    #[test]
    fn the_prepared_config_is_hermetic_and_names_the_suspend_file_and_port() {
        let dir = tempfile::tempdir().unwrap();
        let smsd = Smsd::prepare(&dir.path().join("smsd"), Path::new("/tmp/x/ttyUSB2")).unwrap();
        let conf = std::fs::read_to_string(smsd.conf()).unwrap();
        assert!(conf.contains(&format!("suspend = {}", smsd.suspend_file().display())));
        assert!(conf.contains("device = /tmp/x/ttyUSB2"));
        assert!(conf.contains("delaytime = 1\n"));
        assert!(!conf.contains("user ="), "smsd must not switch user");
        for dir in [
            smsd.outgoing(),
            smsd.incoming(),
            smsd.sent(),
            smsd.failed(),
            smsd.checked(),
        ] {
            assert!(
                dir.is_dir() && dir.starts_with(smsd.dir()),
                "{}",
                dir.display()
            );
        }
        for script in [
            &smsd.scripts().start,
            &smsd.scripts().stop,
            &smsd.scripts().status,
        ] {
            let mode = std::fs::metadata(script).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "{} is executable", script.display());
        }
        assert!(!smsd.is_running());
    }

    #[test]
    fn a_script_still_open_for_writing_is_busy_and_runs_once_it_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("start");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // What a sibling child forked mid-write holds: a descriptor open for writing.
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&script)
            .unwrap();
        let busy = Command::new(&script).status().unwrap_err();
        assert_eq!(
            busy.kind(),
            std::io::ErrorKind::ExecutableFileBusy,
            "{busy}"
        );
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(writer);
        });
        let status = run_written_script(|| Command::new(&script).status()).unwrap();
        assert!(status.success());
        closer.join().unwrap();
    }
}
