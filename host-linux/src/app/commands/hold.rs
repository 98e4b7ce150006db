//! `sim7600 hold`: a diagnostic that takes the port exactly as the voice bot does (a
//! [`PortLease`]), says so on stdout, and holds it until a shutdown signal, then gives it
//! back. It shows by hand (and in the tests) what happens to smstools on each way out:
//! SIGINT, SIGTERM, SIGHUP, SIGQUIT (orderly), a panic (`--panic-after`, unwinding), or
//! SIGKILL (the marker, for `sim7600 restore`).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::app::config::Config;
use crate::handoff::{HandoffError, PortLease, Released};
use crate::platform::signals::Signals;

/// The line `hold` prints once the port is held (tests wait for it).
pub const HOLDING: &str = "holding";

/// How a hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldEnd {
    /// The signal that ended it.
    pub signal: Option<Signal>,
    /// What the release did.
    pub released: Released,
}

/// Holds the port until a shutdown signal; with `panic_after`, panics after that long
/// instead (unless a signal came first), to show the unwinding path.
pub fn run(
    config: &Config,
    port: Option<&Path>,
    shutdown: &Signals,
    panic_after: Option<Duration>,
    mut out: impl Write,
) -> Result<HoldEnd, HandoffError> {
    let settings = config.lease_settings(port);
    let mut lease = PortLease::acquire(settings)?;
    // A failed write to stdout must not end the hold early: the port is held either way.
    let _ = writeln!(
        out,
        "{HOLDING} {} (pid {}, smstools was active: {}, marker {})",
        lease.port_path().display(),
        std::process::id(),
        lease.smstools_was_active(),
        lease.marker_path().display()
    );
    let _ = out.flush();
    let signal = match panic_after {
        Some(after) => match shutdown.wait_timeout(after) {
            Some(s) => Some(s),
            None => panic!(
                "sim7600 hold --panic-after: the requested diagnostic panic while holding the port"
            ),
        },
        None => shutdown.wait(),
    };
    let released = lease.release()?;
    let _ = writeln!(
        out,
        "released {}{}",
        lease.port_path().display(),
        match released.pause {
            Some(p) => format!(", smstools back after a pause of {} ms", p.as_millis()),
            None => String::new(),
        }
    );
    Ok(HoldEnd { signal, released })
}
