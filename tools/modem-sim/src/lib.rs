//! modem-sim: a SIMCom SIM7600 on a pseudo-terminal.
//!
//! The crate owns the simulated modem: its AT dialogue ([`modem`], sans-I/O), its own SMS
//! PDU codec ([`pdu`]), the control protocol a test steers it with ([`control`]), and the
//! I/O around them ([`sim`]: the pty, the `--link` symlink, the control socket, the
//! transcript). It speaks bytes only and shares no code with modem-core, so the driver and
//! the simulator cannot share a mistake.

#![forbid(unsafe_code)]

pub mod audio;
pub mod config;
pub mod control;
pub mod modem;
pub mod pdu;
pub mod sim;

pub use config::{Behaviour, ExterntoneReply, Identity, SimConfig, Storage};
pub use control::{ControlCommand, ControlError};
pub use modem::{Modem, ModemState};
pub use sim::{SimError, SimHandle, SimState, Simulator};
