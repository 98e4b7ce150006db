//! The link to the modem: the AT port opened with `serialport` at 115200 8N1, exclusive,
//! with a read timeout, and a reader thread that feeds every byte into atat's ingress
//! (modem-core's digester and URC types) while the caller drives modem-core's driver on
//! atat's async client with `futures::executor::block_on`, which parks the thread until
//! a reply is signalled: nothing here spins.
//!
//! Commands are paced by [`PacedClient`], which keeps the link's command cooldown (atat's
//! `cmd_cooldown`, but changeable while the link runs: the bot's init uses
//! [`INIT_CMD_COOLDOWN`], its session [`LINK_CMD_COOLDOWN`]).
//!
//! This module owns the port's file descriptors while a [`Link`] runs, and the stop token
//! that ends the reader ([`crate::platform::shutdown`]). The reader thread sleeps in
//! `poll()` on the port and the token's watch together, with no timeout: it wakes only
//! for bytes, for a hang-up, or for the stop (the token stopped when the link's work
//! returns or panics), so an idle link costs no wake-ups and closing it takes no longer
//! than a thread switch. A port
//! that fails (EOF, or EIO/POLLHUP when the modem is unplugged) ends the reader with a
//! [`LinkError`] that [`Link::failure`] reports, instead of a loop of failing reads.

use std::io::{self, Read, Write as _};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use atat::AtatIngress;
use modem_core::driver::{ModemClient, ModemIngress, ModemUrcChannel, Resources, Sim7600};
use serialport::{DataBits, FlowControl, Parity, StopBits, TTYPort};

use crate::platform::shutdown::{Shutdown, StopWatch, Woken};

#[cfg(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "arm",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
pub mod plain_termios;

/// The SIM7600's AT port speed (USB ignores it; a UART needs it).
pub const BAUD_RATE: u32 = 115_200;
/// serialport's own per-read (and per-write) timeout. The reader reads only after its
/// `poll()` said the port is readable, so this bounds a read that races a hang-up; it is
/// not a wake-up period (the reader has none) and not how long closing a link takes.
pub const READ_TIMEOUT: Duration = Duration::from_millis(100);
/// The pause kept between sending one command and sending the next (atat's
/// `cmd_cooldown`, counted from the write, so a reply that comes faster than this waits
/// for it). atat's default of 20 ms follows the modem makers' advice (u-blox, Telit) to
/// wait about 20 ms after a final result code so that the modem can send URCs it
/// buffered before the next command line arrives. The bot's session keeps it: it lives
/// on its URCs (RING, +CLIP, +CLCC, +CMTI), and its commands are few and far between.
pub const LINK_CMD_COOLDOWN: Duration = Duration::from_millis(20);
/// The cooldown of the bot's init sequence (`AT` ... `AT+CSQ`, fifteen commands in a
/// row, before the bot serves anything): the same 5 ms as detect's probe (see
/// [`PROBE_CMD_COOLDOWN`] and docs/performance.md for why it is enough). What the init
/// could lose to a collision is recoverable: start-up URCs are answered by the init
/// itself, a call rings again, and the digester files a URC inside a reply as a URC.
pub const INIT_CMD_COOLDOWN: Duration = Duration::from_millis(5);
/// The longest cooldown a link keeps; longer ones are cut to it (a second between
/// commands is far beyond what any modem asks for).
pub const MAX_CMD_COOLDOWN: Duration = Duration::from_secs(1);
/// The cooldown of `sim7600 detect`'s probe (`AT`, `AT+CGMI`, `AT+CGMM`): three
/// read-only queries whose URCs nobody waits for, and the digester files a URC that
/// lands between a reply and its `OK` as a URC (modem-core's digest tests), so a
/// collision cannot spoil an answer. 5 ms still gives a URC the modem queued before its
/// `OK` several USB frames (1 ms each) to arrive first. The probe's two cooldowns are
/// SMS downtime: 40 ms at atat's default against the 50 ms target for our whole share.
pub const PROBE_CMD_COOLDOWN: Duration = Duration::from_millis(5);
/// Bytes taken from the port per read.
pub const READ_CHUNK: usize = 256;
/// How long the reader waits for URC subscribers to make room before it drops the URCs
/// that do not fit (a subscriber that stopped reading must not stop the replies).
pub const URC_BACKPRESSURE_LIMIT: Duration = Duration::from_secs(1);
/// The pause between two tries while the URC channel is full.
pub const URC_RETRY_DELAY: Duration = Duration::from_millis(10);

/// Why the link to the modem failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinkError {
    /// The port could not be opened (or not exclusively: another process has it).
    #[error("cannot open port {} exclusively: {problem}", port.display())]
    Open {
        /// The port.
        port: PathBuf,
        /// What serialport said.
        problem: String,
    },
    /// The port could not be duplicated for the reader thread.
    #[error("cannot share port {} with the reader thread: {problem}", port.display())]
    Clone {
        /// The port.
        port: PathBuf,
        /// What serialport said.
        problem: String,
    },
    /// The port reports end of file: the other side closed it.
    #[error("port {} reached end of file: the modem side closed it", port.display())]
    Eof {
        /// The port.
        port: PathBuf,
    },
    /// The port reports EIO: the modem was unplugged or reset.
    #[error("port {} gives EIO: the modem was unplugged or reset", port.display())]
    Unplugged {
        /// The port.
        port: PathBuf,
    },
    /// Another read or write error.
    #[error("port {}: {what} failed: {problem}", port.display())]
    Io {
        /// The port.
        port: PathBuf,
        /// read or write.
        what: &'static str,
        /// What the OS said.
        problem: String,
    },
}

/// Opens `port` at 115200 8N1 without flow control, exclusively, with [`READ_TIMEOUT`].
/// serialport 4.10 sets TIOCEXCL and takes `flock(LOCK_EX | LOCK_NB)` on open, so a
/// second opener gets EBUSY (the flock holds even against root, which TIOCEXCL does not).
/// Where the port lacks the termios2 ioctls serialport sets the line with (qemu-user,
/// some Linux-like ABIs), the open falls back to the classic termios calls
/// ([`plain_termios`]); that runs only after serialport's open failed.
pub fn open_exclusive(port: &Path) -> Result<TTYPort, LinkError> {
    match open_with_serialport(port) {
        Ok(tty) => Ok(tty),
        Err(failure) => open_without_termios2(port, failure),
    }
}

#[cfg(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "arm",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
fn open_without_termios2(port: &Path, failure: LinkError) -> Result<TTYPort, LinkError> {
    plain_termios::open_after_failure(port, failure, plain_termios::probe_termios2)
}

/// Elsewhere the kernel's struct termios has another layout: no fallback.
#[cfg(not(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "arm",
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
fn open_without_termios2(_port: &Path, failure: LinkError) -> Result<TTYPort, LinkError> {
    Err(failure)
}

fn open_with_serialport(port: &Path) -> Result<TTYPort, LinkError> {
    let open_err = |e: serialport::Error| LinkError::Open {
        port: port.to_path_buf(),
        problem: e.to_string(),
    };
    let mut tty = serialport::new(port.to_string_lossy(), BAUD_RATE)
        .data_bits(DataBits::Eight)
        .parity(Parity::None)
        .stop_bits(StopBits::One)
        .flow_control(FlowControl::None)
        .timeout(READ_TIMEOUT)
        .open_native()
        .map_err(open_err)?;
    tty.set_exclusive(true).map_err(open_err)?;
    Ok(tty)
}

/// Whether an I/O error says the modem is gone. serialport drops the errno on the way
/// (a hang-up on poll becomes `BrokenPipe`, EIO an `Other` error with EIO's text), so
/// the kind and the text are looked at as well as the raw errno.
pub fn means_unplugged(e: &io::Error) -> bool {
    use nix::errno::Errno;
    matches!(
        e.raw_os_error(),
        Some(nix::libc::EIO | nix::libc::EPIPE | nix::libc::ENXIO | nix::libc::ENODEV)
    ) || e.kind() == io::ErrorKind::BrokenPipe
        || e.to_string() == Errno::EIO.desc()
}

/// What a failed read means: `None` for a timeout (read again).
pub fn classify_read_error(port: &Path, e: &io::Error) -> Option<LinkError> {
    if matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    ) {
        return None;
    }
    if means_unplugged(e) {
        return Some(LinkError::Unplugged {
            port: port.to_path_buf(),
        });
    }
    Some(LinkError::Io {
        port: port.to_path_buf(),
        what: "read",
        problem: e.to_string(),
    })
}

/// The write half for atat's client: the port, written blocking (a tty write completes
/// at once unless the line is flow-controlled, which this port is not).
#[derive(Debug)]
pub struct PortWriter {
    tty: TTYPort,
    failure: Arc<Mutex<Option<LinkError>>>,
    path: PathBuf,
}

/// A failed write, for atat (the details go to [`Link::failure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("writing to the modem port failed")]
pub struct PortWriteError;

impl embedded_io::Error for PortWriteError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

impl embedded_io::ErrorType for PortWriter {
    type Error = PortWriteError;
}

impl PortWriter {
    fn note(&self, e: &io::Error) -> PortWriteError {
        let err = if means_unplugged(e) {
            LinkError::Unplugged {
                port: self.path.clone(),
            }
        } else {
            LinkError::Io {
                port: self.path.clone(),
                what: "write",
                problem: e.to_string(),
            }
        };
        record(&self.failure, err);
        PortWriteError
    }
}

impl embedded_io_async::Write for PortWriter {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, PortWriteError> {
        self.tty.write(buf).map_err(|e| self.note(&e))
    }
    async fn flush(&mut self) -> Result<(), PortWriteError> {
        self.tty.flush().map_err(|e| self.note(&e))
    }
}

fn record(slot: &Mutex<Option<LinkError>>, err: LinkError) {
    if let Ok(mut s) = slot.lock() {
        s.get_or_insert(err);
    }
}

/// The driver as the host uses it: atat's client, paced by [`PacedClient`].
pub type HostModem<'r> = Sim7600<PacedClient<ModemClient<'r, PortWriter>>>;

/// An atat client that keeps a pause between the start of one command and the start of
/// the next, like atat's own `cmd_cooldown`, but one that can be changed while the link
/// runs (atat fixes its at construction). The wrapped client runs with no cooldown of its
/// own. The pause is waited before the wrapped client is called, so atat still clears
/// its response slot after it, just before the write, as with its own cooldown: a late
/// reply that comes during the pause is not taken for the next command's.
#[derive(Debug)]
pub struct PacedClient<C> {
    inner: C,
    cooldown: embassy_time::Duration,
    last_sent: Option<embassy_time::Instant>,
}

/// `d` for embassy-time, at most [`MAX_CMD_COOLDOWN`].
fn embassy_cooldown(d: Duration) -> embassy_time::Duration {
    let micros = d.min(MAX_CMD_COOLDOWN).as_micros();
    embassy_time::Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
}

impl<C> PacedClient<C> {
    /// `inner` with `cooldown` between commands (at most [`MAX_CMD_COOLDOWN`]).
    pub fn new(inner: C, cooldown: Duration) -> Self {
        PacedClient {
            inner,
            cooldown: embassy_cooldown(cooldown),
            last_sent: None,
        }
    }

    /// The pause from the next command on (at most [`MAX_CMD_COOLDOWN`]); it counts from
    /// the start of the command sent last.
    pub fn set_cooldown(&mut self, cooldown: Duration) {
        self.cooldown = embassy_cooldown(cooldown);
    }

    /// The pause in force.
    pub fn cooldown(&self) -> Duration {
        self.cooldown.into()
    }

    async fn pace(&mut self) {
        if let Some(last) = self.last_sent {
            embassy_time::Timer::at(last + self.cooldown).await;
        }
        self.last_sent = Some(embassy_time::Instant::now());
    }
}

impl<C: atat::asynch::AtatClient> atat::asynch::AtatClient for PacedClient<C> {
    type Writer = C::Writer;

    fn inner(&mut self) -> &mut C::Writer {
        self.inner.inner()
    }

    async fn send_with<Cmd: atat::AtatCmd>(
        &mut self,
        cmd: &Cmd,
        write: impl AsyncFnOnce(
            &mut Self::Writer,
        ) -> Result<(), <Self::Writer as embedded_io::ErrorType>::Error>,
    ) -> Result<Cmd::Response, atat::Error> {
        self.pace().await;
        self.inner.send_with(cmd, write).await
    }

    async fn send<Cmd: atat::AtatCmd>(&mut self, cmd: &Cmd) -> Result<Cmd::Response, atat::Error> {
        self.pace().await;
        self.inner.send(cmd).await
    }
}

/// A running link: the driver, the URC channel and the reader thread's health.
pub struct Link<'r> {
    /// The SIM7600 driver; run its futures with `futures::executor::block_on`.
    pub modem: HostModem<'r>,
    /// Where URCs go (subscribe before waiting for any).
    pub urcs: &'r ModemUrcChannel,
    failure: Arc<Mutex<Option<LinkError>>>,
}

impl std::fmt::Debug for Link<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("failure", &self.failure())
            .finish_non_exhaustive()
    }
}

impl Link<'_> {
    /// Why the port failed, once it has (EOF, EIO on unplug, a read or write error).
    pub fn failure(&self) -> Option<LinkError> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// The pause between commands from the next command on (see [`PacedClient`]).
    pub fn set_cmd_cooldown(&mut self, cooldown: Duration) {
        self.modem.client().set_cooldown(cooldown);
    }

    /// The pause between commands in force.
    pub fn cmd_cooldown(&mut self) -> Duration {
        self.modem.client().cooldown()
    }
}

/// Runs `work` with a link on `tty` (the lease's port), then stops the reader thread and
/// drops the port clones before returning. The atat buffers live on this stack frame.
/// Commands keep [`LINK_CMD_COOLDOWN`] between them.
pub fn with_link<R>(
    tty: &TTYPort,
    port: &Path,
    work: impl FnOnce(&mut Link<'_>) -> R,
) -> Result<R, LinkError> {
    with_link_cooldown(tty, port, LINK_CMD_COOLDOWN, work)
}

/// [`with_link`] with another pause between commands (see [`PROBE_CMD_COOLDOWN`]).
pub fn with_link_cooldown<R>(
    tty: &TTYPort,
    port: &Path,
    cmd_cooldown: Duration,
    work: impl FnOnce(&mut Link<'_>) -> R,
) -> Result<R, LinkError> {
    let clone_err = |e: serialport::Error| LinkError::Clone {
        port: port.to_path_buf(),
        problem: e.to_string(),
    };
    let reader_tty = tty.try_clone_native().map_err(clone_err)?;
    let writer_tty = tty.try_clone_native().map_err(clone_err)?;
    let failure = Arc::new(Mutex::new(None));
    // Stopping the token wakes the reader's poll at once (its watch reads EOF).
    let stop = Shutdown::new();
    let watch = stop.watch().map_err(|e| LinkError::Io {
        port: port.to_path_buf(),
        what: "creating the reader's stop pipe",
        problem: e.to_string(),
    })?;
    let mut resources = Box::new(Resources::new());
    let writer = PortWriter {
        tty: writer_tty,
        failure: failure.clone(),
        path: port.to_path_buf(),
    };
    // The pause between commands is the PacedClient's, so that it can change while the
    // link runs; atat's own is off.
    let config = atat::Config::new().cmd_cooldown(embassy_time::Duration::from_ticks(0));
    let parts = resources.split(writer, config);
    let mut ingress = parts.ingress;
    let mut link = Link {
        modem: Sim7600::new(PacedClient::new(parts.modem.into_client(), cmd_cooldown)),
        urcs: parts.urcs,
        failure: failure.clone(),
    };
    let result = thread::scope(|s| {
        let reader = thread::Builder::new()
            .name("modem-reader".into())
            .spawn_scoped(s, || {
                read_loop(reader_tty, port, &mut ingress, (&stop, &watch), &failure)
            });
        if let Err(e) = reader {
            return Err(LinkError::Io {
                port: port.to_path_buf(),
                what: "starting the reader thread",
                problem: e.to_string(),
            });
        }
        // Stopped on every way out of `work`, a panic included: the scope joins the
        // reader before it lets the panic go on, and a reader never told to stop would
        // hang the unwinding (and with it the lease's release). The stop ends a reader
        // waiting for URC room and wakes a reader in `poll()`.
        let _stop_reader = stop.stop_on_drop();
        Ok(work(&mut link))
    });
    drop(link);
    result
}

fn read_loop(
    mut tty: TTYPort,
    port: &Path,
    ingress: &mut ModemIngress<'_>,
    (stop, watch): (&Shutdown, &StopWatch),
    failure: &Mutex<Option<LinkError>>,
) {
    let mut buf = [0u8; READ_CHUNK];
    while !stop.is_stopping() {
        // SAFETY: `tty` is owned by this function and neither moved nor dropped before
        // it returns; the borrowed descriptor lives only for this call of `wait_on`,
        // inside the loop body, so the fd it names stays open for the whole borrow.
        // serialport's TTYPort implements AsRawFd but not AsFd, hence the raw borrow.
        // Any event on the port (POLLIN, POLLHUP, POLLERR, POLLNVAL) means "read":
        // serialport's read turns a hang-up into `BrokenPipe` and EIO into an error, which
        // end the reader, so a port that stays hung up can never make this loop spin.
        #[allow(unsafe_code)]
        let port_fd = unsafe { BorrowedFd::borrow_raw(tty.as_raw_fd()) };
        match watch.wait_on(port_fd, None) {
            Ok(Woken::Stopping) => return,
            Ok(Woken::Ready | Woken::TimedOut) => {}
            Err(e) => {
                let err = LinkError::Io {
                    port: port.to_path_buf(),
                    what: "poll",
                    problem: e.desc().to_string(),
                };
                log::error!("{err}; reader stops");
                record(failure, err);
                return;
            }
        }
        match tty.read(&mut buf) {
            Ok(0) => {
                record(
                    failure,
                    LinkError::Eof {
                        port: port.to_path_buf(),
                    },
                );
                log::error!("port {} reached end of file; reader stops", port.display());
                return;
            }
            Ok(n) => feed(ingress, buf.get(..n).unwrap_or_default(), stop),
            Err(e) => {
                if let Some(err) = classify_read_error(port, &e) {
                    log::error!("{err}; reader stops");
                    record(failure, err);
                    return;
                }
            }
        }
    }
}

/// Hands `bytes` to the ingress. A full ingress buffer means the digester cannot make
/// sense of what it holds: it is cleared, as atat's own reader does. A full URC channel
/// gets [`URC_BACKPRESSURE_LIMIT`] to drain (short sleeps, no spin).
fn feed(ingress: &mut ModemIngress<'_>, mut bytes: &[u8], stop: &Shutdown) {
    while !bytes.is_empty() {
        let room = ingress.write_buf();
        if room.is_empty() {
            log::warn!("ingress buffer full of unparsable bytes: cleared");
            ingress.clear();
            continue;
        }
        let len = room.len().min(bytes.len());
        let (now, later) = bytes.split_at(len);
        if let Some(dst) = room.get_mut(..len) {
            dst.copy_from_slice(now);
        }
        bytes = later;
        let mut result = ingress.try_advance(len);
        let mut waited = Duration::ZERO;
        while result.is_err() {
            if waited >= URC_BACKPRESSURE_LIMIT || stop.is_stopping() {
                log::warn!(
                    "URC channel full for {} ms: buffered bytes dropped",
                    waited.as_millis()
                );
                ingress.clear();
                break;
            }
            thread::sleep(URC_RETRY_DELAY);
            waited += URC_RETRY_DELAY;
            result = ingress.try_advance(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::pty::openpty;
    use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
    use std::os::fd::{AsFd, OwnedFd};

    /// A pty in raw mode; the slave's path is the "port", the master plays the modem.
    fn fake_modem() -> (std::fs::File, PathBuf, OwnedFd) {
        let pty = openpty(None, None).unwrap();
        let mut t = tcgetattr(&pty.slave).unwrap();
        cfmakeraw(&mut t);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &t).unwrap();
        let path = nix::unistd::ttyname(&pty.slave).unwrap();
        (std::fs::File::from(pty.master), path, pty.slave)
    }

    #[test]
    fn hang_ups_and_eio_mean_unplugged_timeouts_mean_read_again() {
        let p = Path::new("/dev/ttyUSB2");
        assert!(classify_read_error(p, &io::Error::from(io::ErrorKind::TimedOut)).is_none());
        for gone in [
            io::Error::from_raw_os_error(nix::libc::EIO),
            io::Error::new(io::ErrorKind::BrokenPipe, "Broken pipe"),
            io::Error::other(nix::errno::Errno::EIO.desc()),
        ] {
            assert!(
                matches!(
                    classify_read_error(p, &gone),
                    Some(LinkError::Unplugged { .. })
                ),
                "{gone}"
            );
        }
        assert!(matches!(
            classify_read_error(p, &io::Error::from(io::ErrorKind::PermissionDenied)),
            Some(LinkError::Io { .. })
        ));
    }

    #[test]
    fn a_second_open_of_a_held_port_is_refused() {
        let (_m, path, _slave) = fake_modem();
        let first = open_exclusive(&path).unwrap();
        let err = open_exclusive(&path).unwrap_err();
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
        drop(first);
        open_exclusive(&path).unwrap();
    }

    #[test]
    fn the_modem_answers_at_and_the_identity_is_read() {
        let (mut master, path, _slave) = fake_modem();
        let tty = open_exclusive(&path).unwrap();
        let mut modem_side = master.try_clone().unwrap();
        let sim = thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 64];
            for (cmd, reply) in [
                (&b"AT\r"[..], &b"\r\nOK\r\n"[..]),
                (b"AT+CGMI\r", b"\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n"),
                (b"AT+CGMM\r", b"\r\nSIMCOM_SIM7600E-H\r\n\r\nOK\r\n"),
            ] {
                while !seen.ends_with(cmd) {
                    let n = modem_side.read(&mut buf).unwrap();
                    seen.extend_from_slice(&buf[..n]);
                }
                modem_side.write_all(reply).unwrap();
            }
        });
        let identity = with_link(&tty, &path, |link| {
            futures::executor::block_on(link.modem.probe())
        })
        .unwrap()
        .unwrap();
        sim.join().unwrap();
        assert!(identity.is_sim7600, "{identity:?}");
        assert_eq!(identity.manufacturer.as_str(), "SIMCOM INCORPORATED");
        master.flush().unwrap();
    }

    #[test]
    fn a_reader_asleep_on_a_silent_port_wakes_for_the_stop_alone() {
        let (_master, _path, slave) = fake_modem();
        let stop = Shutdown::new();
        let watch = stop.watch().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = thread::spawn(move || {
            let _ = tx.send(watch.wait_on(slave.as_fd(), None));
        });
        // Nothing arrives while the port stays silent and the stop stays open: the
        // reader sleeps (no timeout of its own to wake it).
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        stop.stop();
        let woke = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(woke, Ok(Woken::Stopping));
        waiter.join().unwrap();
    }

    #[test]
    fn a_reader_wakes_for_the_modems_bytes_and_for_its_hang_up() {
        let (mut master, _path, slave) = fake_modem();
        let stop = Shutdown::new();
        let watch = stop.watch().unwrap();
        master.write_all(b"\r\nRING\r\n").unwrap();
        assert_eq!(watch.wait_on(slave.as_fd(), None), Ok(Woken::Ready));
        let mut drained = [0u8; 64];
        let n = nix::unistd::read(&slave, &mut drained).unwrap();
        assert_eq!(&drained[..n], b"\r\nRING\r\n");
        // The modem side vanishes: poll reports the hang-up as a port event (POLLHUP),
        // which the read then turns into the unplug error.
        drop(master);
        assert_eq!(watch.wait_on(slave.as_fd(), None), Ok(Woken::Ready));
    }

    #[test]
    fn closing_a_link_on_a_silent_modem_does_not_wait_for_a_read_timeout() {
        let (_master, path, _slave) = fake_modem();
        let tty = open_exclusive(&path).unwrap();
        // Many opens and closes in a row: with a reader that only looked at its stop flag
        // per READ_TIMEOUT each close would cost up to 100 ms; woken by the stop pipe it
        // costs a thread switch. 20 closes in under 20 x READ_TIMEOUT / 2 is generous
        // for a loaded machine and impossible for a reader that polls per timeout
        // (on average half a period each).
        let started = std::time::Instant::now();
        for _ in 0..20 {
            with_link(&tty, &path, |_link| ()).unwrap();
        }
        assert!(
            started.elapsed() < READ_TIMEOUT * 20 / 2,
            "{:?}",
            started.elapsed()
        );
    }

    /// A modem that answers every command with `OK` and counts them.
    fn answering_modem(mut master: std::fs::File) -> thread::JoinHandle<usize> {
        thread::spawn(move || {
            let mut seen = Vec::new();
            let mut commands = 0;
            let mut buf = [0u8; 64];
            loop {
                let n = match master.read(&mut buf) {
                    Ok(0) | Err(_) => return commands,
                    Ok(n) => n,
                };
                seen.extend_from_slice(&buf[..n]);
                while let Some(end) = seen.iter().position(|b| *b == b'\r') {
                    seen.drain(..=end);
                    commands += 1;
                    if master.write_all(b"\r\nOK\r\n").is_err() {
                        return commands;
                    }
                }
            }
        })
    }

    fn send_at(link: &mut Link<'_>) {
        use atat::asynch::AtatClient as _;
        futures::executor::block_on(
            link.modem
                .client()
                .send(&modem_core::command::general::Attention),
        )
        .unwrap();
    }

    #[test]
    fn commands_keep_the_cooldown_and_a_changed_one_holds_from_the_next_command() {
        let (master, path, slave) = fake_modem();
        let tty = open_exclusive(&path).unwrap();
        let modem = answering_modem(master);
        let cooldown = Duration::from_millis(60);
        let took = with_link_cooldown(&tty, &path, cooldown, |link| {
            assert_eq!(link.cmd_cooldown(), cooldown);
            let started = std::time::Instant::now();
            send_at(link);
            send_at(link);
            send_at(link);
            let paced = started.elapsed();
            // A pause may be shortened while the link runs, and lengthened again.
            link.set_cmd_cooldown(Duration::ZERO);
            assert_eq!(link.cmd_cooldown(), Duration::ZERO);
            send_at(link);
            link.set_cmd_cooldown(cooldown);
            let before_last = std::time::Instant::now();
            send_at(link);
            (paced, before_last.elapsed())
        })
        .unwrap();
        drop(tty);
        drop(slave);
        assert_eq!(modem.join().unwrap(), 5);
        // Lower bounds only: a loaded machine makes the gaps longer, never shorter.
        assert!(took.0 >= cooldown * 2, "three commands in {:?}", took.0);
        assert!(took.1 >= cooldown / 2, "{:?}", took.1);
    }

    #[test]
    fn a_cooldown_beyond_the_ceiling_is_cut_to_it() {
        let client = PacedClient::new((), Duration::from_secs(3600 * 24 * 365 * 1000));
        assert_eq!(client.cooldown(), MAX_CMD_COOLDOWN);
        let mut client = PacedClient::new((), Duration::from_millis(5));
        assert_eq!(client.cooldown(), Duration::from_millis(5));
        client.set_cooldown(Duration::MAX);
        assert_eq!(client.cooldown(), MAX_CMD_COOLDOWN);
    }

    #[test]
    fn a_panic_inside_the_link_stops_the_reader_and_unwinds() {
        let (_master, path, _slave) = fake_modem();
        let tty = open_exclusive(&path).unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let path2 = path.clone();
        let t = thread::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                with_link(&tty, &path2, |_link| {
                    panic!("the work panics while the reader reads")
                })
            }));
            let _ = done_tx.send(r.is_err());
        });
        let unwound = done_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the panic hung in with_link");
        assert!(unwound);
        t.join().unwrap();
    }

    #[test]
    fn an_unplugged_modem_is_reported_as_eio_not_a_spin() {
        let (master, path, slave) = fake_modem();
        let tty = open_exclusive(&path).unwrap();
        // The pty's other end closing is what the kernel shows when a USB modem vanishes:
        // reads fail with EIO.
        drop(slave);
        let failure = with_link(&tty, &path, |link| {
            drop(master);
            let r = futures::executor::block_on(link.modem.probe());
            assert!(r.is_err());
            link.failure()
        })
        .unwrap();
        let err = failure.unwrap();
        assert!(
            matches!(err, LinkError::Unplugged { .. } | LinkError::Eof { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&*path.to_string_lossy()));
    }
}
