//! hil-tests: the rig that runs one set of scenarios against a simulated SIM7600
//! (default, CI), the simulator with the real smsd from Debian's smstools as the competing
//! port holder (CI), or a real modem (`HIL_PORT=/dev/ttyUSB2`, by hand).
//!
//! A [`Rig`] owns everything a scenario needs and cleans all of it up when dropped, even
//! when the test panics: a temporary folder, the simulator (or the real port's path), an
//! smsd on demand ([`smsd::Smsd`]), and the steering of the modem ([`ModemControl`]).
//! [`wait`] holds the bounded waits; [`sim7600_bin`] finds the CLI of host-linux;
//! [`profile`] picks how the simulated modem speaks (its own way or a real SIM7600's);
//! [`http`] is the one HTTP client of the scenarios and the benchmarks.

#![forbid(unsafe_code)]

pub mod bin_path;
pub mod error;
pub mod http;
pub mod profile;
pub mod smsd;
pub mod wait;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use bin_path::{demo_bin, sim7600_bin};
pub use error::RigError;
pub use modem_sim::{SimConfig, SimHandle, SimState};
pub use profile::{SimProfile, with_profile};
pub use smsd::{Smsd, SmsdScripts, SpoolFile};

/// The environment variable that points the rig at a real modem's AT port.
pub const HIL_PORT_ENV: &str = "HIL_PORT";
/// How long the rig waits for smsd to open the port after it started.
pub const SMSD_OPEN_TIMEOUT: Duration = Duration::from_secs(15);

/// The outcome of a step that may need a human.
#[must_use = "a skipped step means the scenario cannot go on: check is_skipped()"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The step happened.
    Done,
    /// Real hardware: the step needs a person (a phone call, an SMS from a phone, a cable),
    /// so it was announced and skipped for this reason.
    Skipped(String),
}

impl Step {
    /// Whether the step was skipped (only ever on real hardware).
    pub fn is_skipped(&self) -> bool {
        matches!(self, Step::Skipped(_))
    }
}

/// Steers the modem: through the simulator's control channel, or, on real hardware,
/// by announcing what a person would have to do and skipping it.
#[derive(Debug, Clone, Copy)]
pub struct ModemControl<'a> {
    sim: Option<&'a SimHandle>,
}

impl ModemControl<'_> {
    fn human(&self, what: String) -> Step {
        let reason = format!("needs a person on real hardware: {what}");
        println!("hil-tests: SKIPPED step ({reason})");
        Step::Skipped(reason)
    }

    fn run(
        &self,
        what: impl FnOnce() -> String,
        f: impl FnOnce(&SimHandle) -> Result<(), modem_sim::SimError>,
    ) -> Result<Step, RigError> {
        match self.sim {
            Some(sim) => {
                f(sim)?;
                Ok(Step::Done)
            }
            None => Ok(self.human(what())),
        }
    }

    /// An incoming call from `number` (real: call the modem from a phone).
    pub fn call(
        &self,
        number: &str,
        withheld: bool,
        ring_interval: Option<Duration>,
    ) -> Result<Step, RigError> {
        self.run(
            || {
                format!(
                    "call the modem from {number}{}",
                    if withheld {
                        " with the number withheld"
                    } else {
                        ""
                    }
                )
            },
            |s| s.call(number, withheld, ring_interval),
        )
    }
    /// The caller hangs up (real: hang up the phone).
    pub fn hangup(&self) -> Result<Step, RigError> {
        self.run(|| "hang up the calling phone".into(), SimHandle::hangup)
    }
    /// The caller presses keys (real: press them on the phone).
    pub fn dtmf(&self, keys: &str) -> Result<Step, RigError> {
        self.run(
            || format!("press {keys} on the calling phone"),
            |s| s.dtmf(keys),
        )
    }
    /// A call that rings once and is given up (real: call and hang up at the first ring).
    pub fn missed(&self, number: &str) -> Result<Step, RigError> {
        self.run(
            || format!("call from {number} and hang up at the first ring"),
            |s| s.missed(number),
        )
    }
    /// An SMS arrives (real: send it from a phone).
    pub fn sms(&self, number: &str, text: &str) -> Result<Step, RigError> {
        self.run(
            || format!("send {text:?} from {number} to the modem"),
            |s| s.sms(number, text),
        )
    }
    /// The modem restarts (real: power-cycle it).
    pub fn reset(&self) -> Result<Step, RigError> {
        self.run(|| "power-cycle the modem".into(), SimHandle::reset)
    }
    /// The cable is pulled (real: pull it).
    pub fn unplug(&self) -> Result<Step, RigError> {
        self.run(|| "pull the modem's USB cable".into(), SimHandle::unplug)
    }
    /// The cable is back (real: plug it in).
    pub fn plug(&self) -> Result<Step, RigError> {
        self.run(
            || "plug the modem's USB cable back in".into(),
            SimHandle::plug,
        )
    }
    /// The modem answers nothing for `d` (no way to make a real modem do that).
    pub fn stall(&self, d: Duration) -> Result<Step, RigError> {
        self.run(
            || format!("make the modem answer nothing for {d:?}"),
            |s| s.stall(d),
        )
    }
    /// Random bytes on the port (no way to make a real modem do that).
    pub fn garbage(&self, n: usize) -> Result<Step, RigError> {
        self.run(
            || format!("put {n} random bytes on the line"),
            |s| s.garbage(n),
        )
    }
    /// The simulator's state; an error on real hardware.
    pub fn state(&self) -> Result<SimState, RigError> {
        Ok(self.sim.ok_or(RigError::NeedsSimulator("state"))?.state()?)
    }
}

/// Everything a scenario needs. Fields drop in order: smsd first (while the port still
/// exists), then the simulator, then the temporary folder.
#[derive(Debug)]
pub struct Rig {
    smsd: Option<Smsd>,
    sim: Option<SimHandle>,
    port: PathBuf,
    dir: tempfile::TempDir,
}

fn temp_dir() -> Result<tempfile::TempDir, RigError> {
    tempfile::Builder::new()
        .prefix("sim7600-rig.")
        .tempdir()
        .map_err(RigError::io(
            "cannot create a temporary folder in",
            std::env::temp_dir(),
        ))
}

impl Rig {
    /// A real modem when `HIL_PORT` is set, else a simulator with the default config.
    pub fn new() -> Result<Rig, RigError> {
        match std::env::var_os(HIL_PORT_ENV) {
            Some(port) if !port.is_empty() => Rig::real(PathBuf::from(port)),
            _ => Rig::simulated(SimConfig::default()),
        }
    }

    /// A simulator with `config`; its port is linked at `<dir>/dev/ttyUSB2`, its control
    /// socket is `<dir>/sim.sock`, its transcript `<dir>/transcript.log` (unless the
    /// config names others). A config with the simulator's own behaviour gets the
    /// [`profile`] of the scenario.
    pub fn simulated(mut config: SimConfig) -> Result<Rig, RigError> {
        if config.behaviour == modem_sim::Behaviour::simulator() {
            config.behaviour = profile::current()?.behaviour();
        }
        let dir = temp_dir()?;
        let link = config
            .link
            .get_or_insert_with(|| dir.path().join("dev/ttyUSB2"))
            .clone();
        config
            .control
            .get_or_insert_with(|| dir.path().join("sim.sock"));
        config
            .record
            .get_or_insert_with(|| dir.path().join("transcript.log"));
        let sim = modem_sim::Simulator::start(config)?;
        Ok(Rig {
            smsd: None,
            sim: Some(sim),
            port: link,
            dir,
        })
    }

    /// A real modem on `port`: steps that need a person are announced and skipped.
    pub fn real(port: PathBuf) -> Result<Rig, RigError> {
        println!("hil-tests: driving the REAL modem on {}", port.display());
        Ok(Rig {
            smsd: None,
            sim: None,
            port,
            dir: temp_dir()?,
        })
    }

    /// The AT port a scenario opens.
    pub fn port(&self) -> &Path {
        &self.port
    }

    /// The rig's temporary folder (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the rig drives a real modem.
    pub fn is_real(&self) -> bool {
        self.sim.is_none()
    }

    /// The simulator; an error on real hardware.
    pub fn sim(&self) -> Result<&SimHandle, RigError> {
        self.sim
            .as_ref()
            .ok_or(RigError::NeedsSimulator("the simulator handle"))
    }

    /// The simulator's control socket (for programs that steer it, like the CLI's demo).
    pub fn control_socket(&self) -> Option<&Path> {
        self.sim.as_ref().and_then(SimHandle::control_socket)
    }

    /// The simulator's transcript of both directions.
    pub fn transcript(&self) -> Option<PathBuf> {
        self.sim
            .as_ref()
            .map(|_| self.dir.path().join("transcript.log"))
    }

    /// Steers the modem.
    pub fn modem(&self) -> ModemControl<'_> {
        ModemControl {
            sim: self.sim.as_ref(),
        }
    }

    /// The rig's smsd, prepared in `<dir>/smsd` on first use but not started.
    ///
    /// # Panics
    /// When smsd is not installed: "install Debian's smstools: apt-get install smstools".
    pub fn smsd(&mut self) -> Result<&mut Smsd, RigError> {
        if self.smsd.is_none() {
            self.smsd = Some(Smsd::prepare(&self.dir.path().join("smsd"), &self.port)?);
        }
        self.smsd.as_mut().ok_or(RigError::NeedsSimulator(
            "unreachable: smsd was just prepared",
        ))
    }

    /// The rig's smsd, started, once it holds the port.
    pub fn start_smsd(&mut self) -> Result<&mut Smsd, RigError> {
        let port = self.port.clone();
        let smsd = self.smsd()?;
        smsd.start()?;
        wait::wait_until_port_held(&port, SMSD_OPEN_TIMEOUT).map_err(|e| RigError::Smsd {
            conf: smsd.conf(),
            problem: format!("{e}; log:\n{}", smsd.log()),
        })?;
        Ok(smsd)
    }
}
