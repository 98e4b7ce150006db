//! Opening the port where termios2 is missing.
//!
//! serialport 4.10 sets the line (8N1, no flow control, the speed) on Linux through the
//! termios2 ioctls `TCGETS2`/`TCSETS2` only. Not every Linux ABI has them:
//! - qemu-user: Debian 12's `qemu-aarch64-static` 7.2, which runs the arm64 build in the
//!   package check, translates no termios2 ioctl: `qemu-aarch64-static -d unimp` logs
//!   `Unsupported ioctl: cmd=0xffffffff802c542a` (`TCGETS2` on arm64) and the program
//!   gets ENOSYS, so serialport's open fails with "Function not implemented" after it
//!   already set TIOCEXCL and the flock. Upstream qemu still lacked termios2 in 10.1:
//!   AOSC-Dev/aosc-os-abbs#14046 adds the patches to its qemu 10.1.2 package.
//! - A tty layer without them answers ENOTTY, as Linux does for any ioctl a tty does not
//!   know (WSL 1's serial ports: "Inappropriate ioctl for device", microsoft/WSL#2595).
//!
//! termios2 is only needed for speeds without a `Bnnn` constant; 115200 has one
//! (`B115200`), so the classic ioctls `TCGETS`/`TCSETS` set exactly the same line.
//! [`open_after_failure`] is the fallback: it runs only after serialport's open failed,
//! asks the port itself whether `TCGETS2` is what it lacks, and only then opens it with
//! the classic ioctls. It issues them itself, on the kernel's own `struct termios`, rather
//! than through the C library's `tcgetattr`/`tcsetattr`: glibc moves those to termios2
//! too (the reason the AOSC change above patches qemu), which would
//! leave the fallback with the same missing ioctl. Where termios2 works (every current
//! arm64 or x86_64 kernel), nothing here runs and the open is serialport's alone.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;
use nix::sys::stat::Mode;
use serialport::{SerialPort as _, TTYPort};

use super::{LinkError, READ_TIMEOUT};

/// Control characters in the kernel's `struct termios` (asm-generic/termbits.h `NCCS`).
pub const KERNEL_NCCS: usize = 19;

/// The kernel's `struct termios` as `TCGETS`/`TCSETS` read and write it on the
/// architectures with asm-generic termbits (x86, arm, arm64, riscv): not the C library's
/// larger `struct termios`, whose layout and use of the speed fields are its own.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KernelTermios {
    /// Input modes.
    pub iflag: libc::tcflag_t,
    /// Output modes.
    pub oflag: libc::tcflag_t,
    /// Control modes, the speed (`CBAUD`, `CIBAUD`) included.
    pub cflag: libc::tcflag_t,
    /// Local modes.
    pub lflag: libc::tcflag_t,
    /// Line discipline.
    pub line: libc::cc_t,
    /// Control characters.
    pub cc: [libc::cc_t; KERNEL_NCCS],
}

/// Whether `TCGETS2` failing with `errno` means the port (or the emulator under this
/// program) does not know termios2: ENOSYS from qemu-user, ENOTTY from a tty layer that
/// lacks it. Anything else (EIO of an unplugged modem, EBADF) is a real failure.
pub fn termios2_missing(errno: Errno) -> bool {
    matches!(errno, Errno::ENOSYS | Errno::ENOTTY)
}

/// `t` made the line serialport sets: raw as `cfmakeraw` makes it (no echo, no line
/// editing, no signals, no translation, reads return after 1 byte), receiver on, modem
/// control lines ignored, 8 data bits, no parity (parity errors ignored), 1 stop bit, no
/// hardware or software flow control, 115200 baud both ways (`B115200`; the input
/// speed follows the output speed when `CIBAUD` is 0).
pub fn raw_8n1(t: &mut KernelTermios) {
    t.iflag &= !(libc::IGNBRK
        | libc::BRKINT
        | libc::PARMRK
        | libc::ISTRIP
        | libc::INLCR
        | libc::IGNCR
        | libc::ICRNL
        | libc::IXON
        | libc::IXOFF
        | libc::INPCK);
    t.iflag |= libc::IGNPAR;
    t.oflag &= !libc::OPOST;
    t.lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
    t.cflag &= !(libc::CSIZE
        | libc::PARENB
        | libc::PARODD
        | libc::CSTOPB
        | libc::CRTSCTS
        | libc::CBAUD
        | libc::CIBAUD);
    t.cflag |= libc::CS8 | libc::CREAD | libc::CLOCAL | libc::B115200;
    t.cc[libc::VMIN] = 1;
    t.cc[libc::VTIME] = 0;
}

nix::ioctl_read!(tcgets2, b'T', 0x2A, libc::termios2);
nix::ioctl_read_bad!(tcgets, libc::TCGETS, KernelTermios);
nix::ioctl_write_ptr_bad!(tcsets, libc::TCSETS, KernelTermios);

/// Asks the port for its termios2 settings: `Ok` when it has them.
pub fn probe_termios2(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut settings = std::mem::MaybeUninit::<libc::termios2>::uninit();
    // SAFETY: `fd` is an open descriptor for the duration of the borrow, and the pointer
    // is to a writable buffer of exactly `struct termios2`, the size TCGETS2 (0x2A, with
    // that size in its number) writes; the contents are never read.
    unsafe { tcgets2(fd.as_raw_fd(), settings.as_mut_ptr()) }.map(drop)
}

/// The port's line settings, with `TCGETS`.
pub fn get(fd: BorrowedFd<'_>) -> Result<KernelTermios, Errno> {
    let mut t = KernelTermios::default();
    // SAFETY: `fd` is open for the borrow; `t` is the kernel's struct termios (repr(C),
    // the asm-generic layout this module is built for), which TCGETS fills.
    unsafe { tcgets(fd.as_raw_fd(), &mut t) }?;
    Ok(t)
}

/// Sets the port's line at once, with `TCSETS` (`tcsetattr(TCSANOW)`).
pub fn set(fd: BorrowedFd<'_>, t: &KernelTermios) -> Result<(), Errno> {
    // SAFETY: `fd` is open for the borrow; TCSETS only reads the kernel struct termios
    // that `t` is.
    unsafe { tcsets(fd.as_raw_fd(), t) }.map(drop)
}

/// After serialport failed to open `port` with `failure`: opens it exclusively with the
/// classic termios ioctls when `probe` (asking the port for `TCGETS2`) says termios2 is
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
    let mut t = get(fd).map_err(|e| err("TCGETS", e.to_string()))?;
    raw_8n1(&mut t);
    set(fd, &t).map_err(|e| err("TCSETS", e.to_string()))?;
    // TCSETS succeeds when any one change took: read back, as serialport does.
    let applied = get(fd).map_err(|e| err("TCGETS", e.to_string()))?;
    if applied != t {
        return Err(err(
            "TCSETS",
            format!("the port did not take 115200 8N1 raw: asked {t:?}, has {applied:?}"),
        ));
    }
    fcntl(fd, FcntlArg::F_SETFL(OFlag::empty()))
        .map_err(|e| err("clearing O_NONBLOCK", e.to_string()))?;
    tty.set_timeout(READ_TIMEOUT)
        .map_err(|e| err("setting the read timeout", e.to_string()))?;
    Ok(tty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::termios::{
        BaudRate, ControlFlags, InputFlags, LocalFlags, OutputFlags, cfgetispeed, cfgetospeed,
        tcgetattr,
    };
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
    fn the_kernel_struct_has_the_asm_generic_size() {
        // 4 flags of 4 bytes, c_line, c_cc[19]: what TCGETS (no size in its number) writes.
        assert_eq!(std::mem::size_of::<KernelTermios>(), 36);
    }

    #[test]
    fn the_classic_settings_are_115200_8n1_raw_without_flow_control() {
        let mut t = KernelTermios {
            iflag: libc::ICRNL | libc::IXON | libc::INPCK | libc::BRKINT,
            oflag: libc::OPOST | libc::ONLCR,
            cflag: libc::B38400 | libc::CS7 | libc::PARENB | libc::CSTOPB | libc::CRTSCTS,
            lflag: libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN,
            line: 0,
            cc: [0; KERNEL_NCCS],
        };
        raw_8n1(&mut t);
        assert_eq!(t.cflag & libc::CBAUD, libc::B115200);
        assert_eq!(
            t.cflag & libc::CIBAUD,
            0,
            "input speed follows the output speed"
        );
        assert_eq!(t.cflag & libc::CSIZE, libc::CS8);
        let on = libc::CREAD | libc::CLOCAL;
        assert_eq!(t.cflag & on, on);
        assert_eq!(t.cflag & (libc::PARENB | libc::CSTOPB | libc::CRTSCTS), 0);
        assert_eq!(t.iflag, libc::IGNPAR);
        assert_eq!(t.oflag & libc::OPOST, 0);
        assert_eq!(
            t.lflag & (libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN),
            0
        );
        assert_eq!((t.cc[6], t.cc[5]), (1, 0), "VMIN 1, VTIME 0");
    }

    #[test]
    fn without_termios2_the_port_opens_set_and_exclusive() {
        let (_master, path, slave) = cooked_port();
        let tty = open_after_failure(&path, failure(&path), |_| Err(Errno::ENOSYS)).unwrap();
        // The C library reads back the line the classic ioctls set.
        let t = tcgetattr(&slave).unwrap();
        assert_eq!(cfgetospeed(&t), BaudRate::B115200);
        assert_eq!(cfgetispeed(&t), BaudRate::B115200);
        assert!(
            t.control_flags
                .contains(ControlFlags::CS8 | ControlFlags::CLOCAL)
        );
        assert!(
            !t.control_flags
                .intersects(ControlFlags::PARENB | ControlFlags::CRTSCTS)
        );
        assert!(
            !t.local_flags
                .intersects(LocalFlags::ICANON | LocalFlags::ECHO)
        );
        assert!(!t.output_flags.contains(OutputFlags::OPOST));
        assert!(
            !t.input_flags
                .intersects(InputFlags::IXON | InputFlags::ICRNL)
        );
        // SAFETY: `tty` owns the descriptor for the whole test.
        #[allow(unsafe_code)]
        let fd = unsafe { BorrowedFd::borrow_raw(tty.as_raw_fd()) };
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
