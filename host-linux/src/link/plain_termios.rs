//! Opening the port where termios2 is missing.
//!
//! serialport 4.10 sets the line (8N1, no flow control, the speed) on Linux through the
//! termios2 ioctls `TCGETS2`/`TCSETS2` only. Not every Linux ABI has them:
//! - qemu-user up to at least 7.2 (Debian 12's `qemu-aarch64-static`, which runs the
//!   arm64 build in the package check) translates no termios2 ioctl: `qemu-aarch64-static
//!   -d unimp` logs `Unsupported ioctl: cmd=0xffffffff802c542a` (`TCGETS2` on arm64) and
//!   the program gets ENOSYS, so serialport's open fails with "Function not implemented"
//!   after it already set TIOCEXCL and the flock. Distributions carry the patches that add
//!   termios2 to linux-user from qemu 10.1 on (AOSC-Dev/aosc-os-abbs#14046).
//! - A tty layer without them (WSL 1's serial ports, microsoft/WSL#2595; seccomp
//!   filters that allow only `TCGETS`, per rustix#1147) answers ENOTTY, as Linux does for
//!   any ioctl a tty does not know.
//!
//! termios2 is only needed for speeds without a `Bnnn` constant; 115200 has one
//! (`B115200`), so the classic `TCGETS`/`TCSETS` (`tcgetattr`/`tcsetattr`, which glibc
//! itself uses) set exactly the same line. [`open_after_failure`] is the fallback: it runs
//! only after serialport's open failed, asks the port itself whether `TCGETS2` is what it
//! lacks, and only then opens it with the classic calls. Where termios2 works (every real
//! arm64 or x86_64 kernel), nothing here runs and the open is serialport's alone.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::stat::Mode;
use nix::sys::termios::{
    BaudRate, ControlFlags, InputFlags, SetArg, Termios, cfmakeraw, cfsetspeed, tcgetattr,
    tcsetattr,
};
use serialport::{SerialPort as _, TTYPort};

use super::{LinkError, READ_TIMEOUT};

/// The speed of the classic termios line: [`super::BAUD_RATE`] as its `Bnnn` constant.
pub const BAUD: BaudRate = BaudRate::B115200;

/// Whether `TCGETS2` failing with `errno` means the port (or the emulator under this
/// program) does not know termios2: ENOSYS from qemu-user, ENOTTY from a tty layer that
/// lacks it. Anything else (EIO of an unplugged modem, EBADF) is a real failure.
pub fn termios2_missing(errno: Errno) -> bool {
    matches!(errno, Errno::ENOSYS | Errno::ENOTTY)
}

/// `t` made the line serialport sets: raw (no echo, no line editing, no translation),
/// receiver on, modem control lines ignored, 8 data bits, no parity (parity errors
/// ignored), 1 stop bit, no hardware or software flow control, [`BAUD`] both ways.
pub fn raw_8n1(t: &mut Termios) -> Result<(), Errno> {
    cfmakeraw(t);
    t.control_flags |= ControlFlags::CREAD | ControlFlags::CLOCAL | ControlFlags::CS8;
    t.control_flags &= !(ControlFlags::PARENB
        | ControlFlags::PARODD
        | ControlFlags::CSTOPB
        | ControlFlags::CRTSCTS);
    t.input_flags &= !(InputFlags::INPCK | InputFlags::IXON | InputFlags::IXOFF);
    t.input_flags |= InputFlags::IGNPAR;
    cfsetspeed(t, BAUD)
}

/// Asks the port for its termios2 settings: `Ok` when it has them.
pub fn probe_termios2(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    nix::ioctl_read!(tcgets2, b'T', 0x2A, nix::libc::termios2);
    let mut settings = std::mem::MaybeUninit::<nix::libc::termios2>::uninit();
    // SAFETY: `fd` is an open descriptor for the duration of the borrow, and the pointer
    // is to a writable buffer of exactly `struct termios2`, the size TCGETS2 (0x2A, with
    // that size in its number) writes; the contents are never read.
    unsafe { tcgets2(fd.as_raw_fd(), settings.as_mut_ptr()) }.map(drop)
}

/// After serialport failed to open `port` with `failure`: opens it exclusively with the
/// classic termios calls when `probe` (asking the port for `TCGETS2`) says termios2 is
/// what it lacks ([`termios2_missing`]); otherwise returns `failure` as it was.
pub fn open_after_failure(
    port: &Path,
    failure: LinkError,
    probe: impl FnOnce(BorrowedFd<'_>) -> Result<(), Errno>,
) -> Result<TTYPort, LinkError> {
    let Ok(fd) = nix::fcntl::open(
        port,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return Err(failure);
    };
    match probe(fd.as_fd()) {
        Err(errno) if termios2_missing(errno) => {
            log::debug!(
                "port {}: TCGETS2 gives {errno} (no termios2 here): set with TCSETS",
                port.display()
            );
        }
        _ => return Err(failure),
    }
    open_fd(port, fd)
}

/// `fd` (the open port) locked exclusively, set to [`raw_8n1`], blocking, with
/// [`READ_TIMEOUT`]: what serialport's open gives, without termios2.
fn open_fd(port: &Path, fd: OwnedFd) -> Result<TTYPort, LinkError> {
    let err = |what: &str, e: String| LinkError::Open {
        port: port.to_path_buf(),
        problem: format!("{what}: {e}"),
    };
    // SAFETY: `fd` is an open descriptor owned here; into_raw_fd gives its ownership to
    // the TTYPort, which closes it when dropped (on the error paths below too).
    #[allow(unsafe_code)]
    let mut tty = unsafe { <TTYPort as std::os::fd::FromRawFd>::from_raw_fd(fd.into_raw_fd()) };
    // from_raw_fd tries TIOCEXCL and the flock but ignores their failure: this does not.
    tty.set_exclusive(true)
        .map_err(|e| err("cannot lock it", e.to_string()))?;
    // SAFETY: `tty` owns the descriptor and outlives every use of this borrow.
    #[allow(unsafe_code)]
    let fd = unsafe { BorrowedFd::borrow_raw(tty.as_raw_fd()) };
    let mut t = tcgetattr(fd).map_err(|e| err("tcgetattr", e.to_string()))?;
    raw_8n1(&mut t).map_err(|e| err("cfsetspeed", e.to_string()))?;
    tcsetattr(fd, SetArg::TCSANOW, &t).map_err(|e| err("tcsetattr", e.to_string()))?;
    // tcsetattr succeeds when any one change took: read back, as serialport does.
    let applied = tcgetattr(fd).map_err(|e| err("tcgetattr", e.to_string()))?;
    if !same_line(&applied, &t) {
        return Err(err(
            "tcsetattr",
            "the port did not take 115200 8N1 raw".into(),
        ));
    }
    fcntl(fd, FcntlArg::F_SETFL(OFlag::empty()))
        .map_err(|e| err("clearing O_NONBLOCK", e.to_string()))?;
    tty.set_timeout(READ_TIMEOUT)
        .map_err(|e| err("setting the read timeout", e.to_string()))?;
    Ok(tty)
}

/// Whether two settings give the same line (flags and speeds; control characters aside).
fn same_line(a: &Termios, b: &Termios) -> bool {
    use nix::sys::termios::{cfgetispeed, cfgetospeed};
    a.input_flags == b.input_flags
        && a.output_flags == b.output_flags
        && a.control_flags == b.control_flags
        && a.local_flags == b.local_flags
        && cfgetispeed(a) == cfgetispeed(b)
        && cfgetospeed(a) == cfgetospeed(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::termios::{LocalFlags, OutputFlags, cfgetispeed, cfgetospeed};
    use std::path::PathBuf;

    /// A pty in its default (cooked, 38400) mode; the slave's path is the "port".
    fn cooked_port() -> (OwnedFd, PathBuf, OwnedFd) {
        let pty = nix::pty::openpty(None, None).unwrap();
        let path = nix::unistd::ttyname(&pty.slave).unwrap();
        (pty.master, path, pty.slave)
    }

    fn failure(port: &Path) -> LinkError {
        LinkError::Open {
            port: port.to_path_buf(),
            problem: "Function not implemented".into(),
        }
    }

    #[test]
    fn only_enosys_and_enotty_mean_no_termios2() {
        assert!(termios2_missing(Errno::ENOSYS));
        assert!(termios2_missing(Errno::ENOTTY));
        for real in [
            Errno::EIO,
            Errno::EBADF,
            Errno::EBUSY,
            Errno::EINVAL,
            Errno::EPERM,
        ] {
            assert!(!termios2_missing(real), "{real}");
        }
    }

    #[test]
    fn the_classic_settings_are_115200_8n1_raw_without_flow_control() {
        let (_master, _path, slave) = cooked_port();
        let mut t = tcgetattr(&slave).unwrap();
        t.control_flags |= ControlFlags::PARENB | ControlFlags::CSTOPB | ControlFlags::CRTSCTS;
        t.input_flags |= InputFlags::IXON | InputFlags::INPCK;
        raw_8n1(&mut t).unwrap();
        assert!(
            t.control_flags
                .contains(ControlFlags::CS8 | ControlFlags::CREAD | ControlFlags::CLOCAL)
        );
        for off in [
            ControlFlags::PARENB,
            ControlFlags::CSTOPB,
            ControlFlags::CRTSCTS,
        ] {
            assert!(!t.control_flags.contains(off), "{off:?}");
        }
        assert!(
            !t.input_flags
                .intersects(InputFlags::IXON | InputFlags::IXOFF | InputFlags::INPCK)
        );
        assert!(
            !t.local_flags
                .intersects(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG)
        );
        assert!(!t.output_flags.contains(OutputFlags::OPOST));
        assert_eq!(cfgetispeed(&t), BaudRate::B115200);
        assert_eq!(cfgetospeed(&t), BaudRate::B115200);
    }

    #[test]
    fn without_termios2_the_port_opens_set_and_exclusive() {
        let (_master, path, _slave) = cooked_port();
        let tty = open_after_failure(&path, failure(&path), |_| Err(Errno::ENOSYS)).unwrap();
        // SAFETY: `tty` owns the descriptor for the whole test.
        #[allow(unsafe_code)]
        let fd = unsafe { BorrowedFd::borrow_raw(tty.as_raw_fd()) };
        let t = tcgetattr(fd).unwrap();
        assert_eq!(cfgetospeed(&t), BaudRate::B115200);
        assert!(!t.local_flags.contains(LocalFlags::ICANON));
        let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).unwrap());
        assert!(!flags.contains(OFlag::O_NONBLOCK), "{flags:?}");
        assert_eq!(tty.timeout(), READ_TIMEOUT);
        // The flock holds: a second opener (serialport, or this fallback) is refused.
        let again = open_after_failure(&path, failure(&path), |_| Err(Errno::ENOTTY));
        let again = again.unwrap_err().to_string();
        assert!(again.contains("cannot lock it"), "{again}");
        assert!(super::super::open_exclusive(&path).is_err());
        drop(tty);
        super::super::open_exclusive(&path).unwrap();
    }

    #[test]
    fn a_failure_that_is_not_about_termios2_is_returned_as_it_was() {
        let (_master, path, _slave) = cooked_port();
        for errno in [Errno::EIO, Errno::EBUSY] {
            let err = open_after_failure(&path, failure(&path), |_| Err(errno)).unwrap_err();
            assert_eq!(err.to_string(), failure(&path).to_string());
        }
        // termios2 works here: whatever serialport hit, it was something else.
        let err = open_after_failure(&path, failure(&path), probe_termios2).unwrap_err();
        assert_eq!(err.to_string(), failure(&path).to_string());
        let gone = Path::new("/nonexistent/ttyUSB9");
        let err = open_after_failure(gone, failure(gone), |_| Err(Errno::ENOSYS)).unwrap_err();
        assert_eq!(err.to_string(), failure(gone).to_string());
    }
}
