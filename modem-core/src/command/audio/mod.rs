//! Audio commands: speaker volume, the external tone, PCM audio over USB (SIM7500/SIM7600
//! AT Command Manual V1.12, the audio chapter, and the SIM7600 USB audio application note;
//! "Manual:" names the heading of each command).

pub mod responses;
pub mod types;

use atat::atat_derive::AtatCmd;

use crate::command::NoResponse;
use types::{ExternalTone, PcmFormat, PcmRegister, SpeakerVolume};

/// `AT+CLVL=<level>`: speaker volume 0..=5. Manual: "AT+CLVL Loudspeaker volume level"
/// (3GPP TS 27.007 §8.23).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CLVL", NoResponse, parse = NoResponse::parse)]
pub struct SetSpeakerVolume {
    /// The level.
    #[at_arg(position = 0)]
    pub volume: SpeakerVolume,
}

/// `AT+CEXTERNTONE=<mode>`: see [`ExternalTone`]; the driver treats its `ERROR` as a
/// warning.
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CEXTERNTONE", NoResponse, parse = NoResponse::parse)]
pub struct SetExternalTone {
    /// On or off.
    #[at_arg(position = 0)]
    pub mode: ExternalTone,
}

/// `AT+CPCMREG=<mode>`: starts or stops voice over the USB audio port. Manual: "AT+CPCMREG
/// Control PCM data transfer by diagnostics port".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CPCMREG", NoResponse, parse = NoResponse::parse)]
pub struct SetPcmRegister {
    /// Start or stop.
    #[at_arg(position = 0)]
    pub mode: PcmRegister,
}

/// `AT+CPCMFRM=<format>`: the USB audio sample rate. Manual: "AT+CPCMFRM Set PCM format".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CPCMFRM", NoResponse, parse = NoResponse::parse)]
pub struct SetPcmFormat {
    /// 8 kHz or 16 kHz.
    #[at_arg(position = 0)]
    pub format: PcmFormat,
}
