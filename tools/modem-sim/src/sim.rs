//! The simulator's I/O: it owns the pseudo-terminal (and the `--link` symlink to it), the
//! control socket, the transcript and the one thread that drives the [`Modem`]. The
//! thread sleeps in poll(2) on the pty, the control socket and a wake-up pipe, with a
//! timeout for the modem's next timer: no busy-waiting. Each control connection gets a
//! thread that reads lines and hands them to the loop, so the modem has a single owner.
//! With `--audio-link` the same loop owns a second pty, the audio port: it wakes for the
//! next caller frame's deadline ([`AudioPort`]) and reads what the host plays.

use std::fs::File;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

use crate::audio::{AudioPort, AudioState, CallerSound};
use crate::config::SimConfig;
use crate::control::{ControlCommand, ControlError, MAX_CONTROL_LINE};
use crate::modem::{Modem, ModemState};
use crate::pdu::SmsTime;

/// Output for the host that may wait unread in the simulator (beyond the pty's own
/// buffer) before the oldest bytes are dropped, as a USB modem drops what nobody reads.
pub const MAX_PENDING_OUTPUT: usize = 65_536;
/// Bytes read from the pty at once.
pub const READ_CHUNK: usize = 4096;
/// While no host has the port open and inotify is not available, how often the simulator
/// looks whether one opened it. (The simulator keeps no descriptor of the port of its own,
/// so that it never shows up as a holder of the port in /proc, just as nobody holds a real
/// ttyUSB2 that is not in use.)
pub const HANGUP_RECHECK: Duration = Duration::from_millis(5);
/// Caller audio that may wait unread for the host before the oldest is dropped (about
/// 0.8 s at 8 kHz): a host that does not read its audio loses it, as with a real modem.
pub const MAX_PENDING_AUDIO: usize = 12_800;

/// What can go wrong running the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// openpty, termios or fcntl failed.
    #[error("cannot set up the pseudo-terminal: {0}")]
    Pty(#[source] nix::Error),
    /// The link could not be made or replaced.
    #[error("cannot link {path} to the port: {source}")]
    Link {
        /// The link path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The link path is a real file or folder, which the simulator will not delete.
    #[error("cannot link {0} to the port: it exists and is not a symlink")]
    LinkOccupied(PathBuf),
    /// The control socket could not be bound.
    #[error("cannot listen on the control socket {path}: {source}")]
    Control {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The transcript could not be created.
    #[error("cannot write the transcript {path}: {source}")]
    Record {
        /// The transcript path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The wake-up pipe or the simulator thread could not be created.
    #[error("cannot start the simulator thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The simulator has stopped.
    #[error("the simulator has stopped")]
    Stopped,
    /// The configuration cannot work.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// The modem refused a control command.
    #[error("control command refused: {0}")]
    Refused(#[from] ControlError),
}

/// The simulator's state as `state` reports it: the port, then everything the modem knows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimState {
    /// The pty slave the host opens, while plugged.
    pub port: Option<PathBuf>,
    /// The `--link` symlink, if configured.
    pub link: Option<PathBuf>,
    /// Whether the cable is in.
    pub plugged: bool,
    /// The modem.
    #[serde(flatten)]
    pub modem: ModemState,
    /// The audio port, with `--audio-link`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioState>,
}

type Reply = Result<Option<SimState>, ControlError>;

enum Request {
    Control(ControlCommand, mpsc::Sender<Reply>),
    Shutdown,
}

/// Wakes the loop from another thread: one byte into a non-blocking pipe.
#[derive(Debug, Clone)]
struct Waker(Arc<OwnedFd>);

impl Waker {
    fn wake(&self) {
        // A full pipe already guarantees a wake-up, so EAGAIN is fine to ignore.
        let _ = nix::unistd::write(self.0.as_fd(), &[1]);
    }
}

/// The entry point: [`Simulator::start`].
#[derive(Debug)]
pub struct Simulator;

/// A running simulator. Dropping it stops the simulator, removes the link and the
/// control socket, and ends every control connection.
#[derive(Debug)]
pub struct SimHandle {
    requests: mpsc::Sender<Request>,
    waker: Waker,
    thread: Option<JoinHandle<()>>,
    port: Arc<Mutex<Option<PathBuf>>>,
    link: Option<PathBuf>,
    control: Option<PathBuf>,
    audio_link: Option<PathBuf>,
}

/// The audio port's I/O: its pty while plugged, caller audio waiting for the host, and
/// the logic.
struct AudioIo {
    pty: Option<Pty>,
    link: PathBuf,
    pending: Vec<u8>,
    port: AudioPort,
}

/// Whether no host has this pty open (the master reports a hang-up).
fn pty_hung_up(pty: &Pty) -> bool {
    let mut fds = [PollFd::new(pty.master.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds
            .first()
            .and_then(PollFd::revents)
            .is_some_and(|r| r.contains(PollFlags::POLLHUP) && !r.contains(PollFlags::POLLIN)),
        Err(_) => false,
    }
}

struct Pty {
    master: OwnedFd,
    /// IN_OPEN events of the slave: how the loop learns, without polling, that a host
    /// opened the port while nobody had it open.
    opens: Option<Inotify>,
    path: PathBuf,
}

fn open_pty() -> Result<Pty, SimError> {
    // posix_openpt rather than openpty: the master must be close-on-exec from its first
    // moment, or a process spawned meanwhile (smsd, say) inherits it and `unplug` can no
    // longer close the port under its holder.
    let master = nix::pty::posix_openpt(
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
    )
    .map_err(SimError::Pty)?;
    nix::pty::grantpt(&master).map_err(SimError::Pty)?;
    nix::pty::unlockpt(&master).map_err(SimError::Pty)?;
    let path = PathBuf::from(nix::pty::ptsname_r(&master).map_err(SimError::Pty)?);
    // Raw mode lives in the terminal, not in a descriptor: set it through a slave opened
    // only for that, then closed, so that the simulator never holds the port itself.
    let slave: OwnedFd = nix::fcntl::open(
        &path,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(SimError::Pty)?;
    let mut t = tcgetattr(&slave).map_err(SimError::Pty)?;
    cfmakeraw(&mut t);
    tcsetattr(&slave, SetArg::TCSANOW, &t).map_err(SimError::Pty)?;
    drop(slave);
    // Without inotify the loop falls back to looking every HANGUP_RECHECK.
    let opens = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .ok()
        .filter(|i| i.add_watch(&path, AddWatchFlags::IN_OPEN).is_ok());
    Ok(Pty {
        master: master.into(),
        opens,
        path,
    })
}

fn place_link(link: &Path, target: &Path) -> Result<(), SimError> {
    let err = |source| SimError::Link {
        path: link.to_path_buf(),
        source,
    };
    if let Some(parent) = link.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => std::fs::remove_file(link).map_err(err)?,
        Ok(_) => return Err(SimError::LinkOccupied(link.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    std::os::unix::fs::symlink(target, link).map_err(err)
}

/// Removes `link` if it still points at `target` (someone else's link is left alone).
fn remove_link(link: &Path, target: &Path) {
    if std::fs::read_link(link).is_ok_and(|t| t == target) {
        let _ = std::fs::remove_file(link);
    }
}

fn bind_control(path: &Path) -> Result<UnixListener, SimError> {
    let err = |source| SimError::Control {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    // A socket left by a simulator that was killed is stale: nobody can be listening,
    // since binding would otherwise have failed for them too. Anything else is kept.
    if let Ok(m) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if m.file_type().is_socket() && UnixStream::connect(path).is_err() {
            std::fs::remove_file(path).map_err(err)?;
        }
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    Ok(listener)
}

/// Escapes bytes for one transcript line.
fn escape_bytes(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7E => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02X}")),
        }
    }
    s
}

struct Recorder {
    file: Option<File>,
}

impl Recorder {
    fn line(&mut self, direction: &str, text: &str) {
        let Some(f) = self.file.as_mut() else { return };
        let now = SystemTime::now();
        let ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_millis())
            .unwrap_or(0);
        // A transcript that cannot be written must not stop the modem.
        let _ = writeln!(
            f,
            "{}.{ms:03}Z {direction} {text}",
            SmsTime::from_system(now).iso()
        );
    }
}

impl Simulator {
    /// Opens the pty, places the link, binds the control socket, opens the transcript and
    /// starts the modem (its start-up lines wait in the port for the first reader).
    pub fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        if config.ring_interval.is_zero() {
            return Err(SimError::Config(
                "ring_interval must be at least 1 ms".into(),
            ));
        }
        if config.cvhu_default > 1 {
            return Err(SimError::Config(format!(
                "cvhu_default is {}, AT+CVHU takes 0 or 1",
                config.cvhu_default
            )));
        }
        let pty = open_pty()?;
        if let Some(link) = &config.link {
            place_link(link, &pty.path)?;
        }
        let listener = match &config.control {
            Some(path) => Some(bind_control(path)?),
            None => None,
        };
        let record = match &config.record {
            Some(path) => Some(File::create(path).map_err(|source| SimError::Record {
                path: path.clone(),
                source,
            })?),
            None => None,
        };
        let (wake_rx, wake_tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| SimError::Thread(e.into()))?;
        let waker = Waker(Arc::new(wake_tx));
        let (tx, rx) = mpsc::channel();
        let audio = match &config.audio_link {
            Some(link) => {
                let pty = open_pty()?;
                place_link(link, &pty.path)?;
                Some(AudioIo {
                    pty: Some(pty),
                    link: link.clone(),
                    pending: Vec::new(),
                    port: AudioPort::new(),
                })
            }
            None => None,
        };
        let port = Arc::new(Mutex::new(Some(pty.path.clone())));
        let mut event_loop = EventLoop {
            modem: Modem::new(&config),
            pty: Some(pty),
            pending: Vec::new(),
            link: config.link.clone(),
            control_path: config.control.clone(),
            listener,
            clients: Vec::new(),
            requests: rx,
            requests_tx: tx.clone(),
            wake_rx,
            waker: waker.clone(),
            recorder: Recorder { file: record },
            port: Arc::clone(&port),
            audio,
        };
        let thread = std::thread::Builder::new()
            .name("sim7600-sim".into())
            .spawn(move || event_loop.run())
            .map_err(SimError::Thread)?;
        Ok(SimHandle {
            requests: tx,
            waker,
            thread: Some(thread),
            port,
            link: config.link,
            control: config.control,
            audio_link: config.audio_link,
        })
    }
}

impl SimHandle {
    /// The path a host opens: the link if one is configured, else the pty slave.
    pub fn port(&self) -> PathBuf {
        match &self.link {
            Some(l) => l.clone(),
            None => self.pty_path().unwrap_or_default(),
        }
    }

    /// The pty slave while plugged (it changes with every `plug`).
    pub fn pty_path(&self) -> Option<PathBuf> {
        self.port.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `--link` path, if configured.
    pub fn link(&self) -> Option<&Path> {
        self.link.as_deref()
    }

    /// The control socket, if configured.
    pub fn control_socket(&self) -> Option<&Path> {
        self.control.as_deref()
    }

    /// The `--audio-link` path (the audio port a host opens), if configured.
    pub fn audio_link(&self) -> Option<&Path> {
        self.audio_link.as_deref()
    }

    fn request(&self, cmd: ControlCommand) -> Result<Option<SimState>, SimError> {
        let (tx, rx) = mpsc::channel();
        self.requests
            .send(Request::Control(cmd, tx))
            .map_err(|_| SimError::Stopped)?;
        self.waker.wake();
        Ok(rx.recv().map_err(|_| SimError::Stopped)??)
    }

    /// Runs any control command (what a line on the control socket does).
    pub fn command(&self, cmd: ControlCommand) -> Result<(), SimError> {
        self.request(cmd).map(|_| ())
    }

    /// An incoming call from `number`.
    pub fn call(
        &self,
        number: &str,
        withheld: bool,
        ring_interval: Option<Duration>,
    ) -> Result<(), SimError> {
        self.command(ControlCommand::Call {
            number: number.into(),
            withheld,
            ring_interval,
        })
    }

    /// The caller hangs up.
    pub fn hangup(&self) -> Result<(), SimError> {
        self.command(ControlCommand::Hangup)
    }

    /// The caller presses `keys`.
    pub fn dtmf(&self, keys: &str) -> Result<(), SimError> {
        self.command(ControlCommand::Dtmf(keys.into()))
    }

    /// A call from `number` rings once and is given up.
    pub fn missed(&self, number: &str) -> Result<(), SimError> {
        self.command(ControlCommand::Missed(number.into()))
    }

    /// An SMS from `number` arrives.
    pub fn sms(&self, number: &str, text: &str) -> Result<(), SimError> {
        self.command(ControlCommand::Sms {
            number: number.into(),
            text: text.into(),
        })
    }

    /// Only the parts `order` names (1-based, in that order) of a long SMS from `number`
    /// arrive.
    pub fn sms_parts(&self, number: &str, order: &[u8], text: &str) -> Result<(), SimError> {
        self.command(ControlCommand::SmsParts {
            number: number.into(),
            order: order.to_vec(),
            text: text.into(),
        })
    }

    /// After `skip` command lines starting with `prefix` are carried out, the next one is
    /// lost and the modem stalls for `d`.
    pub fn stall_on(&self, prefix: &str, d: Duration, skip: u32) -> Result<(), SimError> {
        self.command(ControlCommand::StallOn {
            prefix: prefix.into(),
            duration: d,
            skip,
        })
    }

    /// The modem restarts.
    pub fn reset(&self) -> Result<(), SimError> {
        self.command(ControlCommand::Reset)
    }

    /// The cable is pulled.
    pub fn unplug(&self) -> Result<(), SimError> {
        self.command(ControlCommand::Unplug)
    }

    /// The cable is back.
    pub fn plug(&self) -> Result<(), SimError> {
        self.command(ControlCommand::Plug)
    }

    /// Off USB and back at once: a new pty behind the link, the same identity.
    pub fn reenumerate(&self) -> Result<(), SimError> {
        self.command(ControlCommand::Reenumerate)
    }

    /// The modem answers nothing until AT+CFUN=1,1 (unless ignored) or a restart.
    pub fn hang(&self) -> Result<(), SimError> {
        self.command(ControlCommand::Hang)
    }

    /// Whether AT+CFUN=1,1 is ignored.
    pub fn ignore_cfun(&self, ignored: bool) -> Result<(), SimError> {
        self.command(ControlCommand::CfunIgnored(ignored))
    }

    /// The modem answers nothing for `d`.
    pub fn stall(&self, d: Duration) -> Result<(), SimError> {
        self.command(ControlCommand::Stall(d))
    }

    /// `n` random bytes on the port.
    pub fn garbage(&self, n: usize) -> Result<(), SimError> {
        self.command(ControlCommand::Garbage(n))
    }

    /// The caller's audio from now on: this WAV file, once.
    pub fn audio_file(&self, path: &Path) -> Result<(), SimError> {
        self.command(ControlCommand::Audio(path.to_path_buf()))
    }

    /// The caller's audio from now on: a tone of `hz`.
    pub fn tone(&self, hz: u32) -> Result<(), SimError> {
        self.command(ControlCommand::Tone(hz))
    }

    /// The caller's audio from now on: silence.
    pub fn silence(&self) -> Result<(), SimError> {
        self.command(ControlCommand::Silence)
    }

    /// Everything the simulator knows.
    pub fn state(&self) -> Result<SimState, SimError> {
        self.request(ControlCommand::State)?
            .ok_or(SimError::Stopped)
    }

    /// Stops the simulator (what dropping the handle does).
    pub fn stop(self) {}
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.requests.send(Request::Shutdown);
        self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct EventLoop {
    modem: Modem,
    pty: Option<Pty>,
    pending: Vec<u8>,
    link: Option<PathBuf>,
    control_path: Option<PathBuf>,
    listener: Option<UnixListener>,
    clients: Vec<(UnixStream, JoinHandle<()>)>,
    requests: mpsc::Receiver<Request>,
    requests_tx: mpsc::Sender<Request>,
    wake_rx: OwnedFd,
    waker: Waker,
    recorder: Recorder,
    port: Arc<Mutex<Option<PathBuf>>>,
    audio: Option<AudioIo>,
}

impl EventLoop {
    /// Whether no host has the port open (the master reports a hang-up).
    fn probe_hangup(&self) -> bool {
        self.pty.as_ref().is_some_and(pty_hung_up)
    }

    /// Whether no host has the audio port open (or there is none).
    fn probe_audio_hangup(&self) -> bool {
        self.audio
            .as_ref()
            .and_then(|a| a.pty.as_ref())
            .is_none_or(pty_hung_up)
    }

    fn run(&mut self) {
        loop {
            // While no host has the port open, the master reports POLLHUP without end, so
            // it is left out of the poll set; an IN_OPEN of the slave (or, without inotify,
            // the next HANGUP_RECHECK) brings the loop back to look again.
            let hung_up = self.probe_hangup();
            if !hung_up {
                self.flush();
            }
            let audio_hung_up = self.probe_audio_hangup();
            if !audio_hung_up {
                self.flush_audio();
            }
            let watch_opens = hung_up && self.pty.as_ref().is_some_and(|p| p.opens.is_some());
            let audio_pty = self.audio.as_ref().and_then(|a| a.pty.as_ref());
            let watch_audio_opens = audio_hung_up && audio_pty.is_some_and(|p| p.opens.is_some());
            let mut deadline = self.modem.next_deadline();
            if let Some(a) = self.audio.as_ref().and_then(|a| a.port.next_deadline()) {
                deadline = Some(deadline.map_or(a, |d| d.min(a)));
            }
            if hung_up && !watch_opens {
                let recheck = Instant::now() + HANGUP_RECHECK;
                deadline = Some(deadline.map_or(recheck, |d| d.min(recheck)));
            }
            let timeout = match deadline {
                Some(t) => {
                    let d = t.saturating_duration_since(Instant::now());
                    // Round up so that the deadline has passed when poll returns.
                    PollTimeout::try_from(d + Duration::from_micros(999))
                        .unwrap_or(PollTimeout::MAX)
                }
                None => PollTimeout::NONE,
            };
            let (wake, master_in, listen, opened, audio_in, audio_opened) = {
                let mut fds = vec![PollFd::new(self.wake_rx.as_fd(), PollFlags::POLLIN)];
                let opens_at = match self.pty.as_ref().and_then(|p| p.opens.as_ref()) {
                    Some(i) if watch_opens => {
                        fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
                        Some(fds.len() - 1)
                    }
                    _ => None,
                };
                let master_at = match &self.pty {
                    Some(pty) if !hung_up => {
                        let mut flags = PollFlags::POLLIN;
                        if !self.pending.is_empty() {
                            flags |= PollFlags::POLLOUT;
                        }
                        fds.push(PollFd::new(pty.master.as_fd(), flags));
                        Some(fds.len() - 1)
                    }
                    _ => None,
                };
                let listen_at = self.listener.as_ref().map(|l| {
                    fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
                    fds.len() - 1
                });
                let (audio_at, audio_opens_at) = match (audio_pty, &self.audio) {
                    (Some(pty), Some(a)) if !audio_hung_up => {
                        let mut flags = PollFlags::POLLIN;
                        if !a.pending.is_empty() {
                            flags |= PollFlags::POLLOUT;
                        }
                        fds.push(PollFd::new(pty.master.as_fd(), flags));
                        (Some(fds.len() - 1), None)
                    }
                    (Some(pty), _) => match &pty.opens {
                        Some(i) if watch_audio_opens => {
                            fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
                            (None, Some(fds.len() - 1))
                        }
                        _ => (None, None),
                    },
                    _ => (None, None),
                };
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(_) => return self.shutdown(),
                }
                let has = |i: usize, f: PollFlags| {
                    fds.get(i)
                        .and_then(PollFd::revents)
                        .is_some_and(|r| r.intersects(f))
                };
                (
                    has(0, PollFlags::POLLIN),
                    master_at.is_some_and(|i| has(i, PollFlags::POLLIN)),
                    listen_at.is_some_and(|i| has(i, PollFlags::POLLIN)),
                    opens_at.is_some_and(|i| has(i, PollFlags::POLLIN)),
                    audio_at.is_some_and(|i| has(i, PollFlags::POLLIN)),
                    audio_opens_at.is_some_and(|i| has(i, PollFlags::POLLIN)),
                )
            };
            if audio_opened {
                if let Some(i) = self
                    .audio
                    .as_ref()
                    .and_then(|a| a.pty.as_ref())
                    .and_then(|p| p.opens.as_ref())
                {
                    while i.read_events().is_ok_and(|e| !e.is_empty()) {}
                }
            }
            if opened {
                if let Some(i) = self.pty.as_ref().and_then(|p| p.opens.as_ref()) {
                    // Only the wake-up matters; the next probe tells whether a host is there.
                    while i.read_events().is_ok_and(|e| !e.is_empty()) {}
                }
            }
            let now = Instant::now();
            self.modem.tick(now);
            if master_in {
                self.read_port(now);
            }
            if audio_in {
                self.read_audio(now);
            }
            if listen {
                self.accept();
            }
            if wake {
                let mut buf = [0u8; 64];
                while matches!(nix::unistd::read(&self.wake_rx, &mut buf), Ok(n) if n > 0) {}
                while let Ok(req) = self.requests.try_recv() {
                    match req {
                        Request::Control(cmd, reply) => {
                            let r = self.control(cmd);
                            let _ = reply.send(r);
                        }
                        Request::Shutdown => return self.shutdown(),
                    }
                }
            }
            self.take_modem_output();
            self.service_audio(Instant::now());
        }
    }

    /// Follows the modem's audio state (AT+CPCMREG, the call) and queues the caller
    /// frames that are due; while no host has the audio port open they are dropped.
    fn service_audio(&mut self, now: Instant) {
        let rate = self.modem.audio_rate();
        let hung_up = self.probe_audio_hangup();
        let Some(a) = &mut self.audio else { return };
        // Unplugged, there is no audio port to stream on (the modem keeps its state).
        let rate = rate.filter(|_| a.pty.is_some());
        match (rate, a.port.active()) {
            (Some(r), false) => a.port.start(now, r),
            (None, true) => a.port.stop(),
            _ => {}
        }
        let mut frames = Vec::new();
        a.port.due_frames(now, &mut frames);
        if hung_up || a.pty.is_none() {
            return;
        }
        a.pending.extend_from_slice(&frames);
        if a.pending.len() > MAX_PENDING_AUDIO {
            let excess = a.pending.len() - MAX_PENDING_AUDIO;
            a.pending.drain(..excess);
        }
        self.flush_audio();
    }

    /// Writes as much caller audio as the audio port takes.
    fn flush_audio(&mut self) {
        let Some(a) = &mut self.audio else { return };
        let Some(pty) = &a.pty else { return };
        while !a.pending.is_empty() {
            match nix::unistd::write(&pty.master, &a.pending) {
                Ok(n) if n > 0 => {
                    a.pending.drain(..n);
                }
                _ => break,
            }
        }
    }

    /// What the host plays (or, while audio is off, writes into the void).
    fn read_audio(&mut self, now: Instant) {
        let Some(a) = &mut self.audio else { return };
        let Some(pty) = &a.pty else { return };
        let mut buf = [0u8; READ_CHUNK];
        // Drain what is there so that one wake-up takes a burst of frames.
        while let Ok(n) = nix::unistd::read(&pty.master, &mut buf) {
            if n == 0 {
                break;
            }
            a.port.receive(buf.get(..n).unwrap_or(&[]), now);
        }
    }

    fn read_port(&mut self, now: Instant) {
        let Some(pty) = &self.pty else { return };
        let mut buf = [0u8; READ_CHUNK];
        match nix::unistd::read(&pty.master, &mut buf) {
            Ok(n) if n > 0 => {
                let bytes = buf.get(..n).unwrap_or(&[]);
                self.recorder.line("host>", &escape_bytes(bytes));
                self.modem.feed(bytes, now);
            }
            // EIO: the host closed the port (the next probe sees the hang-up); EAGAIN: a
            // spurious wake-up.
            _ => {}
        }
    }

    /// Moves what the modem said into the queue for the port (dropped while unplugged).
    fn take_modem_output(&mut self) {
        let out = self.modem.take_output();
        if self.pty.is_none() || out.is_empty() {
            return;
        }
        self.recorder.line("modem>", &escape_bytes(&out));
        self.pending.extend_from_slice(&out);
        if self.pending.len() > MAX_PENDING_OUTPUT {
            let excess = self.pending.len() - MAX_PENDING_OUTPUT;
            self.pending.drain(..excess);
        }
    }

    /// Writes as much of the queue as the port takes (only while a host has it open).
    fn flush(&mut self) {
        self.take_modem_output();
        let Some(pty) = &self.pty else { return };
        while !self.pending.is_empty() {
            match nix::unistd::write(&pty.master, &self.pending) {
                Ok(n) if n > 0 => {
                    self.pending.drain(..n);
                }
                _ => break,
            }
        }
    }

    fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        while let Ok((stream, _)) = listener.accept() {
            let Ok(reader) = stream.try_clone() else {
                continue;
            };
            if stream.set_nonblocking(false).is_err() {
                continue;
            }
            let tx = self.requests_tx.clone();
            let waker = self.waker.clone();
            let spawned = std::thread::Builder::new()
                .name("sim7600-sim-control".into())
                .spawn(move || serve_client(reader, tx, waker));
            if let Ok(handle) = spawned {
                self.clients.push((stream, handle));
            }
        }
        // Forget connections whose threads have ended.
        let (done, alive): (Vec<_>, Vec<_>) = std::mem::take(&mut self.clients)
            .into_iter()
            .partition(|(_, h)| h.is_finished());
        for (_, h) in done {
            let _ = h.join();
        }
        self.clients = alive;
    }

    fn control(&mut self, cmd: ControlCommand) -> Reply {
        self.recorder.line("control>", &cmd.to_string());
        let now = Instant::now();
        match cmd {
            ControlCommand::State => return Ok(Some(self.state())),
            // A USB reset as the host sees it: the node vanishes, a new one comes.
            ControlCommand::Reenumerate => {
                self.control(ControlCommand::Unplug)?;
                return self.control(ControlCommand::Plug);
            }
            ControlCommand::Unplug => {
                let Some(pty) = self.pty.take() else {
                    return Err(ControlError::Refused("already unplugged".into()));
                };
                if let Some(link) = &self.link {
                    remove_link(link, &pty.path);
                }
                *self.port.lock().unwrap_or_else(|e| e.into_inner()) = None;
                self.pending.clear();
                self.modem.take_output();
                // Dropping both ends: the holder's next read or write fails with EIO.
                drop(pty);
                if let Some(a) = &mut self.audio {
                    if let Some(audio_pty) = a.pty.take() {
                        remove_link(&a.link, &audio_pty.path);
                    }
                    a.pending.clear();
                    a.port.stop();
                }
            }
            ControlCommand::Plug => {
                if self.pty.is_some() {
                    return Err(ControlError::Refused("already plugged".into()));
                }
                let pty = open_pty().map_err(|e| ControlError::Refused(e.to_string()))?;
                if let Some(link) = &self.link {
                    place_link(link, &pty.path)
                        .map_err(|e| ControlError::Refused(e.to_string()))?;
                }
                *self.port.lock().unwrap_or_else(|e| e.into_inner()) = Some(pty.path.clone());
                self.pty = Some(pty);
                self.modem.power_on();
                if let Some(a) = &mut self.audio {
                    let audio_pty = open_pty().map_err(|e| ControlError::Refused(e.to_string()))?;
                    place_link(&a.link, &audio_pty.path)
                        .map_err(|e| ControlError::Refused(e.to_string()))?;
                    a.pty = Some(audio_pty);
                }
            }
            ControlCommand::Audio(path) => {
                let sound = CallerSound::from_wav(&path).map_err(ControlError::Refused)?;
                self.audio_port()?.set_sound(sound);
            }
            ControlCommand::Tone(hz) => self.audio_port()?.set_sound(CallerSound::Tone(hz)),
            ControlCommand::Silence => self.audio_port()?.set_sound(CallerSound::Silence),
            other => self.modem.control(&other, now)?,
        }
        Ok(None)
    }

    fn audio_port(&mut self) -> Result<&mut AudioPort, ControlError> {
        self.audio.as_mut().map(|a| &mut a.port).ok_or_else(|| {
            ControlError::Refused(
                "the simulator has no audio port (start it with --audio-link PATH)".into(),
            )
        })
    }

    fn state(&self) -> SimState {
        SimState {
            port: self.pty.as_ref().map(|p| p.path.clone()),
            link: self.link.clone(),
            plugged: self.pty.is_some(),
            modem: self.modem.state(),
            audio: self.audio.as_ref().map(|a| {
                a.port
                    .state(a.pty.as_ref().map(|p| p.path.clone()), Some(a.link.clone()))
            }),
        }
    }

    fn shutdown(&mut self) {
        if !self.probe_hangup() {
            self.flush();
        }
        if let (Some(link), Some(pty)) = (&self.link, &self.pty) {
            remove_link(link, &pty.path);
        }
        if let Some(AudioIo {
            pty: Some(pty),
            link,
            ..
        }) = &self.audio
        {
            remove_link(link, &pty.path);
        }
        if let (Some(path), Some(_)) = (&self.control_path, self.listener.take()) {
            let _ = std::fs::remove_file(path);
        }
        for (stream, handle) in std::mem::take(&mut self.clients) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            let _ = handle.join();
        }
    }
}

/// One control connection: a line in, a reply line out, until the peer closes.
fn serve_client(stream: UnixStream, requests: mpsc::Sender<Request>, waker: Waker) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        match (&mut reader)
            .take(MAX_CONTROL_LINE as u64 + 1)
            .read_line(&mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let reply = if line.len() > MAX_CONTROL_LINE && !line.ends_with('\n') {
            // Skip the rest of an over-long line so the next one starts clean.
            let mut rest = Vec::new();
            if reader.read_until(b'\n', &mut rest).is_err() {
                return;
            }
            format!("error the line is longer than {MAX_CONTROL_LINE} bytes")
        } else if line.trim().is_empty() {
            continue;
        } else {
            match ControlCommand::parse(line.trim_end()) {
                Err(e) => format!("error {e}"),
                Ok(cmd) => {
                    let (tx, rx) = mpsc::channel();
                    if requests.send(Request::Control(cmd, tx)).is_err() {
                        return;
                    }
                    waker.wake();
                    match rx.recv() {
                        Err(_) => return,
                        Ok(Ok(None)) => "ok".to_string(),
                        Ok(Ok(Some(state))) => match serde_json::to_string(&state) {
                            Ok(json) => format!("ok {json}"),
                            Err(e) => format!("error cannot encode the state: {e}"),
                        },
                        Ok(Err(e)) => format!("error {e}"),
                    }
                }
            }
        };
        if writer.write_all(format!("{reply}\n").as_bytes()).is_err() {
            return;
        }
    }
}
